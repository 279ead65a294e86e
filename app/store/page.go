package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// A page's reads, but for its tweets, in one round trip. The first page a
// session sees runs pageScript, which looks up the viewer's id (behind the
// secret) and the named user's id inside Redis. Those ids are remembered
// (Store.viewerIDs, Store.userIDs), and later pages send plain commands in
// one pipeline instead, which also read the two ids again: if either has
// changed (a secret rotated by a sign-out, a database replaced), the page
// falls back to the script. Plain commands cost Redis about a third of the
// script, whose Lua converts every reply twice; on the 2-core benchmark
// machine that raised the general timeline's rate by a quarter.

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

	p := s.rdb.Pipeline()
	gen := p.Get(ctx, keyGeneration)
	var auth, targetCheck *redis.StringCmd
	var user *redis.SliceCmd
	var followers, following, targetFollowers, targetFollowing *redis.IntCmd
	var follows *redis.FloatCmd
	if viewerID != "" {
		auth = p.HGet(ctx, keyAuths, secret)
		user = p.HMGet(ctx, userKey(viewerID), fieldAuth, fieldUsername)
		followers = p.ZCard(ctx, followerKey(viewerID))
		following = p.ZCard(ctx, followingKey(viewerID))
	}
	list := keyGeneralTimeline
	switch feed {
	case string(Own):
		list = timelineKey(viewerID)
	case "by":
		targetCheck = p.HGet(ctx, keyUsers, username)
		if viewerID != "" {
			follows = p.ZScore(ctx, followingKey(viewerID), targetID)
		}
		targetFollowers = p.ZCard(ctx, followerKey(targetID))
		targetFollowing = p.ZCard(ctx, followingKey(targetID))
		list = tweetsByKey(targetID)
	}
	ids := p.LRange(ctx, list, int64(start), int64(stop))
	cmds, err := p.Exec(ctx)
	// A missing key or field (redis.Nil) is an answer here; anything else,
	// such as a key of the wrong type, is an error.
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return r, false, err
		}
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		return r, false, err
	}

	if viewerID != "" {
		u := user.Val()
		if auth.Val() != viewerID || len(u) != 2 || u[0] != secret {
			return r, false, nil // the secret was rotated: let the script tell
		}
		name, _ := u[1].(string)
		r.viewer = &Viewer{ID: viewerID, Username: name, Followers: followers.Val(), Following: following.Val()}
	}
	if targetCheck != nil {
		if targetCheck.Val() != targetID {
			return r, false, nil
		}
		r.target = &targetUser{ID: targetID, Followers: targetFollowers.Val(), Following: targetFollowing.Val()}
		r.target.ViewerFollows = follows != nil && follows.Err() == nil
	}
	r.gen, r.ids = gen.Val(), ids.Val()
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
