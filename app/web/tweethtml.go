package web

import (
	"bytes"
	"html/template"
	"net/url"
	"time"

	"pytwask/app/cache"
	"pytwask/app/store"
)

// tweetHTML renders the tweets of a timeline page. A tweet never changes
// (pytwis has no edit), so its markup — author link, timestamps, escaped
// body — is built once and kept; only "3 minutes ago" is written per request.
// Running html/template over 50 tweets per page cost two thirds of the CPU
// of a timeline request, mostly in reflection.
//
// Entries are checked against what Redis returned, so a database that was
// replaced (ids reused for other tweets) never shows stale text.
type tweetHTML struct {
	frags *cache.Bounded[string, *fragment]
}

// fragment is one tweet's markup around its relative time.
type fragment struct {
	userID, username, body string
	unix                   int64
	head, tail             string
}

// newTweetHTML keeps the markup of about size tweets.
func newTweetHTML(size int) *tweetHTML {
	return &tweetHTML{frags: cache.New[string, *fragment](size)}
}

func (c *tweetHTML) get(t *store.Tweet) *fragment {
	f, ok := c.frags.Get(t.ID)
	if ok && f.userID == t.UserID && f.username == t.Username && f.unix == t.Time.Unix() && f.body == t.Body {
		return f
	}
	f = buildFragment(t)
	c.frags.Put(t.ID, f)
	return f
}

func buildFragment(t *store.Tweet) *fragment {
	esc := template.HTMLEscapeString
	name := esc(t.Username)
	utc := t.Time.UTC()
	return &fragment{
		userID: t.UserID, username: t.Username, body: t.Body, unix: t.Time.Unix(),
		head: `<li class="tweet"><article>` + "\n" +
			`    <header><a class="author" href="/tweets/user_history/` + esc(url.PathEscape(t.Username)) + `">` + name + `</a>` + "\n" +
			`      <time datetime="` + utc.Format(time.RFC3339) + `" title="` + utc.Format("Mon 2 Jan 2006 15:04 UTC") + `">`,
		tail: `</time></header>` + "\n" +
			`    <p class="body" dir="auto">` + esc(t.Body) + `</p>` + "\n" +
			`  </article></li>` + "\n",
	}
}

// list returns tweets as a page's list, their relative times taken at now.
func (c *tweetHTML) list(tweets []store.Tweet, now time.Time) *tweetList {
	return &tweetList{c: c, tweets: tweets, now: now}
}

// tweetList is a page's tweets. A page kept as a frame (framed, render.go)
// has them written straight into its buffer; the template renders them
// (HTML) only on a page that is not.
type tweetList struct {
	c      *tweetHTML
	tweets []store.Tweet
	now    time.Time
	mark   bool // HTML returns tweetsMark: renderFrame is rendering the frame
}

// HTML renders the list for the template.
func (l *tweetList) HTML() template.HTML {
	switch {
	case l.empty():
		return ""
	case l.mark:
		return tweetsMark
	}
	var b bytes.Buffer
	l.writeTo(&b)
	// The parts were escaped piece by piece (buildFragment).
	return template.HTML(b.String())
}

func (l *tweetList) empty() bool { return l == nil || len(l.tweets) == 0 }

// writeTo writes the tweets' list items to buf.
func (l *tweetList) writeTo(buf *bytes.Buffer) {
	frags := make([]*fragment, len(l.tweets))
	size := 0
	for i := range l.tweets {
		frags[i] = l.c.get(&l.tweets[i])
		size += len(frags[i].head) + len(frags[i].tail) + 20
	}
	buf.Grow(size)
	for i, f := range frags {
		buf.WriteString(f.head)
		buf.Write(appendTimeAgo(buf.AvailableBuffer(), l.tweets[i].Time, l.now))
		buf.WriteString(f.tail)
	}
}
