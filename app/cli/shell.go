// Package cli holds the operator's subcommands: the pytwis_clt shell
// (pytwask cli), pytwask check and pytwask seed. Every operation goes through
// the same store methods as the web site.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"pytwask/app/store"
)

// Shell runs pytwis_clt's commands, one line at a time, for one session.
type Shell struct {
	store *store.Store
	out   io.Writer
	// askPassword reads a password without echo, or is nil when input is not
	// a terminal (passwords must then be on the command line).
	askPassword func(prompt string) (string, error)
	loc         *time.Location
	secret      string // the signed-in user's authentication secret; never printed
	failed      bool
	rules       Rules
}

// Rules are the site's settings that commands follow.
type Rules struct {
	EditWindow time.Duration // how long after posting a tweet may be edited
	NameHold   time.Duration // how long a deleted account's name is held
	BaseURL    string        // the site's address, for links
}

// NewShell returns a shell on st writing to out, control characters
// escaped (plainWriter). Times are shown in loc.
func NewShell(st *store.Store, out io.Writer, loc *time.Location, rules Rules) *Shell {
	return &Shell{store: st, out: plainWriter{out}, loc: loc, rules: rules}
}

// Failed reports whether any command failed.
func (sh *Shell) Failed() bool { return sh.failed }

// command is one of pytwis_clt's commands.
type command struct {
	usage   string
	minArgs int
	maxArgs int // -1: the rest of the line is one argument
	run     func(sh *Shell, ctx context.Context, args []string) error
}

var commands = map[string]command{
	"register":      {"register USERNAME PASSWORD", 2, 2, (*Shell).register},
	"login":         {"login USERNAME PASSWORD", 2, 2, (*Shell).login},
	"logout":        {"logout", 0, 0, (*Shell).logout},
	"changepwd":     {"changepwd OLD_PASSWORD NEW_PASSWORD CONFIRMED_NEW_PASSWORD", 3, 3, (*Shell).changePassword},
	"userprofile":   {"userprofile", 0, 0, (*Shell).userProfile},
	"follow":        {"follow USERNAME", 1, 1, (*Shell).follow},
	"unfollow":      {"unfollow USERNAME", 1, 1, (*Shell).unfollow},
	"followers":     {"followers", 0, 0, (*Shell).followers},
	"followings":    {"followings", 0, 0, (*Shell).followings},
	"post":          {"post TWEET", 1, -1, (*Shell).post},
	"reply":         {"reply TWEET_ID TWEET", 2, 2, (*Shell).reply},
	"tag":           {"tag TAG [MAX_TWEETS]", 1, 2, (*Shell).tag},
	"search":        {"search QUERY", 1, -1, (*Shell).search},
	"like":          {"like TWEET_ID", 1, 1, (*Shell).like},
	"unlike":        {"unlike TWEET_ID", 1, 1, (*Shell).unlike},
	"repost":        {"repost TWEET_ID", 1, 1, (*Shell).repost},
	"unrepost":      {"unrepost TWEET_ID", 1, 1, (*Shell).unrepost},
	"edit":          {"edit TWEET_ID TWEET", 2, 2, (*Shell).editTweet},
	"delete":        {"delete TWEET_ID", 1, 1, (*Shell).deleteTweet},
	"deleteuser":    {"deleteuser USERNAME [confirm]", 1, 2, (*Shell).deleteUser},
	"resetlink":     {"resetlink USERNAME", 1, 1, (*Shell).resetLink},
	"notifications": {"notifications [MAX]", 0, 1, (*Shell).notifications},
	"timeline":      {"timeline [MAX_TWEETS]", 0, 1, (*Shell).timeline},
	"tweetsby":      {"tweetsby [USERNAME] [MAX_TWEETS]", 0, 2, (*Shell).tweetsBy},
	"help":          {"help", 0, 0, (*Shell).help},
}

var (
	// errBadArgs makes Exec print the command's usage.
	errBadArgs = errors.New("wrong arguments")
	// errReported is a failure whose message has been printed already.
	errReported = errors.New("failed")
)

