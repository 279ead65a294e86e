package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"pytwask/app/resp"
)

// WideFanOut is the follower count above which a post's fan-out is one
// MULTI/EXEC transaction instead of the post script. Both are atomic, and
// Redis serves nobody else while either runs; the difference is how much of
// the work that is. A transaction's pushes are read and queued between other
// clients' requests, and only running them blocks: for 10,000 followers EXEC
// blocks Redis about 7 ms where the script blocks it 17 (BenchmarkPostFanOut),
// and about 16 ms on ops/bench/run's data, where pushes miss the CPU cache.
// The whole post costs Redis 20-32 ms of CPU there. A script given the
// followers' keys costs a little more, all of it blocking: tried inside the
// MULTI (so the WATCH still holds), it took a few ms off the post's p99
// under load and nearly doubled the other requests' p99 while posts ran.
// Below this count the script's single round trip is worth more.
const WideFanOut = 1000

// wideAttempts bounds the retries when the author's followers change between
// reading them and EXEC.
const wideAttempts = 5

// errFollowersChanging is postWide giving up after wideAttempts.
var errFollowersChanging = &Error{Conflict, "Your followers are changing too fast to post right now. Please try again."}

// errSecretNotCurrent is postWide finding that the secret it was given is
// not, or no longer, the author's: nothing was written.
var errSecretNotCurrent = errors.New("the secret is not the author's current one")

// widePostKey is the context key of WithWidePost's hook.
type widePostKey struct{}

// WithWidePost returns ctx with a hook for a post made with it: if the post
// goes out as a transaction (postWide: its author had more than WideFanOut
// followers, now or at their last post), it calls start as it begins and
// the function start returned once it is done. The site runs fewer pages at
// once meanwhile (web's pageslots.go).
func WithWidePost(ctx context.Context, start func() (done func())) context.Context {
	return context.WithValue(ctx, widePostKey{}, start)
}

// postWide writes the tweet and pushes it onto the author's and every
// follower's timeline in one MULTI/EXEC, watching the follower set so that a
// follow or unfollow in between makes the transaction start over: the tweet
// reaches exactly the followers of one moment, as in the script. id is the
// id the script reserved, or "" to reserve one along with the first read of
// the followers. With a secret, that first read also checks that it is the
// author's current one, or returns errSecretNotCurrent. If nothing is
// written (an error, or followers changing on every attempt), the id stays
// unused: pytwis reserves its ids the same way, outside the transaction. It
// returns the tweet id.
//
// The commands go through a connection of postWide's own (wideconn.go,
// package resp): encoding 10,000 of them with go-redis cost more than
// running them.
func (s *Store) postWide(ctx context.Context, userID, secret, id, body string, now int64) (string, error) {
	if start, _ := ctx.Value(widePostKey{}).(func() func()); start != nil {
		defer start()()
	}
	c, err := s.wide.get(ctx)
	if err != nil {
		return "", err
	}
	posted, retry, err := s.postWideOn(c, userID, secret, id, body, now)
	if retry && ctx.Err() == nil {
		// The kept connection had been closed while idle (Redis restarted,
		// say), as the post's first round trip found: nothing was written
		// but perhaps the id. Once more, on a new connection.
		if c, err = s.wide.replace(ctx, c); err != nil {
			return "", err
		}
		posted, _, err = s.postWideOn(c, userID, secret, id, body, now)
	}
	s.wide.put(c)
	return posted, err
}

// postWideOn is postWide on c. retry reports an error that a new connection
// may not have: c was kept from an earlier post and found closed.
func (s *Store) postWideOn(c *wideConn, userID, secret, id, body string, now int64) (_ string, retry bool, _ error) {
	for attempt := range wideAttempts {
		followers, reserved, err := c.watchFollowers(userID, secret, id == "")
		if errors.Is(err, errSecretNotCurrent) {
			return "", false, err
		}
		if err != nil {
			return "", attempt == 0 && c.reused && hungUp(err), c.failed(err)
		}
		secret = "" // checked
		if id == "" {
			id = strconv.FormatInt(reserved, 10)
		}
		// Remembered for the author's next post (see Post); the current
		// one goes on here either way, since this path suits any count.
		s.wideAuthors.Put(userID, followers.len() > s.wideFanOut)
		if s.afterWatch != nil {
			s.afterWatch()
		}
		lengths, err := fanOut(c.Conn, userID, id, body, now, followers)
		if err != nil {
			return "", false, c.failed(err)
		}
		if lengths == nil {
			continue // the followers changed: EXEC did nothing
		}
		// The tweet is in, so what follows can't fail the post: a timeline
		// left untrimmed (the connection broke, the client went away) holds
		// at most one id past the cap plus the slack, and the next post that
		// reaches it trims it.
		c.failed(sendTrims(c.Conn, userID, followers, lengths))
		return id, false, nil
	}
	return "", false, errFollowersChanging
}

