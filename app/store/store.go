// Package store keeps pytwis's data in Redis: one method per pytwis operation,
// each one atomic, on exactly the keys pytwis used (see keys.go).
//
// A change made in steps goes on to its end once its first write is sent,
// whatever its caller does (context.WithoutCancel): a browser closed half
// way must not leave a change that asking again cannot finish, such as a
// post whose mentions were never told. Such a change calls begin just
// before its first write.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/cache"
	"pytwask/app/live"
	"pytwask/app/password"
	"pytwask/app/slots"
)

// begin is for a change made in steps, just before its first write: ctx
// without its cancellation, so that the change goes on to its end whatever
// its caller does (package doc). A caller gone already gets ctx's error,
// and nothing is begun.
func begin(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return ctx, err
	}
	return context.WithoutCancel(ctx), nil
}

// Kind says what sort of refusal an Error is, so callers can pick a status
// without matching message text.
type Kind int

const (
	Invalid      Kind = iota + 1 // the input breaks a rule
	Conflict                     // the name is taken
	NotFound                     // no such user
	Unauthorized                 // not signed in, or wrong password
	Forbidden                    // signed in, but not allowed to
)

// Error is a refusal meant for the user to read. Its messages are pytwis's.
// Any other error from this package is a failure of Redis itself.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func refuse(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Refusals that callers compare against with errors.Is.
var (
	ErrNotLoggedIn        = &Error{Unauthorized, "Not logged in"}
	ErrIncorrectPassword  = &Error{Unauthorized, "Incorrect password"}
	ErrIncorrectOld       = &Error{Unauthorized, "Incorrect old password"}
	ErrSamePassword       = &Error{Invalid, "New password same as old one"}
	ErrConcurrentPassword = &Error{Conflict, "The password was changed meanwhile; please try again"}
	ErrInvalidUsername    = &Error{Invalid, InvalidUsernameMessage}
	ErrUsernameTooLong    = &Error{Invalid, fmt.Sprintf("Invalid username. A username has at most %d characters.", MaxUsernameLen)}
	ErrWeakPassword       = &Error{Invalid, password.WeakPasswordMessage}
)

// ErrBusy ends a password check that waited HashWait for a hash slot, under
// a flood of sign-ins: nothing was checked or written, and the user may try
// again shortly.
var ErrBusy = errors.New("every password-check slot is taken")

// HashWait bounds how long a sign-in, sign-up or password change waits for
// a hash slot. Past it the answer is ErrBusy, a clear "try again", rather than
// a wait that outlasts the server's write timeout (30 s) and ends in a dropped
// connection.
const HashWait = 10 * time.Second

// IsUnavailable reports whether err means Redis could not be reached or did
// not answer in time, as opposed to a refusal, a server-side error reply or
// a bug, which must not be shown to users as a passing outage.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		// LOADING (restarting), MASTERDOWN and the like mean "not ready yet";
		// any other reply is a bug or a corrupt database. A MOVED or ASK
		// that reaches here is a redirect the Cluster client had no attempt
		// left to follow: after a failover, a pipeline spends its attempts
		// (MaxRedirects) on the failed node while it is down, and meets the
		// redirect when it returns as a replica.
		msg := reply.Error()
		// Past its maxclients, Redis answers a new connection with an
		// error and closes it (mostly read as a hang-up, below).
		for _, p := range []string{"LOADING", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MOVED ", "ASK ", "ERR max number of clients reached"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || hungUp(err) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, redis.ErrClosed) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.Is(err, context.DeadlineExceeded)
}

// WritesRefused reports whether err is Redis refusing a write it would
// otherwise take: it is at its maxmemory with nothing it may evict (OOM),
// it cannot save to disk (MISCONF), or it is a replica (READONLY: pointed
// at by mistake, or a primary being demoted). Reads still work; writes
// fail until the operator makes room, or the client finds the primary. A
// refused script or transaction changed nothing.
func WritesRefused(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	msg := reply.Error()
	return strings.HasPrefix(msg, "OOM ") || strings.HasPrefix(msg, "MISCONF ") || strings.HasPrefix(msg, "READONLY ")
}

// AccessRefused reports whether err is Redis refusing pytwask: its
// password or user (WRONGPASS; NOAUTH when none was given), or a command
// its ACL user may not run (NOPERM). Not a passing outage: it lasts until
// the operator mends the settings or the ACL.
func AccessRefused(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	msg := reply.Error()
	return strings.HasPrefix(msg, "WRONGPASS ") || strings.HasPrefix(msg, "NOAUTH ") || strings.HasPrefix(msg, "NOPERM ")
}

