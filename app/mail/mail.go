// Package mail sends the site's email (address confirmations, password
// resets) through an SMTP server, with go-mail: a maintained client that
// does STARTTLS, implicit TLS and SMTP authentication properly, which
// net/smtp leaves to its callers.
package mail

import (
	"context"
	"crypto/rand"
	"fmt"
	netmail "net/mail"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Config is how to reach the SMTP server (PYTWASK_SMTP_*).
type Config struct {
	Host string
	Port int
	// TLS is "starttls" (required), "tls" (implicit, usually port 465) or
	// "none" (a relay on this host or a private network).
	TLS            string
	User, Password string
	From           string
}

// Sender sends mail through one SMTP server.
type Sender struct{ cfg Config }

// New returns a Sender for cfg.
func New(cfg Config) *Sender { return &Sender{cfg: cfg} }

// Send sends a plain-text message.
func (s *Sender) Send(ctx context.Context, to, subject, body string) error {
	m := gomail.NewMsg()
	if err := m.From(s.cfg.From); err != nil {
		return fmt.Errorf("mail from %q: %w", s.cfg.From, err)
	}
	if err := m.To(to); err != nil {
		return fmt.Errorf("mail to %q: %w", to, err)
	}
	m.Subject(subject)
	m.SetBodyString(gomail.TypeTextPlain, body)
	// An automatic message: out-of-office and other automatic replies are
	// not sent back to it (RFC 3834; X-Auto-Response-Suppress for Exchange).
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	// The Message-ID's domain is the sender's, not this host's name (which
	// go-mail would use, such as ip-10-0-0-5): filters count a name that is
	// not a domain against a message.
	if from, err := netmail.ParseAddress(s.cfg.From); err == nil {
		if _, domain, ok := strings.Cut(from.Address, "@"); ok {
			m.SetMessageIDWithValue(rand.Text() + "@" + domain)
		}
	}
	c, err := s.client()
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("mail to %s: %w", to, err)
	}
	return nil
}

// Check connects to the server as Send does, TLS and login included, and
// hangs up without sending anything: for pytwask check.
func (s *Sender) Check(ctx context.Context) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	if err := c.DialWithContext(ctx); err != nil {
		return err
	}
	return c.Close()
}

// client is a go-mail client for the configured server.
func (s *Sender) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port)}
	switch s.cfg.TLS {
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.cfg.User != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(s.cfg.User),
			gomail.WithPassword(s.cfg.Password))
	}
	c, err := gomail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return c, nil
}
