package web

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"pytwask/app/store"
)

const (
	cookieName = "pytwask_session"
	// rememberFor is the lifetime of a "Keep me logged in" cookie, and the
	// longest any session cookie is accepted after it was last written.
	rememberFor = 7 * 24 * 60 * 60

	valAuth     = "auth"     // the user's pytwis authentication secret
	valRemember = "remember" // true: persistent cookie
	valIssued   = "iat"      // when the sign-in began, unix seconds as a string
	valSeen     = "seen"     // its last request, to seenEvery, likewise
	valFlashes  = "_flash"

	// seenEvery is how stale valSeen may grow before a request writes it
	// anew: the cookie is written again at most this often.
	seenEvery = 5 * time.Minute
	// clockSkew is how far in the future a session's times may lie before
	// it is refused as not ours.
	clockSkew = time.Minute
)

// cookieSessions builds the gorilla cookie store, and the codecs of the
// device cookie, on first use, because their keys may live in Redis, which
// may not answer at start. Keys kept in Redis can be replaced there (a
// rotation, a restore of another database, a wipe), so they are read again
// once keysFresh has passed, and at once (at most every keysRecheck) when a
// cookie does not decode: every instance follows the key in Redis, rather
// than each signing with the one it read first and refusing the others'.
type cookieSessions struct {
	keys  func(context.Context) ([]string, error)
	now   func() time.Time
	log   *slog.Logger
	mu    sync.Mutex // held while the keys are read
	built atomic.Pointer[cookieCodecs]
}

const (
	keysFresh   = 10 * time.Second
	keysRecheck = time.Second
)

// cookieCodecs are the codecs of one set of keys, with the cookies they
// verified: a cookie verified under keys since replaced is verified again.
type cookieCodecs struct {
	secrets  []string
	read     time.Time // when the keys were last read
	store    *sessions.CookieStore
	device   []securecookie.Codec
	verified *verifiedCookies
}

// codecs returns the codecs of the keys, read again if they were read
// longer than maxAge ago. While one request reads them, or if they cannot
// be read, the others go on with the codecs at hand.
func (c *cookieSessions) codecs(ctx context.Context, maxAge time.Duration) (*cookieCodecs, error) {
	b := c.built.Load()
	if b != nil && c.now().Sub(b.read) < maxAge {
		return b, nil
	}
	if b == nil {
		c.mu.Lock()
	} else if !c.mu.TryLock() {
		return b, nil
	}
	defer c.mu.Unlock()
	if b = c.built.Load(); b != nil && c.now().Sub(b.read) < maxAge {
		return b, nil
	}
	secrets, err := c.keys(ctx)
	if err != nil && b == nil {
		return nil, fmt.Errorf("session keys: %w", err)
	}
	if b != nil && (err != nil || slices.Equal(secrets, b.secrets)) {
		// The same keys, or none read (Redis down): tried again in
		// maxAge, not on every request meanwhile.
		again := *b
		again.read = c.now()
		c.built.Store(&again)
		return &again, nil
	}
	nb, err := newCookieCodecs(secrets)
	if err != nil {
		return nil, err
	}
	nb.read = c.now()
	if b != nil {
		c.log.Warn("the session key in Redis was replaced (pytwask:session_keys): cookies signed with the one before are no longer accepted, and their users are signed out")
	}
	c.built.Store(nb)
	return nb, nil
}

func newCookieCodecs(secrets []string) (*cookieCodecs, error) {
	st, err := newCookieStore(secrets)
	if err != nil {
		return nil, err
	}
	pairs, err := cookieKeys(secrets)
	if err != nil {
		return nil, err
	}
	b := &cookieCodecs{
		secrets:  secrets,
		store:    st,
		device:   securecookie.CodecsFromPairs(pairs...),
		verified: newVerifiedCookies(10_000),
	}
	for _, codec := range b.device {
		codec.(*securecookie.SecureCookie).MaxAge(int(deviceFor / time.Second))
	}
	return b, nil
}

// deviceCodecs sign and encrypt the device cookie, which lives longer than
// a session (deviceFor).
func (c *cookieSessions) deviceCodecs(ctx context.Context) ([]securecookie.Codec, error) {
	b, err := c.codecs(ctx, keysFresh)
	if err != nil {
		return nil, err
	}
	return b.device, nil
}

// cookieKeys derives an authentication and an encryption key from each
// secret. The first secret signs new cookies; the others are still accepted,
// so keys can be rotated without signing everybody out. Cookies are
// encrypted because the session carries the user's authentication secret.
func cookieKeys(secrets []string) ([][]byte, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no session keys")
	}
	var pairs [][]byte
	for _, secret := range secrets {
		hashKey, err := hkdf.Key(sha256.New, []byte(secret), nil, "pytwask cookie signing", 32)
		if err != nil {
			return nil, err
		}
		blockKey, err := hkdf.Key(sha256.New, []byte(secret), nil, "pytwask cookie encryption", 32)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, hashKey, blockKey)
	}
	return pairs, nil
}

