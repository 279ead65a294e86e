package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"pytwask/app/store"
)

// The /auth/ pages: sign in, sign up, sign out and the user's settings.

type signInForm struct {
	Username, Next, Error string
	Remember              bool
}

type signInPage struct {
	layout
	Form signInForm
}

// signInPage: GET /auth/ — the welcome page with the sign-in form.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) error {
	next, _ := safeNext(r.URL.Query().Get("next"))
	v, err := s.viewer(r)
	if err != nil {
		return err
	}
	if v != nil {
		return s.redirect(w, r, firstOf(next, "/tweets/user_timeline"))
	}
	return s.render(w, r, http.StatusOK, "index", &signInPage{
		layout: layout{Title: "Welcome"},
		Form:   signInForm{Next: next},
	})
}

// signInSubmit: POST /auth/ — store.Login, then a fresh session holding the
// user's secret.
func (s *Server) signInSubmit(w http.ResponseWriter, r *http.Request) error {
	form, err := s.readForm(w, r)
	if err != nil {
		return err
	}
	next, _ := safeNext(firstOf(form.Get("next"), r.URL.Query().Get("next")))
	f := signInForm{Username: form.Get("username"), Next: next, Remember: checked(form.Get("remember_me"))}
	if f.Username == "" || form.Get("password") == "" {
		f.Error = "Please enter your username and password."
		return s.render(w, r, http.StatusUnprocessableEntity, "index", &signInPage{layout: layout{Title: "Welcome"}, Form: f})
	}
	reserved, err := s.limitPasswordCheck(r, f.Username, s.device(r))
	if err != nil {
		if _, limited := errors.AsType[*tooManyError](err); limited {
			s.metrics.SignIn("limited")
		}
		return err
	}
	secret, err := s.store.Login(r.Context(), s.clientSubject(r), f.Username, form.Get("password"))
	var refusal *store.Error
	if !errors.As(err, &refusal) {
		// A right password, or no answer (Redis, a full line of checks):
		// only a refusal counts as a failure.
		if err := reserved.refund(r); err != nil {
			return err
		}
	}
	if refusal != nil {
		// The reason without the name, which the line gives once.
		reason := "wrong password"
		if refusal.Kind == store.NotFound {
			reason = "no such user"
		}
		s.failedSignIn(r, f.Username, reason)
		s.metrics.SignIn("refused")
		// One message for unknown names and wrong passwords, so the page does
		// not tell which usernames exist.
		f.Error = "Invalid username or password"
		return s.render(w, r, http.StatusUnprocessableEntity, "index", &signInPage{layout: layout{Title: "Welcome"}, Form: f})
	}
	if err != nil {
		return err
	}
	if err := s.trustDevice(w, r, f.Username); err != nil {
		return err
	}
	if err := s.signIn(r, secret, f.Remember); err != nil {
		return err
	}
	s.metrics.SignIn("ok")
	s.addFlash(r, flashOK, "Logged in successfully.")
	s.addFlash(r, flashSignOutOthers, "Signed in somewhere you no longer use?")
	return s.redirect(w, r, firstOf(next, "/tweets/user_timeline"))
}

type signUpForm struct {
	Username, Error string
	Errors          map[string]string
}

type signUpPage struct {
	layout
	Form signUpForm
}

// signUpPage: GET /auth/signup.
func (s *Server) signUpPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.viewer(r); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "signup", &signUpPage{layout: layout{Title: "Sign up"}})
}

// signUpSubmit: POST /auth/signup — store.Register.
func (s *Server) signUpSubmit(w http.ResponseWriter, r *http.Request) error {
	form, err := s.readForm(w, r)
	if err != nil {
		return err
	}
	f := signUpForm{Username: form.Get("username"), Errors: map[string]string{}}
	password := form.Get("password")
	switch {
	case f.Username == "":
		f.Errors["username"] = "This field is required."
	case password == "":
		f.Errors["password"] = "This field is required."
	case password != form.Get("password2"):
		f.Errors["password2"] = "Passwords must match"
	default:
		if err := s.limitSignUp(r); err != nil {
			return err
		}
		err := s.store.Register(r.Context(), f.Username, password)
		var refusal *store.Error
		if errors.As(err, &refusal) {
			field := "username"
			if errors.Is(err, store.ErrWeakPassword) {
				field = "password"
			}
			f.Errors[field] = refusal.Msg
			break
		}
		if err != nil {
			return err
		}
		s.addFlash(r, flashOK, "Welcome, "+f.Username+"! Please login")
		return s.redirect(w, r, "/auth/")
	}
	if _, err := s.viewer(r); err != nil {
		return err
	}
	return s.render(w, r, http.StatusUnprocessableEntity, "signup", &signUpPage{layout: layout{Title: "Sign up"}, Form: f})
}

