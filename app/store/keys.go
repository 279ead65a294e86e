package store

import "strings"

// The pytwis 0.5 data layout. Every key and field name this project reads or
// writes is spelled here and nowhere else; the Lua scripts get them through
// luaKeys, so a database written by pytwis works unchanged and pytwis can
// read what this program writes.
const (
	keyNextUserID      = "next_user_id"  // string: INCR gives the next user id
	keyUsers           = "users"         // hash: username -> user id
	keyAuths           = "auths"         // hash: authentication secret -> user id
	keyNextTweetID     = "next_tweet_id" // string: INCR gives the next tweet id
	keyGeneralTimeline = "timeline"      // list: newest tweet ids of everybody

	prefixUser      = "user:"      // hash: username, password_hash, auth
	prefixFollower  = "follower:"  // zset: ids of who follows <id>, score = unix time
	prefixFollowing = "following:" // zset: ids that <id> follows, score = unix time
	prefixTweet     = "tweet:"     // hash: userid, unix_time, body
	prefixTimeline  = "timeline:"  // list: the user's timeline, newest first
	prefixTweetsBy  = "tweets_by:" // list: the user's own tweets, newest first

	fieldUsername     = "username"
	fieldPasswordHash = "password_hash"
	fieldAuth         = "auth"
	fieldTweetUserID  = "userid"
	fieldTweetTime    = "unix_time"
	fieldTweetBody    = "body"
	// fieldReplyTo is this program's own field on tweet:<id> (pytwis passes
	// fields it does not know through): the id of the tweet it answers.
	fieldReplyTo = "pytwask_reply_to"
	// fieldMentions (pytwask's own too): the users the tweet mentions, as
	// they were found when it was posted, space-separated.
	fieldMentions = "pytwask_mentions"
	// The tweet's counts (pytwask's own fields): of its replies, reposts and
	// likes, changed in the same script as the list or set they count, so
	// that a page reads three numbers per tweet rather than three keys.
	fieldReplies = "pytwask_replies"
	fieldReposts = "pytwask_reposts"
	fieldLikes   = "pytwask_likes"
	// fieldDeleted (pytwask's own) marks a deleted tweet's hash, which stays
	// as a tombstone (delete.go): when it was deleted, unix seconds.
	fieldDeleted = "pytwask_deleted"
	// fieldEdited (pytwask's own): when the tweet was last edited, unix
	// seconds (edit.go).
	fieldEdited = "pytwask_edited"
	// fieldEditing (pytwask's own) is set by an edit's first step and taken
	// off by its last: one that stays marks an edit cut short, which saving
	// the same text again finishes (EditTweet).
	fieldEditing = "pytwask_editing"
	// fieldPosting (pytwask's own, on a Cluster) marks a tweet's hash until
	// its post or its fan-out job has put it on its lists: one cut off
	// before its job keeps it, a hash no list names, which the search
	// index then leaves out too (postSharded).
	fieldPosting = "pytwask_posting"

	// keySessionKeys is this program's own key (pytwis never reads it): the
	// cookie-signing keys generated when PYTWASK_SECRET_KEY is not set, shared
	// by every instance that uses this database.
	keySessionKeys = "pytwask:session_keys"
	// keyGeneration is this program's own key too: a random value that
	// changes when the database is wiped, so that in-process caches of
	// tweets (which pytwis never changes) are dropped with it.
	keyGeneration = "pytwask:generation"
	// prefixLimit counts rate-limited events: pytwask:limit:<bucket>:<subject>.
	prefixLimit = "pytwask:limit:"
	// keyFoldedNames (hash: case-folded username -> user id) finds a name
	// that differs from a new one only in case (FoldUsername); pytwis
	// never writes it. keyFoldedCount is how many of users' names it took
	// in: when users holds more (pytwis registered some), it is filled in
	// again before the next sign-up.
	keyFoldedNames = "pytwask:folded_names"
	keyFoldedCount = "pytwask:folded_count"
	// keyFanOut is the stream of fan-out jobs (fanout.go); each job's state
	// is pytwask:fanout:job:<stream id>, the followers it has yet to reach
	// pytwask:fanout:todo:<stream id>.
	keyFanOut = "pytwask:fanout"
	// Keys about one tweet carry its hash's name as a hash tag, so that on
	// a Cluster they share its slot and one script changes them and its
	// counts together. pytwask:replies:{tweet:<id>} (list) holds the ids of
	// the replies to tweet <id>, newest first; pytwask:likes:{tweet:<id>}
	// and pytwask:reposts:{tweet:<id>} (sets) the ids of the users who like
	// and who reposted it.
	prefixReplies = "pytwask:replies:"
	prefixLikes   = "pytwask:likes:"
	prefixReposts = "pytwask:reposts:"
	// pytwask:versions:{tweet:<id>} (list, newest first) holds an edited
	// tweet's earlier texts, each "<unix time> <text>";
	// pytwask:mentioned:{tweet:<id>} (set) the names it ever mentioned.
	prefixVersions  = "pytwask:versions:"
	prefixMentioned = "pytwask:mentioned:"
	// prefixTag: pytwask:tag:<folded tag> (list) holds the ids of the tweets
	// with that hashtag, newest first.
	prefixTag = "pytwask:tag:"
	// pytwask:liked:<user id> and pytwask:reposted:<user id> (sets) are the
	// same facts from the user's side: the ids of the tweets they like and
	// reposted, for a page to show in one command which of its tweets the
	// viewer liked or reposted. Written after the tweet's set, so that
	// asking again mends one a failure left behind.
	prefixLiked    = "pytwask:liked:"
	prefixReposted = "pytwask:reposted:"
	// pytwask:via:{timeline:<id>} (hash: tweet id -> "<user id> <username>")
	// says which entries of the user's timeline a repost put there, and
	// whose. Its hash tag puts it in the timeline's slot: a repost's push
	// and its mark are one script.
	prefixVia = "pytwask:via:"
	// prefixNotifications: pytwask:notifications:<id> (list, newest first,
	// capped) holds the user's notifications, each "kind actor tweet time";
	// pytwask:unread:<id> (string) counts those not yet read.
	prefixNotifications = "pytwask:notifications:"
	prefixUnread        = "pytwask:unread:"
)

