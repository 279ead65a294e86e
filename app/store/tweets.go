package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// MaxTweetLen is the longest tweet body, in Unicode code points.
const MaxTweetLen = 280

// Tweet is one tweet with its author's name.
type Tweet struct {
	ID       string
	UserID   string
	Username string
	Time     time.Time
	Body     string
	// ReplyTo is the id of the tweet this one answers ("" for none), and
	// ReplyToUser that tweet's author's name ("" when it is gone, "-" when
	// its author's account is).
	ReplyTo, ReplyToUser string
	// Mentions are the users it mentions that existed when it was posted,
	// space-separated: the @names that link to a user.
	Mentions string
	// Edited is when its text was last changed (zero: never).
	Edited time.Time
	// Deleted is set only on a conversation's ancestor deleted since it was
	// answered, which has nothing else but its ID.
	Deleted bool

	// What a page shows with it, read for each page and never cached (see
	// decoration): its counts; whether the viewer likes it and reposted
	// it; and on the viewer's own timeline, the user whose repost put it
	// there ("" for none).
	Replies, Reposts, Likes int64
	Liked, Reposted         bool
	RepostedBy              string
}

// tweetFields is how many values the tweets script (and tweetsSharded)
// return per tweet.
const tweetFields = 9

// Page is one page of a timeline, newest first.
type Page struct {
	Tweets []Tweet
	// More reports that older tweets exist beyond this page.
	More bool
}

// NormalizeTweet returns the body as it will be stored, or a refusal saying
// what is wrong with it. Browsers send textarea line breaks as CRLF; they are
// stored as LF, as pytwis's own clients did.
func NormalizeTweet(body string) (string, error) {
	if !utf8.ValidString(body) {
		return "", &Error{Invalid, "The tweet is not valid UTF-8 text."}
	}
	body = strings.ReplaceAll(body, "\r\n", "\n")
	for _, r := range body {
		if r != '\n' && r != '\t' && (unicode.IsControl(r) || r == utf8.RuneError) {
			return "", &Error{Invalid, "The tweet contains a control character."}
		}
	}
	if !strings.ContainsFunc(body, visible) {
		return "", &Error{Invalid, "The tweet is empty."}
	}
	if n := utf8.RuneCountInString(body); n > MaxTweetLen {
		return "", refuse(Invalid, "The tweet is %d characters long; the limit is %d.", n, MaxTweetLen)
	}
	return body, nil
}

// visible reports whether r shows as something: not white space, not a
// format character (zero-width spaces and joiners, bidi controls), not one
// of Unicode's other default-ignorable code points (the Hangul fillers
// among them) or a variation selector, and not the blank Braille pattern. A
// tweet of only such characters shows as nothing, and is empty.
func visible(r rune) bool {
	return !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r) &&
		!unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) &&
		!unicode.Is(unicode.Variation_Selector, r) && r != '\u2800'
}

// ErrNoSuchTweet refuses a reply to a tweet that does not exist.
var ErrNoSuchTweet = &Error{NotFound, "That tweet does not exist."}

// Post stores a tweet by the user and fans it out to the timelines of every
// current follower, all in one atomic step (pytwis post_tweet). It returns the
// new tweet's id.
func (s *Store) Post(ctx context.Context, userID, body string) (string, error) {
	return s.post(ctx, userID, "", body, "")
}

// Reply is Post of a tweet that answers the tweet parent, by the user whose
// current secret it is: listed under the parent (pytwask:replies:<id>) and,
// like any tweet, on the timelines. ErrNoSuchTweet if parent does not exist.
func (s *Store) Reply(ctx context.Context, secret, parent, body string) (string, error) {
	if secret == "" {
		return "", ErrNotLoggedIn
	}
	if !ValidTweetID(parent) {
		return "", ErrNoSuchTweet
	}
	return s.post(ctx, "", secret, body, parent)
}

