package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"pytwask/app/live"
)

// What changes here is told to the pages open on it through live events
// (package live), after the change is in Redis: publishCounts after a
// like, a repost or a reply, and the rest where the change is made.

// publishPost tells the pages that list a new tweet of it: the lists it
// is on (live.KindPost), the timelines of its author and of the followers
// reached (live.KindHome; a fan-out job tells of the others as it reaches
// them), and its parent's counts.
func (s *Store) publishPost(ctx context.Context, id, author, parent string, tags, reached []string) {
	s.events.Publish(ctx, &live.Event{Kind: live.KindPost, Tweet: id, AuthorID: author, Tags: tags, Parent: parent},
		&live.Event{Kind: live.KindHome, Tweet: id, Users: append([]string{author}, reached...)})
	if parent != "" {
		s.publishCounts(ctx, parent)
	}
}

// publishCounts tells the pages showing the tweets their counts.
func (s *Store) publishCounts(ctx context.Context, ids ...string) {
	if len(ids) == 0 {
		return
	}
	counts := make([]*redis.SliceCmd, len(ids))
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, id := range ids {
			counts[i] = p.HMGet(ctx, tweetKey(id), fieldReplies, fieldReposts, fieldLikes)
		}
	}); err != nil {
		return // the change is made; its pages show it when reloaded
	}
	events := make([]*live.Event, len(ids))
	for i, id := range ids {
		c := counts[i].Val()
		events[i] = &live.Event{Kind: live.KindCounts, Tweet: id}
		for j := range events[i].Counts {
			events[i].Counts[j] = count(c[j])
		}
	}
	s.events.Publish(ctx, events...)
}

// UserID is the id of the user named username; NotFound if there is none.
func (s *Store) UserID(ctx context.Context, username string) (string, error) {
	id, err := s.rdb.HGet(ctx, keyUsers, username).Result()
	if errors.Is(err, redis.Nil) {
		return "", refuse(NotFound, "username %s doesn't exist", username)
	}
	if err != nil {
		return "", fmt.Errorf("find user %s: %w", username, err)
	}
	return id, nil
}

// TweetFor reads one tweet as a list shows it to the viewer with this id
// ("" for nobody: no likes or reposts of theirs), with its counts; found is
// false when it does not exist or was deleted. For live events, which
// show a tweet to many pages: it reads Redis once, not the caches.
func (s *Store) TweetFor(ctx context.Context, viewer, id string) (t Tweet, found bool, err error) {
	if !ValidTweetID(id) {
		return Tweet{}, false, nil
	}
	p, err := s.resolve(ctx, "", []string{id}, 1, &decoration{viewer: viewer})
	if err != nil || len(p.Tweets) == 0 {
		return Tweet{}, false, err
	}
	return p.Tweets[0], true, nil
}
