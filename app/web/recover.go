package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"pytwask/app/store"
)

// Mailer sends the site's email (package mail); nil: the site sends none.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// The limits on email a client can make the site send, whatever the
// configured ones: per account or address, and per client address.
var (
	mailPerSubject = store.Limit{Max: 5, Window: time.Hour}
	mailPerClient  = store.Limit{Max: 20, Window: time.Hour}
)

const bucketMail = "mail"

// link is an address of this site for email: the configured base URL, never
// the request's Host (which a client chooses).
func (s *Server) link(path, token string) string {
	return strings.TrimRight(s.baseURL, "/") + path + "?token=" + url.QueryEscape(token)
}

// addressSubmit: POST /auth/email — with the user's password
// (store.CheckPassword), store.AddressToken: a link that confirms the
// address is mailed to it; the address is the user's once it is opened
// (confirmAddress).
func (s *Server) addressSubmit(w http.ResponseWriter, r *http.Request) error {
	form, v, err := s.viewerForm(w, r)
	if err != nil {
		return err
	}
	f := passwordForm{Errors: map[string]string{}}
	if s.mailer == nil {
		// The settings page says that no address can be confirmed.
		return s.renderSettings(w, r, http.StatusUnprocessableEntity, f)
	}
	secret, err := s.secret(r)
	if err != nil {
		return err
	}
	address, err := store.CheckAddress(form.Get("email"))
	// The address can reset the password: a session alone (a computer left
	// signed in, a stolen cookie) must not be able to set it.
	if err == nil && form.Get("password") == "" {
		f.Errors["email_password"] = "This field is required."
		return s.renderSettings(w, r, http.StatusUnprocessableEntity, f)
	}
	if err == nil {
		err = s.confirmPassword(r, v, secret, form.Get("password"), "wrong password to set an email address")
	}
	if err == nil {
		err = s.limitAction(r, bucketMail, "emails", "address:"+v.ID, mailPerClient, mailPerSubject)
	}
	var token string
	if err == nil {
		token, err = s.store.AddressToken(r.Context(), secret, address)
	}
	var refusal *store.Error
	switch {
	case errors.Is(err, store.ErrNotLoggedIn):
		return errLoginRequired
	case errors.Is(err, store.ErrIncorrectPassword):
		f.Errors["email_password"] = err.Error()
		return s.renderSettings(w, r, http.StatusUnprocessableEntity, f)
	case errors.As(err, &refusal):
		f.Errors["email"] = refusal.Msg
		return s.renderSettings(w, r, http.StatusUnprocessableEntity, f)
	case err != nil:
		return err
	}
	err = s.mailer.Send(r.Context(), address, "Confirm your email address on pytwask",
		"Hello "+v.Username+",\n\nOpen this link to make "+address+" the address of your pytwask account:\n\n"+
			s.link("/auth/confirm_email", token)+"\n\nIt works once, for a day. If you did not ask for it, ignore this message.\n")
	if err != nil {
		s.log.Warn("could not send an address confirmation", "err", err)
		return errorf(http.StatusServiceUnavailable, "The email could not be sent just now. Try again in a moment.")
	}
	s.addFlash(r, flashOK, "We sent a link to "+address+". Open it to confirm the address.")
	return s.redirect(w, r, "/auth/user_settings#address")
}

// removeAddress: POST /auth/email/remove — store.RemoveAddress, counted
// with the follow limits; back to the settings. It works whether or not
// the site sends email: an address confirmed while it did can go.
func (s *Server) removeAddress(w http.ResponseWriter, r *http.Request) error {
	_, v, err := s.viewerForm(w, r)
	if err != nil {
		return err
	}
	if err := s.limitAction(r, bucketAddress, "changes of the email address", v.ID, s.limits.FollowPerClient, s.limits.FollowPerUser); err != nil {
		return err
	}
	secret, err := s.secret(r)
	if err != nil {
		return err
	}
	address, err := s.store.RemoveAddress(r.Context(), secret)
	switch {
	case errors.Is(err, store.ErrNotLoggedIn):
		return errLoginRequired
	case err != nil:
		return err
	}
	if address != "" {
		s.tellAddress(address, "The email address of your pytwask account changed",
			"This address was taken off your pytwask account at "+s.baseURL+
				": links for a forgotten password can no longer be sent to it.")
		s.addFlash(r, flashOK, "Your email address "+address+" was removed.")
	}
	return s.redirect(w, r, "/auth/user_settings#address")
}

// tellAddress mails an account's address, or the one it no longer has,
// the news of a change to the account's password or address, if the site
// sends email: a change its owner did not make is an account taken over.
func (s *Server) tellAddress(address, subject, news string) {
	if s.mailer == nil {
		return
	}
	s.mailAfter(address, subject, "Hello,\n\n"+news+"\n\nIf you did not make this change, sign in (or ask for a link "+
		"for a forgotten password), change your password, and set your address again.\n")
}

// MailWait bounds the sending of one message in the background.
const MailWait = 30 * time.Second

