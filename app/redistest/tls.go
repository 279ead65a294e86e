package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TLSServer is a redis-server that speaks only TLS on loopback and asks
// for a client certificate, with the files a client needs.
type TLSServer struct {
	Addr     string
	Password string
	CAFile   string // the CA that signed the server's and the client's certificates
	CertFile string // a client certificate
	KeyFile  string
}

// StartTLS starts a TLS-only redis-server for t, with a fresh CA. Without
// redis-server the test is skipped, or fails in strict mode.
func StartTLS(t testing.TB) *TLSServer {
	t.Helper()
	needTools(t, "redis-server", "redis-server")
	s := &Sentinels{t: t, dir: t.TempDir(), Password: randomHex(16), procs: map[string]*exec.Cmd{}}
	t.Cleanup(s.stopAll)
	f := newTLSFiles(t, s.dir)
	srv := &TLSServer{Addr: "127.0.0.1:" + freePort(t), Password: s.Password,
		CAFile: f.CAFile, CertFile: f.clientCert, KeyFile: f.clientKey}
	s.run(srv.Addr, "redis-server", append(append([]string{"--port", "0", "--tls-port", port(srv.Addr), "--bind", "127.0.0.1"},
		f.serverArgs()...), "--tls-auth-clients", "yes",
		"--requirepass", s.Password, "--dir", s.dir, "--save", "", "--appendonly", "no", "--loglevel", "warning")...)
	return srv
}

// tlsFiles are a fresh CA, a certificate for a server on 127.0.0.1 (which
// a node of a Cluster also shows as a client, to the others) and a client
// certificate, written to files as redis-server and pytwask read them.
type tlsFiles struct {
	CAFile                string
	serverCert, serverKey string
	clientCert, clientKey string
	pool                  *x509.CertPool
}

func newTLSFiles(t testing.TB, dir string) *tlsFiles {
	t.Helper()
	ca, caKey := newCert(t, nil, nil, "pytwask test CA")
	server, serverKey := newCert(t, ca, caKey, "127.0.0.1", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	client, clientKey := newCert(t, ca, caKey, "pytwask", x509.ExtKeyUsageClientAuth)
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f := &tlsFiles{CAFile: write("ca.pem", "CERTIFICATE", ca.Raw),
		serverCert: write("server.pem", "CERTIFICATE", server.Raw), serverKey: write("server-key.pem", "EC PRIVATE KEY", keyDER(serverKey)),
		clientCert: write("client.pem", "CERTIFICATE", client.Raw), clientKey: write("client-key.pem", "EC PRIVATE KEY", keyDER(clientKey)),
		pool: x509.NewCertPool()}
	f.pool.AddCert(ca)
	return f
}

// serverArgs are redis-server's TLS arguments: its certificate, the CA it
// trusts, and TLS between nodes, to replicas and on a Cluster's bus. It
// asks clients for no certificate (StartTLS adds that).
func (f *tlsFiles) serverArgs() []string {
	return []string{"--tls-cert-file", f.serverCert, "--tls-key-file", f.serverKey, "--tls-ca-cert-file", f.CAFile,
		"--tls-auth-clients", "no", "--tls-replication", "yes", "--tls-cluster", "yes"}
}

// tlsConfig is a client's TLS to the data nodes, nil when they speak
// plain TCP.
func (s *Sentinels) tlsConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.tls.pool, MinVersion: tls.VersionTLS12}
}

// cliTLS is redis-cli's arguments args, with those that make it speak TLS
// to the data nodes when they do.
func (s *Sentinels) cliTLS(args ...string) []string {
	if s.tls == nil {
		return args
	}
	return append([]string{"--tls", "--cacert", s.tls.CAFile}, args...)
}

// newCert makes a certificate for name signed by parent (self-signed, a CA,
// when parent is nil), and returns it with its key.
func newCert(t testing.TB, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string, usage ...x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		// No extended key usage on the CA: OpenSSL does not take "any"
		// for the client and server purposes it checks.
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.ExtKeyUsage = true, true, nil
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}
