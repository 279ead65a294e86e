package serve

import (
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// drainer moves clients off a stopping process without failing a request.
// Once draining, every response asks the client to close its connection
// (Connection: close; over HTTP/2, Go's server sends GOAWAY for it), so a
// client with a kept-alive connection opens a new one, which the next
// process accepts. Shutdown then has few idle connections left to close
// under a client that might be sending on them.
type drainer struct {
	draining atomic.Bool
	open     atomic.Int64 // connections open on the site's servers
}

// handler wraps a server's handler.
func (d *drainer) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// track is the servers' ConnState hook.
func (d *drainer) track(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		d.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		d.open.Add(-1)
	}
}

// wait starts draining and returns when no connection is open, or after at
// most d.
func (d *drainer) wait(most time.Duration) {
	d.draining.Store(true)
	deadline := time.Now().Add(most)
	for d.open.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}
