package web

import (
	"crypto/rand"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/securecookie"
)

// A device cookie (OWASP's "device cookies" against brute force) marks a
// browser in which a user has signed in before. Sign-ins from such a browser
// are counted against the browser, not against the username, so that an
// attacker's guesses, which lock the username for everyone else, do not
// lock its owner out of their usual browser. The cookie is signed and
// encrypted with the session keys and names the users who signed in there.
const (
	deviceCookie = "pytwask_device"
	// deviceFor is how long a browser stays known after its last sign-in.
	deviceFor = 365 * 24 * time.Hour
	// deviceUsers bounds the names one browser is known for.
	deviceUsers = 8
)

// device is what a device cookie holds.
type device struct {
	ID    string   `json:"id"` // random, for the browser's own limit
	Users []string `json:"users"`
}

// device returns the request's device cookie, or nil if it has none that
// our keys made.
func (s *Server) device(r *http.Request) *device {
	c, err := r.Cookie(deviceCookie)
	if err != nil {
		return nil
	}
	codecs, err := s.sessions.deviceCodecs(r.Context())
	if err != nil {
		return nil
	}
	var d device
	if err := securecookie.DecodeMulti(deviceCookie, c.Value, &d, codecs...); err != nil || d.ID == "" {
		return nil
	}
	return &d
}

// knows reports whether username has signed in with this device.
func (d *device) knows(username string) bool { return d != nil && slices.Contains(d.Users, username) }

// trustDevice records in the device cookie that username signed in here,
// and sends it with w.
func (s *Server) trustDevice(w http.ResponseWriter, r *http.Request, username string) error {
	d := s.device(r)
	if d == nil {
		d = &device{ID: rand.Text()}
	}
	d.Users = append(slices.DeleteFunc(d.Users, func(u string) bool { return u == username }), username)
	if len(d.Users) > deviceUsers {
		d.Users = d.Users[len(d.Users)-deviceUsers:]
	}
	codecs, err := s.sessions.deviceCodecs(r.Context())
	if err != nil {
		return err
	}
	value, err := securecookie.EncodeMulti(deviceCookie, d, codecs...)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: value, Path: "/auth/",
		MaxAge: int(deviceFor / time.Second), HttpOnly: true, Secure: s.isHTTPS(r), SameSite: http.SameSiteLaxMode,
	})
	return nil
}
