package web

import (
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"pytwask/app/mail"
	"pytwask/app/mailtest"
	"pytwask/app/store"
)

// mailedLink is the path and query of the site's link in a message.
var mailedLink = regexp.MustCompile(`https://pytwask\.test(/auth/[a-z_]+\?token=[0-9a-f]+)`)

// linkIn is the site's link in a message's body, which a mail client would
// show: quoted-printable decoded.
func linkIn(t *testing.T, m mailtest.Message) string {
	t.Helper()
	body, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(m.Data)))
	if err != nil {
		t.Fatal(err)
	}
	link := mailedLink.FindStringSubmatch(string(body))
	if link == nil {
		t.Fatalf("no link in:\n%s", body)
	}
	return link[1]
}

// TestPasswordRecoveryPages: through a real SMTP server on loopback, a
// user confirms an address from the settings page, then resets a forgotten
// password from the link mailed to it: the link works once, every session
// ends, and the new password signs in. The forgot page answers the same
// for a name that does not exist, and is limited per name.
func TestPasswordRecoveryPages(t *testing.T) {
	s := newSite(t)
	smtp := mailtest.Start(t)
	// A server that takes a while to accept a message, as one over the
	// internet does, so that the messages sent after an answer are still
	// on their way when the test goes on.
	smtp.SetDelay(30 * time.Millisecond)
	s.srv.Close()
	h := s.handler(Options{
		Now: s.clock, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), NameHold: store.DefaultNameHold,
		Mailer:  mail.New(mail.Config{Host: smtp.Host, Port: smtp.Port, TLS: "none", From: "pytwask <noreply@pytwask.test>"}),
		BaseURL: "https://pytwask.test",
	})
	s.srv = httptest.NewServer(h)
	t.Cleanup(s.srv.Close)
	// mailed is what the SMTP server holds once the messages sent after
	// an answer (reset links, notices) have gone: a count taken before
	// them would be off by the ones still on their way.
	mailed := func() []mailtest.Message {
		h.WaitMail(t.Context())
		return smtp.Messages()
	}
	alice := s.signedIn("alice")[0]
	other := s.browser() // another of alice's browsers, signed in too
	other.signIn("alice", "Passw0rd!", false)

	alice.get("/auth/user_settings").want(t, 200, "Email address", "None yet.", `id="email_password"`)
	alice.post("/auth/email", form("email", "not an address", "password", "Passw0rd!")).want(t, 422, "That is not an email address.")
	// The address can reset the password: a session alone (a computer
	// left signed in, a stolen cookie) must not be enough to set it.
	alice.post("/auth/email", form("email", "mallory@example.com")).want(t, 422, "This field is required.")
	alice.post("/auth/email", form("email", "mallory@example.com", "password", "wrong")).want(t, 422, "Incorrect password")
	if got := mailed(); len(got) != 0 {
		t.Fatalf("a confirmation was sent without the password: %v", got[0].To)
	}
	alice.post("/auth/email", form("email", "alice@example.com", "password", "Passw0rd!")).wantRedirect(t, "/auth/user_settings#address")
	msgs := smtp.Wait(t, 1)
	if msgs[0].To[0] != "alice@example.com" {
		t.Fatalf("the confirmation went to %v", msgs[0].To)
	}
	link := linkIn(t, msgs[0])
	alice.get(link).wantRedirect(t, "/auth/user_settings#address")
	alice.get("/auth/user_settings").want(t, 200, "Confirmed: <strong>alice@example.com</strong>")
	alice.get(link).want(t, 400, "This link has expired or was used already.")

	// Forgotten: the same answer for alice, an address, and nobody.
	anon := s.browser()
	anon.get("/auth/").want(t, 200, `href="/auth/forgot"`)
	anon.get("/auth/forgot").want(t, 200, "Username or email address")
	anon.post("/auth/forgot", form("who", "")).want(t, 422, "Enter your username or email address.")
	for _, who := range []string{"alice", "nobody", "ALICE@example.com"} {
		anon.post("/auth/forgot", form("who", who)).want(t, 200, "If that account has a confirmed email address, we sent a link to it.")
	}
	msgs = smtp.Wait(t, 3)
	if len(msgs) != 3 {
		t.Fatalf("%d messages; want the confirmation and two resets (none for nobody)", len(msgs))
	}
	if msgs[1].To[0] != "alice@example.com" {
		t.Fatalf("the reset went to %v", msgs[1].To)
	}
	reset := linkIn(t, msgs[1])
	u, _ := url.Parse(reset)
	token := u.Query().Get("token")
	anon.get(reset).want(t, 200, "Choose a new password", `name="token" value="`+token+`"`)
	anon.post("/auth/reset", form("token", token, "new_password", "N3w-Passw0rd", "new_password2", "other")).want(t, 422, "New passwords must match")
	anon.post("/auth/reset", form("token", token, "new_password", "weak", "new_password2", "weak")).want(t, 422, "Weak password")
	anon.post("/auth/reset", form("token", token, "new_password", "N3w-Passw0rd", "new_password2", "N3w-Passw0rd")).wantRedirect(t, "/auth/")
	anon.get("/auth/").want(t, 200, "Your password was changed. Sign in with it.")
	for _, b := range []*browser{alice, other} {
		b.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	}
	anon.signIn("alice", "N3w-Passw0rd", false).want(t, 200, "Signed in as")
	s.browser().post("/auth/reset", form("token", token, "new_password", "An0ther-Passw0rd", "new_password2", "An0ther-Passw0rd")).want(t, 400, "This link has expired or was used already.")
	s.browser().get("/auth/reset?token="+token).want(t, 400, "This link has expired or was used already.")
	s.browser().get("/auth/reset?token=nonsense").want(t, 400, "This link has expired or was used already.")

	// Five requests an hour per name (in any case), then 429.
	for range 4 {
		anon.post("/auth/forgot", form("who", "alice")).want(t, 200)
	}
	anon.post("/auth/forgot", form("who", "Alice")).want(t, http.StatusTooManyRequests)

	// Alice removes her address: the settings say she has none, and a
	// forgotten password mails nothing.
	if strings.Contains(s.browser().get("/auth/user_settings").body, `action="/auth/email/remove"`) {
		t.Error("the settings of nobody offer to remove an address")
	}
	s.browser().post("/auth/email/remove", nil).wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	anon.get("/auth/user_settings").want(t, 200, `action="/auth/email/remove"`, ">Remove this address</button>")
	before := len(mailed())
	anon.post("/auth/email/remove", nil).wantRedirect(t, "/auth/user_settings#address")
	page := anon.get("/auth/user_settings")
	page.want(t, 200, "Your email address alice@example.com was removed.", "None yet.")
	if msgs := smtp.Wait(t, before+1); msgs[before].To[0] != "alice@example.com" ||
		!strings.Contains(strings.ReplaceAll(msgs[before].Data, "=\n", ""), "taken off your pytwask account") {
		t.Errorf("the removed address was told %v:\n%s", msgs[before].To, msgs[before].Data)
	}
	if strings.Contains(page.body, `action="/auth/email/remove"`) {
		t.Error("the settings offer to remove an address that is gone")
	}
	if n := s.rdb.Exists(t.Context(), "pytwask:email:1", "pytwask:email_user:alice@example.com").Val(); n != 0 {
		t.Errorf("%d of the address's keys are left", n)
	}
	anon.post("/auth/email/remove", nil).wantRedirect(t, "/auth/user_settings#address")
	sent := len(mailed())
	s.browser().post("/auth/forgot", form("who", "alice@example.com")).want(t, 200)
	if n := len(mailed()) - sent; n != 0 {
		t.Errorf("a forgotten password after the removal sent %d messages", n)
	}

	// A new address, then another: the one replaced is told of the change
	// (a change its owner did not make is an account taken over).
	confirmed := func(address string) {
		t.Helper()
		n := len(mailed())
		anon.post("/auth/email", form("email", address, "password", "N3w-Passw0rd")).wantRedirect(t, "/auth/user_settings#address")
		msgs := smtp.Wait(t, n+1)
		anon.get(linkIn(t, msgs[len(msgs)-1])).wantRedirect(t, "/auth/user_settings#address")
	}
	confirmed("alice@example.com")
	sent = len(mailed())
	confirmed("alice@example.org")
	msgs = smtp.Wait(t, sent+2)
	if len(msgs) != sent+2 {
		t.Fatalf("%d messages after the change; want the confirmation and the notice", len(msgs)-sent)
	}
	notice := msgs[sent+1]
	body := strings.ReplaceAll(notice.Data, "=\n", "") // quoted-printable's soft line breaks
	if notice.To[0] != "alice@example.com" || !strings.Contains(body, "is now alice@example.org") {
		t.Errorf("the notice of the change went to %v:\n%s", notice.To, notice.Data)
	}
	anon.get("/auth/user_settings").want(t, 200, "Confirmed: <strong>alice@example.org</strong>")

	// A change of the password is told to the address too.
	sent = len(mailed())
	anon.post("/auth/user_settings", form("old_password", "N3w-Passw0rd", "new_password", "Th1rd-Passw0rd",
		"new_password2", "Th1rd-Passw0rd")).wantRedirect(t, "/auth/user_settings")
	msgs = smtp.Wait(t, sent+1)
	if m := msgs[sent]; m.To[0] != "alice@example.org" || !strings.Contains(strings.ReplaceAll(m.Data, "=\n", ""), "password of your pytwask account at https://pytwask.test was changed") {
		t.Errorf("the notice of the password change went to %v:\n%s", m.To, m.Data)
	}

	// The reset links mailed on the way were made for another password, to
	// an address alice no longer has: none of them works.
	resets := 0
	for _, m := range msgs {
		if strings.Contains(m.Data, "/auth/reset?token=") {
			resets++
			s.browser().get(linkIn(t, m)).want(t, 400, "This link has expired or was used already.")
		}
	}
	if resets != 6 {
		t.Errorf("%d reset links were mailed; want the six the forgot page sent", resets)
	}
}