// Exec runs one input line and reports whether the shell should end (exit,
// quit). No input makes it panic: a failure is printed and remembered.
func (sh *Shell) Exec(ctx context.Context, line string) (quit bool) {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(sh.out, "Internal error: %v\n", v)
			sh.failed = true
		}
	}()
	name, args, err := Parse(line)
	switch {
	case err != nil:
		fmt.Fprintln(sh.out, err)
		sh.failed = true
		return false
	case name == "":
		return false
	case name == "exit" || name == "quit":
		return true
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(sh.out, "Unknown command %q; type help for the list of commands\n", name)
		sh.failed = true
		return false
	}
	args, err = sh.completeArgs(name, cmd, args)
	if err == nil {
		err = cmd.run(sh, ctx, args)
	}
	switch {
	case errors.Is(err, errReported):
		sh.failed = true
	case errors.Is(err, errBadArgs):
		fmt.Fprintf(sh.out, "Usage: %s\n", cmd.usage)
		sh.failed = true
	case err != nil:
		fmt.Fprintln(sh.out, err)
		sh.failed = true
	}
	return false
}

// Parse splits a line into its command and arguments. "post" and "search"
// take the rest of the line, spaces included, as their one argument, and
// "reply" and
// "edit" as their second, after the id; other commands split on white
// space.
func Parse(line string) (name string, args []string, err error) {
	line = strings.TrimFunc(line, unicode.IsSpace)
	if line == "" {
		return "", nil, nil
	}
	name, rest := line, ""
	if i := strings.IndexFunc(line, unicode.IsSpace); i >= 0 {
		_, size := utf8.DecodeRuneInString(line[i:]) // white space may be several bytes
		name, rest = line[:i], line[i+size:]
	}
	if name == "post" || name == "search" {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			return name, nil, nil
		}
		return name, []string{rest}, nil
	}
	if name == "reply" || name == "edit" {
		id, text, _ := strings.Cut(strings.TrimLeftFunc(rest, unicode.IsSpace), " ")
		if text = strings.TrimLeftFunc(text, unicode.IsSpace); text == "" {
			return name, strings.Fields(id), nil
		}
		return name, []string{id, text}, nil
	}
	return name, strings.Fields(rest), nil
}

// completeArgs checks the argument count, asking for passwords without echo
// on a terminal when they were left off the line.
func (sh *Shell) completeArgs(name string, cmd command, args []string) ([]string, error) {
	if sh.askPassword != nil {
		var prompts []string
		switch {
		case (name == "login" || name == "register") && len(args) == 1:
			prompts = []string{"Password: "}
		case name == "changepwd" && len(args) == 0:
			prompts = []string{"Old password: ", "New password: ", "Confirm new password: "}
		}
		for _, p := range prompts {
			pw, err := sh.askPassword(p)
			if err != nil {
				return nil, err
			}
			args = append(args, pw)
		}
	}
	if len(args) < cmd.minArgs || (cmd.maxArgs >= 0 && len(args) > cmd.maxArgs) {
		return nil, errBadArgs
	}
	return args, nil
}

func (sh *Shell) say(format string, args ...any) { fmt.Fprintf(sh.out, format+"\n", args...) }

// couldnt prints pytwis_clt's failure line for err.
func (sh *Shell) couldnt(what string, err error) error {
	msg := err.Error()
	switch {
	case store.WritesRefused(err):
		msg = "Redis refuses writes: it is full, cannot save to disk, or is a replica (" + err.Error() + ")"
	case store.AccessRefused(err):
		msg = "Redis refuses pytwask's password or user: check REDIS_DB_PASSWORD (" + err.Error() + ")"
	case store.IsUnavailable(err):
		msg = "Redis is not answering (" + err.Error() + ")"
	}
	return sh.fail(what, msg)
}

func (sh *Shell) fail(what, msg string) error {
	sh.say("Couldn't %s with error = %s", what, msg)
	return errReported
}

