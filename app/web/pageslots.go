package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"pytwask/app/slots"
)

// PageWait bounds how long a page view waits for a page slot. Past it the
// answer is a 503 saying the site is busy, rather than a wait that outlasts
// the server's write timeout (30 s) and ends in a dropped connection.
const PageWait = 10 * time.Second

// PageBuild bounds how long a page, once in its slot, may wait on Redis:
// past it the page is a 503, and the slot free for others. A page takes
// milliseconds; one Redis command past its read timeout (2 s) is already
// an outage. The bound matters on a Cluster, whose client tries a command
// that timed out again (redisconn): a node that hangs would otherwise hold
// every page, and every slot, for as long as it hangs.
const PageBuild = 3 * time.Second

// errPagesBusy ends a page view that waited PageWait for a slot.
var errPagesBusy = errors.New("every page slot is taken")

// defaultPageSlots is how many timeline pages are built at once when the
// configuration does not say: four per core Go runs on (GOMAXPROCS, which
// follows a CPU quota), enough to keep the cores busy while some pages wait
// on Redis.
func defaultPageSlots() int { return 4 * runtime.GOMAXPROCS(0) }

// newPageSlots returns the slots timeline pages are built in: n, or
// defaultPageSlots if n is 0 or less. Further page views wait in line.
//
// Why: under more page views than the cores can serve, every one of them
// would otherwise be runnable at once, and Go's scheduler cycles through
// all of them. A request that is not a page (a post, a follow, a sign-in)
// then waits behind that crowd each time Redis answers it; in a few slots,
// the pages wait in line instead, and the others go straight in. (Measured
// when this was added: see the commit that introduced the page slots.)
func newPageSlots(n int) *slots.Slots {
	if n <= 0 {
		n = defaultPageSlots()
	}
	return slots.New(n, PageWait, errPagesBusy)
}

// inPageSlot is h run in a page slot. The page h writes is held in memory
// and sent after the slot is given back, so a client that reads slowly
// holds only its own connection, never a slot that other visitors wait for.
// The error page for what h returns is written after the slot is given back
// too (handle). Each client address waits in a line of its own, and the
// lines take turns (package slots): a client with a hundred pages waiting
// does not put them all ahead of another's one.
func (s *Server) inPageSlot(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.pages.AcquireFor(r.Context(), s.clientSubject(r)); err != nil {
			return fmt.Errorf("waiting for a page slot: %w", err)
		}
		page := &heldResponse{header: w.Header(), body: s.rd.buffer()}
		ctx, cancel := context.WithTimeout(r.Context(), PageBuild)
		err := h(page, r.WithContext(ctx))
		cancel()
		s.pages.Release()
		page.send(w)
		s.rd.release(page.body)
		return err
	}
}

// heldResponse keeps what a handler writes until send. Its header is the
// real response's, which nothing sends before send; its body is a page
// buffer of the renderer's.
type heldResponse struct {
	header http.Header
	status int
	body   *bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.body.Write(b)
}

// send writes the held response, if the handler wrote one. A client that
// stopped reading is not an error: the page is written as far as it goes.
func (h *heldResponse) send(w http.ResponseWriter) {
	if h.status == 0 {
		return
	}
	// With its length known the page goes out unchunked: one write fewer
	// per page, and the client knows at once how much is coming.
	w.Header().Set("Content-Length", strconv.Itoa(h.body.Len()))
	w.WriteHeader(h.status)
	h.body.WriteTo(w)
}

// PagesWaiting is how many timeline pages wait for a slot now.
func (s *Server) PagesWaiting() int { return s.pages.Waiting() }

// PageSlots is how many timeline pages the site builds at once: the
// configured number, or the default it resolved to.
func (s *Server) PageSlots() int { return s.pages.Cap() }
