package serve_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"pytwask/app/redistest"
)

// pebbleVersion is the ACME test server, fetched from the Go module proxy.
const pebbleVersion = "v2.10.1"

const testDomain = "pytwask.example.com"

// pebble is a private ACME CA on loopback, with pebble-challtestsrv as its
// DNS server answering 127.0.0.1 for every name.
type pebble struct {
	dirURL     string
	minica     string // PEM file: the root of Pebble's own HTTPS
	httpPort   int    // where Pebble validates HTTP-01
	tlsPort    int    // where Pebble validates TLS-ALPN-01
	mgmt       string
	issuerRoot *x509.CertPool
	rootFile   string // PEM file: the root Pebble issues under, for curl and Chromium
	stop       func() // stops the CA
}

func startPebble(t *testing.T) *pebble {
	t.Helper()
	need(t, "go")
	bin := socketDir(t)
	for _, cmd := range []string{"pebble", "pebble-challtestsrv"} {
		install := exec.Command("go", "install", "github.com/letsencrypt/pebble/v2/cmd/"+cmd+"@"+pebbleVersion)
		install.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=")
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("go install %s: %v\n%s", cmd, err, out)
		}
	}
	out, err := exec.Command("go", "mod", "download", "-json", "github.com/letsencrypt/pebble/v2@"+pebbleVersion).Output()
	if err != nil {
		t.Fatalf("go mod download pebble: %v", err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("pebble module directory: %v", err)
	}
	certs := filepath.Join(mod.Dir, "test", "certs")

	p := &pebble{minica: filepath.Join(certs, "pebble.minica.pem"), httpPort: freePort(t), tlsPort: freePort(t)}
	dnsPort, acmePort, mgmtPort := freePort(t), freePort(t), freePort(t)
	run := func(name string, env []string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), env...)
		logs := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() {
				t.Logf("%s log:\n%s", name, logs)
			}
		})
		return cmd
	}
	run("pebble-challtestsrv", nil,
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort),
		"-management", "127.0.0.1:"+strconv.Itoa(freePort(t)),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(acmePort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    filepath.Join(certs, "localhost", "cert.pem"),
		"privateKey":                     filepath.Join(certs, "localhost", "key.pem"),
		"httpPort":                       p.httpPort,
		"tlsPort":                        p.tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	confPath := filepath.Join(bin, "pebble.json")
	raw, _ := json.Marshal(conf)
	os.WriteFile(confPath, raw, 0o644)
	ca := run("pebble", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"},
		"-config", confPath, "-dnsserver", "127.0.0.1:"+strconv.Itoa(dnsPort))
	p.stop = func() { ca.Process.Kill(); ca.Wait() }
	waitListening(t, "tcp", "127.0.0.1:"+strconv.Itoa(acmePort))
	waitListening(t, "tcp", "127.0.0.1:"+strconv.Itoa(mgmtPort))
	p.dirURL = "https://127.0.0.1:" + strconv.Itoa(acmePort) + "/dir"
	p.mgmt = "https://127.0.0.1:" + strconv.Itoa(mgmtPort)

	// The root that Pebble issues under (made fresh at each start).
	minica, _ := os.ReadFile(p.minica)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(minica)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	st, root := get(t, c, p.mgmt+"/roots/0")
	if st != 200 {
		t.Fatalf("pebble root: %d", st)
	}
	p.issuerRoot = x509.NewCertPool()
	if !p.issuerRoot.AppendCertsFromPEM([]byte(root)) {
		t.Fatal("pebble root is not PEM")
	}
	p.rootFile = filepath.Join(bin, "issuer-root.pem")
	if err := os.WriteFile(p.rootFile, []byte(root), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// env configures pytwask for automatic HTTPS from this Pebble.
func (p *pebble) env(rs *redistest.Server, dataDir string, challenges string) []string {
	return append(baseEnv(rs),
		"PYTWASK_DOMAINS="+testDomain,
		"PYTWASK_ACME_CA="+p.dirURL,
		"PYTWASK_ACME_CA_ROOT="+p.minica,
		"PYTWASK_ACME_EMAIL=ops@example.com",
		"PYTWASK_ACME_CHALLENGES="+challenges,
		"PYTWASK_DATA_DIR="+dataDir,
	)
}

// httpsClient trusts only Pebble's issuing root and talks to testDomain on
// loopback.
func (p *pebble) httpsClient(port int) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: p.issuerRoot, ServerName: testDomain},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// waitCertificate polls HTTPS until a certificate verified against Pebble's
// root is served, and returns its serial number.
func (p *pebble) waitCertificate(t *testing.T, port int, within time.Duration) string {
	t.Helper()
	c := p.httpsClient(port)
	deadline := time.Now().Add(within)
	var lastErr error
	for time.Now().Before(deadline) {
		res, err := c.Get("https://" + testDomain + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return res.TLS.PeerCertificates[0].SerialNumber.String()
			}
			lastErr = fmt.Errorf("status %d", res.StatusCode)
		} else {
			lastErr = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no verified certificate on port %d within %v: %v", port, within, lastErr)
	return ""
}

func TestAutomaticHTTPS(t *testing.T) {
	peb := startPebble(t)
	rs := redistest.Start(t)
	seedLongTimeline(t, rs)

	data := filepath.Join(socketDir(t), "data")
	env := append(peb.env(rs, data, "http-01"),
		"PYTWASK_HTTPS_ADDR=127.0.0.1:"+strconv.Itoa(peb.tlsPort),
		"PYTWASK_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(peb.httpPort))
	var serial string

	t.Run("http-01 on its own listeners, then a restart reuses the certificate", func(t *testing.T) {
		p := start(t, env)
		serial = peb.waitCertificate(t, peb.tlsPort, 60*time.Second)
		checkHTTPSClients(t, peb, rs, peb.tlsPort, "carol")

		// A handshake for a TLS-ALPN-01 challenge that is not pending (a
		// scanner, a CA's late retry) fails, and is no error for the log.
		stray, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(peb.tlsPort), &tls.Config{ServerName: testDomain, NextProtos: []string{"acme-tls/1"}, InsecureSkipVerify: true})
		if err == nil {
			stray.Close()
			t.Error("a stray acme-tls/1 handshake succeeded")
		}
		time.Sleep(100 * time.Millisecond)
		if errs := p.lines(`"level":"ERROR"`); len(errs) > 0 {
			t.Errorf("errors in the log after a stray acme-tls/1 handshake:\n%s", strings.Join(errs, "\n"))
		}

		c := peb.httpsClient(peb.tlsPort)
		res, err := c.Get("https://" + testDomain + "/auth/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("HTTPS page: %d, HSTS %q", res.StatusCode, res.Header.Get("Strict-Transport-Security"))
		}
		res, err = c.PostForm("https://"+testDomain+"/auth/", url.Values{"username": {"nobody"}, "password": {"Passw0rd!"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if sc := res.Header.Get("Set-Cookie"); sc != "" && !strings.Contains(sc, "Secure") {
			t.Errorf("cookie over HTTPS without Secure: %s", sc)
		}

		// Plain HTTP: challenges, and a redirect of GET/HEAD to HTTPS only.
		plain := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(peb.httpPort)+"/tweets/general_timeline?page=2", nil)
		req.Host = testDomain
		res, err = plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		want := "https://" + testDomain + ":" + strconv.Itoa(peb.tlsPort) + "/tweets/general_timeline?page=2"
		if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != want {
			t.Errorf("HTTP GET: %d to %q; want 301 to %q", res.StatusCode, res.Header.Get("Location"), want)
		}
		req, _ = http.NewRequest("POST", "http://127.0.0.1:"+strconv.Itoa(peb.httpPort)+"/auth/", strings.NewReader("username=a"))
		req.Host = "evil.example"
		res, err = plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(string(body), "https://"+testDomain) {
			t.Errorf("HTTP POST: %d %q; want 405 pointing at the HTTPS site", res.StatusCode, body)
		}

		if code := p.stop(); code != 0 {
			t.Fatalf("exit %d", code)
		}
		entries, _ := filepath.Glob(filepath.Join(data, "certificates", "*", testDomain, "*.crt"))
		if len(entries) != 1 {
			t.Fatalf("certificate files under PYTWASK_DATA_DIR: %v", entries)
		}

		// A restart serves the stored certificate at once, without a new order.
		p = start(t, env)
		if again := peb.waitCertificate(t, peb.tlsPort, 5*time.Second); again != serial {
			t.Errorf("certificate serial %s after restart; want the stored %s", again, serial)
		}
		if code := p.stop(); code != 0 {
			t.Fatalf("exit %d", code)
		}
	})

	t.Run("tls-alpn-01 on a socket-activated https socket", func(t *testing.T) {
		data := filepath.Join(socketDir(t), "data")
		p := activate(t, peb.env(rs, data, "tls-alpn-01"), []string{"127.0.0.1:" + strconv.Itoa(peb.tlsPort)}, "https")
		waitListening(t, "tcp", "127.0.0.1:"+strconv.Itoa(peb.tlsPort)) // starts pytwask
		peb.waitCertificate(t, peb.tlsPort, 60*time.Second)
		checkHTTPSClients(t, peb, rs, peb.tlsPort, "dave")
		if logs := p.logs.String(); !strings.Contains(logs, `"role":"https"`) || !strings.Contains(logs, `"systemd":true`) {
			t.Errorf("not served on the activated https socket:\n%s", logs)
		}
		if code := p.stop(); code != 0 {
			t.Errorf("exit %d", code)
		}
	})

	t.Run("the CA is unreachable: the stored certificate is still served", func(t *testing.T) {
		if serial == "" {
			t.Skip("no certificate was obtained")
		}
		peb.stop()
		p := start(t, env)
		if again := peb.waitCertificate(t, peb.tlsPort, 5*time.Second); again != serial {
			t.Errorf("serial %s; want the stored %s", again, serial)
		}
		if code := p.stop(); code != 0 {
			t.Errorf("exit %d", code)
		}
	})
}

// TestInstancesShareCertificates: two instances serve the same name with
// one PYTWASK_DATA_DIR (certmagic's file storage locks within it, on one
// host or on a shared file system). The first to take the lock orders the
// certificate; the other waits and then serves the same one: one order,
// one certificate. Only the first listens where Pebble validates; the
// challenge is answered from the shared storage whichever ordered.
func TestInstancesShareCertificates(t *testing.T) {
	peb := startPebble(t)
	rs := redistest.Start(t)
	data := filepath.Join(socketDir(t), "data")
	env := append(peb.env(rs, data, "http-01"), "PYTWASK_SECRET_KEY="+randomHex(32))
	otherTLS, otherHTTP := freePort(t), freePort(t)
	a := start(t, append(env, "PYTWASK_HTTPS_ADDR=127.0.0.1:"+strconv.Itoa(peb.tlsPort), "PYTWASK_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(peb.httpPort)))
	b := start(t, append(env, "PYTWASK_HTTPS_ADDR=127.0.0.1:"+strconv.Itoa(otherTLS), "PYTWASK_HTTP_ADDR=127.0.0.1:"+strconv.Itoa(otherHTTP)))
	serialA := peb.waitCertificate(t, peb.tlsPort, 60*time.Second)
	serialB := peb.waitCertificate(t, otherTLS, 60*time.Second)
	if serialA != serialB {
		t.Errorf("the instances serve certificates %s and %s; want the one certificate", serialA, serialB)
	}
	obtained := len(a.lines("certificate obtained successfully")) + len(b.lines("certificate obtained successfully"))
	if obtained != 1 {
		t.Errorf("%d certificates obtained by the two instances; want 1", obtained)
	}
	if files, _ := filepath.Glob(filepath.Join(data, "certificates", "*", testDomain, "*.crt")); len(files) != 1 {
		t.Errorf("certificate files under PYTWASK_DATA_DIR: %v", files)
	}
}
