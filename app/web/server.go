// Package web is the site: routes, handlers, sessions and pages. Every URL of
// the original pytwask is registered in routes below; each handler calls one
// store method and renders one template from assets.
package web

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"pytwask/app/live"
	"pytwask/app/metrics"
	"pytwask/app/slots"
	"pytwask/app/store"
)

// Options are what the site needs from outside.
type Options struct {
	Store *store.Store
	// Assets holds templates/ and static/.
	Assets fs.FS
	// SessionKeys returns the cookie keys, newest first. It is called on the
	// first request that needs a session, and again until it succeeds.
	SessionKeys func(context.Context) ([]string, error)
	Logger      *slog.Logger
	// ClientAddr returns the address to log for a request; RemoteAddr if nil.
	ClientAddr func(*http.Request) string
	// IsHTTPS reports whether the client reached us over HTTPS (directly or
	// through a trusted proxy); cookies are then marked Secure.
	IsHTTPS func(*http.Request) bool
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// MaxFormBytes bounds a form body (413 beyond); 64 KiB if zero.
	MaxFormBytes int64
	// Limits against brute force; a zero Limit allows everything.
	Limits Limits
	// PageSlots bounds how many timeline pages are built at once
	// (pageslots.go); four per core if zero.
	PageSlots int
	// Metrics counts requests, sign-ins and posts; nil for none.
	Metrics *metrics.Metrics
	// SessionIdle and SessionMax end a sign-in without "Keep me logged in"
	// after so long unused, and so long after it began (session.go); 12
	// and 24 hours if zero.
	SessionIdle, SessionMax time.Duration
	// EditWindow is how long after posting a tweet may be edited; 0: never.
	EditWindow time.Duration
	// NameHold is how long a deleted account's name stays reserved (0:
	// not at all).
	NameHold time.Duration
	// Mailer sends address confirmations and password resets (nil: none);
	// BaseURL starts the links in them (https://example.com).
	Mailer  Mailer
	BaseURL string
	// Hub carries live updates to open pages (GET /events); nil: none.
	Hub *live.Hub
	// Heartbeat is how often an idle live stream gets a comment, so that
	// proxies keep it open; 25 s if zero.
	Heartbeat time.Duration
}

// Limits bound what a client or an account can repeat: sign-ins, sign-ups,
// posts and follows. They are counted in Redis, so they hold across every
// instance of the site (limits.go).
type Limits struct {
	SignInPerClient  store.Limit // every attempt, per client address (IPv6 per /64)
	SignInPerUser    store.Limit // failures per username from one network, or in one known browser
	SignInPerUserAll store.Limit // failures per username from browsers it was never used in
	SignUpPerClient  store.Limit // every attempt, per client address
	PostPerUser      store.Limit // tweets, per account
	PostPerClient    store.Limit // tweets, per client address
	FollowPerUser    store.Limit // follows and unfollows, per account
	FollowPerClient  store.Limit // follows and unfollows, per client address
}

// Server is the pytwask site as an http.Handler.
type Server struct {
	store    *store.Store
	rd       *renderer
	static   *staticFiles
	robots   []byte // robots.txt
	sessions *cookieSessions
	assets   *assetURLs
	log      *slog.Logger
	isHTTPS  func(*http.Request) bool
	now      func() time.Time
	maxForm  int64
	limits   Limits
	metrics  *metrics.Metrics
	// sessionIdle and sessionMax bound a browser-session sign-in.
	sessionIdle, sessionMax time.Duration
	// editWindow and nameHold are Options'.
	editWindow, nameHold time.Duration
	mailer               Mailer
	mailing              sync.WaitGroup // messages sent after the answer (mailAfter)
	baseURL              string
	pages                *slots.Slots
	hub                  *live.Hub
	heartbeat            time.Duration
	client               func(*http.Request) string
	handler              http.Handler
}

