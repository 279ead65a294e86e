package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// staticFile is one embedded file, read, hashed and compressed once at start.
type staticFile struct {
	body, gzipped       []byte
	etag, ctype         string
	length, gzippedSize string // Content-Length values, formatted once
}

// staticFiles serves the embedded static files under URLs that carry a hash
// of their content, so browsers may cache them for a year: a changed file
// gets a new URL.
//
// A URL with another hash of one of the files is another version's: during
// a rolling upgrade, a page made by one instance asks another for its
// stylesheet and script. It gets this version's file, the only one there
// is, marked to be revalidated rather than kept, since the URL names other
// content. A 404 would leave the page without style or script.
type staticFiles struct {
	byURL map[string]*staticFile // "/static/style.1a2b3c4d5e.css" -> file
	urls  map[string]string      // "style.css" -> its URL
}

// hashBytes is how much of a file's SHA-256 its URL carries.
const hashBytes = 5

func loadStatic(fsys fs.FS) (*staticFiles, error) {
	sf := &staticFiles{byURL: map[string]*staticFile{}, urls: map[string]string{}}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:hashBytes])
		ext := path.Ext(name)
		url := "/static/" + strings.TrimSuffix(name, ext) + "." + hash + ext
		f := &staticFile{body: body, etag: `"` + hash + `"`, ctype: mime.TypeByExtension(ext), length: strconv.Itoa(len(body))}
		if f.ctype == "" {
			f.ctype = "application/octet-stream"
		}
		if strings.HasPrefix(f.ctype, "text/") || strings.Contains(f.ctype, "svg") || strings.Contains(f.ctype, "javascript") {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
			zw.Write(body)
			zw.Close()
			if buf.Len() < len(body) {
				f.gzipped, f.gzippedSize = buf.Bytes(), strconv.Itoa(buf.Len())
			}
		}
		sf.byURL[url] = f
		sf.urls[name] = url
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load static files: %w", err)
	}
	return sf, nil
}

// URL returns the hashed URL of a static file; an unknown name is a bug in a
// template, caught when the templates are first executed in tests.
func (sf *staticFiles) URL(name string) (string, error) {
	u, ok := sf.urls[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return u, nil
}

func (sf *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cacheControl := "public, max-age=31536000, immutable"
	f, ok := sf.byURL[r.URL.Path]
	if !ok {
		if f = sf.otherVersion(r.URL.Path); f == nil {
			http.NotFound(w, r)
			return
		}
		cacheControl = "no-cache"
	}
	h := w.Header()
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", f.etag)
	h.Set("Content-Type", f.ctype) // Vary: compressPages sets it on every answer
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body, length := f.body, f.length
	if f.gzipped != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body, length = f.gzipped, f.gzippedSize
	}
	h.Set("Content-Length", length)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// otherVersion returns the file whose URL urlPath would be with another
// hash (/static/style.0123456789.css for style.css), or nil.
func (sf *staticFiles) otherVersion(urlPath string) *staticFile {
	name, ok := strings.CutPrefix(urlPath, "/static/")
	if !ok {
		return nil
	}
	ext := path.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	dot := strings.LastIndexByte(stem, '.')
	if dot < 0 || !isHash(stem[dot+1:]) {
		return nil
	}
	url, ok := sf.urls[stem[:dot]+ext]
	if !ok {
		return nil
	}
	return sf.byURL[url]
}

// isHash reports whether s could be a file's hash in its URL: hashBytes in
// lower-case hexadecimal.
func isHash(s string) bool {
	if len(s) != 2*hashBytes {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
