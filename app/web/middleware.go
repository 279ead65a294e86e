package web

import (
	"compress/gzip"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/klauspost/compress/gzhttp"
)

// compressPages compresses HTML answers for clients that ask for it (zstd,
// else gzip), as nginx does in front of pytwask: when pytwask serves HTTPS
// itself nothing else would. Both at their fastest level: a page shrinks
// to a fifth either way. Anything else passes as it is: static files,
// compressed once at start (static.go), live streams and plain text.
// Pages hold no secret that text a visitor can put in a page could be
// guessed against from the compressed length (BREACH): forms are checked
// by Fetch metadata, not tokens, so no padding is added.
func compressPages() (func(http.Handler) http.HandlerFunc, error) {
	return gzhttp.NewWrapper(gzhttp.ContentTypes([]string{"text/html"}), gzhttp.CompressionLevel(gzip.BestSpeed))
}

// securityHeaders go on every response. The only script is the site's own
// file (live.js), and it talks only to this origin (GET /events); styles,
// images and forms stay on this origin too.
func securityHeaders(next http.Handler) http.Handler {
	const csp = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; " +
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status a handler wrote, for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusClientClosed is what the access log says of a request whose client
// went away before any of the response was written: nginx's 499.
const statusClientClosed = 499

// logRequests writes one line per request, and tells observe (the
// metrics) of it. Health checks are logged at debug level so that probes do
// not drown the log.
func logRequests(log *slog.Logger, clientAddr func(*http.Request) string, next http.Handler,
	observe func(r *http.Request, status int, took time.Duration)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		level := slog.LevelInfo
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			level = slog.LevelDebug
		}
		switch {
		case sw.status == 0 && r.Context().Err() != nil:
			// Nothing written, because the client went away (fail): as
			// nginx logs it, "client closed request".
			sw.status = statusClientClosed
		case sw.status == 0:
			sw.status = http.StatusOK
		}
		took := time.Since(start)
		observe(r, sw.status, took)
		log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Duration("duration", took),
			slog.Int("bytes", sw.bytes),
			slog.String("client", clientAddr(r)),
		)
	})
}

// recoverPanics turns a panic in a handler into a logged 500 page instead of
// a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.fail(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// routeErrors gives the mux's own 404 and 405 answers the site's look. Only
// requests that match no route pass through the interceptor.
func (s *Server) routeErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		iw := &interceptWriter{ResponseWriter: w}
		h.ServeHTTP(iw, r)
		switch iw.status {
		case http.StatusNotFound:
			s.errorPage(w, r, http.StatusNotFound, "There is no page at this address.")
		case http.StatusMethodNotAllowed:
			s.errorPage(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("This address does not accept %s requests.", r.Method))
		}
	})
}

// interceptWriter passes redirects and successes through and swallows the
// mux's plain-text 404 and 405 bodies, which routeErrors replaces.
type interceptWriter struct {
	http.ResponseWriter
	status int
}

func (w *interceptWriter) WriteHeader(code int) {
	w.status = code
	if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *interceptWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status == http.StatusNotFound || w.status == http.StatusMethodNotAllowed {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
