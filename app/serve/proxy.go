package serve

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxyTrust decides whose X-Forwarded-For and X-Forwarded-Proto to believe:
// a request that arrived over a unix socket (only the local nginx can reach
// it) or from an address in PYTWASK_TRUSTED_PROXIES. Anyone else could write
// those headers to pose as another client or to get Secure cookies over HTTP.
type proxyTrust struct {
	nets []netip.Prefix
}

func (p proxyTrust) trustedIP(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// peer returns the direct peer's address, and whether it is a trusted proxy.
func (p proxyTrust) peer(r *http.Request) (string, bool) {
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && la.Network() == "unix" {
		return "unix", true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host, false
	}
	return a.Unmap().String(), p.trustedIP(a)
}

// ClientAddr is the client's address for logs and limits: from
// X-Forwarded-For, the rightmost address that is not a trusted proxy, when
// the request came through one; else the peer's address.
func (p proxyTrust) ClientAddr(r *http.Request) string {
	peer, trusted := p.peer(r)
	if !trusted {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled hop: believe nothing further left
		}
		if !p.trustedIP(a) {
			return a.Unmap().String()
		}
	}
	return peer
}

// IsHTTPS reports whether the client used HTTPS: directly, or per a trusted
// proxy's X-Forwarded-Proto.
func (p proxyTrust) IsHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	_, trusted := p.peer(r)
	return trusted && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}
