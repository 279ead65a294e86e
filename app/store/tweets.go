package store

import (
	"context"
	"errors"
	"fmt"
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
}

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
	if strings.TrimSpace(body) == "" {
		return "", &Error{Invalid, "The tweet is empty."}
	}
	if n := utf8.RuneCountInString(body); n > MaxTweetLen {
		return "", refuse(Invalid, "The tweet is %d characters long; the limit is %d.", n, MaxTweetLen)
	}
	return body, nil
}

// Post stores a tweet by the user and fans it out to the timelines of every
// current follower, all in one atomic step (pytwis post_tweet). It returns the
// new tweet's id.
func (s *Store) Post(ctx context.Context, userID, body string) (string, error) {
	body, err := NormalizeTweet(body)
	if err != nil {
		return "", err
	}
	id, err := postScript.Run(ctx, s.rdb, []string{keyNextTweetID, keyGeneralTimeline},
		userID, s.now().Unix(), body, GeneralTimelineCap, UserTimelineCap).Int64()
	if err != nil {
		return "", fmt.Errorf("post tweet: %w", err)
	}
	return strconv.FormatInt(id, 10), nil
}

// GeneralTimeline returns a page of everybody's newest tweets: n tweets after
// skipping offset. n < 0 means all of them.
func (s *Store) GeneralTimeline(ctx context.Context, offset, n int) (Page, error) {
	return s.timeline(ctx, keyGeneralTimeline, offset, n)
}

// UserTimeline returns a page of the user's timeline: their own tweets and
// those of whom they followed when each was posted.
func (s *Store) UserTimeline(ctx context.Context, userID string, offset, n int) (Page, error) {
	return s.timeline(ctx, timelineKey(userID), offset, n)
}

// timeline reads one page in one round trip whatever the list's length: the
// ids, the tweets and their authors' names come back from one script.
func (s *Store) timeline(ctx context.Context, key string, offset, n int) (Page, error) {
	start, stop := listRange(offset, n)
	res, err := timelineScript.Run(ctx, s.rdb, []string{key}, start, stop).Slice()
	if err != nil {
		return Page{}, fmt.Errorf("read %s: %w", key, err)
	}
	return toPage(res, n), nil
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

// UserTweets returns a page of the tweets the named user posted, and whether
// viewerID ("" for nobody) follows them (pytwis get_user_tweets).
func (s *Store) UserTweets(ctx context.Context, username, viewerID string, offset, n int) (UserPage, error) {
	start, stop := listRange(offset, n)
	res, err := userTweetsScript.Run(ctx, s.rdb, []string{keyUsers}, username, start, stop, viewerID).Slice()
	if errors.Is(err, redis.Nil) {
		return UserPage{}, refuse(NotFound, "username %s doesn't exist", username)
	}
	if err != nil {
		return UserPage{}, fmt.Errorf("read tweets by %s: %w", username, err)
	}
	head, _ := res[0].([]any)
	tweets, _ := res[1].([]any)
	if len(head) != 4 {
		return UserPage{}, fmt.Errorf("read tweets by %s: unexpected reply", username)
	}
	p := UserPage{ID: str(head[0]), Username: username, Page: toPage(tweets, n)}
	p.ViewerFollows = head[1] == int64(1)
	p.Followers, _ = head[2].(int64)
	p.Following, _ = head[3].(int64)
	return p, nil
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

func toPage(flat []any, n int) Page {
	var p Page
	p.Tweets = make([]Tweet, 0, len(flat)/5)
	for i := 0; i+4 < len(flat); i += 5 {
		unix, _ := strconv.ParseInt(str(flat[i+3]), 10, 64)
		p.Tweets = append(p.Tweets, Tweet{
			ID:       str(flat[i]),
			UserID:   str(flat[i+1]),
			Username: str(flat[i+2]),
			Time:     time.Unix(unix, 0),
			Body:     str(flat[i+4]),
		})
	}
	if n >= 0 && len(p.Tweets) > n {
		p.Tweets, p.More = p.Tweets[:n], true
	}
	return p
}
