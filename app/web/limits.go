package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"

	"pytwask/app/store"
)

// Rate-limit buckets (the Redis key names are the store's).
const (
	bucketSignInClient  = "signin-client"   // every attempt, per client address
	bucketSignInUserNet = "signin-user-net" // failures, per username and client network
	bucketSignInUser    = "signin-user"     // failures, per username from any browser it does not know
	bucketSignInDevice  = "signin-device"   // failures, per known browser (device cookie)
	bucketSignUpClient  = "signup-client"
	bucketPost          = "post"    // tweets, per account and per client address
	bucketFollow        = "follow"  // follows and unfollows, likewise
	bucketLike          = "like"    // likes and their undoing, with the follow limits
	bucketDelete        = "delete"  // deletions of tweets, with the post limits
	bucketEdit          = "edit"    // edits of tweets, with the post limits
	bucketAddress       = "address" // removals of an email address, with the follow limits
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

// clientNetwork is the network a client address belongs to, for the
// per-username limit: IPv4 by its /24, IPv6 by its /48, so that one
// attacker's neighbouring addresses count as one.
func clientNetwork(subject string) string {
	p, err := netip.ParsePrefix(subject)
	if err != nil {
		a, err := netip.ParseAddr(subject)
		if err != nil {
			return subject
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	bits := 24
	if p.Addr().Is6() {
		bits = 48
	}
	p, _ = p.Addr().Prefix(min(bits, p.Bits()))
	return p.String()
}

// reservation is the password-check attempts counted before the check, in
// the per-user and per-device buckets. If the password turns out right,
// refund takes them back: only failures count there.
type reservation struct {
	s     *Server
	holds []hold
}

type hold struct {
	bucket, subject string
	limit           store.Limit
}

// refund takes back what was reserved, after a right password.
func (res *reservation) refund(r *http.Request) error {
	for _, h := range res.holds {
		if err := res.s.store.Refund(r.Context(), h.bucket, h.subject, h.limit); err != nil {
			return err
		}
	}
	return nil
}

// reserve counts one attempt in each bucket, in order, before the password
// is checked: INCR is atomic, so N attempts at once check at most the limit,
// whatever the number of cores and the hash's cost. If one is over its
// limit, the ones already counted are taken back, and its refusal returned.
func (s *Server) reserve(r *http.Request, holds []hold, whats []string) (*reservation, error) {
	res := &reservation{s: s}
	for i, h := range holds {
		wait, err := s.store.Hit(r.Context(), h.bucket, h.subject, h.limit)
		if err != nil {
			return nil, err
		}
		res.holds = append(res.holds, h)
		if wait > 0 {
			if err := res.refund(r); err != nil {
				return nil, err
			}
			return nil, &tooManyError{what: whats[i], wait: wait}
		}
	}
	return res, nil
}

// limitPasswordCheck counts a password check for username by the client,
// before the check, and refuses it when a limit is reached:
//   - every attempt from the client's address (SignInPerClient);
//   - from a browser where username signed in before (its device cookie),
//     failures of that browser (SignInPerUser), and nothing else of the
//     username's: an attacker's guesses elsewhere do not lock its owner out;
//   - from anywhere else, failures for username from the client's network
//     (SignInPerUser), and failures for username from all networks
//     (SignInPerUserAll), much higher: the ceiling on a distributed attack.
//
// The sign-in form and the change-password form both count here; the
// latter with trusted false, as a stolen session may sit in a known browser.
// On a right password the caller refunds the reservation.
func (s *Server) limitPasswordCheck(r *http.Request, username string, trusted *device) (*reservation, error) {
	client := s.clientSubject(r)
	wait, err := s.store.Hit(r.Context(), bucketSignInClient, client, s.limits.SignInPerClient)
	if err != nil {
		return nil, err
	}
	if wait > 0 {
		return nil, &tooManyError{what: "sign-in attempts from your address", wait: wait}
	}
	if trusted.knows(username) {
		return s.reserve(r, []hold{{bucketSignInDevice, userSubject(trusted.ID + "\x00" + username), s.limits.SignInPerUser}},
			[]string{"failed sign-ins in this browser"})
	}
	return s.reserve(r, []hold{
		{bucketSignInUserNet, userSubject(username + "\x00" + clientNetwork(client)), s.limits.SignInPerUser},
		{bucketSignInUser, userSubject(username), s.limits.SignInPerUserAll},
	}, []string{"failed sign-ins for this username from your network", "failed sign-ins for this username"})
}

// confirmPassword checks pw, the password a change asks for again (one a
// session alone must not make), with the limits of a sign-in: nil if it is
// the viewer's; ErrIncorrectPassword, counted and logged as a failed
// sign-in (why), if not.
func (s *Server) confirmPassword(r *http.Request, v *store.Viewer, secret, pw, why string) error {
	reserved, err := s.limitPasswordCheck(r, v.Username, nil)
	if err != nil {
		return err
	}
	_, err = s.store.CheckPassword(r.Context(), s.clientSubject(r), secret, pw)
	if errors.Is(err, store.ErrIncorrectPassword) {
		s.failedSignIn(r, v.Username, why)
		return err
	}
	// Only a wrong password counts.
	if refundErr := reserved.refund(r); refundErr != nil {
		return refundErr
	}
	return err
}

// failedSignIn logs a failed sign-in with the client's address (never the
// password), in a form fail2ban can match. The attempt stays counted.
func (s *Server) failedSignIn(r *http.Request, username, reason string) {
	s.log.Warn("sign-in failed", "client", s.client(r), "username", username, "reason", reason)
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

// limitAction counts one action (bucketPost, bucketFollow) by the client's
// address and by the account, and refuses it past either limit. what names
// the actions for the 429 page ("tweets").
func (s *Server) limitAction(r *http.Request, bucket, what, userID string, perClient, perUser store.Limit) error {
	for _, c := range []struct {
		subject, whose string
		limit          store.Limit
	}{
		{"client:" + s.clientSubject(r), "your address", perClient},
		{"user:" + userID, "your account", perUser},
	} {
		wait, err := s.store.Hit(r.Context(), bucket, c.subject, c.limit)
		if err != nil {
			return err
		}
		if wait > 0 {
			return &tooManyError{what: what + " from " + c.whose, wait: wait}
		}
	}
	return nil
}

// limitPost counts a post against the client's address and the account.
// The post checks the session itself (store.PostAs), so the account is
// looked up here only when a per-account limit is set.
func (s *Server) limitPost(r *http.Request) error {
	userID := ""
	if s.limits.PostPerUser.Max > 0 {
		v, err := s.requireViewer(r)
		if err != nil {
			return err
		}
		userID = v.ID
	}
	return s.limitAction(r, bucketPost, "tweets", userID, s.limits.PostPerClient, s.limits.PostPerUser)
}
