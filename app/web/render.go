package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"sync"

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
}

func newRenderer(fsys fs.FS) (*renderer, error) {
	base, err := template.New("base").ParseFS(fsys, "templates/base.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates/base.html: %w", err)
	}
	rd := &renderer{pages: map[string]*template.Template{}}
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
	return rd, nil
}

// execute renders page into a buffer from the pool; the caller writes it and
// gives it back with release.
func (rd *renderer) execute(name string, data page) (*bytes.Buffer, error) {
	t, ok := rd.pages[name]
	if !ok {
		return nil, fmt.Errorf("no page template %q", name)
	}
	buf := rd.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	if err := t.ExecuteTemplate(buf, "base", data); err != nil {
		rd.release(buf)
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf, nil
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
