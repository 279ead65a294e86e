package serve_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pytwask/app/auth"
	"pytwask/app/redistest"
	"pytwask/app/store"
)

// The attacks of one anonymous client, or one account, on what other
// visitors need, performed against the real binary. Each test prints its
// figures: what the attacker sent and got, and what a visitor got meanwhile.

// seedLongTimeline gives the general timeline 60 tweets of 280 two-byte
// characters, so that its page is far larger than what a socket buffers.
func seedLongTimeline(t *testing.T, rs *redistest.Server) {
	t.Helper()
	rdb := rs.Client()
	defer rdb.Close()
	st := store.New(rdb, auth.Hasher{Iterations: 1000}, nil)
	ctx := context.Background()
	if err := st.Register(ctx, "bob", "Passw0rd!"); err != nil {
		t.Fatal(err)
	}
	id := rdb.HGet(ctx, "users", "bob").Val()
	for i := range 60 {
		if _, err := st.Post(ctx, id, strconv.Itoa(i)+strings.Repeat("é", 278)); err != nil {
			t.Fatal(err)
		}
	}
}

// slowReader connects with a receive buffer of about 1 KiB, sends request,
// and never reads the answers: the server's writes to it block once the
// socket's buffers are full (on loopback, after about 1.5 MB: request holds
// enough pipelined requests for that). wrap may wrap the connection (in
// TLS).
func slowReader(t *testing.T, addr, request string, wrap func(net.Conn) (net.Conn, error)) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
		return err
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if wrap != nil {
		if c, err = wrap(c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	return c
}

// visitor requests url n times in a row and returns each latency; a request
// that fails or answers other than 200 fails the test (and ends the run).
func visitor(t *testing.T, c *http.Client, url string, n int) []time.Duration {
	t.Helper()
	var took []time.Duration
	for range n {
		start := time.Now()
		res, err := c.Get(url)
		if err != nil {
			t.Fatalf("a visitor's request %d: %v", len(took)+1, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		took = append(took, time.Since(start))
		if res.StatusCode != 200 {
			t.Fatalf("a visitor's request %d: %d after %v", len(took), res.StatusCode, took[len(took)-1])
		}
	}
	return took
}

// percentile returns the p-th percentile (0-100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// TestSlowReaders: 64 connections ask for timeline pages and then read
// nothing. Pages are built in a few slots; if a slot were held while the
// page is written, eight of them would take every slot until the write
// timeout, and a visitor's timeline would get a 503 after 10 s.
func TestSlowReaders(t *testing.T) {
	rs := redistest.Start(t)
	seedLongTimeline(t, rs)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN="+addr))

	const readers = 64
	var conns []net.Conn
	for range readers {
		conns = append(conns, slowReader(t, addr, strings.Repeat("GET /tweets/general_timeline HTTP/1.1\r\nHost: x\r\n\r\n", 100), nil))
	}
	time.Sleep(500 * time.Millisecond) // their pages are built and stuck in the sockets

	c := &http.Client{Timeout: 3 * time.Second}
	took := visitor(t, c, "http://"+addr+"/tweets/general_timeline", 200)
	p99 := percentile(took, 99)
	t.Logf("slow readers over TCP: %d connections holding a page each; a visitor's 200 timeline pages: 200 × 200, p50 %v, p99 %v, max %v",
		readers, percentile(took, 50), p99, percentile(took, 100))
	if p99 >= 50*time.Millisecond {
		t.Errorf("a visitor's timeline p99 is %v with %d slow readers; want under 50 ms", p99, readers)
	}
	for _, c := range conns {
		c.Close()
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}
