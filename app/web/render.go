package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"pytwask/app/cache"
	"pytwask/app/store"
)

// pageNames are the page templates; each defines "content" for the "base"
// layout. All must parse at start, or the server does not start.
var pageNames = []string{"index", "signup", "signout", "user_settings", "timeline", "user_history", "tweet", "delete", "edit", "search", "forgot", "reset", "notifications", "error"}

// renderer executes pre-parsed templates into pooled buffers, so a failing
// template yields a clean 500 page instead of half a page.
//
// It keeps the markup of the tweets it rendered, by everything the "tweet"
// template shows of one (tweetView, its key): a list of tweets is most of a
// timeline page, and html/template calls its escapers by reflection for
// each value, which made that the bulk of a page's CPU. Kept by every value
// shown, an entry can never be out of date.
//
// It keeps each page top it made too ("top": everything above <main>, by
// the title, description and viewer it shows, topKey): the top's dozen values were
// much of a page's template time. And, for the same reason, the small parts
// that templates insert with the "fragment" function (the compose form, the
// pager), by their value.
type renderer struct {
	pages     map[string]*template.Template
	tweet     *template.Template
	tweets    *cache.Bounded[tweetView, template.HTML]
	top       *template.Template
	tops      *cache.Bounded[topKey, template.HTML]
	fragments *cache.Bounded[fragmentKey, template.HTML]
	bufs      sync.Pool
}

// fragmentKey is a template's name and the value it was executed with.
type fragmentKey struct {
	name  string
	value any
}

// topKey is all the "top" template shows but the asset URLs, which are the
// same for the life of the process.
type topKey struct {
	title, description string
	signedIn           bool
	viewer             store.Viewer
}

// TopCacheSize bounds the page tops kept: about 1.3 KB each.
const TopCacheSize = 1024

// TweetCacheSize bounds the tweets whose markup is kept: about 6 MB.
const TweetCacheSize = 10_000

// FragmentCacheSize bounds the fragments kept: under 1 KB each.
const FragmentCacheSize = 1024

func newRenderer(fsys fs.FS) (*renderer, error) {
	rd := &renderer{pages: map[string]*template.Template{}, tweets: cache.New[tweetView, template.HTML](TweetCacheSize),
		tops: cache.New[topKey, template.HTML](TopCacheSize), fragments: cache.New[fragmentKey, template.HTML](FragmentCacheSize)}
	rd.bufs.New = func() any { return new(bytes.Buffer) }
	base, err := template.New("base").Funcs(template.FuncMap{"segments": tweetSegments, "fragment": rd.fragment}).
		ParseFS(fsys, "templates/base.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates/base.html: %w", err)
	}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(fsys, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse templates/%s.html: %w", name, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("templates/%s.html defines no \"content\"", name)
		}
		rd.pages[name] = t
	}
	if rd.tweet = rd.pages[pageNames[0]].Lookup("tweet"); rd.tweet == nil {
		return nil, errors.New("templates/base.html defines no \"tweet\"")
	}
	if rd.top = rd.pages[pageNames[0]].Lookup("top"); rd.top == nil {
		return nil, errors.New("templates/base.html defines no \"top\"")
	}
	return rd, nil
}

// topOf returns the page's top, from the "top" template.
func (rd *renderer) topOf(l *layout) (template.HTML, error) {
	k := topKey{title: l.Title, description: l.Description, signedIn: l.Viewer != nil}
	if l.Viewer != nil {
		k.viewer = *l.Viewer
	}
	if top, ok := rd.tops.Get(k); ok {
		return top, nil
	}
	top, err := markup(rd.top, l)
	if err != nil {
		return "", fmt.Errorf("render the page top: %w", err)
	}
	rd.tops.Put(k, top)
	return top, nil
}

// fragment returns the markup of the template name executed with value (a
// pointer's value for a pointer), made once per distinct value and kept.
// The value is the key, so it must be a comparable struct without pointers:
// the forms and pagers that templates pass.
func (rd *renderer) fragment(name string, value any) (template.HTML, error) {
	v := reflect.ValueOf(value)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
		value = v.Interface()
	}
	if v.Kind() != reflect.Struct || !v.Type().Comparable() {
		return "", fmt.Errorf("fragment %q: %T is not a comparable struct", name, value)
	}
	k := fragmentKey{name, value}
	if html, ok := rd.fragments.Get(k); ok {
		return html, nil
	}
	t := rd.pages[pageNames[0]].Lookup(name)
	if t == nil {
		return "", fmt.Errorf("fragment %q: no such template", name)
	}
	html, err := markup(t, value)
	if err != nil {
		return "", fmt.Errorf("render fragment %q: %w", name, err)
	}
	rd.fragments.Put(k, html)
	return html, nil
}