// newCookieStore is the session cookie's store, on the keys of cookieKeys.
func newCookieStore(secrets []string) (*sessions.CookieStore, error) {
	pairs, err := cookieKeys(secrets)
	if err != nil {
		return nil, err
	}
	st := sessions.NewCookieStore(pairs...)
	st.MaxAge(rememberFor) // also bounds how old a cookie the codecs accept
	for _, c := range st.Codecs {
		c.(*securecookie.SecureCookie).SetSerializer(sessionJSON{})
	}
	st.Options = &sessions.Options{Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	return st, nil
}

// reqState is what one request learns about its session, kept so that the
// cookie is decoded and the viewer looked up at most once.
type reqState struct {
	sess       *sessions.Session
	viewer     *store.Viewer
	viewerDone bool
	dirty      bool // the session must be written back
}

type stateKey struct{}

func withState(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, &reqState{})))
	})
}

func state(r *http.Request) *reqState {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// session returns the request's session. A cookie that does not decode (an
// old key, tampering, expiry) simply gives a new, empty session.
func (s *Server) session(r *http.Request) (*sessions.Session, error) {
	st := state(r)
	if st.sess != nil {
		return st.sess, nil
	}
	cc, err := s.sessions.codecs(r.Context(), keysFresh)
	if err != nil {
		return nil, err
	}
	now := s.now()
	c, cookieErr := r.Cookie(cookieName)
	if cookieErr == nil {
		if values, ok := cc.verified.get(c.Value, now); ok {
			sess := sessions.NewSession(cc.store, cookieName)
			opts := *cc.store.Options
			sess.Options, sess.Values, sess.IsNew = &opts, values, false
			st.sess = sess
			return sess, nil
		}
	}
	sess, err := cc.store.New(r, cookieName)
	if err != nil && cookieErr == nil && c.Value != "" {
		// Perhaps signed with a key that replaced ours in Redis.
		if again, kerr := s.sessions.codecs(r.Context(), keysRecheck); kerr == nil && again.store != cc.store {
			cc = again
			sess, err = cc.store.New(r, cookieName)
		}
	}
	if err != nil && sess == nil {
		return nil, err
	}
	if err == nil && !sess.IsNew {
		cc.verified.put(c.Value, sess.Values, now)
	}
	st.sess = sess
	return sess, nil
}

// secret returns the authentication secret the session holds, or "". A
// request without a session cookie needs neither the keys nor Redis.
func (s *Server) secret(r *http.Request) (string, error) {
	if st := state(r); st.sess == nil {
		if c, err := r.Cookie(cookieName); err != nil || c.Value == "" {
			return "", nil
		}
	}
	sess, err := s.session(r)
	if err != nil {
		return "", err
	}
	secret, _ := sess.Values[valAuth].(string)
	if secret != "" && !s.sessionCurrent(r, sess) {
		delete(sess.Values, valAuth)
		state(r).dirty = true
		return "", nil
	}
	return secret, nil
}

// sessionCurrent enforces the server's own bounds on a sign-in, whatever the
// browser keeps: a sign-in without "Keep me logged in" ends SessionIdle after
// its last request and SessionMax after it began; one with it, a week after
// it began. A session whose times lie in the future was not made here, and
// is refused. A session from before these times were kept starts counting
// now.
func (s *Server) sessionCurrent(r *http.Request, sess *sessions.Session) bool {
	now := s.now()
	unix := func(key string) (time.Time, bool) {
		v, _ := sess.Values[key].(string)
		n, err := strconv.ParseInt(v, 10, 64)
		return time.Unix(n, 0), err == nil
	}
	issued, ok1 := unix(valIssued)
	seen, ok2 := unix(valSeen)
	if !ok1 || !ok2 {
		stamp(sess, valIssued, now)
		stamp(sess, valSeen, now)
		state(r).dirty = true
		return true
	}
	if issued.After(now.Add(clockSkew)) || seen.After(now.Add(clockSkew)) {
		return false
	}
	if remember, _ := sess.Values[valRemember].(bool); remember {
		return now.Sub(issued) <= rememberFor*time.Second
	}
	if now.Sub(issued) > s.sessionMax || now.Sub(seen) > s.sessionIdle {
		return false
	}
	if now.Sub(seen) >= seenEvery {
		stamp(sess, valSeen, now)
		state(r).dirty = true
	}
	return true
}

func stamp(sess *sessions.Session, key string, t time.Time) {
	sess.Values[key] = strconv.FormatInt(t.Unix(), 10)
}

// adopt records who the secret belongs to, as a store read found out; a
// secret that is no longer current (signed out elsewhere, password changed)
// is cleared from the session.
func (s *Server) adopt(r *http.Request, secret string, v *store.Viewer) {
	st := state(r)
	st.viewer, st.viewerDone = v, true
	if v == nil && secret != "" && st.sess != nil {
		delete(st.sess.Values, valAuth)
		st.dirty = true
	}
}

// viewer returns the signed-in user, or nil.
func (s *Server) viewer(r *http.Request) (*store.Viewer, error) {
	st := state(r)
	if st.viewerDone {
		return st.viewer, nil
	}
	secret, err := s.secret(r)
	if err != nil || secret == "" {
		st.viewerDone = err == nil
		return nil, err
	}
	v, err := s.store.Authenticate(r.Context(), secret)
	if err != nil && !errors.Is(err, store.ErrNotLoggedIn) {
		return nil, err
	}
	s.adopt(r, secret, v)
	return v, nil
}

// requireViewer returns the signed-in user or errLoginRequired.
func (s *Server) requireViewer(r *http.Request) (*store.Viewer, error) {
	v, err := s.viewer(r)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, errLoginRequired
	}
	return v, nil
}