// mailAfter sends a message in the background, after the answer: how long
// the forgot page takes to answer then tells nothing of whether it had an
// address to mail, and a slow SMTP server holds up no page. A failure is
// logged (the subject, never the body, which may hold a link); the change
// the message tells of stands. WaitMail waits for the messages under way.
func (s *Server) mailAfter(to, subject, body string) {
	s.mailing.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), MailWait)
		defer cancel()
		if err := s.mailer.Send(ctx, to, subject, body); err != nil {
			s.log.Warn("could not send an email", "subject", subject, "err", err)
		}
	})
}

// WaitMail waits until the messages sent in the background are sent, or
// ctx ends: for a shutdown.
func (s *Server) WaitMail(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.mailing.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// confirmAddress: GET /auth/confirm_email?token= — store.ConfirmAddress.
func (s *Server) confirmAddress(w http.ResponseWriter, r *http.Request) error {
	c, err := s.store.ConfirmAddress(r.Context(), r.URL.Query().Get("token"))
	if err != nil {
		return err
	}
	if c.Previous != "" {
		s.tellAddress(c.Previous, "The email address of your pytwask account changed",
			"The email address of your pytwask account at "+s.baseURL+" is now "+c.Address+
				", in place of this one. Links for a forgotten password go there from now on.")
	}
	s.addFlash(r, flashOK, "Your email address "+c.Address+" is confirmed.")
	return s.redirect(w, r, "/auth/user_settings#address")
}

type forgotPage struct {
	layout
	Who, Error string
	Sent       bool
	// NoMail: the site sends no email, so the page sends the user to the
	// operator (who makes links with resetlink in pytwask cli).
	NoMail bool
}

// forgotPage: GET /auth/forgot — asks for a username or email address.
func (s *Server) forgotPage(w http.ResponseWriter, r *http.Request) error {
	return s.render(w, r, http.StatusOK, "forgot", &forgotPage{layout: layout{Title: "Forgot your password?"}, NoMail: s.mailer == nil})
}

// forgotSubmit: POST /auth/forgot — store.ResetToken: a reset link is
// mailed to the account's confirmed address. The answer is the same
// whether or not there is such an account or address, and the requests
// are limited per name or address and per client.
func (s *Server) forgotSubmit(w http.ResponseWriter, r *http.Request) error {
	form, err := s.readForm(w, r)
	if err != nil {
		return err
	}
	page := &forgotPage{layout: layout{Title: "Forgot your password?"}, Who: strings.TrimSpace(form.Get("who"))}
	if s.mailer == nil {
		// No link can reach the user: none is made.
		page.NoMail = true
		return s.render(w, r, http.StatusOK, "forgot", page)
	}
	if page.Who == "" || len(page.Who) > 254 {
		page.Error = "Enter your username or email address."
		return s.render(w, r, http.StatusUnprocessableEntity, "forgot", page)
	}
	if err := s.limitAction(r, bucketMail, "password reset emails", "reset:"+strings.ToLower(page.Who),
		mailPerClient, mailPerSubject); err != nil {
		return err
	}
	address, token, err := s.store.ResetToken(r.Context(), page.Who)
	if err != nil {
		return err
	}
	if address != "" {
		s.mailAfter(address, "Reset your pytwask password",
			"Someone, probably you, asked to reset the password of your pytwask account.\n\nOpen this link to choose a new one:\n\n"+
				s.link("/auth/reset", token)+"\n\nIt works once, for an hour. If you did not ask for it, ignore this message: your password stays as it is.\n")
	}
	page.Sent = true
	return s.render(w, r, http.StatusOK, "forgot", page)
}

type resetPage struct {
	layout
	Token string
	Form  passwordForm
}

// resetPage: GET /auth/reset?token= — the new password form of a reset
// link that still works.
func (s *Server) resetPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	ok, err := s.store.ResetWorks(r.Context(), token)
	if err != nil {
		return err
	}
	if !ok {
		return store.ErrBadLink
	}
	return s.render(w, r, http.StatusOK, "reset", &resetPage{layout: layout{Title: "Choose a new password"}, Token: token,
		Form: passwordForm{Errors: map[string]string{}}})
}

// resetSubmit: POST /auth/reset — store.ResetPassword: the new password,
// and every session of the account ends; then to the sign-in page.
func (s *Server) resetSubmit(w http.ResponseWriter, r *http.Request) error {
	form, err := s.readForm(w, r)
	if err != nil {
		return err
	}
	page := &resetPage{layout: layout{Title: "Choose a new password"}, Token: form.Get("token"),
		Form: passwordForm{Errors: map[string]string{}}}
	pw := form.Get("new_password")
	switch {
	case pw == "":
		page.Form.Errors["new_password"] = "This field is required."
	case pw != form.Get("new_password2"):
		page.Form.Errors["new_password2"] = "New passwords must match"
	default:
		err := s.store.ResetPassword(r.Context(), s.clientSubject(r), page.Token, pw)
		if errors.Is(err, store.ErrWeakPassword) {
			page.Form.Errors["new_password"] = err.Error()
			break
		}
		if err != nil {
			return err
		}
		s.addFlash(r, flashOK, "Your password was changed. Sign in with it.")
		return s.redirect(w, r, "/auth/")
	}
	return s.render(w, r, http.StatusUnprocessableEntity, "reset", page)
}