// sendTrims sends the trims back to the cap of the timelines that fanOut
// took past their trim point, given the lengths it returned: the author's,
// then the followers'. Their replies are left for the connection's next use
// to drop (resp.SendDiscard), so the post does not wait a round trip for
// them. That round trip is short alone, but not while the site is busy: in
// three alternated runs of a post to 10,000 followers while wrk loaded the
// general timeline, p99 went from 52-70 ms to 38-44.
func sendTrims(c *resp.Conn, author string, fs *followers, lengths []int64) error {
	n := 0
	trim := func(key string) {
		c.SendDiscard("LTRIM", key, "0", strconv.Itoa(UserTimelineCap-1))
		n++
	}
	if lengths[0] > ownerTrimPoint(author) {
		trim(timelineKey(author))
	}
	for i, l := range lengths[1:] {
		if fs.pastTrimPoint(i, l) {
			trim(string(fs.appendTimelineKey(nil, i)))
		}
	}
	if n == 0 {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("trim timelines: %w", err)
	}
	return nil
}

// followers is an author's follower set, as read for one post: the ids in
// ascending order, then any member that is not a plain decimal number
// (pytwis writes none, but the set is Redis's to hold). Ascending rather than
// in the order of following because ids are handed out in order, so their
// timelines tend to sit in Redis's memory in that order too, and the pushes
// miss the CPU cache less: on the load benchmark's data a push cost 1.3 µs
// instead of 2.1. The order is for speed only; any order is correct.
type followers struct {
	ids   []uint64
	other []string
}

func (fs *followers) len() int { return len(fs.ids) + len(fs.other) }

// appendTimelineKey appends the i-th follower's timeline key to b.
func (fs *followers) appendTimelineKey(b []byte, i int) []byte {
	b = append(b, prefixTimeline...)
	if i < len(fs.ids) {
		return strconv.AppendUint(b, fs.ids[i], 10)
	}
	return append(b, fs.other[i-len(fs.ids)]...)
}

// pastTrimPoint reports whether the i-th follower's timeline, l long, is
// to be trimmed (trimPoint).
func (fs *followers) pastTrimPoint(i int, l int64) bool {
	if i < len(fs.ids) {
		return l > trimPoint(fs.ids[i])
	}
	return l > ownerTrimPoint(fs.other[i-len(fs.ids)])
}

// add adds a member of the follower set.
func (fs *followers) add(member []byte) {
	if id, ok := parseID(member); ok {
		fs.ids = append(fs.ids, id)
	} else {
		fs.other = append(fs.other, string(member))
	}
}

// parseID reads a decimal id that formats back to the same bytes: no sign,
// no leading zero, at most 19 digits.
func parseID(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 || b[0] == '0' {
		return 0, false
	}
	var id uint64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		id = id*10 + uint64(d-'0')
	}
	return id, true
}