// New parses every template and hashes every static file; a missing or
// broken template is an error here, not on a request.
func New(o Options) (*Server, error) {
	staticFS, err := fs.Sub(o.Assets, "static")
	if err != nil {
		return nil, err
	}
	static, err := loadStatic(staticFS)
	if err != nil {
		return nil, err
	}
	robots, err := fs.ReadFile(o.Assets, "robots.txt")
	if err != nil {
		return nil, err
	}
	rd, err := newRenderer(o.Assets)
	if err != nil {
		return nil, err
	}
	s := &Server{
		store:    o.Store,
		rd:       rd,
		static:   static,
		robots:   robots,
		sessions: &cookieSessions{keys: o.SessionKeys},
		log:      o.Logger,
		isHTTPS:  o.IsHTTPS,
		now:      o.Now,
		maxForm:  o.MaxFormBytes,
		limits:   o.Limits,
		metrics:  o.Metrics,
		pages:    newPageSlots(o.PageSlots),

		sessionIdle: cmp.Or(o.SessionIdle, 12*time.Hour),
		sessionMax:  cmp.Or(o.SessionMax, 24*time.Hour),
		editWindow:  o.EditWindow,
		nameHold:    o.NameHold,
		mailer:      o.Mailer,
		baseURL:     o.BaseURL,
		hub:         o.Hub,
		heartbeat:   cmp.Or(o.Heartbeat, 25*time.Second),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.isHTTPS == nil {
		s.isHTTPS = func(r *http.Request) bool { return r.TLS != nil }
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.sessions.now, s.sessions.log = s.now, s.log
	if s.maxForm == 0 {
		s.maxForm = 64 << 10
	}
	clientAddr := o.ClientAddr
	if clientAddr == nil {
		clientAddr = func(r *http.Request) string { return r.RemoteAddr }
	}
	s.client = clientAddr
	css, err := static.URL("style.css")
	if err != nil {
		return nil, err
	}
	icon, err := static.URL("favicon.svg")
	if err != nil {
		return nil, err
	}
	script, err := static.URL("live.js")
	if err != nil {
		return nil, err
	}
	s.assets = &assetURLs{CSS: css, Icon: icon, Script: script}
	if err := s.selfTest(); err != nil {
		return nil, err
	}

	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "client", clientAddr(r))
		s.errorPage(w, r, http.StatusForbidden, "This form was sent from another site, so it was refused. Please use the form on this site.")
	}))
	mux := s.routes()
	var h http.Handler = s.routeErrors(mux)
	h = cop.Handler(h)
	h = withState(h)
	h = s.recoverPanics(h)
	compress, err := compressPages()
	if err != nil {
		return nil, err
	}
	h = compress(h)
	h = securityHeaders(h)
	s.handler = logRequests(s.log, clientAddr, h, func(r *http.Request, status int, took time.Duration) {
		_, route := mux.Handler(r)
		s.metrics.Request(route, r.Method, status, took)
	})
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// routes maps every URL to its handler. The URLs are the original's, so
// bookmarks and nginx configurations carry over.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/auth/", http.StatusFound)
	})
	mux.Handle("GET /auth/{$}", s.handle(s.signInPage))
	mux.Handle("POST /auth/{$}", s.handle(s.signInSubmit))
	mux.Handle("GET /auth/signup", s.handle(s.signUpPage))
	mux.Handle("POST /auth/signup", s.handle(s.signUpSubmit))
	mux.Handle("GET /auth/signout", s.handle(s.signOutPage))
	mux.Handle("POST /auth/signout", s.handle(s.signOutSubmit))
	mux.Handle("POST /auth/signout_others", s.handle(s.signOutOthersSubmit))
	mux.Handle("POST /auth/delete_account", s.handle(s.deleteAccountSubmit))
	mux.Handle("POST /auth/email", s.handle(s.addressSubmit))
	mux.Handle("POST /auth/email/remove", s.handle(s.removeAddress))
	mux.Handle("GET /auth/confirm_email", s.handle(s.confirmAddress))
	mux.Handle("GET /auth/forgot", s.handle(s.forgotPage))
	mux.Handle("POST /auth/forgot", s.handle(s.forgotSubmit))
	mux.Handle("GET /auth/reset", s.handle(s.resetPage))
	mux.Handle("POST /auth/reset", s.handle(s.resetSubmit))
	mux.Handle("GET /auth/user_settings", s.handle(s.settingsPage))
	mux.Handle("POST /auth/user_settings", s.handle(s.settingsSubmit))

	// Timeline pages wait for a page slot (pageslots.go); posts, follows and
	// the rest go straight in.
	mux.Handle("GET /tweets/general_timeline", s.handle(s.inPageSlot(s.generalTimeline)))
	mux.Handle("GET /tweets/user_timeline", s.handle(s.inPageSlot(s.userTimeline)))
	mux.Handle("POST /tweets/user_timeline", s.handle(s.postTweet))
	mux.Handle("GET /tweets/user_history/{username}", s.handle(s.inPageSlot(s.userHistory)))
	mux.Handle("POST /tweets/follow/{username}", s.handle(s.follow))
	mux.Handle("POST /tweets/unfollow/{username}", s.handle(s.unfollow))
	mux.Handle("GET /tweets/{id}", s.handle(s.inPageSlot(s.tweetPage)))
	mux.Handle("POST /tweets/reply/{id}", s.handle(s.replyTweet))
	mux.Handle("GET /tags/{tag}", s.handle(s.inPageSlot(s.tagPage)))
	mux.Handle("POST /tweets/like/{id}", s.handle(s.like))
	mux.Handle("POST /tweets/unlike/{id}", s.handle(s.unlike))
	mux.Handle("POST /tweets/repost/{id}", s.handle(s.repost))
	mux.Handle("POST /tweets/unrepost/{id}", s.handle(s.unrepost))
	mux.Handle("GET /tweets/delete/{id}", s.handle(s.deletePage))
	mux.Handle("POST /tweets/delete/{id}", s.handle(s.deleteTweet))
	mux.Handle("GET /tweets/edit/{id}", s.handle(s.editPage))
	mux.Handle("POST /tweets/edit/{id}", s.handle(s.editTweet))
	mux.Handle("GET /notifications", s.handle(s.inPageSlot(s.notifications)))
	mux.Handle("GET /search", s.handle(s.inPageSlot(s.search)))
	mux.Handle(metrics.LiveRoute, s.handle(s.events))

	mux.Handle("GET /static/", s.static)
	mux.HandleFunc("GET /robots.txt", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Write(s.robots)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	return mux
}

