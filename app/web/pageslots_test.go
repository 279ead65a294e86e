package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestPageSlots: with every page slot taken, a timeline page waits in line,
// then gets a 503 page saying the site is busy, and the operator a warning.
// A post goes straight in and is stored. A page whose client leaves while it
// waits writes nothing. A freed slot lets the waiting page through, and
// every page gives its slot back, on success or not.
func TestPageSlots(t *testing.T) {
	var logs strings.Builder
	s := newSite(t)
	session := s.sessionOf("alice", "Passw0rd!")
	h := s.handler(Options{Logger: newTestLogger(&logs), PageSlots: 2})
	h.pages.Wait = 50 * time.Millisecond
	for range 2 { // every slot is taken
		if err := h.pages.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	do := func(ctx context.Context, w http.ResponseWriter, method, path, form string) {
		r := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(session)
		h.ServeHTTP(w, r)
	}
	pages := []string{"/tweets/general_timeline", "/tweets/user_timeline", "/tweets/user_history/alice"}
	for _, path := range pages {
		w := httptest.NewRecorder()
		do(context.Background(), w, "GET", path, "")
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "5" {
			t.Errorf("%s: status %d, Retry-After %q; want 503 and 5", path, w.Code, w.Header().Get("Retry-After"))
		}
		for _, want := range []string{"The site is busy right now. Please try again in a few seconds.", `<header class="site">`} {
			if !strings.Contains(w.Body.String(), want) {
				t.Errorf("%s: the page lacks %q", path, want)
			}
		}
	}
	if n := strings.Count(logs.String(), `level=WARN msg="pages busy"`); n != len(pages) {
		t.Errorf("%d warnings, want %d:\n%s", n, len(pages), logs.String())
	}

	w := httptest.NewRecorder()
	do(context.Background(), w, "POST", "/tweets/user_timeline", "tweet=posted+while+pages+wait")
	if w.Code != http.StatusSeeOther {
		t.Fatalf("a post with every page slot taken: status %d, want 303\n%s", w.Code, w.Body)
	}
	ids, err := s.rdb.LRange(context.Background(), "timeline", 0, -1).Result()
	if err != nil || len(ids) != 1 {
		t.Fatalf("general timeline %v (%v), want the one tweet", ids, err)
	}
	if body, _ := s.rdb.HGet(context.Background(), "tweet:"+ids[0], "body").Result(); body != "posted while pages wait" {
		t.Errorf("tweet:%s body %q", ids[0], body)
	}

	h.pages.Wait = time.Minute
	logs.Reset()
	gone, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	pipe := &brokenPipe{ResponseRecorder: httptest.NewRecorder()}
	do(gone, pipe, "GET", "/tweets/general_timeline", "")
	if pipe.headers != 0 || !strings.Contains(logs.String(), "status=499") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a client that left while its page waited: %d headers written; log:\n%s", pipe.headers, logs.String())
	}

	served := make(chan *httptest.ResponseRecorder)
	go func() {
		w := httptest.NewRecorder()
		do(context.Background(), w, "GET", "/tweets/general_timeline", "")
		served <- w
	}()
	select {
	case w := <-served:
		t.Fatalf("a page was served (status %d) with every slot taken", w.Code)
	case <-time.After(50 * time.Millisecond):
	}
	h.pages.Release() // one slot frees
	w = <-served
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "posted while pages wait") {
		t.Errorf("the page that waited: status %d, want 200 with the tweet", w.Code)
	}
	if n := h.pages.Taken(); n != 1 {
		t.Errorf("%d slots taken after the pages ended, want 1 (the test's own)", n)
	}
}

// TestPageSlotsFollowGOMAXPROCS: four slots per core Go runs on, unless the
// configuration gives a number.
func TestPageSlotsFollowGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []struct{ procs, configured, want int }{
		{1, 0, 4},
		{2, 0, 8},
		{8, 0, 32},
		{2, 3, 3},
	} {
		runtime.GOMAXPROCS(c.procs)
		if got := newPageSlots(c.configured).Cap(); got != c.want {
			t.Errorf("GOMAXPROCS %d, PYTWASK_PAGE_SLOTS %d: %d slots, want %d", c.procs, c.configured, got, c.want)
		}
	}
}
