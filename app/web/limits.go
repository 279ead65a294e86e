package web

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"
)

// Rate-limit buckets (the Redis key names are the store's).
const (
	bucketSignInClient = "signin-client"
	bucketSignInUser   = "signin-user"
	bucketSignUpClient = "signup-client"
)

// clientSubject is the client address a limit counts: IPv6 addresses by
// their /64, since one host usually holds a whole /64.
func (s *Server) clientSubject(r *http.Request) string {
	addr := s.client(r)
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr // "unix", or a proxy's own notion
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// userSubject names a username in a limit key without putting arbitrary
// user input (of any length) into a key name.
func userSubject(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:12])
}

// limitSignIn counts a sign-in attempt from the client, and refuses it if
// the client or the username is over its limit. The username's counter
// counts failures only (see failedSignIn), so that a user's own successful
// sign-ins never lock them out.
func (s *Server) limitSignIn(r *http.Request, username string) error {
	wait, err := s.store.Hit(r.Context(), bucketSignInClient, s.clientSubject(r), s.limits.SignInPerClient)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &tooManyError{what: "sign-in attempts from your address", wait: wait}
	}
	wait, err = s.store.Exceeded(r.Context(), bucketSignInUser, userSubject(username), s.limits.SignInPerUser)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &tooManyError{what: "failed sign-ins for this username", wait: wait}
	}
	return nil
}

// failedSignIn counts a failed sign-in against the username and logs it with
// the client's address (never the password), in a form fail2ban can match.
func (s *Server) failedSignIn(r *http.Request, username, reason string) error {
	s.log.Warn("sign-in failed", "client", s.client(r), "username", username, "reason", reason)
	_, err := s.store.Hit(r.Context(), bucketSignInUser, userSubject(username), s.limits.SignInPerUser)
	return err
}

// limitSignUp counts a sign-up attempt from the client.
func (s *Server) limitSignUp(r *http.Request) error {
	wait, err := s.store.Hit(r.Context(), bucketSignUpClient, s.clientSubject(r), s.limits.SignUpPerClient)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &tooManyError{what: "sign-ups from your address", wait: wait}
	}
	return nil
}