// GeneralTimelineCap is how many tweet ids the general timeline keeps (pytwis's
// GENERAL_TIMELINE_MAX_TWEET_CNT).
const GeneralTimelineCap = 1000

// UserTimelineCap bounds each timeline:<id> list. pytwis never trimmed them, so
// a follower of busy users grew without limit; older tweets stay reachable on
// their authors' own pages (tweets_by:<id> is never trimmed). A list is
// trimmed back to the cap when a post takes it past its trim point (below),
// so it holds at most 1,100 ids and pages past the 20th (1,000 tweets) may or
// may not exist.
const (
	UserTimelineCap   = 1000
	UserTimelineSlack = 100
)

// trimPoint is the length past which the timeline of the user with this id is
// trimmed back to the cap: the cap plus between half the slack and the whole
// slack, depending on the id. The followers of one popular author, whose
// timelines hold mostly her tweets, grow in step; with one trim point for all
// they would all be trimmed by the same post, every hundredth, which made
// that post far slower than the others. The scripts compute the same
// (pushLua in scripts.go).
func trimPoint(id uint64) int64 {
	const half = UserTimelineSlack / 2
	return UserTimelineCap + half + int64(id%(half+1))
}

func userKey(id string) string               { return prefixUser + id }
func fanOutJobKey(id string) string          { return keyFanOut + ":job:" + id }
func fanOutTodoKey(id string) string         { return keyFanOut + ":todo:" + id }
func limitKey(bucket, subject string) string { return prefixLimit + bucket + ":" + subject }
func followerKey(id string) string           { return prefixFollower + id }
func followingKey(id string) string          { return prefixFollowing + id }
func timelineKey(id string) string           { return prefixTimeline + id }
func tweetsByKey(id string) string           { return prefixTweetsBy + id }
func tweetKey(id string) string              { return prefixTweet + id }
func repliesKey(id string) string            { return prefixReplies + "{" + tweetKey(id) + "}" }
func likesKey(id string) string              { return prefixLikes + "{" + tweetKey(id) + "}" }
func repostsKey(id string) string            { return prefixReposts + "{" + tweetKey(id) + "}" }
func versionsKey(id string) string           { return prefixVersions + "{" + tweetKey(id) + "}" }
func mentionedKey(id string) string          { return prefixMentioned + "{" + tweetKey(id) + "}" }
func likedKey(user string) string            { return prefixLiked + user }
func repostedKey(user string) string         { return prefixReposted + user }
func viaKey(user string) string              { return prefixVia + "{" + timelineKey(user) + "}" }
func tagKey(tag string) string               { return prefixTag + tag }
func notificationsKey(id string) string      { return prefixNotifications + id }
func unreadKey(id string) string             { return prefixUnread + id }

// luaKeys writes the key and field names into a Lua script's {placeholders}.
var luaKeys = strings.NewReplacer(
	"{user:}", prefixUser,
	"{follower:}", prefixFollower,
	"{following:}", prefixFollowing,
	"{tweet:}", prefixTweet,
	"{timeline:}", prefixTimeline,
	"{tweets_by:}", prefixTweetsBy,
	"{username}", fieldUsername,
	"{password_hash}", fieldPasswordHash,
	"{auth}", fieldAuth,
	"{userid}", fieldTweetUserID,
	"{unix_time}", fieldTweetTime,
	"{body}", fieldTweetBody,
	"{reply_to}", fieldReplyTo,
	"{mentions}", fieldMentions,
	"{replies}", fieldReplies,
	"{reposts}", fieldReposts,
	"{likes}", fieldLikes,
	"{deleted}", fieldDeleted,
	"{edited}", fieldEdited,
	"{editing}", fieldEditing,
	"{liked:}", prefixLiked,
	"{reposted:}", prefixReposted,
	// The via hash of user <id> is '{via:}' .. id .. '}' in a script:
	// pytwask:via:{timeline:<id>} (viaKey).
	"{via:}", prefixVia+"{"+prefixTimeline,
	"{tag:}", prefixTag,
	"{unread:}", prefixUnread,
)