// TestForgotAnswersAlike: the forgot page answers as fast for an account
// with an address as for nobody, however long the SMTP server takes: how
// long the answer took would tell whether an address has an account here.
// The message goes after the answer.
func TestForgotAnswersAlike(t *testing.T) {
	s := newSite(t)
	smtp := mailtest.Start(t)
	s.srv.Close()
	s.srv = httptest.NewServer(s.handler(Options{
		Now: s.clock, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), NameHold: store.DefaultNameHold,
		Mailer:  mail.New(mail.Config{Host: smtp.Host, Port: smtp.Port, TLS: "none", From: "pytwask <noreply@pytwask.test>"}),
		BaseURL: "https://pytwask.test",
	}))
	t.Cleanup(s.srv.Close)
	ctx := t.Context()
	s.signedIn("alice")
	secret := s.rdb.HGet(ctx, "user:1", "auth").Val()
	token, err := s.store.AddressToken(ctx, secret, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.ConfirmAddress(ctx, token); err != nil {
		t.Fatal(err)
	}
	const delay = time.Second
	smtp.SetDelay(delay)
	anon := s.browser()
	for _, who := range []string{"nobody@example.com", "alice@example.com", "nobody", "alice"} {
		started := time.Now()
		anon.post("/auth/forgot", form("who", who)).want(t, 200, "we sent a link to it")
		if took := time.Since(started); took > delay/2 {
			t.Errorf("the forgot page took %v for %s", took.Round(time.Millisecond), who)
		}
	}
	if msgs := smtp.Wait(t, 2); len(msgs) != 2 || msgs[0].To[0] != "alice@example.com" {
		t.Errorf("the links went to %d messages: %v", len(msgs), msgs)
	}
}

