package serve

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
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