// readyz answers 200 while Redis answers, 503 otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.store.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "redis unavailable")
		return
	}
	fmt.Fprintln(w, "ready")
}

// selfTest renders every page once with empty data, so that a template that
// parses but cannot execute (a wrong field name) stops the start.
func (s *Server) selfTest() error {
	tweets, err := s.rd.tweetList([]tweetView{{ID: "1", Username: "x", Body: "x", Ago: "a few seconds ago"},
		{ID: "2", Username: "y", Body: "y", Ago: "a few seconds ago", ReplyTo: "1", ReplyToUser: "x"}, {ID: "3", ReplyTo: "9"},
		{ID: "4", Username: "z", Body: "z", SignedIn: true, Liked: true, Reposted: true, RepostedBy: "x", Likes: 1, Reposts: 1, Replies: 1}, {ID: "5", Deleted: true}})
	if err != nil {
		return err
	}
	samples := map[string]page{
		"index":         &signInPage{},
		"signup":        &signUpPage{},
		"signout":       &layout{},
		"user_settings": &settingsPage{},
		"timeline":      &timelinePage{PostForm: newTweetForm("", "x"), Tweets: tweets},
		"user_history":  &userHistoryPage{User: &store.UserPage{}, CanFollow: true, Tweets: tweets},
		"tweet":         &tweetPage{Tweet: tweets, Ancestors: tweets, Replies: tweets, Reply: replyForm("1", "", "x")},
		"delete":        &deletePage{Tweet: tweets, TweetID: "1", Cancel: "/"},
		"edit":          &editPage{Tweet: tweets, Form: editForm("1", "x", "x"), Window: "30 minutes"},
		"forgot":        &forgotPage{Who: "x", Error: "x"},
		"reset":         &resetPage{Token: "x", Form: passwordForm{Errors: map[string]string{"new_password": "x"}}},
		"search":        &searchPage{Query: "x", Searched: true, Error: "x", Users: []string{"x"}, Tweets: tweets},
		"notifications": &notificationsPage{Items: []notificationView{{Kind: "like", Actor: "x", TweetID: "1", Snippet: "x"}, {Kind: "follow"}}},
		"error":         &errorPage{},
	}
	for _, name := range pageNames {
		data, ok := samples[name]
		if !ok {
			return fmt.Errorf("template %s has no self-test sample", name)
		}
		data.Layout().Viewer = &store.Viewer{Username: "x"}
		data.Layout().Assets = s.assets
		buf, err := s.rd.execute(name, data)
		if err != nil {
			return err
		}
		s.rd.release(buf)
	}
	return nil
}
