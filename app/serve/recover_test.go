package serve_test

import (
	"fmt"
	"io"
	"mime/quotedprintable"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"pytwask/app/mailtest"
	"pytwask/app/redistest"
)

// TestBrowserPasswordRecovery: in Chromium, at desktop and phone size,
// through the binary and a real SMTP server on loopback, a user confirms
// an address from the settings page with the mailed link, forgets the
// password, sets a new one from the reset link mailed to it, and removes
// the address.
func TestBrowserPasswordRecovery(t *testing.T) {
	needChromium(t)
	rs := redistest.Start(t)
	smtp := mailtest.Start(t)
	port := strconv.Itoa(freePort(t))
	base := "http://127.0.0.1:" + port
	start(t, append(baseEnv(rs), "PYTWASK_LISTEN=127.0.0.1:"+port, "PYTWASK_SMTP_HOST="+smtp.Host,
		"PYTWASK_SMTP_PORT="+strconv.Itoa(smtp.Port), "PYTWASK_SMTP_TLS=none", "PYTWASK_SMTP_FROM=pytwask <noreply@pytwask.test>",
		"PYTWASK_BASE_URL="+base))
	b := newBrowser(t, base, rs)
	link := regexp.MustCompile(regexp.QuoteMeta(base) + `(/auth/[a-z_]+\?token=[0-9a-f]+)`)
	mailed := func(n int) string {
		t.Helper()
		m := smtp.Wait(t, n)[n-1]
		body, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(m.Data)))
		if err != nil {
			t.Fatal(err)
		}
		l := link.FindStringSubmatch(string(body))
		if l == nil {
			t.Fatalf("no link in message %d:\n%s", n, body)
		}
		return l[1]
	}
	for i, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"phone", 360, 740}} {
		step := 0
		shot := func(what string) {
			t.Helper()
			step++
			checkedShot(t, b, fmt.Sprintf("recovery-%s-%02d-%s", size.name, step, what), fmt.Sprintf("step %d (%s) at %s", step, what, size.name))
		}
		b.run(chromedp.EmulateViewport(size.w, size.h))
		name := "dana_" + size.name[:1]
		b.signUp(name, "Passw0rd!")
		b.signIn(name, "Passw0rd!", false)

		b.open("/auth/user_settings")
		b.fill([][2]string{{"#email", name + "@example.com"}, {"#email_password", "Passw0rd!"}}, `form[action="/auth/email"] button`)
		b.waitText("We sent a link to " + name + "@example.com")
		b.open(mailed(3*i + 1))
		b.waitText("is confirmed")
		shot("address-confirmed")
		b.signOut()

		b.open("/auth/")
		b.run(chromedp.Click(`a[href="/auth/forgot"]`, chromedp.ByQuery))
		b.waitText("Username or email address")
		shot("forgot")
		b.fill([][2]string{{"#who", name}}, `main form button`)
		b.waitText("we sent a link to it")
		shot("forgot-sent")
		b.open(mailed(3*i + 2))
		b.waitText("Choose a new password")
		shot("reset")
		b.fill([][2]string{{"#new_password", "N3w-Passw0rd!"}, {"#new_password2", "N3w-Passw0rd!"}}, `main form button`)
		b.waitText("Your password was changed. Sign in with it.")
		shot("reset-done")
		b.signIn(name, "N3w-Passw0rd!", false)

		b.open("/auth/user_settings")
		b.run(chromedp.Click(`form[action="/auth/email/remove"] button`, chromedp.ByQuery))
		b.waitText("Your email address " + name + "@example.com was removed.")
		b.waitText("None yet.")
		shot("address-removed")
		if m := smtp.Wait(t, 3*i+3)[3*i+2]; m.To[0] != name+"@example.com" || !strings.Contains(m.Data, "Subject: The email address of your pytwask account changed") {
			t.Errorf("the removed address was not told: %v\n%s", m.To, m.Data)
		}
		b.signOut()
	}
	b.checkClean()
}

// TestBrowserRecoveryWithoutMail: in Chromium, at desktop and phone size,
// a site without SMTP sends a user who forgot their password to its
// operator, and its settings say why no address can be added.
func TestBrowserRecoveryWithoutMail(t *testing.T) {
	needChromium(t)
	rs := redistest.Start(t)
	port := strconv.Itoa(freePort(t))
	base := "http://127.0.0.1:" + port
	start(t, append(baseEnv(rs), "PYTWASK_LISTEN=127.0.0.1:"+port))
	b := newBrowser(t, base, rs)
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"phone", 360, 740}} {
		shot := func(what string) {
			t.Helper()
			checkedShot(t, b, "recovery-without-mail-"+size.name+"-"+what, what+" at "+size.name)
		}
		b.run(chromedp.EmulateViewport(size.w, size.h))
		b.open("/auth/")
		b.run(chromedp.Click(`a[href="/auth/forgot"]`, chromedp.ByQuery))
		b.waitText("This site does not send email, so it cannot send you a link.")
		if n := count(b, `input#who`); n != 0 {
			t.Errorf("at %s the forgot page asks for a name it can send nothing to", size.name)
		}
		shot("forgot")

		name := "erin_" + size.name[:1]
		b.signUp(name, "Passw0rd!")
		b.signIn(name, "Passw0rd!", false)
		b.open("/auth/user_settings")
		b.waitText("This site does not send email, so it cannot confirm an address")
		if n := count(b, `input#email`); n != 0 {
			t.Errorf("at %s the settings ask for an address no link can confirm", size.name)
		}
		shot("settings")
		b.signOut()
	}
	b.checkClean()
}