// signOutPage: GET /auth/signout. The original signed out on GET; here a GET
// only asks, so that a link or an image on another site cannot sign anyone out.
func (s *Server) signOutPage(w http.ResponseWriter, r *http.Request) error {
	v, err := s.viewer(r)
	if err != nil {
		return err
	}
	if v == nil {
		return s.redirect(w, r, "/auth/")
	}
	return s.render(w, r, http.StatusOK, "signout", &layout{Title: "Sign out"})
}

// signOutSubmit: POST /auth/signout — store.Logout rotates the user's secret,
// which ends every session of the user.
func (s *Server) signOutSubmit(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.readForm(w, r); err != nil {
		return err
	}
	sess, err := s.session(r)
	if err != nil {
		return err
	}
	// Logout ends every session of the user, as pytwis's does, by a new
	// secret. When Redis cannot take it, this browser is signed out all
	// the same (its cookie is its session): someone leaving a shared
	// computer must not be kept signed in.
	endedAll := true
	if secret, _ := sess.Values[valAuth].(string); secret != "" {
		err := s.store.Logout(r.Context(), secret)
		switch {
		case err == nil, errors.Is(err, store.ErrNotLoggedIn):
		case store.WritesRefused(err), store.IsUnavailable(err), store.AccessRefused(err):
			s.log.Warn("sign-out: other sessions not ended", "client", s.client(r), "err", err)
			endedAll = false
		default:
			return err
		}
	}
	if err := s.signOut(r); err != nil {
		return err
	}
	if endedAll {
		s.addFlash(r, flashOK, "Logged out successfully.")
	} else {
		s.addFlash(r, flashError, "Logged out of this browser. The site could not end your sessions elsewhere just now; sign in and out again later to end them.")
	}
	return s.redirect(w, r, "/auth/")
}

// signOutOthersSubmit: POST /auth/signout_others — store.RenewSecret: every
// other session of the user ends, and this one goes on with the new secret
// (and its own lifetime). Offered after each sign-in and on the settings
// page.
func (s *Server) signOutOthersSubmit(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := s.viewerForm(w, r); err != nil {
		return err
	}
	sess, err := s.session(r)
	if err != nil {
		return err
	}
	secret, _ := sess.Values[valAuth].(string)
	renewed, err := s.store.RenewSecret(r.Context(), secret)
	if errors.Is(err, store.ErrNotLoggedIn) {
		return errLoginRequired
	}
	if err != nil {
		return err
	}
	sess.Values[valAuth] = renewed
	state(r).dirty = true
	s.addFlash(r, flashOK, "Signed out of every other session.")
	return s.redirect(w, r, "/auth/user_settings")
}

type passwordForm struct {
	Error  string
	Errors map[string]string
}

type settingsPage struct {
	layout
	Following, Followers peopleList
	Form                 passwordForm
	// NameHold is how long a deleted account's name stays reserved.
	NameHold string
	// Address is the user's confirmed email address.
	Address string
	// NoMail: the site sends no email, so no address can be confirmed.
	NoMail bool
}

// peopleList is a page of a follower or following list, with links to the
// neighbouring pages.
type peopleList struct {
	store.People
	Pager   pager
	PastEnd int // the page asked for, when it is after the last
}

// settingsPage: GET /auth/user_settings — who the user follows and who
// follows them, a page of each (store.FollowingPage, store.FollowersPage,
// ?following=N and ?followers=N), and the password form.
func (s *Server) settingsPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderSettings(w, r, http.StatusOK, passwordForm{})
}

func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, status int, f passwordForm) error {
	v, err := s.requireViewer(r)
	if err != nil {
		return err
	}
	page := &settingsPage{layout: layout{Title: "Settings"}, Form: f, NameHold: store.Span(s.nameHold), NoMail: s.mailer == nil}
	if page.Address, err = s.store.AddressOf(r.Context(), v.ID); err != nil {
		return err
	}
	for _, l := range []struct {
		param string
		read  func(context.Context, string, int) (store.People, error)
		list  *peopleList
	}{
		{"following", s.store.FollowingPage, &page.Following},
		{"followers", s.store.FollowersPage, &page.Followers},
	} {
		n, err := numberParam(r, l.param)
		if err != nil {
			return err
		}
		people, err := l.read(r.Context(), v.ID, n)
		if err != nil {
			return err
		}
		last := max(1, (people.Total+store.PeoplePageSize-1)/store.PeoplePageSize)
		*l.list = peopleList{People: people, Pager: settingsPager(r, l.param, n, last)}
		if n > last {
			l.list.PastEnd = n
		}
	}
	return s.render(w, r, status, "user_settings", page)
}

// settingsPager links to the neighbouring pages of one list on the
// settings page, keeping the other list's page; from a page after the
// last, back to the last.
func settingsPager(r *http.Request, param string, page, last int) pager {
	link := func(n int) string {
		q := r.URL.Query()
		q.Del(param)
		if n > 1 {
			q.Set(param, strconv.Itoa(n))
		}
		u := url.URL{Path: "/auth/user_settings", RawQuery: q.Encode(), Fragment: param}
		return u.String()
	}
	var p pager
	if page > 1 {
		p.Newer = link(min(page-1, last))
	}
	if page < last {
		p.Older = link(page + 1)
	}
	return p
}

