package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// A page's reads, but for its tweets, are one script (pageScript): the
// viewer behind the secret, the named user, and the ids of the page of the
// list, in one round trip whatever the list's length.

// pageQuery names what a page lists: a feed ("general", "own", "by" a
// username, or "list": the list named by key), and for a tweet's page the
// tweet (focus), whose counts and the viewer's marks are read with it.
type pageQuery struct{ feed, username, key, focus string }

// pageReply is what a page needs from Redis but the tweets.
type pageReply struct {
	gen    string
	viewer *Viewer     // nil: nobody signed in, or a stale secret
	target *targetUser // for "by": nil when no such user
	ids    []string    // nil: no list to read
	// For a viewer, on one server, what the page script read of their
	// marks (decoration's fields; nil when not read), and the page's
	// tweet's counts.
	flags       *decoration
	focusCounts []any
}

// decoration is what resolve has still to read for the page's tweets, the
// page's tweet (focus) first if there is one.
func (r pageReply) decoration() *decoration {
	if r.flags != nil {
		return r.flags
	}
	return decorationFor(r.viewer)
}

// targetUser is the user whose tweets a "by" page shows.
type targetUser struct {
	ID                   string
	ViewerFollows        bool
	Followers, Following int64
}

// readPage reads the viewer, for feed "by" the named user, and the ids of
// the page [offset, offset+n] of the list q names.
func (s *Store) readPage(ctx context.Context, secret string, q pageQuery, offset, n int) (pageReply, error) {
	start, stop := listRange(offset, n)
	if s.sharded {
		return s.readPageSharded(ctx, secret, q, start, stop)
	}
	if secret == "" && q.feed == string(General) {
		// Nobody to look up: two plain commands, without a script's cost.
		var gen *redis.StringCmd
		var ids *redis.StringSliceCmd
		if err := s.pipelined(ctx, func(p redis.Pipeliner) {
			gen = p.Get(ctx, keyGeneration) // none yet is an answer
			ids = p.LRange(ctx, keyGeneralTimeline, int64(start), int64(stop))
		}); err != nil {
			return pageReply{}, err
		}
		return pageReply{gen: gen.Val(), ids: ids.Val()}, nil
	}
	keys := []string{keyAuths, keyUsers, keyGeneralTimeline, keyGeneration}
	if q.feed == "list" {
		keys = append(keys, q.key)
	}
	res, err := pageScript.Run(ctx, s.rdb, keys, secret, q.feed, q.username, start, stop, q.focus).Slice()
	if err != nil {
		return pageReply{}, err
	}
	if len(res) != 4 && len(res) != 6 {
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
		r.ids = strs(ids)
	}
	if len(res) == 6 {
		if m, ok := res[4].([]any); ok && len(m) == 3 && r.viewer != nil {
			liked, _ := m[0].([]any)
			reposted, _ := m[1].([]any)
			marks, _ := m[2].([]any) // empty, not nil, when not a timeline: read all the same
			r.flags = &decoration{viewer: r.viewer.ID, flagsRead: true, liked: flags(liked), reposted: flags(reposted), marks: marks}
		}
		r.focusCounts, _ = res[5].([]any)
	}
	return r, nil
}

// flags turns SMISMEMBER's reply, as a script returns it, into a flag per
// member.
func flags(reply []any) []bool {
	out := make([]bool, len(reply))
	for i, v := range reply {
		out[i] = v == int64(1)
	}
	return out
}