func (sh *Shell) register(ctx context.Context, args []string) error {
	if err := sh.store.Register(ctx, args[0], args[1]); err != nil {
		return sh.couldnt("register "+args[0], err)
	}
	sh.say("Registered %s", args[0])
	return nil
}

func (sh *Shell) login(ctx context.Context, args []string) error {
	secret, err := sh.store.Login(ctx, "cli", args[0], args[1])
	if err != nil {
		return sh.couldnt("log into username "+args[0], err)
	}
	sh.secret = secret
	sh.say("Logged into username %s", args[0])
	return nil
}

func (sh *Shell) logout(ctx context.Context, _ []string) error {
	v, err := sh.store.Authenticate(ctx, sh.secret)
	if err == nil {
		err = sh.store.Logout(ctx, sh.secret)
	}
	if err != nil {
		return sh.couldnt("log out", err)
	}
	sh.secret = ""
	sh.say("Logged out of username %s", v.Username)
	return nil
}

func (sh *Shell) changePassword(ctx context.Context, args []string) error {
	if args[1] != args[2] {
		return sh.fail("change the password", "The confirmed new password is different from the new password")
	}
	secret, err := sh.store.ChangePassword(ctx, "cli", sh.secret, args[0], args[1])
	if err != nil {
		return sh.couldnt("change the password", err)
	}
	sh.secret = secret
	sh.say("Changed the password")
	return nil
}

func (sh *Shell) userProfile(ctx context.Context, _ []string) error {
	p, err := sh.store.UserProfile(ctx, sh.secret)
	if err != nil {
		return sh.couldnt("get the user profile", err)
	}
	sh.say("Got the user profile")
	sh.say("%s", strings.Repeat("=", 20))
	sh.say("username: %s", p.Username)
	sh.say("userid: %s", p.ID)
	sh.say("%s", strings.Repeat("=", 20))
	return nil
}

func (sh *Shell) follow(ctx context.Context, args []string) error {
	v, err := sh.store.Authenticate(ctx, sh.secret)
	if err == nil {
		err = sh.store.Follow(ctx, v.ID, args[0])
	}
	if err != nil {
		return sh.couldnt("follow the username "+args[0], err)
	}
	sh.say("Followed username %s", args[0])
	return nil
}

func (sh *Shell) unfollow(ctx context.Context, args []string) error {
	v, err := sh.store.Authenticate(ctx, sh.secret)
	if err == nil {
		err = sh.store.Unfollow(ctx, v.ID, args[0])
	}
	if err != nil {
		return sh.couldnt("unfollow the username "+args[0], err)
	}
	sh.say("Unfollowed username %s", args[0])
	return nil
}

func (sh *Shell) followers(ctx context.Context, _ []string) error {
	return sh.listPeople(ctx, "follower", sh.store.Followers)
}

func (sh *Shell) followings(ctx context.Context, _ []string) error {
	return sh.listPeople(ctx, "following", sh.store.Following)
}

func (sh *Shell) listPeople(ctx context.Context, what string, list func(context.Context, string) ([]string, error)) error {
	v, err := sh.store.Authenticate(ctx, sh.secret)
	var names []string
	if err == nil {
		names, err = list(ctx, v.ID)
	}
	if err != nil {
		return sh.couldnt("get the "+what+" list", err)
	}
	sh.say("Got the list of %d %ss", len(names), what)
	sh.say("%s", strings.Repeat("=", 20))
	for _, n := range names {
		sh.say("\t%s", n)
	}
	sh.say("%s", strings.Repeat("=", 20))
	return nil
}

func (sh *Shell) post(ctx context.Context, args []string) error {
	if _, err := sh.store.PostAs(ctx, sh.secret, args[0]); err != nil {
		return sh.couldnt("post the tweet", err)
	}
	// A post to many followers leaves them a fan-out job; run it here, as
	// no server may be running to, so that they have the tweet when the
	// command returns, as with pytwis_clt.
	if err := sh.store.DrainFanOut(ctx, "pytwask-cli"); err != nil {
		return sh.couldnt("post the tweet to every follower", err)
	}
	sh.say("Posted the tweet")
	return nil
}