// TestRecoveryWithoutMail: a site that sends no email says so on the
// forgot page and in the settings, instead of telling of links it cannot
// send, and makes no reset token.
func TestRecoveryWithoutMail(t *testing.T) {
	s := newSite(t)
	ctx := t.Context()
	alice := s.signedIn("alice")[0]
	// An address confirmed while the site still sent email.
	secret, err := s.store.Login(ctx, "", "alice", "Passw0rd!")
	if err != nil {
		t.Fatal(err)
	}
	token, err := s.store.AddressToken(ctx, secret, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.ConfirmAddress(ctx, token); err != nil {
		t.Fatal(err)
	}
	tokens := func() int {
		t.Helper()
		keys, err := s.rdb.Keys(ctx, "pytwask:token:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		return len(keys)
	}
	before := tokens()

	page := s.browser().get("/auth/forgot")
	page.want(t, 200, "This site does not send email, so it cannot send you a link.")
	if strings.Contains(page.body, `action="/auth/forgot"`) {
		t.Error("the forgot page offers a form that can send nothing")
	}
	for _, who := range []string{"alice", "alice@example.com", "nobody"} {
		p := s.browser().post("/auth/forgot", form("who", who))
		p.want(t, 200, "This site does not send email")
		if strings.Contains(p.body, "we sent a link") {
			t.Errorf("for %s the page tells of a link it did not send", who)
		}
	}
	if n := tokens(); n != before {
		t.Errorf("%d reset tokens after the requests; want %d", n, before)
	}

	settings := alice.get("/auth/user_settings")
	settings.want(t, 200, "Confirmed: <strong>alice@example.com</strong>", "This site does not send email, so it cannot confirm an address")
	if strings.Contains(settings.body, `action="/auth/email"`) {
		t.Error("the settings offer an address form that can send nothing")
	}
	alice.post("/auth/email", form("email", "new@example.com")).want(t, 422, "This site does not send email, so it cannot confirm an address")
	// The address can still be removed.
	settings.want(t, 200, `action="/auth/email/remove"`)
	alice.post("/auth/email/remove", nil).wantRedirect(t, "/auth/user_settings#address")
	alice.get("/auth/user_settings").want(t, 200, "Your email address alice@example.com was removed.")
	if a, err := s.store.AddressOf(ctx, "1"); err != nil || a != "" {
		t.Errorf("alice's address after the removal: %q, %v", a, err)
	}
}