// watchFollowers watches the author's follower set and returns it: the set
// the connection holds, unless Redis has reported a change to it since it
// was read, or else read in the same round trip. Reports are applied as the
// replies are read, and Redis sends one as soon as the set changes: a change
// made before the WATCH is known by the time its reply is read, and one made
// after it makes EXEC fail. With reserve, it also reserves a tweet id in that
// round trip and returns it. With a secret, it first checks in that round
// trip that the secret is the author's current one, as Authenticate would,
// and returns errSecretNotCurrent if not; the id, if reserved, goes unused.
func (c *wideConn) watchFollowers(userID, secret string, reserve bool) (*followers, int64, error) {
	key := followerKey(userID)
	fs := c.followers[key]
	if secret != "" {
		c.Send("HGET", keyAuths, secret)
		c.Send("HGET", userKey(userID), fieldAuth)
	}
	c.Send("WATCH", key)
	if fs == nil {
		c.Send("ZRANGE", key, "0", "-1")
	}
	if reserve {
		c.Send("INCR", keyNextTweetID)
	}
	if err := c.Flush(); err != nil {
		return nil, 0, err
	}
	current := true
	if secret != "" {
		owner, _, err := c.AppendBulk(nil)
		if err != nil {
			return nil, 0, err
		}
		auth, _, err := c.AppendBulk(nil)
		if err != nil {
			return nil, 0, err
		}
		current = string(owner) == userID && string(auth) == secret
	}
	if err := c.Expect("OK"); err != nil {
		return nil, 0, err
	}
	stale := fs != nil && c.followers[key] != fs // changed before the WATCH
	var err error
	if fs == nil {
		if fs, err = c.readFollowers(key); err != nil {
			return nil, 0, err
		}
	}
	var id int64
	if reserve {
		if id, err = c.ReadInt(); err != nil {
			return nil, 0, err
		}
	}
	if !current {
		c.SendDiscard("UNWATCH") // for the connection's next post
		if err := c.Flush(); err != nil {
			return nil, 0, err
		}
		return nil, 0, errSecretNotCurrent
	}
	if stale {
		c.Send("ZRANGE", key, "0", "-1")
		if err := c.Flush(); err != nil {
			return nil, 0, err
		}
		if fs, err = c.readFollowers(key); err != nil {
			return nil, 0, err
		}
	}
	return fs, id, nil
}

// readFollowers reads the reply to ZRANGE key 0 -1, and keeps the set if
// Redis tracks it for the connection. It is kept at once, before any other
// reply is read: a report that it changed may come with the next one.
func (c *wideConn) readFollowers(key string) (*followers, error) {
	n, err := c.ReadArrayLen()
	if err != nil {
		return nil, err
	}
	fs := &followers{ids: make([]uint64, 0, max(n, 0))}
	var member []byte
	for range n {
		if member, _, err = c.AppendBulk(member[:0]); err != nil {
			return nil, err
		}
		fs.add(member)
	}
	slices.Sort(fs.ids)
	c.remember(key, fs)
	return fs, nil
}

// fanOut runs the post as one transaction and returns the new length of the
// author's timeline and then of each follower's, or nil when a watched key
// changed and nothing was written.
func fanOut(c *resp.Conn, userID, id, body string, now int64, fs *followers) ([]int64, error) {
	// A push is the key and the tweet id in 35 bytes of framing, and a
	// follower's id is rarely longer than a tweet's.
	c.Grow((fs.len() + 1) * (35 + len(prefixTimeline) + 2*len(id)))
	c.Send("MULTI")
	c.Send("HSET", prefixTweet+id, fieldTweetUserID, userID, fieldTweetTime, strconv.FormatInt(now, 10), fieldTweetBody, body)
	c.Send("LPUSH", tweetsByKey(userID), id)
	c.Send("LPUSH", keyGeneralTimeline, id)
	c.Send("LTRIM", keyGeneralTimeline, "0", strconv.Itoa(GeneralTimelineCap-1))
	const before = 4 // the commands above, before the timelines
	c.Send("LPUSH", timelineKey(userID), id)
	lpush, tweet, key := []byte("LPUSH"), []byte(id), make([]byte, 0, 32)
	for i := range fs.len() {
		key = fs.appendTimelineKey(key[:0], i)
		c.SendBytes(lpush, key, tweet)
	}
	c.Send("EXEC")
	if err := c.Flush(); err != nil {
		return nil, err
	}
	queued := before + 1 + fs.len()
	if err := c.Expect("OK"); err != nil {
		return nil, err
	}
	for range queued {
		if err := c.Expect("QUEUED"); err != nil {
			return nil, err
		}
	}
	n, err := c.ReadArrayLen()
	switch {
	case err != nil:
		return nil, err
	case n < 0:
		return nil, nil
	case n != queued:
		return nil, fmt.Errorf("EXEC returned %d replies for %d commands", n, queued)
	}
	if _, err := c.ReadInt(); err != nil { // HSET
		return nil, err
	}
	for range 2 { // LPUSH tweets_by, LPUSH timeline
		if _, err := c.ReadInt(); err != nil {
			return nil, err
		}
	}
	if err := c.Expect("OK"); err != nil { // LTRIM
		return nil, err
	}
	lengths := make([]int64, 1+fs.len())
	for i := range lengths {
		if lengths[i], err = c.ReadInt(); err != nil {
			return nil, err
		}
	}
	return lengths, nil
}
