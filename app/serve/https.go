package serve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"

	"github.com/caddyserver/certmagic"

	"pytwask/app/config"
)

// certManager is certmagic, configured by hand: certificates and the ACME
// account in PYTWASK_DATA_DIR (never certmagic's home-directory default), the
// configured CA and its root, and challenge ports matched to our own
// listeners so that certmagic answers challenges through them.
type certManager struct {
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	cache  *certmagic.Cache
}

// challengeAddrs are the listeners that can answer ACME challenges.
type challengeAddrs struct {
	http, https net.Addr // http may be nil
}

func newCertManager(cfg *config.Config, log *slog.Logger, at challengeAddrs) (*certManager, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("certificate directory (PYTWASK_DATA_DIR): %w", err)
	}
	zl := zapToSlog(log)
	var magic *certmagic.Config
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		Logger:           zl,
	})
	magic = certmagic.New(cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: cfg.DataDir},
		Logger:  zl,
	})
	var roots *x509.CertPool
	if cfg.ACMECARoot != "" {
		pem, err := os.ReadFile(cfg.ACMECARoot)
		if err != nil {
			return nil, fmt.Errorf("PYTWASK_ACME_CA_ROOT: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("PYTWASK_ACME_CA_ROOT: no certificate in %s", cfg.ACMECARoot)
		}
	}
	tmpl := certmagic.ACMEIssuer{
		CA: cfg.ACMECA,
		// Without this certmagic retries failed orders against Let's
		// Encrypt's staging CA, whatever CA was configured.
		TestCA:                  cfg.ACMECA,
		Email:                   cfg.ACMEEmail,
		Agreed:                  true,
		TrustedRoots:            roots,
		DisableHTTPChallenge:    at.http == nil || !slices.Contains(cfg.ACMEChallenges, "http-01"),
		DisableTLSALPNChallenge: !slices.Contains(cfg.ACMEChallenges, "tls-alpn-01"),
		Logger:                  zl,
	}
	// certmagic starts its own challenge listener on these ports unless they
	// are taken; ours have them, and answer the challenges themselves.
	if host, port, ok := hostPort(at.http); ok {
		tmpl.ListenHost, tmpl.AltHTTPPort = host, port
	}
	if host, port, ok := hostPort(at.https); ok {
		tmpl.ListenHost, tmpl.AltTLSALPNPort = host, port
	}
	issuer := certmagic.NewACMEIssuer(magic, tmpl)
	magic.Issuers = []certmagic.Issuer{issuer}
	return &certManager{magic: magic, issuer: issuer, cache: cache}, nil
}

func hostPort(a net.Addr) (string, int, bool) {
	if a == nil {
		return "", 0, false
	}
	host, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, false
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = ""
	}
	return host, port, true
}

// manage loads cached certificates and obtains or renews the rest in the
// background. It does not wait: a CA that is down, or a renewal that fails,
// must not stop the start while a still-valid certificate is cached.
func (m *certManager) manage(ctx context.Context, domains []string) error {
	if err := m.magic.ManageAsync(ctx, domains); err != nil {
		return fmt.Errorf("manage certificates for %v: %w", domains, err)
	}
	return nil
}

// tlsConfig serves the managed certificates. certmagic's own config offers
// only "acme-tls/1" (the TLS-ALPN-01 challenge); the site's protocols come
// first, so that browsers and curl, which offer h2 and http/1.1, get one of
// them, and the CA's validator still gets its challenge.
func (m *certManager) tlsConfig() *tls.Config {
	tc := m.magic.TLSConfig()
	tc.MinVersion = tls.VersionTLS12
	tc.NextProtos = append([]string{"h2", "http/1.1"}, tc.NextProtos...)
	return tc
}

// redirectHandler answers the plain-HTTP port: ACME HTTP-01 challenges, then
// a redirect to HTTPS for GET and HEAD. Other methods are refused rather
// than redirected, since a form sent over plain HTTP has already leaked.
func (m *certManager) redirectHandler(domains []string, httpsAddr net.Addr) http.Handler {
	suffix := ""
	if _, port, ok := hostPort(httpsAddr); ok && port != 443 {
		suffix = ":" + strconv.Itoa(port)
	}
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !slices.Contains(domains, host) {
			host = domains[0] // never redirect to a name we do not serve
		}
		target := "https://" + host + suffix + r.URL.RequestURI()
		w.Header().Set("Connection", "close")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusMethodNotAllowed)
			fmt.Fprintf(w, "This site is served over HTTPS only; %s requests over plain HTTP are refused.\nUse %s\n", r.Method, target)
			return
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
	})
	return m.issuer.HTTPChallengeHandler(redirect)
}