// markup executes t with data into a string, for one of the caches.
func markup(t *template.Template, data any) (template.HTML, error) {
	var b strings.Builder
	err := t.Execute(&b, data)
	return template.HTML(b.String()), err // html/template escaped it
}

// tweetList returns the markup of the tweets, each from the "tweet"
// template, one after the other: one value for the page's template to
// insert, not one per tweet.
func (rd *renderer) tweetList(views []tweetView) (template.HTML, error) {
	parts := make([]template.HTML, len(views))
	size := 0
	for i, v := range views {
		html, ok := rd.tweets.Get(v)
		if !ok {
			var err error
			if html, err = markup(rd.tweet, v); err != nil {
				return "", fmt.Errorf("render a tweet: %w", err)
			}
			rd.tweets.Put(v, html)
		}
		parts[i] = html
		size += len(html)
	}
	var list strings.Builder
	list.Grow(size)
	for _, html := range parts {
		list.WriteString(string(html))
	}
	return template.HTML(list.String()), nil
}

// execute renders page into a buffer from the pool; the caller writes it and
// gives it back with release.
func (rd *renderer) execute(name string, data page) (*bytes.Buffer, error) {
	t, ok := rd.pages[name]
	if !ok {
		return nil, fmt.Errorf("no page template %q", name)
	}
	l := data.Layout()
	top, err := rd.topOf(l)
	if err != nil {
		return nil, err
	}
	l.Top = top
	buf := rd.buffer()
	if err := t.ExecuteTemplate(buf, "base", data); err != nil {
		rd.release(buf)
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf, nil
}

// buffer returns an empty page buffer from the pool; give it back with
// release.
func (rd *renderer) buffer() *bytes.Buffer {
	buf := rd.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	return buf
}

func (rd *renderer) release(buf *bytes.Buffer) {
	if buf.Cap() <= 1<<20 { // don't keep the odd huge buffer alive
		rd.bufs.Put(buf)
	}
}

// layout is what every page shows around its content. Page types embed it.
type layout struct {
	Title string
	// Description is what link previews (Open Graph) and search engines
	// show of the page under its title; "" for none.
	Description string
	Viewer      *store.Viewer
	Flashes     []flash
	Assets      *assetURLs
	// Top is everything above <main>, set by renderer.execute (topOf).
	Top template.HTML
	// Live names the streams of GET /events that the page's list shows
	// (space-separated; "" for none), and LiveSince the last event before
	// the page was made, set by render.
	Live, LiveSince string
}

// assetURLs are the hashed URLs of the files every page links to, looked up
// once rather than by a template function on every page.
type assetURLs struct{ CSS, Icon, Script string }

func (l *layout) Layout() *layout { return l }

type page interface{ Layout() *layout }

// render writes a whole page: the viewer and pending flash messages are filled
// in, the session is saved if flashes were consumed, then the body is sent.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data page) error {
	l := data.Layout()
	l.Assets = s.assets
	st := state(r)
	if l.Viewer == nil {
		l.Viewer = st.viewer
	}
	l.Flashes = s.takeFlashes(r)
	if s.hub != nil && l.Live != "" {
		if l.Viewer != nil {
			l.Live += " notifications"
		}
		l.LiveSince = s.hub.Last()
	}
	buf, err := s.rd.execute(name, data)
	if err != nil {
		return err
	}
	defer s.rd.release(buf)
	if err := s.saveSession(w, r); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	if st.viewer != nil || len(l.Flashes) > 0 {
		// Personal pages must not be kept by shared caches or the back button
		// after sign-out.
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	if _, err := buf.WriteTo(w); err != nil {
		// The page is half sent: the client went away or stopped reading.
		// There is no other page to send, and nothing for the operator to
		// mend, so this is not an error for fail to report.
		s.log.Debug("write page", "path", r.URL.Path, "client", s.client(r), "err", err)
	}
	return nil
}
