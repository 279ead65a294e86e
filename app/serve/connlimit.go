package serve

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"pytwask/app/slots"
)

// limitedListener caps the connections open on one listener: max in all,
// and perClient from one client address (IPv6 by its /64, since one host
// usually holds a whole /64) on TCP. A connection over a cap is closed as
// soon as it is accepted, before anything is read from it, so that one
// client cannot hold the file descriptors and memory that others need.
// Connections over a unix socket come from a local proxy (nginx), which
// speaks for many clients: only max applies to them.
//
// perClient bounds the requests in progress from one client address too
// (limitRequests): HTTP/2 carries many at once on each connection (32 here,
// newHTTPServer), so that the connection cap alone would let one client
// queue thousands of pages ahead of everybody else's. nginx's limit_conn
// counts the same way.
//
// Accept also rides out running short of file descriptors: it waits a moment
// and tries again, as http.Server would, but says so at warn level, at most
// once a second, where http.Server would log each failure.
type limitedListener struct {
	net.Listener
	max, perClient int
	log            *slog.Logger
	// requestWait is requestWait; tests shorten it.
	requestWait time.Duration

	mu       sync.Mutex
	open     int
	byClient map[netip.Addr]int
	requests map[netip.Addr]*clientRequests
	warned   time.Time
	refused  int // over a cap since the last warning
}

func limitConns(ln net.Listener, max, perClient int, log *slog.Logger) *limitedListener {
	return &limitedListener{Listener: ln, max: max, perClient: perClient, log: log, requestWait: requestWait,
		byClient: map[netip.Addr]int{}, requests: map[netip.Addr]*clientRequests{}}
}

// fdRetry is how long Accept waits when the process is out of file
// descriptors before it tries again.
const fdRetry = 50 * time.Millisecond

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				l.warn("out of file descriptors: new connections wait in the kernel's queue", "err", err.Error())
				time.Sleep(fdRetry)
				continue
			}
			return nil, err
		}
		client, perClient := clientKey(c.RemoteAddr())
		if !l.admit(client, perClient) {
			c.Close()
			continue
		}
		return &countedConn{Conn: c, l: l, client: client, perClient: perClient}, nil
	}
}

// limitRequests is h with at most perClient requests from one client
// address in progress on this listener at once; the client's others wait,
// parked, for up to requestWait, then are answered 429. They wait rather
// than being refused at once so that a client with thousands of HTTP/2
// streams open keeps perClient of them running and the rest asleep: at once
// refused, its streams would ask again in a tight loop, and the server's
// cores would go round thousands of them for each visitor's page. Only
// HTTP/2 requests over TCP are counted.
func (l *limitedListener) limitRequests(h http.Handler) http.Handler {
	if l.perClient <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, err := netip.ParseAddrPort(r.RemoteAddr)
		if err != nil || r.ProtoMajor < 2 {
			// A unix socket's peer; or HTTP/1, one request at a time on
			// each connection, which the connection cap bounds already.
			h.ServeHTTP(w, r)
			return
		}
		client, _ := clientKey(net.TCPAddrFromAddrPort(ap))
		in := l.requestsOf(client)
		defer l.leave(client, in)
		if err := in.Acquire(r.Context()); err != nil {
			if errors.Is(err, errTooManyRequests) {
				l.warn("request refused: its address had PYTWASK_MAX_CONNS_PER_CLIENT requests in progress for "+l.requestWait.String(),
					"client", client.String(), "max", l.perClient)
				w.Header().Set("Retry-After", "10")
				http.Error(w, "Too many requests at once from your address: wait for some to finish, then try again.", http.StatusTooManyRequests)
			}
			return
		}
		defer in.Release()
		h.ServeHTTP(w, r)
	})
}

// requestWait bounds how long a request waits for one of its client's
// places; PageWait bounds the wait for a page slot after it.
const requestWait = 10 * time.Second

var errTooManyRequests = errors.New("the client's requests in progress are at their cap")

// clientRequests is one client's places for requests in progress, and how
// many requests hold or wait for one (users), so that it is forgotten when
// none do.
type clientRequests struct {
	*slots.Slots
	users int
}

func (l *limitedListener) requestsOf(client netip.Addr) *clientRequests {
	l.mu.Lock()
	defer l.mu.Unlock()
	in := l.requests[client]
	if in == nil {
		in = &clientRequests{Slots: slots.New(l.perClient, l.requestWait, errTooManyRequests)}
		l.requests[client] = in
	}
	in.users++
	return in
}

func (l *limitedListener) leave(client netip.Addr, in *clientRequests) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if in.users--; in.users == 0 {
		delete(l.requests, client)
	}
}

// clientKey is the address a connection counts against, and whether it
// counts against one at all.
func clientKey(a net.Addr) (netip.Addr, bool) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(tcp.IP)
	if !ok {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}

func (l *limitedListener) admit(client netip.Addr, perClient bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.open >= l.max {
		l.warnLocked("connection refused: the listener is at PYTWASK_MAX_CONNS", "max", l.max)
		return false
	}
	if perClient && l.perClient > 0 && l.byClient[client] >= l.perClient {
		l.warnLocked("connection refused: its address is at PYTWASK_MAX_CONNS_PER_CLIENT", "client", client.String(), "max", l.perClient)
		return false
	}
	l.open++
	if perClient {
		l.byClient[client]++
	}
	return true
}

func (l *limitedListener) release(client netip.Addr, perClient bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if perClient {
		if l.byClient[client]--; l.byClient[client] <= 0 {
			delete(l.byClient, client)
		}
	}
}

func (l *limitedListener) warn(msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.warnLocked(msg, args...)
}

// warnLocked logs msg unless something was logged less than a second ago;
// then it only counts, and the next warning says how many went unsaid.
func (l *limitedListener) warnLocked(msg string, args ...any) {
	now := time.Now()
	if now.Sub(l.warned) < time.Second {
		l.refused++
		return
	}
	if l.refused > 0 {
		args = append(args, "unlogged_since_last", l.refused)
	}
	l.warned, l.refused = now, 0
	l.log.Warn(msg, append(args, "listener", l.Addr().String())...)
}

// countedConn gives its place back when it is closed, once.
type countedConn struct {
	net.Conn
	l         *limitedListener
	client    netip.Addr
	perClient bool
	once      sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.client, c.perClient) })
	return err
}