func (sh *Shell) reply(ctx context.Context, args []string) error {
	if _, err := sh.store.Reply(ctx, sh.secret, args[0], args[1]); err != nil {
		return sh.couldnt("post the reply", err)
	}
	if err := sh.store.DrainFanOut(ctx, "pytwask-cli"); err != nil {
		return sh.couldnt("post the reply to every follower", err)
	}
	sh.say("Posted the reply to tweet %s", args[0])
	return nil
}

// maxTweets reads an optional MAX_TWEETS argument; -1 (all) when absent.
func maxTweets(args []string, i int) (int, error) {
	if len(args) <= i {
		return -1, nil
	}
	n, err := strconv.Atoi(args[i])
	if err != nil || n < -1 {
		return 0, errBadArgs
	}
	return n, nil
}

func (sh *Shell) timeline(ctx context.Context, args []string) error {
	n, err := maxTweets(args, 0)
	if err != nil {
		return err
	}
	which, feed := "general", store.General
	if sh.secret != "" {
		which, feed = "user", store.Own
	}
	_, page, err := sh.store.Timeline(ctx, sh.secret, feed, 0, n)
	if err != nil {
		return sh.couldnt("get the "+which+" timeline", err)
	}
	sh.say("Got %d tweets in the %s timeline", len(page.Tweets), which)
	sh.printTweets(page.Tweets)
	return nil
}

func (sh *Shell) tweetsBy(ctx context.Context, args []string) error {
	var username string
	var n int
	var err error
	switch len(args) {
	case 0:
		n = -1
	case 1:
		if _, numErr := strconv.Atoi(args[0]); numErr == nil {
			n, err = maxTweets(args, 0)
		} else {
			username, n = args[0], -1
		}
	default:
		username = args[0]
		n, err = maxTweets(args, 1)
	}
	if err != nil {
		return err
	}
	if username == "" {
		p, err := sh.store.UserProfile(ctx, sh.secret)
		if err != nil {
			return sh.couldnt("get the username of the currently logged-in user", err)
		}
		username = p.Username
		sh.say("No username is given, so use the currently logged-in user %s", username)
	}
	_, up, err := sh.store.UserTweets(ctx, "", username, 0, n)
	if err != nil {
		return sh.couldnt("get the tweets posted by "+username, err)
	}
	sh.say("Got %d tweets posted by %s", len(up.Tweets), username)
	sh.printTweets(up.Tweets)
	return nil
}

func (sh *Shell) like(ctx context.Context, args []string) error {
	return sh.mark(ctx, sh.store.Like, args[0], true, "like tweet", "Liked tweet")
}

func (sh *Shell) unlike(ctx context.Context, args []string) error {
	return sh.mark(ctx, sh.store.Like, args[0], false, "take back the like of tweet", "Took back the like of tweet")
}

// repost puts a tweet on the signed-in user's followers' timelines, as
// theirs to share (once, however often asked).
func (sh *Shell) repost(ctx context.Context, args []string) error {
	return sh.mark(ctx, sh.store.Repost, args[0], true, "repost tweet", "Reposted tweet")
}

func (sh *Shell) unrepost(ctx context.Context, args []string) error {
	return sh.mark(ctx, sh.store.Repost, args[0], false, "undo the repost of tweet", "Undid the repost of tweet")
}

// editTweet changes the text of one of the signed-in user's tweets, while
// it may still be edited.
func (sh *Shell) editTweet(ctx context.Context, args []string) error {
	changed, err := sh.store.EditTweet(ctx, sh.secret, args[0], args[1], sh.rules.EditWindow)
	if err != nil {
		return sh.couldnt("edit tweet "+args[0], err)
	}
	if !changed {
		sh.say("Tweet %s is unchanged: the text is the same", args[0])
		return nil
	}
	sh.say("Edited tweet %s", args[0])
	return nil
}

