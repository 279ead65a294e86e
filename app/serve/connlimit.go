package serve

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// limitedListener caps the connections open on one listener: max in all,
// and perClient from one client address (IPv6 by its /64, since one host
// usually holds a whole /64) on TCP. A connection over a cap is closed as
// soon as it is accepted, before anything is read from it, so that one
// client cannot hold the file descriptors and memory that others need.
// Connections over a unix socket come from a local proxy (nginx), which
// speaks for many clients: only max applies to them.
//
// Accept also rides out running short of file descriptors: it waits a moment
// and tries again, as http.Server would, but says so at warn level, at most
// once a second, where http.Server would log each failure.
type limitedListener struct {
	net.Listener
	max, perClient int
	log            *slog.Logger

	mu       sync.Mutex
	open     int
	byClient map[netip.Addr]int
	warned   time.Time
	refused  int // over a cap since the last warning
}

func limitConns(ln net.Listener, max, perClient int, log *slog.Logger) *limitedListener {
	return &limitedListener{Listener: ln, max: max, perClient: perClient, log: log, byClient: map[netip.Addr]int{}}
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
