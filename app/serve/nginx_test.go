package serve_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
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

// need returns the path of a tool the test needs: in strict mode (CI) a
// missing tool fails the test, elsewhere it skips it.
func need(t *testing.T, tool string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: this test needs %s (the full tier runs it)", tool)
	}
	path, err := exec.LookPath(tool)
	if err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, tool); fileExists(p) {
			return p
		}
	}
	if redistest.Strict() {
		t.Fatalf("%s is not installed (required in CI)", tool)
	}
	t.Skipf("%s is not installed", tool)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestBehindNginx runs the shipped ops/nginx/pytwask.conf (socket path and
// port adjusted) in front of the binary's unix socket, and walks a user's
// journey through it. The client connects from 127.0.0.7, and that is the
// address pytwask logs: nginx forwarded it, and pytwask believed it because
// it came over the unix socket.
func TestBehindNginx(t *testing.T) {
	nginx := need(t, "nginx")
	rs := redistest.Start(t)
	dir := socketDir(t)
	sock := filepath.Join(dir, "pytwask.sock")
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock))

	port := freePort(t)
	conf := shippedNginxConf(t, port, "server unix:"+sock+";")
	runNginx(t, nginx, dir, conf)

	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 7)}}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitUp(t, base+"/healthz")

	post := func(path string, form url.Values, want string) {
		t.Helper()
		res, err := c.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b := new(strings.Builder)
		if _, err := io.Copy(b, res.Body); err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || !strings.Contains(b.String(), want) {
			t.Fatalf("POST %s: %d, want a page with %q:\n%s", path, res.StatusCode, want, b)
		}
	}
	post("/auth/signup", url.Values{"username": {"bob"}, "password": {"Passw0rd!"}, "password2": {"Passw0rd!"}}, "Welcome, bob! Please login")
	post("/auth/signup", url.Values{"username": {"alice"}, "password": {"Passw0rd!"}, "password2": {"Passw0rd!"}}, "Welcome, alice! Please login")
	post("/auth/", url.Values{"username": {"alice"}, "password": {"Passw0rd!"}}, "Logged in successfully.")
	post("/tweets/user_timeline", url.Values{"tweet": {"hello through nginx"}}, "Tweet successfully posted")
	post("/tweets/follow/bob", nil, "Followed bob")
	if st, body := get(t, c, base+"/tweets/general_timeline"); st != 200 || !strings.Contains(body, "hello through nginx") {
		t.Fatalf("general timeline through nginx: %d", st)
	}
	if st, body := get(t, c, base+"/auth/user_settings"); st != 200 || !strings.Contains(body, `href="/tweets/user_history/bob"`) {
		t.Fatalf("settings through nginx: %d", st)
	}

	// Cookies over plain HTTP through nginx are not Secure, as it should be
	// (X-Forwarded-Proto: http); the client address is the forwarded one.
	logged := p.lines(`"path":"/tweets/user_timeline"`)
	if len(logged) == 0 || !strings.Contains(logged[0], `"client":"127.0.0.7"`) {
		t.Errorf("pytwask did not log the forwarded client address 127.0.0.7:\n%s", strings.Join(logged, "\n"))
	}

	// A client's own X-Forwarded-For is not believed, whatever the location.
	for _, path := range []string{"/", "/auth/", "/tweets/user_timeline", "/static/no-such-file.css", "/healthz"} {
		req, _ := http.NewRequest("GET", base+path+"?spoof", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.66")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if server := res.Header.Get("Server"); server != "nginx" {
			t.Errorf("GET %s: Server %q; want nginx without its version (server_tokens off)", path, server)
		}
	}
	time.Sleep(100 * time.Millisecond) // the access log line follows the answer
	for _, line := range p.lines(`?spoof`) {
		if !strings.Contains(line, `"client":"127.0.0.7"`) {
			t.Errorf("pytwask believed a client's own X-Forwarded-For: %s", line)
		}
	}

	// nginx's first line: 20 sign-in POSTs a minute from one address, and a
	// burst of 10, then 429 from nginx itself.
	statuses := map[int]int{}
	for range 40 {
		res, err := c.PostForm(base+"/auth/", url.Values{"username": {"nobody"}, "password": {"x"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		statuses[res.StatusCode]++
	}
	if statuses[http.StatusTooManyRequests] == 0 {
		t.Errorf("40 sign-in POSTs in a row through nginx: %v; want some refused with 429 by limit_req", statuses)
	}
	t.Logf("40 sign-in POSTs in a row through nginx: %v", statuses)
}

// shippedNginxConf is ops/nginx/pytwask.conf listening on the loopback
// port, with upstream's server lines replaced by servers.
func shippedNginxConf(t *testing.T, port int, servers string) string {
	t.Helper()
	site, err := os.ReadFile("../../ops/nginx/pytwask.conf")
	if err != nil {
		t.Fatal(err)
	}
	const shipped = "server unix:/run/pytwask/pytwask.sock;"
	if !strings.Contains(string(site), shipped) {
		t.Fatal("the shipped nginx config does not proxy to /run/pytwask/pytwask.sock")
	}
	return strings.NewReplacer(
		shipped, servers,
		"listen 80;", "listen 127.0.0.1:"+strconv.Itoa(port)+";",
		"listen [::]:80;", "",
	).Replace(string(site))
}

// runNginx runs nginx with the site configuration conf, its files in dir,
// until the test ends.
func runNginx(t *testing.T, nginx, dir, conf string) {
	t.Helper()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must reach the test's 0660 root-owned sockets
	}
	main := user + `
daemon off;
pid ` + dir + `/nginx.pid;
error_log ` + dir + `/error.log;
events { worker_connections 256; }
http {
    access_log ` + dir + `/access.log;
    client_body_temp_path ` + dir + `/body;
    proxy_temp_path ` + dir + `/proxy;
    fastcgi_temp_path ` + dir + `/fastcgi;
    uwsgi_temp_path ` + dir + `/uwsgi;
    scgi_temp_path ` + dir + `/scgi;
    include ` + dir + `/pytwask.conf;
}
`
	os.WriteFile(filepath.Join(dir, "pytwask.conf"), []byte(conf), 0o644)
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644)
	cmd := exec.Command(nginx, "-c", filepath.Join(dir, "nginx.conf"), "-p", dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error log:\n%s", log)
		}
	})
}