// count says n of a thing: "1 tweet", "2 tweets".
func count(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.FormatInt(n, 10) + " " + thing + "s"
}

// deleteUser is an operator's: it lists what deleting the account of
// USERNAME removes, and with "confirm" after the name removes it.
func (sh *Shell) deleteUser(ctx context.Context, args []string) error {
	name := args[0]
	if len(args) == 2 && args[1] != "confirm" {
		return errBadArgs
	}
	a, err := sh.store.AccountOf(ctx, name)
	if err != nil {
		return sh.couldnt("delete the account of "+name, err)
	}
	what, verb := "Deleting the account of "+name, "delete"
	if a.Unfinished {
		what, verb = "The deletion of the account of "+name+" was cut short. Finishing it", "finish deleting"
	}
	sh.say("%s removes: its profile and sessions, %s, %s, %s, "+
		"%s, its %s and %s. Replies others wrote stay. The name is held for %s.",
		what, count(a.Tweets, "tweet"), count(a.Likes, "like"), count(a.Reposts, "repost"),
		count(a.Notifications, "notification"), count(a.Following, "follow"), count(a.Followers, "follower"),
		store.Span(sh.rules.NameHold))
	if len(args) == 1 {
		sh.say("To %s it, type: deleteuser %s confirm", verb, name)
		return nil
	}
	if err := sh.store.DeleteUser(ctx, name, sh.rules.NameHold); err != nil {
		return sh.couldnt("delete the account of "+name, err)
	}
	if err := sh.store.DrainFanOut(ctx, "pytwask-cli"); err != nil {
		return sh.couldnt("delete the account of "+name, err)
	}
	sh.say("Deleted the account of %s", name)
	return nil
}

// resetLink is an operator's: it prints a link that sets a new password
// for the user, once, within the hour, for a site that sends no email. The
// link is printed once: nothing keeps it.
func (sh *Shell) resetLink(ctx context.Context, args []string) error {
	token, err := sh.store.ResetTokenFor(ctx, args[0])
	if err != nil {
		return sh.couldnt("make a password reset link for "+args[0], err)
	}
	base, where := strings.TrimRight(sh.rules.BaseURL, "/"), ""
	if base == "" {
		where = ", to follow the site's address (set PYTWASK_BASE_URL to print it whole)"
	}
	sh.say("A password reset link for %s, which works once, for %s%s:\n%s/auth/reset?token=%s", args[0],
		store.Span(store.ResetTTL), where, base, token)
	return nil
}

// deleteTweet deletes one of the signed-in user's tweets, everywhere.
func (sh *Shell) deleteTweet(ctx context.Context, args []string) error {
	id := args[0]
	if err := sh.store.DeleteTweet(ctx, sh.secret, id); err != nil {
		return sh.couldnt("delete tweet "+id, err)
	}
	// Off followers' timelines by fan-out jobs, as a post's (post).
	if err := sh.store.DrainFanOut(ctx, "pytwask-cli"); err != nil {
		return sh.couldnt("delete tweet "+id, err)
	}
	sh.say("Deleted tweet %s", id)
	return nil
}

// mark runs a like or a repost (on) or its undoing, and says so.
func (sh *Shell) mark(ctx context.Context, mark func(ctx context.Context, secret, id string, on bool) error,
	id string, on bool, what, done string) error {
	if err := mark(ctx, sh.secret, id, on); err != nil {
		return sh.couldnt(what+" "+id, err)
	}
	// A repost to many followers is a fan-out job, as a post's (post).
	if err := sh.store.DrainFanOut(ctx, "pytwask-cli"); err != nil {
		return sh.couldnt(what+" "+id, err)
	}
	sh.say("%s %s", done, id)
	return nil
}