// settingsSubmit: POST /auth/user_settings — store.ChangePassword. The new
// secret goes into this session; every other session of the user ends.
func (s *Server) settingsSubmit(w http.ResponseWriter, r *http.Request) error {
	form, v, err := s.viewerForm(w, r)
	if err != nil {
		return err
	}
	f := passwordForm{Errors: map[string]string{}}
	oldPW, newPW := form.Get("old_password"), form.Get("new_password")
	switch {
	case oldPW == "":
		f.Errors["old_password"] = "This field is required."
	case newPW == "":
		f.Errors["new_password"] = "This field is required."
	case newPW != form.Get("new_password2"):
		f.Errors["new_password2"] = "New passwords must match"
	default:
		sess, err := s.session(r)
		if err != nil {
			return err
		}
		secret, _ := sess.Values[valAuth].(string)
		// The old password is checked as a sign-in's is, and counts against
		// the same limits: a stolen session must not guess it freely.
		reserved, err := s.limitPasswordCheck(r, v.Username, nil)
		if err != nil {
			return err
		}
		newSecret, err := s.store.ChangePassword(r.Context(), s.clientSubject(r), secret, oldPW, newPW)
		if err == nil || !errors.Is(err, store.ErrIncorrectOld) {
			// Only a wrong old password counts.
			if err := reserved.refund(r); err != nil {
				return err
			}
		}
		var refusal *store.Error
		switch {
		case errors.Is(err, store.ErrNotLoggedIn):
			return errLoginRequired
		case errors.Is(err, store.ErrIncorrectOld):
			s.failedSignIn(r, v.Username, "wrong old password on the settings page")
			f.Errors["old_password"] = err.Error()
		case errors.As(err, &refusal):
			f.Errors["new_password"] = refusal.Msg
		case err != nil:
			return err
		default:
			remember, _ := sess.Values[valRemember].(bool)
			if err := s.signIn(r, newSecret, remember); err != nil {
				return err
			}
			if address, err := s.store.AddressOf(r.Context(), v.ID); err == nil && address != "" {
				s.tellAddress(address, "The password of your pytwask account changed",
					"The password of your pytwask account at "+s.baseURL+" was changed, and its other sessions ended.")
			}
			s.addFlash(r, flashOK, "Password successfully changed")
			return s.redirect(w, r, "/auth/user_settings")
		}
	}
	return s.renderSettings(w, r, http.StatusUnprocessableEntity, f)
}

// deleteAccountSubmit: POST /auth/delete_account — store.DeleteAccount,
// once the password is given again (checked, and limited, as the settings
// page's old password is): the account, its tweets and all it made go,
// the session ends, and the name is held for PYTWASK_NAME_HOLD.
func (s *Server) deleteAccountSubmit(w http.ResponseWriter, r *http.Request) error {
	form, v, err := s.viewerForm(w, r)
	if err != nil {
		return err
	}
	f := passwordForm{Errors: map[string]string{}}
	pw := form.Get("password")
	if pw == "" {
		f.Errors["delete_password"] = "This field is required."
		return s.renderSettings(w, r, http.StatusUnprocessableEntity, f)
	}
	secret, err := s.secret(r)
	if err != nil {
		return err
	}
	reserved, err := s.limitPasswordCheck(r, v.Username, nil)
	if err != nil {
		return err
	}
	err = s.store.DeleteAccount(r.Context(), s.clientSubject(r), secret, pw, s.nameHold)
	if !errors.Is(err, store.ErrIncorrectPassword) {
		if err := reserved.refund(r); err != nil {
			return err
		}
	}
	switch {
	case errors.Is(err, store.ErrNotLoggedIn):
		return errLoginRequired
	case errors.Is(err, store.ErrIncorrectPassword):
		s.failedSignIn(r, v.Username, "wrong password to delete the account")
		f.Errors["delete_password"] = err.Error()
		return s.renderSettings(w, r, http.StatusUnprocessableEntity, f)
	case err != nil:
		return err
	}
	s.log.Info("account deleted", "user", v.Username)
	if err := s.signOut(r); err != nil {
		return err
	}
	s.addFlash(r, flashOK, "Your account was deleted.")
	return s.redirect(w, r, "/auth/")
}

// redirect saves the session (flash messages, sign-in) and redirects.
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, to string) error {
	if err := s.saveSession(w, r); err != nil {
		return err
	}
	http.Redirect(w, r, to, redirectStatus(r))
	return nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// loginURL is where login-required pages send anonymous visitors.
func loginURL(next string) string { return "/auth/?next=" + url.QueryEscape(next) }
