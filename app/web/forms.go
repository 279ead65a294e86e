package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"pytwask/app/store"
)

// viewerForm is readForm for a form only a signed-in user may send: the
// form, and the viewer (errLoginRequired for nobody).
func (s *Server) viewerForm(w http.ResponseWriter, r *http.Request) (url.Values, *store.Viewer, error) {
	form, err := s.readForm(w, r)
	if err != nil {
		return nil, nil, err
	}
	v, err := s.requireViewer(r)
	if err != nil {
		return nil, nil, err
	}
	return form, v, nil
}

// readForm parses a POST body within the size limit and refuses what no
// browser sends from our forms: bodies over the limit (413), repeated fields,
// and text that is not UTF-8 (400).
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, s.maxForm)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "The form was larger than %d KiB, so it was refused.", s.maxForm>>10)
		}
		return nil, errorf(http.StatusBadRequest, "The form could not be read.")
	}
	for name, values := range r.PostForm {
		if len(values) > 1 {
			return nil, errorf(http.StatusBadRequest, "The form sent the field %q more than once.", name)
		}
		if !utf8.ValidString(name) || !utf8.ValidString(values[0]) {
			return nil, errorf(http.StatusBadRequest, "The form contained text that is not valid UTF-8.")
		}
	}
	return r.PostForm, nil
}

// safeNext accepts a ?next= target only if it is a path on this site. Values
// like "//evil.example", "/\evil.example" or "https://evil.example" would send
// the user elsewhere after signing in. The sign-in page drops a refused
// value ("", false) and goes on: a link with a bad next still signs in, to
// the default page.
func safeNext(raw string) (string, bool) {
	if raw == "" {
		return "", true
	}
	if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") ||
		strings.ContainsAny(raw, "\\\x00\r\n\t") || !utf8.ValidString(raw) {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return raw, true
}

// checked reads a checkbox as WTForms' BooleanField did in the original's
// forms: absent, empty or "false" is unchecked, any other value checked.
func checked(value string) bool { return value != "" && value != "false" }

// pageSize is how many tweets a timeline page shows: as many as
// Mastodon's and Twitter's pages. Each tweet carries its counts and, for a
// viewer, two forms; at 50 a signed-in page weighed 41 KB and was built at
// well under a quarter of the static-file rate.
const pageSize = 20

// maxPage bounds ?page= so that a deep request cannot ask Redis for a huge
// range (timelines hold 1,000 ids; a user's own history may hold more).
const maxPage = 10_000

// pageParam reads ?page=N (1 when absent).
func pageParam(r *http.Request) (int, error) { return numberParam(r, "page") }

// numberParam reads a page number from ?name=N (1 when absent).
func numberParam(r *http.Request, name string) (int, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxPage {
		return 0, errorf(http.StatusBadRequest, "The page number must be a whole number from 1 to %d.", maxPage)
	}
	return n, nil
}

// pastEnd refuses page n of a list that ended before it, as a stale link
// or a guess may ask for: an empty page there would say there is nothing
// yet, and its "Newer" would lead to another empty page. A page that is
// empty only because its tweets were deleted since (more is true) shows.
func pastEnd(n int, empty, more bool) error {
	if n > 1 && empty && !more {
		return errorf(http.StatusNotFound, "Page %d is past the end of this list.", n)
	}
	return nil
}

// pager holds the links to the neighbouring pages.
type pager struct{ Newer, Older string }

// newPager links the pages next to page of path, which may have a query
// of its own.
func newPager(path string, page int, more bool) pager {
	var p pager
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	if page > 1 {
		p.Newer = path
		if page > 2 {
			p.Newer += sep + "page=" + strconv.Itoa(page-1)
		}
	}
	if more {
		p.Older = path + sep + "page=" + strconv.Itoa(page+1)
	}
	return p
}
