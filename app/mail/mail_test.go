package mail

import (
	netmail "net/mail"
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
	// The headers, as a mail reader parses them: dated, identified under
	// the sender's domain, and marked as automatic (no auto-replies).
	msg, err := netmail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	id := h.Get("Message-ID")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") || len(id) < len("<@example.com>")+20 {
		t.Errorf("Message-ID %q; want a random one at the sender's domain", id)
	}
	if h.Get("Auto-Submitted") != "auto-generated" || h.Get("X-Auto-Response-Suppress") != "All" {
		t.Errorf("not marked automatic: Auto-Submitted %q, X-Auto-Response-Suppress %q", h.Get("Auto-Submitted"), h.Get("X-Auto-Response-Suppress"))
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