// notifications lists the signed-in user's notifications, newest first,
// and marks them read.
func (sh *Shell) notifications(ctx context.Context, args []string) error {
	n, err := maxTweets(args, 0)
	if err != nil {
		return err
	}
	_, items, _, err := sh.store.Notifications(ctx, sh.secret, 0, n)
	if err != nil {
		return sh.couldnt("get the notifications", err)
	}
	sh.say("Got %d notifications", len(items))
	for _, it := range items {
		line := fmt.Sprintf("%s by %s", it.Kind, it.Actor)
		if it.Tweet != nil {
			line += fmt.Sprintf(" (tweet %s: %s)", it.Tweet.ID, it.Tweet.Body)
		}
		sh.say("\t%s", line)
	}
	return nil
}

// tag lists the tweets with a hashtag, newest first.
func (sh *Shell) tag(ctx context.Context, args []string) error {
	n, err := maxTweets(args, 1)
	if err != nil {
		return err
	}
	tag := strings.TrimPrefix(args[0], "#")
	if !store.ValidTag(tag) {
		return sh.fail("get the tweets tagged #"+tag, "There is no such tag.")
	}
	_, p, err := sh.store.TagTweets(ctx, "", tag, 0, n)
	if err != nil {
		return sh.couldnt("get the tweets tagged #"+tag, err)
	}
	sh.say("Got %d tweets tagged #%s", len(p.Tweets), store.FoldTag(tag))
	sh.printTweets(p.Tweets)
	return nil
}

// search lists the users and the newest tweets (20 at most) a search
// finds, as the site's search page does. The search index is brought up to
// date first: no server may be running to do it.
func (sh *Shell) search(ctx context.Context, args []string) error {
	q, err := store.ParseQuery(args[0])
	if err != nil {
		return sh.couldnt("search", err)
	}
	for {
		n, err := sh.store.IndexSearch(ctx)
		if err != nil {
			return sh.couldnt("search", err)
		}
		if n == 0 {
			break
		}
	}
	names, err := sh.store.SearchUsers(ctx, q)
	if err != nil {
		return sh.couldnt("search", err)
	}
	_, p, err := sh.store.SearchTweets(ctx, sh.secret, q, 0, 20)
	if err != nil {
		return sh.couldnt("search", err)
	}
	if len(names) == 0 {
		sh.say("Got 0 users")
	} else {
		sh.say("Got %d users: %s", len(names), strings.Join(names, " "))
	}
	sh.say("Got %d tweets", len(p.Tweets))
	sh.printTweets(p.Tweets)
	return nil
}

func (sh *Shell) printTweets(tweets []store.Tweet) {
	sh.say("%s", strings.Repeat("=", 60))
	for i, t := range tweets {
		sh.say("%s", strings.Repeat("-", 60))
		sh.say("Tweet %d:", i)
		sh.say("Username: %s", t.Username)
		if t.RepostedBy != "" {
			sh.say("Reposted by: %s", t.RepostedBy)
		}
		sh.say("Time: %s", t.Time.In(sh.loc).Format("2006-01-02 15:04:05 MST"))
		sh.say("Body:\n\t %s", t.Body)
		sh.say("%s", strings.Repeat("-", 60))
	}
	sh.say("%s", strings.Repeat("=", 60))
}

// helpText lists the commands; kept apart from the commands table, which
// refers to help itself.
const helpText = `Commands:
  register USERNAME PASSWORD
  login USERNAME PASSWORD
  logout
  changepwd OLD_PASSWORD NEW_PASSWORD CONFIRMED_NEW_PASSWORD
  userprofile
  follow USERNAME
  unfollow USERNAME
  followers
  followings
  post TWEET
  reply TWEET_ID TWEET
  tag TAG [MAX_TWEETS]
  search QUERY
  like TWEET_ID
  unlike TWEET_ID
  repost TWEET_ID
  unrepost TWEET_ID
  edit TWEET_ID TWEET
  delete TWEET_ID
  deleteuser USERNAME [confirm]   (an operator's: no sign-in needed)
  resetlink USERNAME              (an operator's: a password reset link)
  notifications [MAX]
  timeline [MAX_TWEETS]
  tweetsby [USERNAME] [MAX_TWEETS]
  exit, quit`

func (sh *Shell) help(context.Context, []string) error {
	sh.say("%s", helpText)
	return nil
}
