package serve

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeListener hands out the connections and errors it was given, in order.
type fakeListener struct {
	accepts []any // net.Conn or error
}

func (f *fakeListener) Accept() (net.Conn, error) {
	if len(f.accepts) == 0 {
		return nil, net.ErrClosed
	}
	next := f.accepts[0]
	f.accepts = f.accepts[1:]
	if err, ok := next.(error); ok {
		return nil, err
	}
	return next.(net.Conn), nil
}
func (f *fakeListener) Close() error   { return nil }
func (f *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

// fakeConn is a connection from addr that records whether it was closed.
type fakeConn struct {
	net.Conn
	addr   net.Addr
	closed bool
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.addr }
func (c *fakeConn) Close() error         { c.closed = true; return nil }

func from(addr string) *fakeConn {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return &fakeConn{addr: &net.UnixAddr{Name: path, Net: "unix"}}
	}
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		panic(err)
	}
	return &fakeConn{addr: ap}
}

func TestLimitConns(t *testing.T) {
	cases := []struct {
		name           string
		max, perClient int
		from           []string
		admitted       []bool
	}{
		{"per client", 0, 2,
			[]string{"192.0.2.1:1", "192.0.2.1:2", "192.0.2.1:3", "192.0.2.2:1"},
			[]bool{true, true, false, true}},
		{"IPv6 counts per /64", 0, 2,
			[]string{"[2001:db8::1]:1", "[2001:db8::2]:1", "[2001:db8::3]:1", "[2001:db8:0:1::1]:1"},
			[]bool{true, true, false, true}},
		{"IPv4-mapped is IPv4", 0, 1,
			[]string{"[::ffff:192.0.2.1]:1", "192.0.2.1:2"},
			[]bool{true, false}},
		{"in all", 3, 0,
			[]string{"192.0.2.1:1", "192.0.2.2:1", "192.0.2.3:1", "192.0.2.4:1"},
			[]bool{true, true, true, false}},
		{"unix sockets count only in all", 3, 1,
			[]string{"unix:", "unix:", "unix:", "unix:"},
			[]bool{true, true, true, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var conns []*fakeConn
			fl := &fakeListener{}
			for _, a := range c.from {
				conn := from(a)
				conns = append(conns, conn)
				fl.accepts = append(fl.accepts, conn)
			}
			l := limitConns(fl, c.max, c.perClient, slog.New(slog.DiscardHandler))
			var got []net.Conn
			for {
				conn, err := l.Accept()
				if err != nil {
					break
				}
				got = append(got, conn)
			}
			for i, conn := range conns {
				if conn.closed == c.admitted[i] {
					t.Errorf("connection %d from %s: admitted %v; want %v", i, c.from[i], !conn.closed, c.admitted[i])
				}
			}
			// Closing what was admitted gives the places back.
			for _, conn := range got {
				conn.Close()
				conn.Close() // twice: counted once
			}
			if l.open != 0 || len(l.byClient) != 0 {
				t.Errorf("after closing every connection: %d open, %d clients counted", l.open, len(l.byClient))
			}
		})
	}
}

// TestAcceptOutOfFiles: running out of file descriptors is waited out, and
// said at warn level once, not once per failed accept.
func TestAcceptOutOfFiles(t *testing.T) {
	var logs bytes.Buffer
	fl := &fakeListener{}
	for range 5 {
		fl.accepts = append(fl.accepts, fmt.Errorf("accept: %w", syscall.EMFILE))
	}
	conn := from("192.0.2.1:1")
	fl.accepts = append(fl.accepts, conn)
	l := limitConns(fl, 0, 0, slog.New(slog.NewTextHandler(&logs, nil)))
	got, err := l.Accept()
	if err != nil || got.RemoteAddr() != conn.addr {
		t.Fatalf("Accept = %v, %v; want the connection after the errors", got, err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "out of file descriptors") {
		t.Errorf("logged %d warnings; want one about file descriptors:\n%s", n, logs.String())
	}
}

// TestLimitRequests: a client's HTTP/2 requests beyond perClient in
// progress wait for one of its places, and get a 429 if none frees in
// time; another client's, HTTP/1's and a unix socket's are not held up.
func TestLimitRequests(t *testing.T) {
	var logs bytes.Buffer
	l := limitConns(&fakeListener{}, 0, 2, slog.New(slog.NewTextHandler(&logs, nil)))
	l.requestWait = 200 * time.Millisecond
	release := make(chan struct{})
	t.Cleanup(func() { // when the test fails before it lets them go
		select {
		case <-release:
		default:
			close(release)
		}
	})
	h := l.limitRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
	}))
	serve := func(path, remote string, major int) chan int {
		done := make(chan int, 1)
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr, r.ProtoMajor = remote, major
		go func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			done <- w.Code
		}()
		return done
	}
	answered := func(done chan int, within time.Duration) (int, bool) {
		select {
		case code := <-done:
			return code, true
		case <-time.After(within):
			return 0, false
		}
	}

	held := []chan int{serve("/hold", "192.0.2.1:1000", 2), serve("/hold", "192.0.2.1:1001", 2)}
	for inProgress, deadline := 0, time.Now().Add(5*time.Second); inProgress < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the client's two held requests count as in progress", inProgress)
		}
		l.mu.Lock()
		if in := l.requests[netip.MustParseAddr("192.0.2.1")]; in != nil {
			inProgress = in.Taken()
		}
		l.mu.Unlock()
	}
	for _, c := range []struct {
		name, remote string
		major        int
	}{
		{"another client", "192.0.2.2:1000", 2},
		{"the same client over HTTP/1.1", "192.0.2.1:1002", 1},
		{"a unix socket's peer", "@", 2},
	} {
		if code, ok := answered(serve("/", c.remote, c.major), 100*time.Millisecond); !ok || code != 200 {
			t.Errorf("%s: answered %v, %d; want 200 at once", c.name, ok, code)
		}
	}
	// The client's third waits, then is refused, and says so.
	third := serve("/", "192.0.2.1:1003", 2)
	if _, ok := answered(third, 100*time.Millisecond); ok {
		t.Error("a third request in progress from one client was not held")
	}
	if code, ok := answered(third, time.Second); !ok || code != http.StatusTooManyRequests {
		t.Errorf("the third request after the wait: %v, %d; want 429", ok, code)
	}
	if !strings.Contains(logs.String(), "request refused") {
		t.Errorf("the refusal was not logged: %s", logs.String())
	}
	if code, ok := answered(serve("/", "[2001:db8::1]:1000", 2), 100*time.Millisecond); !ok || code != 200 {
		t.Errorf("an IPv6 client's request: %v, %d; want 200 at once", ok, code)
	}
	// One that waits gets the place a finished one gives back.
	fifth := serve("/", "192.0.2.1:1004", 2)
	close(release)
	for _, done := range append(held, fifth) {
		if code, ok := answered(done, time.Second); !ok || code != 200 {
			t.Errorf("after the held ones finished: %v, %d; want 200", ok, code)
		}
	}
	if n := len(l.requests); n != 0 {
		t.Errorf("%d clients are still remembered with nothing in progress", n)
	}
}
