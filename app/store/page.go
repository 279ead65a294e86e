package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// A page's reads, but for its tweets, are one script (pageScript): the
// viewer behind the secret, the named user, and the ids of the page of the
// list, in one round trip whatever the list's length.

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
	if s.sharded {
		return s.readPageSharded(ctx, secret, feed, username, start, stop)
	}
	if secret == "" && feed == string(General) {
		// Nobody to look up: two plain commands, without a script's cost.
		var gen *redis.StringCmd
		var ids *redis.StringSliceCmd
		s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			gen = p.Get(ctx, keyGeneration)
			ids = p.LRange(ctx, keyGeneralTimeline, int64(start), int64(stop))
			return nil
		})
		if err := gen.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return pageReply{}, err // no generation yet is an answer
		}
		if err := ids.Err(); err != nil {
			return pageReply{}, err
		}
		return pageReply{gen: gen.Val(), ids: ids.Val()}, nil
	}
	return s.readPageScript(ctx, secret, feed, username, start, stop)
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
