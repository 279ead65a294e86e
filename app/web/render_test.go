package web

import (
	"strings"
	"testing"
	"time"

	"pytwask/app/store"
	"pytwask/assets"
)

// TestTweetMarkup renders a timeline page through its template and checks
// a tweet's markup: the author linked, the time in machine and human form,
// the body escaped with its line breaks, and bidi-isolated.
func TestTweetMarkup(t *testing.T) {
	rd, err := newRenderer(assets.FS)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	tw := store.Tweet{ID: "1", UserID: "2", Username: `a"b<c>`, Time: now.Add(-3 * time.Minute), Body: "<script>alert(1)</script>\n& more"}
	s := &Server{rd: rd, now: func() time.Time { return now }}
	list, err := s.tweetList([]store.Tweet{tw}, nil)
	if err != nil {
		t.Fatal(err)
	}
	page := &timelinePage{layout: layout{Title: "Recent Timeline", Assets: &assetURLs{CSS: "/s.css", Icon: "/i.svg"}},
		Heading: "Recent Timeline", Tweets: list}
	buf, err := rd.execute("timeline", page)
	if err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	for _, want := range []string{
		`<a class="author" href="/tweets/user_history/a%22b%3cc%3e">a&#34;b&lt;c&gt;</a>`,
		`<time datetime="2026-11-20T11:57:00Z" title="Fri 20 Nov 2026 11:57 UTC">3 minutes ago</time>`,
		`<p class="body" dir="auto">&lt;script&gt;alert(1)&lt;/script&gt;` + "\n" + `&amp; more</p>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("markup lacks %s:\n%s", want, got)
		}
	}
	// The same tweet a while later: its markup kept, but for its age.
	s.now = func() time.Time { return now.Add(2 * time.Hour) }
	if later, _ := s.tweetList([]store.Tweet{tw}, nil); !strings.Contains(string(later), ">2 hours ago</time>") {
		t.Errorf("the markup two hours later: %q", later)
	}
	// Another tweet with the same id (a replaced database, an edit) shows
	// its own text: the kept markup is keyed by all it shows.
	other := tw
	other.Body = "different text"
	if got, _ := s.tweetList([]store.Tweet{other}, nil); !strings.Contains(string(got), ">different text</p>") {
		t.Errorf("an edited tweet shows as %q", got)
	}
	page.Tweets = ""
	if buf, err = rd.execute("timeline", page); err != nil || !strings.Contains(buf.String(), "No tweets here yet.") {
		t.Errorf("an empty timeline: %v\n%s", err, buf)
	}
}

// TestFragments checks the parts of pages kept by value: each distinct form
// and pager is rendered, escaped, from its own value, whether passed as a
// value or a pointer, and a value that cannot be a key is an error, not a
// wrong page.
func TestFragments(t *testing.T) {
	rd, err := newRenderer(assets.FS)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		value any
		want  []string
		lacks []string
	}{
		{"pager", newPager("/tags/x", 2, true), []string{`href="/tags/x"`, `href="/tags/x?page=3"`}, nil},
		{"pager", newPager("/search?q=a", 3, false), []string{`href="/search?q=a&amp;page=2"`}, []string{"Older"}},
		{"pager", pager{}, nil, []string{"<nav"}},
		{"compose", newTweetForm("", ""), []string{`action="/tweets/user_timeline"`, `></textarea>`}, []string{"aria-invalid"}},
		{"compose", *newTweetForm(`<b>"hi"</b>`, "Too long & more"), []string{`&lt;b&gt;&#34;hi&#34;&lt;/b&gt;</textarea>`,
			`aria-invalid="true"`, `Too long &amp; more`}, nil},
		{"compose", replyForm("42", "", ""), []string{`action="/tweets/reply/42"`, "Your reply"}, nil},
	}
	for _, c := range cases {
		for range 2 { // made, then kept
			got, err := rd.fragment(c.name, c.value)
			if err != nil {
				t.Fatalf("fragment(%q, %+v): %v", c.name, c.value, err)
			}
			for _, w := range c.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("fragment(%q, %+v) lacks %s:\n%s", c.name, c.value, w, got)
				}
			}
			for _, w := range c.lacks {
				if strings.Contains(string(got), w) {
					t.Errorf("fragment(%q, %+v) has %s:\n%s", c.name, c.value, w, got)
				}
			}
		}
	}
	for _, bad := range []any{"text", struct{ L []string }{}, (*postForm)(nil)} {
		if _, err := rd.fragment("pager", bad); err == nil {
			t.Errorf("fragment of %#v: no error", bad)
		}
	}
	if _, err := rd.fragment("no-such-template", pager{}); err == nil {
		t.Error("fragment of a missing template: no error")
	}
}
