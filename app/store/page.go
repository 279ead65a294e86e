package store

import (
	"context"
	"fmt"
	"strconv"
)

// A page's reads, but for its tweets, in one round trip. The first page a
// session sees runs pageScript, which looks up the viewer's id (behind the
// secret) and the named user's id inside Redis. Those ids are remembered
// (Store.viewerIDs, Store.userIDs), and later pages send plain commands in
// one pipeline instead, which also read the two ids again: if either has
// changed (a secret rotated by a sign-out, a database replaced), the page
// falls back to the script. Plain commands cost Redis about a third of the
// script, whose Lua converts every reply twice; on the 2-core benchmark
// machine that raised the general timeline's rate by a quarter. They go out
// on the store's own connections (pageconn.go), not through go-redis.

// IDCacheSize bounds each of the two id caches: about a megabyte each.
const IDCacheSize = 8192

// pageReply is what a page needs from Redis but the tweets.
type pageReply struct {
	gen    string
	viewer *Viewer     // nil: nobody signed in, or a stale secret
	target *targetUser // for "by": nil when no such user
	ids    []string    // nil: no list to read
}

// targetUser is the user whose tweets a "by" page shows.
type targetUser struct {
	ID                   string
	ViewerFollows        bool
	Followers, Following int64
}

// readPage reads the viewer, for feed "by" the named user, and the ids of
// the page [offset, offset+n] of the feed ("general", "own" or "by").
func (s *Store) readPage(ctx context.Context, secret, feed, username string, offset, n int) (pageReply, error) {
	start, stop := listRange(offset, n)
	r, ok, err := s.readPagePipelined(ctx, secret, feed, username, start, stop)
	if ok || err != nil {
		return r, err
	}
	r, err = s.readPageScript(ctx, secret, feed, username, start, stop)
	if err != nil {
		return r, err
	}
	if r.viewer != nil {
		s.viewerIDs.Put(secret, r.viewer.ID)
	}
	if r.target != nil {
		s.userIDs.Put(username, r.target.ID)
	}
	return r, nil
}

// readPagePipelined is readPage from remembered ids; ok is false when an id
// is not remembered or turned out stale.
func (s *Store) readPagePipelined(ctx context.Context, secret, feed, username string, start, stop int) (r pageReply, ok bool, err error) {
	viewerID, targetID := "", ""
	if secret != "" {
		if viewerID, ok = s.viewerIDs.Get(secret); !ok {
			return r, false, nil
		}
	} else if feed == string(Own) {
		return r, true, nil // nobody to read the timeline of
	}
	if feed == "by" {
		if targetID, ok = s.userIDs.Get(username); !ok {
			return r, false, nil
		}
	}

	c, err := s.pages.get(ctx)
	if err != nil {
		return r, false, err
	}
	r, ok, err = readPageOn(s.pages, c, secret, feed, username, viewerID, targetID, start, stop)
	if err != nil && c.reused && hungUp(err) && ctx.Err() == nil {
		// The kept connection had been closed while idle (Redis restarted,
		// say). Nothing was written: once more, on a new connection.
		if c, err = s.pages.replace(ctx, c); err != nil {
			return r, false, err
		}
		r, ok, err = readPageOn(s.pages, c, secret, feed, username, viewerID, targetID, start, stop)
	}
	s.pages.put(c, err == nil)
	return r, ok, err
}

// readPageOn is readPagePipelined on c, for a viewer and a target whose ids
// are remembered ("" for none).
func readPageOn(p *pageConns, c *pageConn, secret, feed, username, viewerID, targetID string, start, stop int) (r pageReply, ok bool, err error) {
	c.Send("GET", keyGeneration)
	if viewerID != "" {
		c.Send("HGET", keyAuths, secret)
		c.Send("HMGET", userKey(viewerID), fieldAuth, fieldUsername)
		c.Send("ZCARD", followerKey(viewerID))
		c.Send("ZCARD", followingKey(viewerID))
	}
	list := keyGeneralTimeline
	switch feed {
	case string(Own):
		list = timelineKey(viewerID)
	case "by":
		c.Send("HGET", keyUsers, username)
		if viewerID != "" {
			c.Send("ZSCORE", followingKey(viewerID), targetID)
		}
		c.Send("ZCARD", followerKey(targetID))
		c.Send("ZCARD", followingKey(targetID))
		list = tweetsByKey(targetID)
	}
	c.Send("LRANGE", list, strconv.Itoa(start), strconv.Itoa(stop))
	if err := p.flush(c); err != nil {
		return r, false, err
	}

	// The replies, in the order sent. A missing key or field (nil) is an
	// answer here; an error reply, such as for a key of the wrong type, is
	// an error, and leaves the rest unread: the connection is then closed.
	// Stale ids are judged once every reply is read, so that the connection
	// is left clean for the next page.
	stale := false
	if r.gen, _, err = c.str(); err != nil {
		return r, false, err
	}
	if viewerID != "" {
		var v Viewer
		id, _, err := c.str()
		if err != nil {
			return r, false, err
		}
		auth, name, err := c.pair()
		if err != nil {
			return r, false, err
		}
		if v.Followers, err = c.ReadInt(); err != nil {
			return r, false, err
		}
		if v.Following, err = c.ReadInt(); err != nil {
			return r, false, err
		}
		v.ID, v.Username = viewerID, name
		r.viewer = &v
		stale = id != viewerID || auth != secret // the secret was rotated: let the script tell
	}
	if feed == "by" {
		t := targetUser{ID: targetID}
		id, _, err := c.str()
		if err != nil {
			return r, false, err
		}
		stale = stale || id != targetID
		if viewerID != "" {
			if _, t.ViewerFollows, err = c.str(); err != nil {
				return r, false, err
			}
		}
		if t.Followers, err = c.ReadInt(); err != nil {
			return r, false, err
		}
		if t.Following, err = c.ReadInt(); err != nil {
			return r, false, err
		}
		r.target = &t
	}
	n, err := c.ReadArrayLen()
	if err != nil {
		return r, false, err
	}
	r.ids = make([]string, 0, max(n, 0))
	for range n {
		id, _, err := c.str()
		if err != nil {
			return r, false, err
		}
		r.ids = append(r.ids, id)
	}
	if stale {
		return pageReply{}, false, nil
	}
	return r, true, nil
}

// readPageScript is readPage in one script that looks the ids up itself.
func (s *Store) readPageScript(ctx context.Context, secret, feed, username string, start, stop int) (pageReply, error) {
	res, err := pageScript.Run(ctx, s.rdb, []string{keyAuths, keyUsers, keyGeneralTimeline, keyGeneration},
		secret, feed, username, start, stop).Slice()
	if err != nil {
		return pageReply{}, err
	}
	if len(res) != 4 {
		return pageReply{}, fmt.Errorf("unexpected reply of %d values", len(res))
	}
	r := pageReply{gen: str(res[0])}
	if v, ok := res[1].([]any); ok {
		r.viewer = parseViewer(v)
	}
	if t, ok := res[2].([]any); ok && len(t) == 4 {
		r.target = &targetUser{ID: str(t[0]), ViewerFollows: t[1] == int64(1)}
		r.target.Followers, _ = t[2].(int64)
		r.target.Following, _ = t[3].(int64)
	}
	if ids, ok := res[3].([]any); ok {
		r.ids = make([]string, len(ids))
		for i, id := range ids {
			r.ids[i] = str(id)
		}
	}
	return r, nil
}
