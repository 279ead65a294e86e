package mail

import (
	"strings"
	"testing"

	"pytwask/app/mailtest"
)

// TestSend sends a message through an SMTP server on loopback, which
// receives it whole.
func TestSend(t *testing.T) {
	srv := mailtest.Start(t)
	s := New(Config{Host: srv.Host, Port: srv.Port, TLS: "none", From: "pytwask <noreply@example.com>"})
	if err := s.Send(t.Context(), "alice@example.com", "Hello", "A line\nand another."); err != nil {
		t.Fatal(err)
	}
	m := srv.Wait(t, 1)[0]
	if m.From != "noreply@example.com" || len(m.To) != 1 || m.To[0] != "alice@example.com" {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	for _, want := range []string{"Subject: Hello", "To: <alice@example.com>", "A line\nand another."} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("message lacks %q:\n%s", want, m.Data)
		}
	}
	// STARTTLS required (the default) to a server that offers none: refused.
	s = New(Config{Host: srv.Host, Port: srv.Port, TLS: "starttls", From: "noreply@example.com"})
	if err := s.Send(t.Context(), "alice@example.com", "x", "x"); err == nil {
		t.Error("a server without STARTTLS took a message that required it")
	}
}

// TestCheck: Check connects as Send would and sends nothing; it fails
// where Send would.
func TestCheck(t *testing.T) {
	srv := mailtest.Start(t)
	if err := New(Config{Host: srv.Host, Port: srv.Port, TLS: "none"}).Check(t.Context()); err != nil {
		t.Errorf("check of a server that answers: %v", err)
	}
	if err := New(Config{Host: srv.Host, Port: srv.Port, TLS: "starttls"}).Check(t.Context()); err == nil {
		t.Error("check passed a server without the STARTTLS it requires")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("check sent %d messages", n)
	}
}
