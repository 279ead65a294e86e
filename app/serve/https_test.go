package serve_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"pytwask/app/redistest"
)

// checkHTTPSClients checks pytwask's HTTPS on a loopback port, once it serves
// a certificate from peb, with the clients people use: curl over HTTP/1.1 and
// over HTTP/2, Go's default transport, and Chromium, each verifying the
// certificate against Pebble's root and nothing else. A client that offers no
// ALPN, or skips verification, would prove nothing: browsers do neither.
// user is a name not yet taken in rs, for Chromium's journey.
func checkHTTPSClients(t *testing.T, peb *pebble, rs *redistest.Server, port int, user string) {
	t.Helper()
	origin := "https://" + testDomain + ":" + strconv.Itoa(port)

	t.Run("curl", func(t *testing.T) {
		curl := need(t, "curl")
		for _, c := range []struct{ flag, want string }{{"--http1.1", "1.1"}, {"--http2", "2"}} {
			out, err := exec.Command(curl, "-sS", "--max-time", "10", c.flag,
				"--cacert", peb.rootFile,
				"--resolve", testDomain+":"+strconv.Itoa(port)+":127.0.0.1",
				"-w", "\n%{http_version} %{http_code}",
				origin+"/auth/").CombinedOutput()
			if err != nil {
				t.Fatalf("curl %s: %v\n%s", c.flag, err, out)
			}
			body, last, _ := cutLast(string(out), "\n")
			if want := c.want + " 200"; last != want || !strings.Contains(body, "Sign in") {
				t.Errorf("curl %s: %q, and the sign-in page %v; want %q and the page", c.flag, last, strings.Contains(body, "Sign in"), want)
			}
		}
	})

	t.Run("Go's default transport", func(t *testing.T) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: peb.issuerRoot}
		tr.ForceAttemptHTTP2 = true
		dialer := &net.Dialer{}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			// Name resolution only: testDomain is this machine.
			return dialer.DialContext(ctx, network, strings.Replace(addr, testDomain, "127.0.0.1", 1))
		}
		defer tr.CloseIdleConnections()
		res, err := (&http.Client{Transport: tr}).Get(origin + "/auth/")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || res.Proto != "HTTP/2.0" {
			t.Errorf("got %d over %s; want 200 over HTTP/2.0", res.StatusCode, res.Proto)
		}
	})

	t.Run("Chromium", func(t *testing.T) {
		needChromium(t)
		certutil := need(t, "certutil")
		// Chromium on Linux trusts the roots in $HOME/.pki/nssdb: a fresh one
		// holding only Pebble's root, so the certificate is really verified.
		home := socketDir(t)
		nss := "sql:" + filepath.Join(home, ".pki", "nssdb")
		if err := os.MkdirAll(filepath.Join(home, ".pki", "nssdb"), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"-N", "-d", nss, "--empty-password"},
			{"-A", "-d", nss, "-n", "pebble test root", "-t", "C,,", "-i", peb.rootFile},
		} {
			if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
				t.Fatalf("certutil %v: %v\n%s", args, err, out)
			}
		}
		b := newBrowser(t, origin, rs,
			chromedp.Env("HOME="+home),
			chromedp.Flag("host-resolver-rules", "MAP "+testDomain+" 127.0.0.1"))

		b.open("/auth/signup")
		b.fill([][2]string{{"#username", user}, {"#password", "Passw0rd!"}, {"#password2", "Passw0rd!"}}, `main form button`)
		b.waitText("Welcome, " + user + "! Please login")
		b.signIn(user, "Passw0rd!", false)
		tweet := "posted over HTTPS by " + user
		b.fill([][2]string{{"#tweet", tweet}}, `main form[action="/tweets/user_timeline"] button`)
		b.waitText("Tweet successfully posted")
		b.waitText(tweet)

		var page struct {
			Protocol string `json:"protocol"`
			Next     string `json:"next"`
		}
		b.eval(`({protocol: location.protocol, next: performance.getEntriesByType('navigation')[0].nextHopProtocol})`, &page)
		if page.Protocol != "https:" || page.Next != "h2" {
			t.Errorf("the page says location.protocol %q over %q; want \"https:\" over \"h2\"", page.Protocol, page.Next)
		}
		if c := b.cookie(); c == nil || !c.Secure {
			t.Errorf("session cookie over HTTPS: %+v; want Secure", c)
		}
		b.checkClean()
	})
}

// cutLast splits s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
