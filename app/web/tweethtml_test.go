package web

import (
	"strings"
	"testing"
	"time"

	"pytwask/app/store"
)

func TestTweetHTML(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	c := newTweetHTML(4)
	tw := store.Tweet{ID: "1", UserID: "2", Username: `a"b<c>`, Time: now.Add(-3 * time.Minute), Body: "<script>alert(1)</script>\n& more"}
	got := string(c.list([]store.Tweet{tw}, now).HTML())
	for _, want := range []string{
		`<a class="author" href="/tweets/user_history/a%22b%3Cc%3E">a&#34;b&lt;c&gt;</a>`,
		`<time datetime="2026-11-20T11:57:00Z" title="Fri 20 Nov 2026 11:57 UTC">3 minutes ago</time>`,
		`<p class="body" dir="auto">&lt;script&gt;alert(1)&lt;/script&gt;` + "\n" + `&amp; more</p>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("markup lacks %s:\n%s", want, got)
		}
	}
	// The relative time is fresh on every render; the rest is reused.
	if later := string(c.list([]store.Tweet{tw}, now.Add(2*time.Hour)).HTML()); !strings.Contains(later, ">2 hours ago</time>") {
		t.Errorf("relative time not recomputed:\n%s", later)
	}
	// Another tweet under a reused id (a replaced database) is rebuilt.
	other := tw
	other.Body = "different text"
	if got := string(c.list([]store.Tweet{other}, now).HTML()); !strings.Contains(got, ">different text</p>") {
		t.Errorf("stale markup for a reused id:\n%s", got)
	}
	// The cache stays bounded.
	for i := range 100 {
		tw.ID = string(rune('a'+i%26)) + strings.Repeat("x", i)
		c.list([]store.Tweet{tw}, now).HTML()
	}
	if n := c.frags.Len(); n > 4 {
		t.Errorf("cache holds %d entries; bound is 4", n)
	}
}