// ValidTweetID reports whether id can be a tweet id: digits, not too many.
func ValidTweetID(id string) bool {
	if id == "" || len(id) > 19 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// PostAs is Post by the user whose current secret it is (pytwis's
// _is_loggedin), or ErrNotLoggedIn. The secret is checked in the post's own
// first round trip, which saves one on Authenticate then Post: a post to a
// few followers is one round trip, a post to many two.
func (s *Store) PostAs(ctx context.Context, secret, body string) (string, error) {
	if secret == "" {
		return "", ErrNotLoggedIn
	}
	return s.post(ctx, "", secret, body, "")
}

// post is Post by userID, or with a secret PostAs; with a parent, Reply.
func (s *Store) post(ctx context.Context, userID, secret, body, parent string) (string, error) {
	body, err := NormalizeTweet(body)
	if err != nil {
		return "", err
	}
	mentions, mentioned, err := s.findUsers(ctx, mentionsOf(body))
	if err != nil {
		return "", fmt.Errorf("post tweet: %w", err)
	}
	tags := tagsOf(body)
	// Once posted, the notices follow, whatever the caller does.
	if ctx, err = begin(ctx); err != nil {
		return "", err
	}
	if s.sharded {
		id, author, err := s.postSharded(ctx, userID, secret, body, parent, mentions, tags)
		if err != nil && err != ErrNotLoggedIn && err != ErrNoSuchTweet {
			err = fmt.Errorf("post tweet: %w", err)
		}
		if err == nil {
			if parent != "" {
				s.counts.forget(parent)
			}
			s.publishPost(ctx, id, author, parent, tags, nil)
			s.notifyPost(ctx, id, author, parent, mentioned)
		}
		return id, err
	}
	args := []any{userID, s.now().Unix(), body, GeneralTimelineCap, UserTimelineCap, UserTimelineSlack, s.inlineFanOut, secret, parent,
		strings.Join(mentions, " ")}
	for _, t := range tags {
		args = append(args, t)
	}
	keys := []string{keyNextTweetID, keyGeneralTimeline, keyAuths, keyFanOut}
	if parent != "" {
		keys = append(keys, repliesKey(parent))
	}
	res, err := s.runDurable(ctx, postScript, keys, args...).Slice()
	if err != nil {
		return "", fmt.Errorf("post tweet: %w", err)
	}
	if len(res) < 2 {
		return "", fmt.Errorf("post tweet: unexpected reply of %d values", len(res))
	}
	id, _ := res[0].(int64)
	switch {
	case id == 0:
		return "", ErrNotLoggedIn
	case id < 0:
		return "", ErrNoSuchTweet
	}
	tweet := strconv.FormatInt(id, 10)
	if parent != "" {
		s.counts.forget(parent)
	}
	var reached []string
	if len(res) == 3 {
		list, _ := res[2].([]any)
		reached = strs(list)
	}
	s.publishPost(ctx, tweet, str(res[1]), parent, tags, reached)
	s.notifyPost(ctx, tweet, str(res[1]), parent, mentioned)
	return tweet, nil
}

// notifyPost tells the users a new tweet mentions, and, for a reply, the
// author of the tweet it answers. Nobody is told twice: that author, named
// as replies usually begin ("@alice …"), is told of the reply, the more
// telling of the two.
func (s *Store) notifyPost(ctx context.Context, tweet, author, parent string, mentioned []string) {
	if parent != "" {
		// An error leaves nobody to tell: the tweet replied to is gone, or
		// Redis is.
		if to, err := s.rdb.HGet(ctx, tweetKey(parent), fieldTweetUserID).Result(); err == nil {
			s.notify(ctx, NotifyReply, author, tweet, to)
			mentioned = without(mentioned, []string{to})
		}
	}
	s.notify(ctx, NotifyMention, author, tweet, mentioned...)
}

// Feed is the list a timeline page reads.
type Feed string

const (
	General Feed = "general" // everybody's newest tweets ("timeline")
	Own     Feed = "own"     // the viewer's timeline ("timeline:<id>")
)

// Timeline returns a page of the feed (n tweets after skipping offset; n < 0
// for all) and the user whose secret it is: nil for none or a stale secret.
// Own needs a signed-in user (ErrNotLoggedIn otherwise). Whatever the list's
// length, a page costs one round trip when its tweets are cached and two
// otherwise.
func (s *Store) Timeline(ctx context.Context, secret string, feed Feed, offset, n int) (*Viewer, Page, error) {
	r, err := s.readPage(ctx, secret, pageQuery{feed: string(feed)}, offset, n)
	if err != nil {
		return nil, Page{}, fmt.Errorf("read the %s timeline: %w", feed, err)
	}
	if r.ids == nil && feed == Own {
		return nil, Page{}, ErrNotLoggedIn
	}
	dec := r.decoration()
	if feed == Own && r.viewer != nil {
		dec.via = r.viewer.ID
	}
	page, err := s.resolve(ctx, r.gen, r.ids, n, dec)
	return r.viewer, page, err
}

// decorationFor is what a list shows with its tweets for the viewer (nil
// for nobody).
func decorationFor(v *Viewer) *decoration {
	if v == nil {
		return &decoration{}
	}
	return &decoration{viewer: v.ID}
}

// UserPage is a user's own tweets as seen by a viewer.
type UserPage struct {
	ID        string
	Username  string
	Followers int64
	Following int64
	// ViewerFollows reports whether the viewer follows this user.
	ViewerFollows bool
	Page
}

// UserTweets returns a page of the tweets the named user posted
// ("tweets_by:<id>"), the user whose secret it is (or nil), and whether that
// viewer follows the named user (pytwis get_user_tweets).
func (s *Store) UserTweets(ctx context.Context, secret, username string, offset, n int) (*Viewer, UserPage, error) {
	r, err := s.readPage(ctx, secret, pageQuery{feed: "by", username: username}, offset, n)
	if err != nil {
		return nil, UserPage{}, fmt.Errorf("read tweets by %s: %w", username, err)
	}
	if r.target == nil {
		return r.viewer, UserPage{}, refuse(NotFound, "username %s doesn't exist", username)
	}
	page, err := s.resolve(ctx, r.gen, r.ids, n, r.decoration())
	if err != nil {
		return r.viewer, UserPage{}, err
	}
	t := r.target
	return r.viewer, UserPage{ID: t.ID, Username: username, Followers: t.Followers, Following: t.Following,
		ViewerFollows: t.ViewerFollows, Page: page}, nil
}

// decoration says what a page shows with its tweets besides the tweets
// themselves and their counts: viewer is the signed-in user's id ("" for
// nobody), for whether they like and reposted each tweet; via, the user
// whose timeline the tweets come from ("" for another list), for the
// reposts that put them there. On one server the page script reads them
// with the list (flagsRead): liked and reposted, a flag per tweet; marks,
// the via hash's value per tweet.
type decoration struct {
	viewer, via     string
	flagsRead       bool
	liked, reposted []bool
	marks           []any
}

// resolve turns tweet ids into tweets with their counts and what dec asks
// for (nil: nothing, not even the counts). Tweets and counts come from the
// caches where they can; the rest, and the viewer's likes and reposts, are
// read in one pipeline: one round trip on one server, a few on a Cluster
// when tweets are not cached. Ids whose tweet hash is missing are skipped.
// A database without a generation (new, or wiped) gets one from the tweets
// script: until then nothing can be taken from the cache.
func (s *Store) resolve(ctx context.Context, gen string, ids []string, n int, dec *decoration) (Page, error) {
	var p Page
	if n >= 0 && len(ids) > n {
		ids, p.More = ids[:n], true
	}
	tweets := make([]Tweet, len(ids))
	var missing []int
	if gen != "" {
		missing = s.tweets.lookup(gen, ids, tweets)
	} else {
		for i := range ids {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 && s.sharded {
		wanted := make([]string, len(missing))
		for i, j := range missing {
			wanted[i] = ids[j]
		}
		reply, err := s.tweetsSharded(ctx, newSecret()[:16], wanted)
		if err := s.found(reply, err, missing, tweets); err != nil {
			return Page{}, err
		}
		missing = nil
	}
	var uncounted []int
	if dec != nil {
		uncounted = s.counts.lookup(ids, tweets)
	}
	var fetch *redis.Cmd
	var counts []*redis.SliceCmd
	var liked, reposted *redis.BoolSliceCmd
	var marks *redis.SliceCmd
	if len(missing) > 0 || len(uncounted) > 0 || dec.wantsMore() {
		err := s.pipelined(ctx, func(pipe redis.Pipeliner) {
			if len(missing) > 0 {
				args := make([]any, 0, len(missing)+1)
				args = append(args, newSecret()[:16])
				for _, j := range missing {
					args = append(args, ids[j])
				}
				// EVAL, not EVALSHA: it shares a pipeline, which cannot
				// fall back from NOSCRIPT as Run does.
				fetch = tweetsScript.Eval(ctx, pipe, []string{keyGeneration}, args...)
			}
			for _, j := range uncounted {
				counts = append(counts, pipe.HMGet(ctx, tweetKey(ids[j]), fieldReplies, fieldReposts, fieldLikes))
			}
			if dec == nil || len(ids) == 0 {
				return
			}
			if dec.viewer != "" && !dec.flagsRead {
				members := make([]any, len(ids))
				for i, id := range ids {
					members[i] = id
				}
				liked = pipe.SMIsMember(ctx, likedKey(dec.viewer), members...)
				reposted = pipe.SMIsMember(ctx, repostedKey(dec.viewer), members...)
			}
			if dec.via != "" && dec.marks == nil {
				marks = pipe.HMGet(ctx, viaKey(dec.via), ids...)
			}
		})
		if err != nil {
			return Page{}, fmt.Errorf("read tweets: %w", err)
		}
		if fetch != nil {
			reply, err := fetch.Slice()
			if err := s.found(reply, err, missing, tweets); err != nil {
				return Page{}, err
			}
		}
	}
	for k, j := range uncounted {
		c := counts[k].Val()
		if len(c) == 3 {
			t := &tweets[j]
			t.Replies, t.Reposts, t.Likes = count(c[0]), count(c[1]), count(c[2])
			s.counts.add(t)
		}
	}
	if dec != nil {
		if marks != nil {
			dec.marks = marks.Val()
		}
		if liked != nil {
			dec.liked, dec.reposted = liked.Val(), reposted.Val()
		}
		for i := range tweets {
			t := &tweets[i]
			t.Liked = i < len(dec.liked) && dec.liked[i]
			t.Reposted = i < len(dec.reposted) && dec.reposted[i]
			if i < len(dec.marks) {
				if _, name, ok := strings.Cut(str(dec.marks[i]), " "); ok {
					t.RepostedBy = name
				}
			}
		}
	}
	p.Tweets = tweets[:0]
	for _, t := range tweets {
		if t.UserID != "" {
			p.Tweets = append(p.Tweets, t)
		}
	}
	return p, nil
}

// wantsMore reports whether the page needs the viewer's likes or reposts,
// or the via marks, which no cache holds.
func (d *decoration) wantsMore() bool {
	if d == nil {
		return false
	}
	return d.viewer != "" && !d.flagsRead || d.via != "" && d.marks == nil
}

// found puts the tweets of a tweets script's reply (or its error) into
// tweets at the places missing, and keeps them in the cache.
func (s *Store) found(reply []any, err error, missing []int, tweets []Tweet) error {
	if err != nil {
		return fmt.Errorf("read tweets: %w", err)
	}
	if len(reply) == 0 {
		return errors.New("read tweets: empty reply")
	}
	gen, flat := str(reply[0]), reply[1:]
	found := make([]Tweet, 0, len(missing))
	for i, j := range missing {
		if tweetFields*(i+1) > len(flat) {
			break
		}
		t := tweetFrom(flat[tweetFields*i : tweetFields*(i+1)])
		if t.UserID != "" {
			found = append(found, t)
			// Keep the counts this request took from their cache.
			t.Replies, t.Reposts, t.Likes = tweets[j].Replies, tweets[j].Reposts, tweets[j].Likes
			tweets[j] = t
		}
	}
	s.tweets.add(gen, found)
	return nil
}

// count is a count field's value: 0 when missing, and never below 0.
func count(v any) int64 {
	n, _ := strconv.ParseInt(str(v), 10, 64)
	return max(n, 0)
}

// listRange turns offset and count into LRANGE bounds, asking for one more
// than wanted so that the page knows whether older tweets exist.
func listRange(offset, n int) (start, stop int) {
	if offset < 0 {
		offset = 0
	}
	if n < 0 {
		return offset, -1
	}
	return offset, offset + n // n+1 items: [offset, offset+n]
}

func tweetFrom(v []any) Tweet {
	unix, _ := strconv.ParseInt(str(v[3]), 10, 64)
	t := Tweet{ID: str(v[0]), UserID: str(v[1]), Username: str(v[2]), Time: time.Unix(unix, 0), Body: str(v[4]),
		ReplyTo: str(v[5]), ReplyToUser: str(v[6]), Mentions: str(v[7])}
	if edited, _ := strconv.ParseInt(str(v[8]), 10, 64); edited > 0 {
		t.Edited = time.Unix(edited, 0)
	}
	return t
}

// Conversation is a tweet with what it belongs to: the tweets it answers,
// oldest first, and a page of the replies to it, newest first. Each tweet
// has its counts, and the viewer's like and repost.
type Conversation struct {
	Tweet Tweet
	// Ancestors are up to MaxAncestors tweets it answers, oldest first. One
	// deleted is there as Deleted, and the conversation above it goes on:
	// its tombstone keeps the id of the tweet it answered.
	Ancestors []Tweet
	Replies   Page
}

// MaxAncestors bounds how far up a conversation a tweet's page goes.
const MaxAncestors = 20

// TweetConversation returns the tweet with this id and its conversation,
// the replies from offset (n of them), and the viewer whose secret it is (or
// nil). A tweet that does not exist is a NotFound refusal.
func (s *Store) TweetConversation(ctx context.Context, secret, id string, offset, n int) (*Viewer, Conversation, error) {
	var c Conversation
	if !ValidTweetID(id) {
		v, err := s.viewerOnly(ctx, secret)
		if err != nil {
			return nil, c, err
		}
		return v, c, refuse(NotFound, "There is no tweet %s.", id)
	}
	r, err := s.readPage(ctx, secret, pageQuery{feed: "list", key: repliesKey(id), focus: id}, offset, n)
	if err != nil {
		return nil, c, err
	}
	v, gen, dec := r.viewer, r.gen, r.decoration()
	page, err := s.resolve(ctx, gen, append([]string{id}, r.ids...), -1, dec)
	if err != nil {
		return v, c, err
	}
	if len(page.Tweets) == 0 || page.Tweets[0].ID != id {
		return v, c, refuse(NotFound, "There is no tweet %s.", id)
	}
	c.Tweet = page.Tweets[0]
	// The page's own tweet's counts as they are now, not as cached: its
	// replies are listed below them.
	if now := r.focusCounts; len(now) == 3 {
		c.Tweet.Replies, c.Tweet.Reposts, c.Tweet.Likes = count(now[0]), count(now[1]), count(now[2])
	}
	c.Replies.Tweets = page.Tweets[1:]
	if n >= 0 && len(c.Replies.Tweets) > n {
		c.Replies.Tweets, c.Replies.More = c.Replies.Tweets[:n], true
	}
	// Up the conversation, one tweet at a time (mostly from the cache),
	// past deleted ones by their tombstones, then the counts of those that
	// are there in one round trip.
	var up, there []string
	for parent := c.Tweet.ReplyTo; parent != "" && len(up) < MaxAncestors; {
		up = append(up, parent)
		p, err := s.resolve(ctx, gen, []string{parent}, 1, nil)
		if err != nil {
			return v, c, err
		}
		if len(p.Tweets) == 1 {
			there = append(there, parent)
			parent = p.Tweets[0].ReplyTo
			continue
		}
		parent, err = s.rdb.HGet(ctx, tweetKey(parent), fieldReplyTo).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return v, c, fmt.Errorf("read the conversation of tweet %s: %w", id, err)
		}
	}
	found := map[string]Tweet{}
	if len(there) > 0 {
		p, err := s.resolve(ctx, gen, there, -1, decorationFor(v))
		if err != nil {
			return v, c, err
		}
		for _, t := range p.Tweets {
			found[t.ID] = t
		}
	}
	for _, a := range slices.Backward(up) {
		t, ok := found[a]
		if !ok {
			// Deleted on the way, or between the two reads.
			t = Tweet{ID: a, Deleted: true}
		}
		c.Ancestors = append(c.Ancestors, t)
	}
	return v, c, nil
}

// MaxMentions bounds the @names of one tweet that are looked up.
const MaxMentions = 10

// findUsers returns the names, as registered, and the ids of the users that
// names denote (compared after case folding), skipping names of nobody and
// of accounts being deleted.
func (s *Store) findUsers(ctx context.Context, names []string) (found []string, ids []string, err error) {
	if len(names) == 0 {
		return nil, nil, nil
	}
	names = names[:min(len(names), MaxMentions)]
	idCmds := make([]*redis.StringCmd, len(names))
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, n := range names {
			idCmds[i] = p.HGet(ctx, keyFoldedNames, FoldUsername(n))
		}
	}); err != nil {
		return nil, nil, err
	}
	nameCmds := make([]*redis.SliceCmd, len(names))
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, id := range idCmds {
			if id.Val() != "" {
				nameCmds[i] = p.HMGet(ctx, userKey(id.Val()), fieldUsername, fieldDeleted)
			}
		}
	}); err != nil {
		return nil, nil, err
	}
	for i, f := range nameCmds {
		if f == nil {
			continue
		}
		if u := f.Val(); len(u) == 2 && str(u[0]) != "" && u[1] == nil {
			found = append(found, str(u[0]))
			ids = append(ids, idCmds[i].Val())
		}
	}
	return found, ids, nil
}

