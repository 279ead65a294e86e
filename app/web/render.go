package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"pytwask/app/cache"
	"pytwask/app/store"
)

// pageNames are the page templates; each defines "content" for the "base"
// layout. All must parse at start, or the server does not start.
var pageNames = []string{"index", "signup", "signout", "user_settings", "timeline", "user_history", "error"}

// renderer executes pre-parsed templates into pooled buffers, so a failing
// template yields a clean 500 page instead of half a page.
type renderer struct {
	pages map[string]*template.Template
	bufs  sync.Pool
	// base holds "top", everything above <main>, and tops keeps it rendered
	// for each title and viewer: executing it took a quarter of a timeline
	// page's CPU, mostly html/template calling its escapers by reflection.
	base *template.Template
	tops *cache.Bounded[topKey, template.HTML]
	// frames keeps the pages with a list of tweets rendered around it
	// (framed): executing their templates took a fifth of the CPU of a
	// user's page under load.
	frames *cache.Bounded[frameKey, frame]
}

// topKey is all that the "top" template reads but the asset URLs, which are
// fixed for the life of the process.
type topKey struct {
	title    string
	signedIn bool
	viewer   store.Viewer
}

// TopCacheSize bounds the kept page tops: about 1.3 KB each.
const TopCacheSize = 1024

// FrameCacheSize bounds the kept frames: about 1.7 KB each.
const FrameCacheSize = 1024

func newRenderer(fsys fs.FS) (*renderer, error) {
	base, err := template.New("base").ParseFS(fsys, "templates/base.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates/base.html: %w", err)
	}
	rd := &renderer{pages: map[string]*template.Template{}, tops: cache.New[topKey, template.HTML](TopCacheSize),
		frames: cache.New[frameKey, frame](FrameCacheSize)}
	rd.bufs.New = func() any { return new(bytes.Buffer) }
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
	// Cloning is done: base may be executed from now on.
	rd.base = base
	return rd, nil
}

// execute renders page into a buffer from the pool; the caller writes it and
// gives it back with release.
func (rd *renderer) execute(name string, data page) (*bytes.Buffer, error) {
	if p, k, ok := frameOf(name, data); ok {
		return rd.executeFramed(k, p)
	}
	return rd.executeWhole(name, data)
}

// frameOf returns data as a framed page and its frame's key, or false if
// it is rendered whole: it is not framed, has no tweets (the template says
// so instead), has flashes, or its frame says no.
func frameOf(name string, data page) (framed, frameKey, bool) {
	p, ok := data.(framed)
	if !ok || p.list().empty() || len(data.base().Flashes) > 0 {
		return nil, frameKey{}, false
	}
	k, ok := p.frame()
	k.page = name
	return p, k, ok
}

// executeWhole renders page by executing its template.
func (rd *renderer) executeWhole(name string, data page) (*bytes.Buffer, error) {
	t, ok := rd.pages[name]
	if !ok {
		return nil, fmt.Errorf("no page template %q", name)
	}
	l := data.base()
	top, err := rd.top(l)
	if err != nil {
		return nil, err
	}
	l.Top = top
	buf := rd.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	if err := t.ExecuteTemplate(buf, "base", data); err != nil {
		rd.release(buf)
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf, nil
}

// executeFramed renders p from its frame, rendering the frame first unless
// it is kept.
func (rd *renderer) executeFramed(k frameKey, p framed) (*bytes.Buffer, error) {
	f, ok := rd.frames.Get(k)
	if !ok {
		var err error
		if f, err = rd.renderFrame(k.page, p); err != nil {
			return nil, err
		}
		rd.frames.Put(k, f)
	}
	buf := rd.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	buf.WriteString(f.before)
	p.list().writeTo(buf)
	buf.WriteString(f.after)
	return buf, nil
}

// renderFrame renders p with tweetsMark for its tweets and cuts it there.
func (rd *renderer) renderFrame(name string, p framed) (frame, error) {
	l := p.list()
	l.mark = true
	buf, err := rd.executeWhole(name, p)
	l.mark = false
	if err != nil {
		return frame{}, err
	}
	defer rd.release(buf)
	before, after, ok := strings.Cut(buf.String(), tweetsMark)
	if !ok || strings.Contains(after, tweetsMark) {
		return frame{}, fmt.Errorf("render %s: the tweets are not in the page once", name)
	}
	return frame{before, after}, nil
}

// tweetsMark stands for the tweets in a frame as it is rendered. Nothing
// escaped can contain it, as it begins with '<'.
const tweetsMark = "<!--tweets-->"

// framed is a page whose content is mostly a list of tweets. All else on
// it (its frame) is the same for every page with the same frameKey, so it
// is rendered once for each and kept, and a request writes the frame's two
// halves around its tweets.
type framed interface {
	page
	// frame returns every value that the page shows but its tweets and
	// flashes, or false if the page is not to be kept (a form with input).
	// A field added to the page must be added here too
	// (TestFramesMatchTemplates).
	frame() (frameKey, bool)
	// list is the page's tweets.
	list() *tweetList
}

// frameKey is all that a framed page shows but its tweets and the asset
// URLs, which are fixed for the life of the process.
type frameKey struct {
	page      string // the template
	top       topKey
	heading   string
	postForm  bool // an empty post form
	user      profile
	canFollow bool
	pager     pager
}

// profile is what a user's page shows of the user.
type profile struct {
	username             string
	followers, following int64
	viewerFollows        bool
}

// frame is a framed page's markup before and after its tweets.
type frame struct{ before, after string }

// topKey returns the key of the page's top (renderer.top).
func (l *layout) topKey() topKey {
	k := topKey{title: l.Title, signedIn: l.Viewer != nil}
	if l.Viewer != nil {
		k.viewer = *l.Viewer
	}
	return k
}

// top returns the page's top for its title and viewer, rendered once.
func (rd *renderer) top(l *layout) (template.HTML, error) {
	k := l.topKey()
	if top, ok := rd.tops.Get(k); ok {
		return top, nil
	}
	var b strings.Builder
	if err := rd.base.ExecuteTemplate(&b, "top", l); err != nil {
		return "", fmt.Errorf("render the top of %q: %w", l.Title, err)
	}
	top := template.HTML(b.String()) // escaped by html/template above
	rd.tops.Put(k, top)
	return top, nil
}

func (rd *renderer) release(buf *bytes.Buffer) {
	if buf.Cap() <= 1<<20 { // don't keep the odd huge buffer alive
		rd.bufs.Put(buf)
	}
}

// layout is what every page shows around its content. Page types embed it.
type layout struct {
	Title   string
	Viewer  *store.Viewer
	Flashes []flash
	Assets  *assetURLs
	// Top is set by renderer.execute from the fields above.
	Top template.HTML
}

// assetURLs are the hashed URLs of the files every page links to, looked up
// once rather than by a template function on every page.
type assetURLs struct{ CSS, Icon string }

func (l *layout) base() *layout { return l }

type page interface{ base() *layout }

// render writes a whole page: the viewer and pending flash messages are filled
// in, the session is saved if flashes were consumed, then the body is sent.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data page) error {
	l := data.base()
	l.Assets = s.assets
	st := state(r)
	if l.Viewer == nil {
		l.Viewer = st.viewer
	}
	l.Flashes = s.takeFlashes(r)
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
