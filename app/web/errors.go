package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"pytwask/app/store"
)

// httpError is a refusal with the status and message the user sees.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// tooManyError is a refusal by a rate limit.
type tooManyError struct {
	what string
	wait time.Duration
}

func (e *tooManyError) Error() string { return "too many " + e.what }

// errLoginRequired sends an anonymous visitor to the sign-in page.
var errLoginRequired = errors.New("login required")

// handlerFunc is a handler that returns its failure instead of writing it, so
// that the error page is decided and logged in one place (fail).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	})
}

var statusHeadings = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusForbidden:             "Forbidden",
	http.StatusNotFound:              "Page not found",
	http.StatusMethodNotAllowed:      "Method not allowed",
	http.StatusConflict:              "Conflict",
	http.StatusRequestEntityTooLarge: "Request too large",
	http.StatusTooManyRequests:       "Too many attempts",
	http.StatusInternalServerError:   "Something went wrong",
	http.StatusServiceUnavailable:    "Temporarily unavailable",
}

// fail turns an error into the page the user sees, logging what the operator
// needs: refusals at debug level, outages as warnings, bugs as errors.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client closed the connection while the handler waited (on
		// Redis, for a password check), and the wait ended with whatever
		// the cancellation caused: context.Canceled, or a deadline that a
		// connection of package resp was given to stop. Nobody reads a page
		// now, and it is neither an outage nor a bug; the access log says
		// 499 (logRequests).
		s.log.Debug("client went away", "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	if errors.Is(err, errLoginRequired) {
		s.addFlash(r, flashError, "Please log in to access this page.")
		if err := s.saveSession(w, r); err != nil {
			s.log.Error("save session", "err", err)
		}
		next := r.URL.RequestURI()
		if r.Method != http.MethodGet {
			// After signing in the browser will GET this address, so send it
			// back to a page it can show: the referring page if it is ours.
			next = "/tweets/user_timeline"
			if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host {
				if p, ok := safeNext(ref.RequestURI()); ok {
					next = p
				}
			}
		}
		http.Redirect(w, r, loginURL(next), redirectStatus(r))
		return
	}
	status, msg := http.StatusInternalServerError, "The server hit an unexpected error. Please try again later."
	var he *httpError
	var tm *tooManyError
	var refusal *store.Error
	switch {
	case errors.As(err, &he):
		status, msg = he.status, he.msg
	case errors.As(err, &tm):
		status = http.StatusTooManyRequests
		secs := int(tm.wait.Round(time.Second) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
		msg = fmt.Sprintf("There were too many %s. Please try again in %s.", tm.what, humanDuration(tm.wait))
		s.log.Warn("rate limited", "what", tm.what, "client", s.client(r), "retry_after", tm.wait.Round(time.Second))
	case errors.As(err, &refusal):
		status, msg = refusalStatus(refusal.Kind), refusal.Msg
	case errors.Is(err, store.ErrBusy):
		status, msg = http.StatusServiceUnavailable, "The site is busy checking other passwords. Nothing was changed; please try again in a few seconds."
		w.Header().Set("Retry-After", "5")
		s.log.Warn("password checks busy", "method", r.Method, "path", r.URL.Path, "client", s.client(r))
	case errors.Is(err, errPagesBusy):
		status, msg = http.StatusServiceUnavailable, "The site is busy right now. Please try again in a few seconds."
		w.Header().Set("Retry-After", "5")
		s.log.Warn("pages busy", "method", r.Method, "path", r.URL.Path, "client", s.client(r))
	case errors.Is(err, store.ErrNotReplicated):
		status, msg = http.StatusServiceUnavailable, "Your change was saved, but the database could not confirm in time that a copy of it is safe: "+
			"it may be lost if the database fails now. Please check that it is there before trying again."
		s.log.Warn("change not confirmed by replicas", "method", r.Method, "path", r.URL.Path, "err", err)
	case store.WritesRefused(err):
		// Not a passing outage: it lasts until the operator makes room.
		status, msg = http.StatusServiceUnavailable, "The site cannot save anything right now. Reading still works; please try again later."
		w.Header().Set("Retry-After", "60")
		s.log.Error("redis refuses writes: raise its maxmemory, free memory or disk, or point pytwask at the primary",
			"method", r.Method, "path", r.URL.Path, "err", err)
	case store.AccessRefused(err):
		// Not a passing outage either: it lasts until the operator mends
		// the setting or Redis's ACL.
		status, msg = http.StatusServiceUnavailable, "The site cannot reach its database right now. Please try again later."
		w.Header().Set("Retry-After", "60")
		s.log.Error("redis refuses pytwask's password, user or a command: check REDIS_DB_PASSWORD (or REDIS_URL) against Redis's requirepass or ACL",
			"method", r.Method, "path", r.URL.Path, "err", err)
	case store.IsUnavailable(err):
		status, msg = http.StatusServiceUnavailable, "The database is not answering right now. The site will be back by itself shortly; please try again in a moment."
		w.Header().Set("Retry-After", "5")
		s.log.Warn("redis unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s.errorPage(w, r, status, msg)
}

func refusalStatus(k store.Kind) int {
	switch k {
	case store.NotFound:
		return http.StatusNotFound
	case store.Conflict:
		return http.StatusConflict
	case store.Unauthorized, store.Forbidden:
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

type errorPage struct {
	layout
	Heading, Message string
}

// errorPage renders the site's error page. It never consults Redis, so it
// works during an outage.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	heading := statusHeadings[status]
	if heading == "" {
		heading = http.StatusText(status)
	}
	p := &errorPage{layout: layout{Title: heading, Assets: s.assets}, Heading: heading, Message: msg}
	buf, err := s.rd.execute("error", p)
	if err != nil {
		s.log.Error("render error page", "err", err)
		http.Error(w, msg, status)
		return
	}
	defer s.rd.release(buf)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// redirectStatus is 303 after a POST (the browser then GETs the target), 302
// otherwise, as Flask did.
func redirectStatus(r *http.Request) int {
	if r.Method == http.MethodPost {
		return http.StatusSeeOther
	}
	return http.StatusFound
}

// humanDuration says how long to wait in words, rounded up: "a second",
// "7 seconds", "a minute", "7 minutes".
func humanDuration(d time.Duration) string {
	switch m := int((d + time.Minute - 1) / time.Minute); {
	case d <= time.Second:
		return "a second"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int((d+time.Second-1)/time.Second))
	case m == 1:
		return "a minute"
	default:
		return fmt.Sprintf("%d minutes", m)
	}
}