// RegisteredName returns the name, as registered, of the user that username
// denotes when compared after case folding, as mentions are: "" if nobody.
func (s *Store) RegisteredName(ctx context.Context, username string) (string, error) {
	found, _, err := s.findUsers(ctx, []string{username})
	if err != nil || len(found) == 0 {
		return "", err
	}
	return found[0], nil
}

// TagTweets returns a page of the tweets with the hashtag (pytwask:tag:<tag>,
// the tag folded), newest first, and the viewer whose secret it is (or nil).
// A tag nobody used is an empty page.
func (s *Store) TagTweets(ctx context.Context, secret, tag string, offset, n int) (*Viewer, Page, error) {
	r, err := s.readPage(ctx, secret, pageQuery{feed: "list", key: tagKey(FoldTag(tag))}, offset, n)
	if err != nil {
		return nil, Page{}, fmt.Errorf("read the tweets tagged %s: %w", tag, err)
	}
	page, err := s.resolve(ctx, r.gen, r.ids, n, r.decoration())
	v := r.viewer
	return v, page, err
}

// viewerOnly is the user whose current secret this is, or nil.
func (s *Store) viewerOnly(ctx context.Context, secret string) (*Viewer, error) {
	if secret == "" {
		return nil, nil
	}
	v, err := s.Authenticate(ctx, secret)
	if errors.Is(err, ErrNotLoggedIn) {
		return nil, nil
	}
	return v, err
}
