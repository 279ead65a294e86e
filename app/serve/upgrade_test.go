package serve_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"

	"pytwask/app/redistest"
)

// TestRollingUpgradeAssets runs two versions of pytwask behind one nginx
// upstream, as during ops/restart-instances with a new binary: the next
// version's stylesheet and script differ, so its pages name other URLs for
// them. nginx takes turns between the instances, so a page made by one
// asks the other for its stylesheet and script. In Chromium, every page
// must have its stylesheet applied and its script loaded, and no request
// may fail.
func TestRollingUpgradeAssets(t *testing.T) {
	needChromium(t)
	nginx := need(t, "nginx")
	next := buildNext(t)
	rs := redistest.Start(t)
	dir := socketDir(t)
	env := baseEnv(rs) // one secret key for both
	socks := []string{filepath.Join(dir, "now.sock"), filepath.Join(dir, "next.sock")}
	now := start(t, append(env, "PYTWASK_LISTEN=unix:"+socks[0]))
	upgraded := launch(t, append(env, "PYTWASK_LISTEN=unix:"+socks[1]), next, "serve")
	upgraded.waitLog(`"msg":"pytwask is ready"`, 30*time.Second)

	port := freePort(t)
	runNginx(t, nginx, dir, shippedNginxConf(t, port, "server unix:"+socks[0]+";\n    server unix:"+socks[1]+";"))
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitUp(t, base+"/healthz")

	b := newBrowser(t, base, rs)
	// Every page load asks for its files, so that they meet both versions.
	b.run(network.SetCacheDisabled(true))
	stylesheets := map[string]bool{}
	for i := range 12 {
		path := []string{"/", "/auth/", "/auth/signup", "/tweets/general_timeline"}[i%4]
		b.open(path)
		var got struct {
			Accent     string
			Stylesheet string
			Files      [][2]any
		}
		b.eval(`({
			accent: getComputedStyle(document.documentElement).getPropertyValue("--accent").trim(),
			stylesheet: document.querySelector("link[rel=stylesheet]").getAttribute("href"),
			files: performance.getEntriesByType("resource").filter(e => new URL(e.name).pathname.startsWith("/static/"))
				.map(e => [new URL(e.name).pathname, e.responseStatus]),
		})`, &got)
		stylesheets[got.Stylesheet] = true
		if got.Accent != "#1d5fa8" {
			t.Errorf("%s (load %d): the stylesheet %s is not applied (--accent %q)", path, i+1, got.Stylesheet, got.Accent)
		}
		script := false
		for _, f := range got.Files {
			if fmt.Sprint(f[1]) != "200" {
				t.Errorf("%s (load %d): %v answered %v", path, i+1, f[0], f[1])
			}
			script = script || strings.HasPrefix(fmt.Sprint(f[0]), "/static/live.")
		}
		if !script {
			t.Errorf("%s (load %d): the script was not loaded: %v", path, i+1, got.Files)
		}
		if i%3 == 0 {
			// One more request, so that turns do not fall the same way on
			// every load.
			b.eval(`fetch("/healthz").then(r => r.status)`, nil)
		}
	}
	b.checkClean()

	// The test proves something only if both versions made pages, and each
	// instance answered the other's stylesheet.
	own := []string{ownStylesheet(t, socks[0]), ownStylesheet(t, socks[1])}
	if own[0] == own[1] || !stylesheets[own[0]] || !stylesheets[own[1]] {
		t.Fatalf("the pages named %v; the versions' own stylesheets are %v", stylesheets, own)
	}
	for i, p := range []*proc{now, upgraded} {
		if len(p.lines(`"path":"`+own[1-i]+`","status":200`)) == 0 {
			t.Errorf("instance %d was never asked for the other version's %s:\n%s", i+1, own[1-i], p.logs)
		}
	}
}

// ownStylesheet returns the stylesheet URL of the pages of the instance on
// the unix socket sock.
func ownStylesheet(t *testing.T, sock string) string {
	t.Helper()
	res, err := unixClient(sock).Get("http://localhost/auth/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	css := regexp.MustCompile(`/static/style\.[0-9a-f]+\.css`).Find(page)
	if css == nil {
		t.Fatalf("no stylesheet in the page of %s:\n%s", sock, page)
	}
	return string(css)
}

// buildNext builds pytwask as its next version would be: the same code
// with a changed stylesheet and script (so other URLs for them).
func buildNext(t *testing.T) string {
	t.Helper()
	needBinary(t)
	dir := t.TempDir()
	replace := map[string]string{}
	for name, extra := range map[string]string{
		"style.css": "\n/* the next version */\n:root { --next: 1; }\n",
		"live.js":   "\n// the next version\n",
	} {
		orig, err := filepath.Abs(filepath.Join("../../assets/static", name))
		if err != nil {
			t.Fatal(err)
		}
		body, err := os.ReadFile(orig)
		if err != nil {
			t.Fatal(err)
		}
		changed := filepath.Join(dir, name)
		if err := os.WriteFile(changed, append(body, extra...), 0o644); err != nil {
			t.Fatal(err)
		}
		replace[orig] = changed
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": replace})
	if err := os.WriteFile(filepath.Join(dir, "overlay.json"), overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "pytwask")
	cmd := exec.Command("go", "build", "-trimpath", "-overlay", filepath.Join(dir, "overlay.json"), "-o", bin, "pytwask")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the next version: %v\n%s", err, out)
	}
	return bin
}