// signIn stores the secret in a fresh session: nothing of what the visitor's
// cookie held before sign-in carries over (no session fixation).
func (s *Server) signIn(r *http.Request, secret string, remember bool) error {
	sess, err := s.session(r)
	if err != nil {
		return err
	}
	flashes := sess.Values[valFlashes]
	clear(sess.Values)
	if flashes != nil {
		sess.Values[valFlashes] = flashes
	}
	sess.Values[valAuth] = secret
	sess.Values[valRemember] = remember
	stamp(sess, valIssued, s.now())
	stamp(sess, valSeen, s.now())
	st := state(r)
	st.dirty, st.viewerDone, st.viewer = true, false, nil
	return nil
}

// signOut forgets the secret but keeps the (browser-session) cookie for the
// goodbye message.
func (s *Server) signOut(r *http.Request) error {
	sess, err := s.session(r)
	if err != nil {
		return err
	}
	delete(sess.Values, valAuth)
	delete(sess.Values, valRemember)
	delete(sess.Values, valIssued)
	delete(sess.Values, valSeen)
	st := state(r)
	st.dirty, st.viewer, st.viewerDone = true, nil, true
	return nil
}

// saveSession writes the cookie if the session changed: persistent for a week
// with "Keep me logged in", for the browser session otherwise.
func (s *Server) saveSession(w http.ResponseWriter, r *http.Request) error {
	st := state(r)
	if !st.dirty || st.sess == nil {
		return nil
	}
	sess := st.sess
	sess.Options.Secure = s.isHTTPS(r)
	sess.Options.MaxAge = 0
	if remember, _ := sess.Values[valRemember].(bool); remember {
		sess.Options.MaxAge = rememberFor
	}
	if len(sess.Values) == 0 {
		sess.Options.MaxAge = -1 // nothing left to keep: delete the cookie
	}
	if err := sess.Save(r, w); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	st.dirty = false
	return nil
}

// flash is a one-time message shown on the next page.
type flash struct{ Kind, Msg string }

const (
	flashOK    = "ok"
	flashError = "error"
	// flashSignOutOthers shows its message with a button that signs the
	// user's other sessions out (signOutOthersSubmit).
	flashSignOutOthers = "others"
)

// maxFlashes bounds the messages kept for the next page: a client that
// never loads the page after a redirect would otherwise grow the cookie past
// what browsers keep.
const maxFlashes = 5

func (s *Server) addFlash(r *http.Request, kind, msg string) {
	sess, err := s.session(r)
	if err != nil {
		return // without a session there is nowhere to keep it
	}
	sess.AddFlash(kind+"\x00"+msg, valFlashes)
	if list, _ := sess.Values[valFlashes].([]any); len(list) > maxFlashes {
		sess.Values[valFlashes] = list[len(list)-maxFlashes:]
	}
	state(r).dirty = true
}

func (s *Server) takeFlashes(r *http.Request) []flash {
	if _, err := r.Cookie(cookieName); err != nil && state(r).sess == nil {
		return nil
	}
	sess, err := s.session(r)
	if err != nil {
		return nil
	}
	raw := sess.Flashes(valFlashes)
	if len(raw) == 0 {
		return nil
	}
	state(r).dirty = true
	out := make([]flash, 0, len(raw))
	for _, v := range raw {
		if str, ok := v.(string); ok {
			kind, msg, _ := strings.Cut(str, "\x00")
			out = append(out, flash{Kind: kind, Msg: msg})
		}
	}
	return out
}
