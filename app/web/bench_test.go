package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"pytwask/app/store"
	"pytwask/assets"
)

func benchServer(b *testing.B) *Server {
	b.Helper()
	s, err := New(Options{
		Assets:      assets.FS,
		SessionKeys: testKeys,
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRenderTimelinePage renders a whole timeline page of 50 tweets.
func BenchmarkRenderTimelinePage(b *testing.B) {
	s := benchServer(b)
	now := time.Now()
	tweets := make([]store.Tweet, 50)
	for i := range tweets {
		tweets[i] = store.Tweet{ID: fmt.Sprint(i + 1), UserID: "7", Username: "alice_7",
			Time: now.Add(-time.Duration(i) * time.Hour), Body: `Tweet <number> & "quotes"; ` + strings.Repeat("words ", 20)}
	}
	viewer := &store.Viewer{ID: "1", Username: "bob", Followers: 12, Following: 34}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "/tweets/user_timeline", nil)
		r = r.WithContext(context.WithValue(r.Context(), stateKey{}, &reqState{viewer: viewer, viewerDone: true}))
		w := httptest.NewRecorder()
		list, err := s.tweetList(tweets, nil)
		if err != nil {
			b.Fatal(err)
		}
		page := &timelinePage{layout: layout{Title: "Your Timeline"}, Heading: "Your Timeline", PostForm: &postForm{},
			Tweets: list, Pager: newPager("/tweets/user_timeline", 1, true)}
		if err := s.render(w, r, http.StatusOK, "timeline", page); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySessionCookie decodes and verifies a session cookie, as
// every signed-in request does.
func BenchmarkVerifySessionCookie(b *testing.B) {
	cs, err := newCookieStore([]string{strings.Repeat("k", 32)})
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	sess, _ := cs.New(r, cookieName)
	sess.Values[valAuth] = strings.Repeat("a", 64)
	sess.Values[valRemember] = true
	w := httptest.NewRecorder()
	if err := sess.Save(r, w); err != nil {
		b.Fatal(err)
	}
	cookie := w.Result().Cookies()[0]
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(cookie)
		sess, err := cs.New(r, cookieName)
		if err != nil || sess.Values[valAuth] == nil {
			b.Fatal(err)
		}
	}
}
