package serve_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

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
			// --compressed: asks for the page compressed, as browsers do.
			out, err := exec.Command(curl, "-sS", "--max-time", "10", c.flag, "--compressed",
				"--cacert", peb.rootFile,
				"--resolve", testDomain+":"+strconv.Itoa(port)+":127.0.0.1",
				"-w", "\n%{http_version} %{http_code} %{size_download}",
				origin+"/auth/").CombinedOutput()
			if err != nil {
				t.Fatalf("curl %s: %v\n%s", c.flag, err, out)
			}
			body, last, _ := cutLast(string(out), "\n")
			if want := c.want + " 200"; !strings.HasPrefix(last, want+" ") || !strings.Contains(body, "Sign in") {
				t.Errorf("curl %s: %q, and the sign-in page %v; want %q and the page", c.flag, last, strings.Contains(body, "Sign in"), want)
			}
			if sent, _ := strconv.Atoi(last[strings.LastIndex(last, " ")+1:]); sent == 0 || sent*3 > len(body)*2 {
				t.Errorf("curl %s: %d bytes came for a page of %d; want it compressed", c.flag, sent, len(body))
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

	t.Run("slow HTTP/2 readers", func(t *testing.T) {
		// 8 connections, each asking for 16 pages on streams with a flow
		// control window of 0: the server can send none of them. No page
		// slot may stay taken by them. (They hold their own client's
		// places for requests in progress, which is what those are for.)
		cfg := &tls.Config{RootCAs: peb.issuerRoot, ServerName: testDomain, NextProtos: []string{"h2"}}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		for range 8 {
			slowH2Reader(t, addr, cfg, "/tweets/general_timeline", 16)
		}
		time.Sleep(500 * time.Millisecond)
		tr := &http.Transport{TLSClientConfig: cfg.Clone(), ForceAttemptHTTP2: true}
		tr.TLSClientConfig.NextProtos = nil
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		defer tr.CloseIdleConnections()
		took := visitorRounds(t, &http.Client{Transport: tr, Timeout: 3 * time.Second}, origin+"/tweets/general_timeline", 200, 50*time.Millisecond)
		p99 := percentile(took, 99)
		t.Logf("slow HTTP/2 readers: 8 connections × 16 streams with no window; a visitor's 200 timeline pages over HTTP/2: 200 × 200, p50 %v, p99 %v, max %v",
			percentile(took, 50), p99, percentile(took, 100))
		if p99 >= 50*time.Millisecond {
			t.Errorf("a visitor's timeline p99 is %v with slow HTTP/2 readers; want under 50 ms", p99)
		}
	})

	t.Run("many HTTP/2 streams from one client", func(t *testing.T) {
		// One client (h2load, from 127.0.0.1) keeps 50 connections open and
		// asks for the timeline on as many streams of each as the server
		// allows (32), again as soon as a page comes: 1,600 requests at once,
		// where HTTP/1.1 carries one a connection. Without a bound on a
		// client's requests in progress, and page slots that take turns
		// between clients, they all went ahead of a visitor's (127.0.0.2)
		// page.
		h2load := need(t, "h2load")
		addr := "127.0.0.1:" + strconv.Itoa(port)
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: peb.issuerRoot, ServerName: testDomain}, ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			}}
		defer tr.CloseIdleConnections()
		visiting := &http.Client{Transport: tr, Timeout: 15 * time.Second}
		visitor(t, visiting, origin+"/", 1) // connected before the attack, as a reader of the site is

		// For 6 s: the visitor's pages are all asked for within them.
		const lasting = 6 * time.Second
		attack := exec.Command(h2load, "-c", "50", "-m", "64", "-D", strconv.Itoa(int(lasting/time.Second)),
			"--connect-to="+addr, origin+"/tweets/general_timeline")
		var out bytes.Buffer
		attack.Stdout, attack.Stderr = &out, &out
		if err := attack.Start(); err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		defer attack.Process.Kill() // when the test fails: the next subtests must not run under the attack
		time.Sleep(1500 * time.Millisecond)
		took := visitor(t, visiting, origin+"/tweets/general_timeline", 50)
		if during := time.Since(started); during > lasting {
			t.Errorf("the visitor's 50 pages took until %v after the attack began, which lasted %v", during.Round(time.Millisecond), lasting)
		}
		if err := attack.Wait(); err != nil {
			t.Fatalf("h2load: %v\n%s", err, out.String())
		}
		p99 := percentile(took, 99)
		var done, ok2xx int
		for line := range strings.Lines(out.String()) {
			line = strings.TrimSpace(line)
			if rest, found := strings.CutPrefix(line, "requests: "); found {
				fmt.Sscanf(rest[strings.Index(rest, "started, ")+len("started, "):], "%d done", &done)
			}
			if rest, found := strings.CutPrefix(line, "status codes: "); found {
				fmt.Sscanf(rest, "%d 2xx", &ok2xx)
			}
		}
		t.Logf("h2load on 50 connections × 32 streams: %d requests done, %d answered 2xx; a visitor's 50 timeline pages over HTTP/2: p50 %v, p99 %v, max %v",
			done, ok2xx, percentile(took, 50), p99, percentile(took, 100))
		if p99 >= 100*time.Millisecond {
			t.Errorf("a visitor's timeline p99 is %v while one client asks on hundreds of streams; want under 100 ms", p99)
		}
		if ok2xx < 1000 {
			t.Errorf("h2load got %d pages; it did not load the site:\n%s", ok2xx, out.String())
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

		b.signUp(user, "Passw0rd!")
		b.signIn(user, "Passw0rd!", false)
		tweet := "posted over HTTPS by " + user
		b.fill([][2]string{{"#tweet", tweet}}, `main form[action="/tweets/user_timeline"] button`)
		b.waitText("Tweet successfully posted")
		b.waitText(tweet)

		var page struct {
			Protocol string `json:"protocol"`
			Next     string `json:"next"`
			Sent     int    `json:"sent"`
			Size     int    `json:"size"`
		}
		b.eval(`(n => ({protocol: location.protocol, next: n.nextHopProtocol, sent: n.encodedBodySize, size: n.decodedBodySize}))(performance.getEntriesByType('navigation')[0])`, &page)
		if page.Protocol != "https:" || page.Next != "h2" {
			t.Errorf("the page says location.protocol %q over %q; want \"https:\" over \"h2\"", page.Protocol, page.Next)
		}
		if page.Sent == 0 || page.Sent*3 > page.Size*2 {
			t.Errorf("the page came in %d bytes for %d; want it compressed", page.Sent, page.Size)
		}
		if c := b.cookie(); c == nil || !c.Secure {
			t.Errorf("session cookie over HTTPS: %+v; want Secure", c)
		}

		// Two tabs with live updates share one HTTP/2 connection.
		var mu sync.Mutex
		streams := map[string]float64{} // the tab's stream: its connection
		listen := func(ctx context.Context, tab string) {
			chromedp.ListenTarget(ctx, func(ev any) {
				if e, ok := ev.(*network.EventResponseReceived); ok && strings.Contains(e.Response.URL, "/events?") {
					mu.Lock()
					defer mu.Unlock()
					if e.Response.Protocol != "h2" || e.Response.Status != 200 {
						t.Errorf("%s: the stream answered %d over %q; want 200 over h2", tab, e.Response.Status, e.Response.Protocol)
					}
					streams[tab] = e.Response.ConnectionID
				}
			})
		}
		listen(b.ctx, "first tab")
		b.open("/tweets/user_timeline")
		tab, closeTab := chromedp.NewContext(b.ctx)
		defer closeTab()
		listen(tab, "second tab")
		if err := chromedp.Run(tab, network.Enable(), chromedp.Navigate(origin+"/tweets/general_timeline")); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			n, first, second := len(streams), streams["first tab"], streams["second tab"]
			mu.Unlock()
			if n == 2 {
				if first != second {
					t.Errorf("the tabs' streams are on connections %v and %v; want one", first, second)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("within 5 s, %d of the two tabs opened their stream", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.checkClean()
	})
}

// slowH2Reader opens an HTTP/2 connection whose streams have a flow control
// window of 0, asks for path on streams of them, and reads nothing.
func slowH2Reader(t *testing.T, addr string, cfg *tls.Config, path string, streams int) {
	t.Helper()
	tc := slowReader(t, addr, "", func(c net.Conn) (net.Conn, error) {
		tc := tls.Client(c, cfg)
		if err := tc.Handshake(); err != nil {
			return nil, err
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "h2" {
			return nil, fmt.Errorf("negotiated %q; want h2", p)
		}
		return tc, nil
	})
	if _, err := io.WriteString(tc, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(tc, tc)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for i := range streams {
		block.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", testDomain}, {":path", path}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
	}
}

// cutLast splits s around the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