// hungUp reports whether err is the server having closed the connection:
// for a connection kept idle, most likely because Redis restarted.
func hungUp(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TweetCacheSize bounds the tweets kept in process: a few megabytes, enough
// for the general timeline and the busiest timelines' first pages.
const TweetCacheSize = 20_000

// Store is the pytwis database. It is safe for concurrent use.
type Store struct {
	rdb    redis.UniversalClient
	hasher password.Hasher
	log    *slog.Logger
	now    func() time.Time
	tweets *tweetCache
	counts *countsCache
	// namesFound keeps what searches of names found, for SearchTTL.
	namesFound *cache.Bounded[string, namesFound]
	// inlineFanOut is InlineFanOut; tests lower it to send small fan-outs
	// through the workers too.
	inlineFanOut int
	// fanOut counts the fan-out jobs this process ran (FanOutStats).
	fanOut struct{ done, retried, followers, lastLag atomic.Int64 }
	// jobIdle is JobIdle; tests shorten it.
	jobIdle time.Duration
	// trips counts the round trips to Redis, for /debug/redis.
	trips *roundTrips
	// events tells open pages what changed (live.go).
	events *live.Publisher
	// durability is SetDurability's.
	durability Durability
	// sharded: rdb is a Redis Cluster, where each operation is a series of
	// single-key steps (cluster.go) instead of one script.
	sharded bool

	// hashSlots bounds how many password hashes are computed at once, so
	// that a flood of sign-ins queues up instead of taking every core from
	// page views: one per two of the cores Go runs on. That is GOMAXPROCS,
	// which since Go 1.25 follows a CPU quota (systemd's CPUQuota=, a
	// container's limit) where runtime.NumCPU still counts every core the
	// process may be scheduled on. Each hash holds a core for a fraction of
	// a second at the default cost (password.DefaultIterations).
	hashSlots *slots.Slots

	// dummyHash is verified for unknown usernames so that they cost as much
	// time as a wrong password (no user enumeration by timing).
	dummyHash func() string
}

// New returns a Store on rdb (go-redis's UniversalClient: a client of one
// server, of a Sentinel-managed one, or of a Cluster) that writes new
// password hashes with hasher, and logs what the operator should know but the caller is not told (a
// stored hash it cannot read, a failed upgrade of one) to log, or nowhere if
// log is nil. It adds hooks to rdb that count round trips (roundtrips.go)
// and drop what it keeps of the data when the client connects anew
// (onDial). On a Cluster the latter reaches the nodes the client meets
// after New: call New before rdb's first command.
func New(rdb redis.UniversalClient, hasher password.Hasher, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		rdb: rdb, hasher: hasher, log: log, now: time.Now,
		tweets:       newTweetCache(TweetCacheSize),
		counts:       newCountsCache(TweetCacheSize, time.Now),
		namesFound:   cache.New[string, namesFound](1000),
		inlineFanOut: InlineFanOut, jobIdle: JobIdle, trips: &roundTrips{},
		hashSlots: slots.New(runtime.GOMAXPROCS(0)/2, HashWait, ErrBusy),
		events:    live.NewPublisher(rdb, log),
	}
	rdb.AddHook(eachCall(s.trips.add))
	watch := onDial{s.dropKept}
	if c, ok := rdb.(*redis.ClusterClient); ok {
		s.sharded = true
		c.AddHook(sentOnce{})
		c.OnNewNode(func(node *redis.Client) { node.AddHook(watch) })
	} else {
		rdb.AddHook(watch)
	}
	s.dummyHash = sync.OnceValue(func() string {
		h, err := hasher.Hash("dummy password for timing")
		if err != nil {
			panic(err) // crypto/rand failing leaves nothing to do safely
		}
		return h
	})
	return s
}

// dropKept drops the tweets and counts kept in process (onDial).
func (s *Store) dropKept() {
	s.tweets.clear()
	s.counts.clear()
}

// RoundTrips returns the round trips to Redis so far (roundtrips.go), the
// requests of every other user of the store's Redis client included.
func (s *Store) RoundTrips() int64 { return s.trips.count() }

// withHashSlot runs f, which hashes or verifies a password, when a slot is
// free. Work waits in its client's line, and the lines take turns (package
// slots), so that a flood of checks from a few clients takes no more than
// their share: "" is one line for all work that names no client. It gives
// up when ctx ends (the client went away), or with ErrBusy after HashWait.
func (s *Store) withHashSlot(ctx context.Context, client string, f func()) error {
	if err := s.hashSlots.AcquireFor(ctx, client); err != nil {
		return fmt.Errorf("waiting to check a password: %w", err)
	}
	defer s.hashSlots.Release()
	f()
	return nil
}

// PasswordChecksWaiting is how many password checks wait for a hash slot.
func (s *Store) PasswordChecksWaiting() int { return s.hashSlots.Waiting() }

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	// A Redis that cannot save to disk refuses PING too (MISCONF), but
	// serves reads: it is answering.
	if err := s.rdb.Ping(ctx).Err(); err != nil && !WritesRefused(err) {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// newSecret returns a fresh authentication secret: 64 hex characters, as
// pytwis's secrets.token_hex() made.
func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
