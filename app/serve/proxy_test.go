package serve

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestProxyTrust(t *testing.T) {
	p := proxyTrust{nets: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	unix := &net.UnixAddr{Name: "/run/p.sock", Net: "unix"}
	tcp := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}
	cases := []struct {
		name   string
		remote string
		local  net.Addr
		xff    []string
		proto  string
		client string
		https  bool
	}{
		{"direct client, headers ignored", "203.0.113.9:4000", tcp, []string{"1.2.3.4"}, "https", "203.0.113.9", false},
		{"trusted proxy", "10.1.2.3:4000", tcp, []string{"198.51.100.7"}, "https", "198.51.100.7", true},
		{"trusted proxy chain", "10.1.2.3:4000", tcp, []string{"1.1.1.1, 198.51.100.7, 10.9.9.9"}, "http", "198.51.100.7", false},
		{"spoofed left entry", "10.1.2.3:4000", tcp, []string{"6.6.6.6", "198.51.100.7"}, "", "198.51.100.7", false},
		{"unix socket from nginx", "@", unix, []string{"198.51.100.8"}, "https", "198.51.100.8", true},
		{"unix socket without header", "@", unix, nil, "", "unix", false},
		{"ipv6 trusted", "[::1]:4000", tcp, []string{"2001:db8::1"}, "HTTPS", "2001:db8::1", true},
		{"garbage header", "10.1.2.3:4000", tcp, []string{"not-an-ip"}, "", "10.1.2.3", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, c.local))
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if got := p.ClientAddr(r); got != c.client {
				t.Errorf("ClientAddr = %q; want %q", got, c.client)
			}
			if got := p.IsHTTPS(r); got != c.https {
				t.Errorf("IsHTTPS = %v; want %v", got, c.https)
			}
		})
	}
}
