package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"pytwask/app/store"
)

// The /tweets/ pages: timelines, a user's own tweets, posting and following.

// postForm is a form to write a tweet: a new one, a reply or an edit (the
// "compose" template), with the text sent and its refusal.
type postForm struct {
	Action, Label, Button string
	Body, Error           string
}

func newTweetForm(body, msg string) *postForm {
	return &postForm{Action: "/tweets/user_timeline", Label: "What’s happening?", Button: "Post", Body: body, Error: msg}
}

func replyForm(id, body, msg string) *postForm {
	return &postForm{Action: "/tweets/reply/" + id, Label: "Your reply", Button: "Reply", Body: body, Error: msg}
}

func editForm(id, body, msg string) *postForm {
	return &postForm{Action: "/tweets/edit/" + id, Label: "Your tweet", Button: "Save", Body: body, Error: msg}
}

type timelinePage struct {
	layout
	Heading  string
	PostForm *postForm     // nil: no post form on this page
	Tweets   template.HTML // tweetList
	Pager    pager
}

// tweetView is a tweet as a page shows it: its author, its body, when it
// was posted, and how long ago that was at the request. Its fields are all
// the "tweet" template shows (renderer.tweetList keeps the markup by them).
type tweetView struct {
	ID, Username, Body string
	Posted             int64 // unix seconds
	Ago                string
	// ReplyTo is the id of the tweet it answers ("" for none), and
	// ReplyToUser its author ("" when that tweet is gone, "-" when its
	// author's account is).
	ReplyTo, ReplyToUser string
	// Mentions are the users its @names denote (store.Tweet.Mentions).
	Mentions string
	// Edited is when its text was last changed (unix seconds, 0: never).
	Edited    int64
	EditedAgo string
	// Deleted: a conversation's ancestor deleted since (store.Tweet.Deleted),
	// shown as such and nothing else.
	Deleted bool
	// Its counts; SignedIn: the viewer may like and repost it (the buttons
	// say whether they do); Own: the viewer wrote it, and may delete it;
	// Editable: and may still edit it; RepostedBy: who put it on the
	// viewer's timeline by reposting it ("" for nobody).
	Replies, Reposts, Likes                  int64
	SignedIn, Own, Editable, Liked, Reposted bool
	RepostedBy                               string
}

// segment is a piece of a tweet's text as the "tweet" template shows it:
// Href is "" for plain text; Rel is for links that leave the site.
type segment struct {
	Text, Href, Rel string
}

// tweetSegments splits a tweet's text into what the "tweet" template shows
// as text and as links: URLs (http and https only, by store.Segments), the
// @names of users in mentions (a space-separated list), and #hashtags. The
// template escapes every piece.
func tweetSegments(body, mentions string) []segment {
	users := map[string]string{}
	for _, m := range strings.Fields(mentions) {
		users[store.FoldUsername(m)] = m
	}
	var out []segment
	for _, s := range store.Segments(body) {
		switch s.Kind {
		case store.Link:
			out = append(out, segment{Text: s.Text, Href: s.Text, Rel: "nofollow noopener ugc"})
		case store.Mention:
			if name, ok := users[store.FoldUsername(s.Text)]; ok {
				out = append(out, segment{Text: "@" + s.Text, Href: "/tweets/user_history/" + url.PathEscape(name)})
			} else {
				out = append(out, segment{Text: "@" + s.Text})
			}
		case store.Hashtag:
			out = append(out, segment{Text: "#" + s.Text, Href: "/tags/" + url.PathEscape(store.FoldTag(s.Text))})
		default:
			out = append(out, segment{Text: s.Text})
		}
	}
	return out
}

// Datetime is when the tweet was posted, for machines.
func (v tweetView) Datetime() string { return time.Unix(v.Posted, 0).UTC().Format(time.RFC3339) }

// Title is when the tweet was posted, for people.
func (v tweetView) Title() string {
	return time.Unix(v.Posted, 0).UTC().Format("Mon 2 Jan 2006 15:04 UTC")
}

// EditedDatetime and EditedTitle are when it was last edited, as Datetime
// and Title.
func (v tweetView) EditedDatetime() string { return time.Unix(v.Edited, 0).UTC().Format(time.RFC3339) }

func (v tweetView) EditedTitle() string {
	return time.Unix(v.Edited, 0).UTC().Format("Mon 2 Jan 2006 15:04 UTC")
}

func (s *Server) tweetViews(tweets []store.Tweet, v *store.Viewer) []tweetView {
	now := s.now()
	views := make([]tweetView, len(tweets))
	for i, t := range tweets {
		if t.Deleted {
			views[i] = tweetView{ID: t.ID, Deleted: true}
			continue
		}
		own := v != nil && v.ID == t.UserID
		views[i] = tweetView{ID: t.ID, Username: t.Username, Body: t.Body, Posted: t.Time.Unix(), Ago: timeAgo(t.Time, now),
			ReplyTo: t.ReplyTo, ReplyToUser: t.ReplyToUser, Mentions: t.Mentions,
			Replies: t.Replies, Reposts: t.Reposts, Likes: t.Likes,
			SignedIn: v != nil, Own: own, Editable: own && now.Sub(t.Time) < s.editWindow, Liked: t.Liked, Reposted: t.Reposted, RepostedBy: t.RepostedBy}
		if !t.Edited.IsZero() {
			views[i].Edited, views[i].EditedAgo = t.Edited.Unix(), timeAgo(t.Edited, now)
		}
	}
	return views
}

// pageAndSecret reads what every paged page needs: the page number asked
// for, and the session's pytwis secret ("" for nobody).
func (s *Server) pageAndSecret(r *http.Request) (int, string, error) {
	n, err := pageParam(r)
	if err != nil {
		return 0, "", err
	}
	secret, err := s.secret(r)
	return n, secret, err
}

// tweetList is the markup of tweets as a page lists them to the viewer
// (renderer.tweetList).
func (s *Server) tweetList(tweets []store.Tweet, v *store.Viewer) (template.HTML, error) {
	return s.rd.tweetList(s.tweetViews(tweets, v))
}

// generalTimeline: GET /tweets/general_timeline — everybody's newest tweets
// (store.Timeline, General: the "timeline" list), for anyone.
func (s *Server) generalTimeline(w http.ResponseWriter, r *http.Request) error {
	return s.renderTimeline(w, r, http.StatusOK, store.General, nil)
}

// userTimeline: GET /tweets/user_timeline — the signed-in user's timeline
// (store.Timeline, Own: "timeline:<id>") and the post form.
func (s *Server) userTimeline(w http.ResponseWriter, r *http.Request) error {
	return s.renderTimeline(w, r, http.StatusOK, store.Own, newTweetForm("", ""))
}

// renderTimeline renders a page of a feed with the post form f (nil for
// none). The own timeline of nobody signed in sends to the sign-in page.
func (s *Server) renderTimeline(w http.ResponseWriter, r *http.Request, status int, feed store.Feed, f *postForm) error {
	n, secret, err := s.pageAndSecret(r)
	if err != nil {
		return err
	}
	v, p, err := s.store.Timeline(r.Context(), secret, feed, (n-1)*pageSize, pageSize)
	if err != nil && !errors.Is(err, store.ErrNotLoggedIn) {
		return err
	}
	s.adopt(r, secret, v)
	if err != nil {
		return errLoginRequired
	}
	title, stream := "Recent Timeline", "public"
	if feed == store.Own {
		title, stream = "Your Timeline", "home"
	}
	if err := pastEnd(n, len(p.Tweets) == 0, p.More); err != nil {
		return err
	}
	tweets, err := s.tweetList(p.Tweets, v)
	if err != nil {
		return err
	}
	return s.render(w, r, status, "timeline", &timelinePage{
		layout:   layout{Title: title, Live: liveOnFirst(n, stream)},
		Heading:  title,
		PostForm: f,
		Tweets:   tweets,
		Pager:    newPager(r.URL.Path, n, p.More),
	})
}

// postTweet: POST /tweets/user_timeline — store.PostAs, which checks the
// session's secret and posts the tweet: onto the author's and the general
// timeline at once, and onto the followers' directly or, for many, through
// a fan-out job. The secret is checked by the post itself, not by a round
// trip before it (requireViewer), as nothing else here needs the viewer
// unless the tweet is refused or a per-account limit is on.
func (s *Server) postTweet(w http.ResponseWriter, r *http.Request) error {
	return s.submitTweet(w, r, s.store.PostAs, func(body string, refusal *store.Error) error {
		return s.composeAgain(w, r, http.StatusUnprocessableEntity, body, refusal.Msg)
	}, "Tweet successfully posted", "/tweets/user_timeline")
}

// composeAgain shows the signed-in user's timeline with the text in its
// post form, above the message.
func (s *Server) composeAgain(w http.ResponseWriter, r *http.Request, status int, body, msg string) error {
	if _, err := s.requireViewer(r); err != nil {
		return err
	}
	return s.renderTimeline(w, r, status, store.Own, newTweetForm(body, msg))
}

// submitTweet reads the form's tweet, counts it against the post limits and
// posts it with post, which checks the session's secret itself. A refusal
// shows the text again in a form, by again, under the first page; a
// session that is not current asks to sign in. Success flashes done and
// goes to to.
func (s *Server) submitTweet(w http.ResponseWriter, r *http.Request, post func(ctx context.Context, secret, body string) (string, error),
	again func(body string, refusal *store.Error) error, done, to string) error {
	form, err := s.readForm(w, r)
	if err != nil {
		return err
	}
	secret, err := s.secret(r)
	if err != nil {
		return err
	}
	if err := s.limitPost(r); err != nil {
		return err
	}
	body := form.Get("tweet")
	_, err = post(r.Context(), secret, body)
	var refusal *store.Error
	switch {
	case errors.Is(err, store.ErrNotLoggedIn):
		s.adopt(r, secret, nil)
		return errLoginRequired
	case errors.As(err, &refusal):
		r.URL.RawQuery = ""
		return again(body, refusal)
	case err != nil:
		return err
	}
	s.metrics.Posted()
	s.addFlash(r, flashOK, done)
	return s.redirect(w, r, to)
}

type userHistoryPage struct {
	layout
	User      *store.UserPage
	CanFollow bool
	Tweets    template.HTML // tweetList
	Pager     pager
}

// userHistory: GET /tweets/user_history/{username} — the tweets the user
// posted (store.UserTweets: "tweets_by:<id>"), with Follow or Unfollow for
// another signed-in user.
func (s *Server) userHistory(w http.ResponseWriter, r *http.Request) error {
	n, secret, err := s.pageAndSecret(r)
	if err != nil {
		return err
	}
	name := r.PathValue("username")
	v, up, err := s.store.UserTweets(r.Context(), secret, name, (n-1)*pageSize, pageSize)
	s.adopt(r, secret, v)
	var refusal *store.Error
	if errors.As(err, &refusal) && refusal.Kind == store.NotFound {
		// An address typed with another case finds the user, as a mention
		// does; pytwis's names are exact, so this is only a way there.
		registered, err := s.store.RegisteredName(r.Context(), name)
		if err != nil {
			return err
		}
		if registered != "" && registered != name {
			to := &url.URL{Path: "/tweets/user_history/" + registered, RawQuery: r.URL.RawQuery}
			return s.redirect(w, r, to.String())
		}
	}
	if err != nil {
		return err
	}
	if err := pastEnd(n, len(up.Tweets) == 0, up.More); err != nil {
		return err
	}
	tweets, err := s.tweetList(up.Tweets, v)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "user_history", &userHistoryPage{
		layout:    layout{Title: up.Username, Live: liveOnFirst(n, "user:"+up.Username)},
		User:      &up,
		CanFollow: v != nil && v.ID != up.ID,
		Tweets:    tweets,
		Pager:     newPager(r.URL.Path, n, up.More),
	})
}

// follow: POST /tweets/follow/{username} — store.Follow.
func (s *Server) follow(w http.ResponseWriter, r *http.Request) error {
	return s.changeFollow(w, r, s.store.Follow, "Followed ")
}

// unfollow: POST /tweets/unfollow/{username} — store.Unfollow.
func (s *Server) unfollow(w http.ResponseWriter, r *http.Request) error {
	return s.changeFollow(w, r, s.store.Unfollow, "Unfollowed ")
}

func (s *Server) changeFollow(w http.ResponseWriter, r *http.Request, op func(ctx context.Context, userID, name string) error, done string) error {
	_, v, err := s.viewerForm(w, r)
	if err != nil {
		return err
	}
	if err := s.limitAction(r, bucketFollow, "follows", v.ID, s.limits.FollowPerClient, s.limits.FollowPerUser); err != nil {
		return err
	}
	name := r.PathValue("username")
	if err := op(r.Context(), v.ID, name); err != nil {
		return err
	}
	s.addFlash(r, flashOK, done+name)
	return s.redirect(w, r, "/tweets/user_history/"+url.PathEscape(name))
}

type tweetPage struct {
	layout
	Tweet      template.HTML // the tweet, as lists show it
	TweetID    string
	Ancestors  template.HTML // tweetList, oldest first
	Replies    template.HTML // tweetList, newest first
	ReplyCount int64
	Reply      *postForm // nil: nobody signed in
	Pager      pager
	// Versions are the tweet's earlier texts, newest first.
	Versions []versionView
}

// versionView is an earlier text of an edited tweet.
type versionView struct {
	Body, Datetime, Ago string
}

// tweetPage: GET /tweets/{id} — one tweet and its conversation
// (store.TweetConversation: tweet:<id>, the tweets it answers, and
// pytwask:replies:<id>), with a reply form for a signed-in user.
func (s *Server) tweetPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderTweet(w, r, http.StatusOK, "", "")
}

// renderTweet renders a tweet's page, its reply form holding body and the
// refusal msg.
func (s *Server) renderTweet(w http.ResponseWriter, r *http.Request, status int, body, msg string) error {
	n, secret, err := s.pageAndSecret(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	v, c, err := s.store.TweetConversation(r.Context(), secret, id, (n-1)*pageSize, pageSize)
	s.adopt(r, secret, v)
	if err != nil {
		return err
	}
	if err := pastEnd(n, len(c.Replies.Tweets) == 0, c.Replies.More); err != nil {
		return err
	}
	tweet, err := s.tweetList([]store.Tweet{c.Tweet}, v)
	if err != nil {
		return err
	}
	ancestors, err := s.tweetList(c.Ancestors, v)
	if err != nil {
		return err
	}
	replies, err := s.tweetList(c.Replies.Tweets, v)
	if err != nil {
		return err
	}
	var reply *postForm
	if v != nil {
		reply = replyForm(id, body, msg)
	}
	var versions []versionView
	if !c.Tweet.Edited.IsZero() {
		earlier, err := s.store.Versions(r.Context(), id)
		if err != nil {
			return err
		}
		for _, e := range earlier {
			versions = append(versions, versionView{Body: e.Body, Datetime: e.Time.UTC().Format(time.RFC3339), Ago: timeAgo(e.Time, s.now())})
		}
	}
	return s.render(w, r, status, "tweet", &tweetPage{
		layout: layout{Title: c.Tweet.Username + ": “" + shorten(c.Tweet.Body, 40) + "”", Description: c.Tweet.Body,
			Live: "tweet:" + c.Tweet.ID},
		Tweet:      tweet,
		TweetID:    c.Tweet.ID,
		Ancestors:  ancestors,
		Replies:    replies,
		ReplyCount: c.Tweet.Replies,
		Reply:      reply,
		Pager:      newPager(r.URL.Path, n, c.Replies.More),
		Versions:   versions,
	})
}

// shorten cuts s to at most n characters, with an ellipsis if it was cut.
func shorten(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// replyTweet: POST /tweets/reply/{id} — store.Reply: a tweet that answers
// tweet id, listed under it and posted like any tweet. Counted as a post
// against the limits. A reply to a tweet deleted since its page was read
// is a 404 that keeps the text, in the timeline's post form.
func (s *Server) replyTweet(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	reply := func(ctx context.Context, secret, body string) (string, error) {
		return s.store.Reply(ctx, secret, id, body)
	}
	return s.submitTweet(w, r, reply, func(body string, refusal *store.Error) error {
		if refusal.Kind == store.NotFound {
			return s.composeAgain(w, r, http.StatusNotFound, body,
				"The tweet you replied to is not there any more (deleted, perhaps), so your reply was not posted. Your text is kept here.")
		}
		return s.renderTweet(w, r, http.StatusUnprocessableEntity, body, refusal.Msg)
	}, "Reply posted", "/tweets/"+id)
}

// tagPage: GET /tags/{tag} — the tweets with the hashtag
// (store.TagTweets: pytwask:tag:<tag>, folded), newest first, for anyone.
// A tag nobody used is an empty page.
func (s *Server) tagPage(w http.ResponseWriter, r *http.Request) error {
	n, secret, err := s.pageAndSecret(r)
	if err != nil {
		return err
	}
	tag := r.PathValue("tag")
	if !store.ValidTag(tag) {
		return errorf(http.StatusNotFound, "There is no such tag.")
	}
	v, p, err := s.store.TagTweets(r.Context(), secret, tag, (n-1)*pageSize, pageSize)
	s.adopt(r, secret, v)
	if err != nil {
		return err
	}
	if err := pastEnd(n, len(p.Tweets) == 0, p.More); err != nil {
		return err
	}
	tweets, err := s.tweetList(p.Tweets, v)
	if err != nil {
		return err
	}
	title := "#" + store.FoldTag(tag)
	return s.render(w, r, http.StatusOK, "timeline", &timelinePage{
		layout:  layout{Title: title, Live: liveOnFirst(n, "tag:"+store.FoldTag(tag))},
		Heading: title,
		Tweets:  tweets,
		Pager:   newPager(r.URL.Path, n, p.More),
	})
}

// like: POST /tweets/like/{id} — store.Like: the signed-in user likes the
// tweet (pytwask:likes:{tweet:<id>}), once however often sent.
func (s *Server) like(w http.ResponseWriter, r *http.Request) error {
	return s.markTweet(w, r, s.store.Like, true, "Liked.")
}

// unlike: POST /tweets/unlike/{id} — store.Like, undone.
func (s *Server) unlike(w http.ResponseWriter, r *http.Request) error {
	return s.markTweet(w, r, s.store.Like, false, "Like taken back.")
}

// repost: POST /tweets/repost/{id} — store.Repost: the signed-in user
// reposts the tweet (pytwask:reposts:{tweet:<id>}), which puts it on their
// followers' timelines; once however often sent.
func (s *Server) repost(w http.ResponseWriter, r *http.Request) error {
	return s.markTweet(w, r, s.store.Repost, true, "Reposted.")
}

// unrepost: POST /tweets/unrepost/{id} — store.Repost, undone.
func (s *Server) unrepost(w http.ResponseWriter, r *http.Request) error {
	return s.markTweet(w, r, s.store.Repost, false, "Repost undone.")
}

// markTweet sets or clears the viewer's like or repost of the tweet in the
// path, within the limits on follows (the same kind of cheap, repeatable
// click), and goes back to the page the form was on.
func (s *Server) markTweet(w http.ResponseWriter, r *http.Request, mark func(ctx context.Context, secret, id string, on bool) error,
	on bool, done string) error {
	_, v, err := s.viewerForm(w, r)
	if err != nil {
		return err
	}
	if err := s.limitAction(r, bucketLike, "likes and reposts", v.ID, s.limits.FollowPerClient, s.limits.FollowPerUser); err != nil {
		return err
	}
	secret, err := s.secret(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := mark(r.Context(), secret, id, on); err != nil {
		if errors.Is(err, store.ErrNotLoggedIn) {
			return errLoginRequired
		}
		return err
	}
	s.addFlash(r, flashOK, done)
	return s.redirect(w, r, back(r, "/tweets/"+id)+"#tweet-"+id)
}

// back is the on-site page a form was sent from (its Referer, which the
// Referrer-Policy sends whole to this origin), or fallback.
func back(r *http.Request, fallback string) string {
	ref, err := url.Parse(r.Referer())
	if err != nil || ref.Host != r.Host || ref.Path == "" {
		return fallback
	}
	to := ref.EscapedPath()
	if ref.RawQuery != "" {
		to += "?" + ref.RawQuery
	}
	if next, ok := safeNext(to); ok && next != "" {
		return next
	}
	return fallback
}

type notificationsPage struct {
	layout
	Items []notificationView
	Pager pager
}

// notificationView is a notification as the page shows it.
type notificationView struct {
	Kind, Actor, Datetime, Ago string
	TweetID, Snippet           string // the tweet it is about, if any
}

// notifications: GET /notifications — the signed-in user's notifications,
// newest first (store.Notifications: pytwask:notifications:<id>); reading
// them clears the unread count in the navigation.
func (s *Server) notifications(w http.ResponseWriter, r *http.Request) error {
	n, secret, err := s.pageAndSecret(r)
	if err != nil {
		return err
	}
	v, items, more, err := s.store.Notifications(r.Context(), secret, (n-1)*pageSize, pageSize)
	if errors.Is(err, store.ErrNotLoggedIn) {
		s.adopt(r, secret, nil)
		return errLoginRequired
	}
	s.adopt(r, secret, v)
	if err != nil {
		return err
	}
	if err := pastEnd(n, len(items) == 0, more); err != nil {
		return err
	}
	now := s.now()
	views := make([]notificationView, len(items))
	for i, it := range items {
		views[i] = notificationView{Kind: it.Kind, Actor: it.Actor, Ago: timeAgo(it.Time, now),
			Datetime: it.Time.UTC().Format(time.RFC3339)}
		if it.Tweet != nil {
			views[i].TweetID, views[i].Snippet = it.Tweet.ID, shorten(it.Tweet.Body, 80)
		}
	}
	return s.render(w, r, http.StatusOK, "notifications", &notificationsPage{
		layout: layout{Title: "Notifications"},
		Items:  views,
		Pager:  newPager(r.URL.Path, n, more),
	})
}

type deletePage struct {
	layout
	Tweet   template.HTML
	TweetID string
	Cancel  string
}

// ownTweet is the signed-in viewer and their tweet of the request's {id}:
// store.ErrNotYourTweet if someone else wrote it.
func (s *Server) ownTweet(r *http.Request) (*store.Viewer, store.Tweet, error) {
	v, err := s.requireViewer(r)
	if err != nil {
		return nil, store.Tweet{}, err
	}
	secret, err := s.secret(r)
	if err != nil {
		return nil, store.Tweet{}, err
	}
	_, c, err := s.store.TweetConversation(r.Context(), secret, r.PathValue("id"), 0, 0)
	if err != nil {
		return nil, store.Tweet{}, err
	}
	if c.Tweet.UserID != v.ID {
		return nil, store.Tweet{}, store.ErrNotYourTweet
	}
	return v, c.Tweet, nil
}

// deletePage asks the author to confirm the deletion of their tweet: a form
// without JavaScript, sent to deleteTweet.
func (s *Server) deletePage(w http.ResponseWriter, r *http.Request) error {
	v, own, err := s.ownTweet(r)
	if err != nil {
		return err
	}
	id := own.ID
	tweet, err := s.tweetList([]store.Tweet{own}, v)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "delete", &deletePage{
		layout: layout{Title: "Delete tweet"}, Tweet: tweet, TweetID: id, Cancel: back(r, "/tweets/"+id),
	})
}

// deleteTweet deletes the viewer's tweet (store.DeleteTweet), counted
// against the post limits, and goes to their profile.
func (s *Server) deleteTweet(w http.ResponseWriter, r *http.Request) error {
	_, v, err := s.viewerForm(w, r)
	if err != nil {
		return err
	}
	if err := s.limitAction(r, bucketDelete, "deletions", v.ID, s.limits.PostPerClient, s.limits.PostPerUser); err != nil {
		return err
	}
	secret, err := s.secret(r)
	if err != nil {
		return err
	}
	if err := s.store.DeleteTweet(r.Context(), secret, r.PathValue("id")); err != nil {
		if errors.Is(err, store.ErrNotLoggedIn) {
			return errLoginRequired
		}
		return err
	}
	s.addFlash(r, flashOK, "Your tweet was deleted.")
	return s.redirect(w, r, "/tweets/user_history/"+url.PathEscape(v.Username))
}

type editPage struct {
	layout
	Tweet  template.HTML
	Form   *postForm
	Window string
}

// editPage: GET /tweets/edit/{id} — the author's tweet and a form with its
// text, while the tweet may still be edited.
func (s *Server) editPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderEdit(w, r, http.StatusOK, nil)
}

// renderEdit renders the edit page of the tweet, with the text sent and its
// refusal in form (nil: the tweet's own text).
func (s *Server) renderEdit(w http.ResponseWriter, r *http.Request, status int, form *postForm) error {
	v, own, err := s.ownTweet(r)
	if err != nil {
		return err
	}
	id := own.ID
	views := s.tweetViews([]store.Tweet{own}, v)
	if !views[0].Editable {
		return store.ErrEditTooLate(s.editWindow)
	}
	tweet, err := s.rd.tweetList(views)
	if err != nil {
		return err
	}
	if form == nil {
		form = editForm(id, own.Body, "")
	}
	return s.render(w, r, status, "edit", &editPage{
		layout: layout{Title: "Edit tweet"}, Tweet: tweet, Form: form, Window: store.Span(s.editWindow),
	})
}

// editTweet: POST /tweets/edit/{id} — store.EditTweet, counted against the
// post limits; goes to the tweet's page. A refused text shows the form
// again.
func (s *Server) editTweet(w http.ResponseWriter, r *http.Request) error {
	form, v, err := s.viewerForm(w, r)
	if err != nil {
		return err
	}
	if err := s.limitAction(r, bucketEdit, "edits", v.ID, s.limits.PostPerClient, s.limits.PostPerUser); err != nil {
		return err
	}
	secret, err := s.secret(r)
	if err != nil {
		return err
	}
	id, body := r.PathValue("id"), form.Get("tweet")
	changed, err := s.store.EditTweet(r.Context(), secret, id, body, s.editWindow)
	var refusal *store.Error
	switch {
	case errors.Is(err, store.ErrNotLoggedIn):
		return errLoginRequired
	case errors.As(err, &refusal) && refusal.Kind == store.Invalid:
		return s.renderEdit(w, r, http.StatusUnprocessableEntity, editForm(id, body, refusal.Msg))
	case err != nil:
		return err
	}
	if changed {
		s.addFlash(r, flashOK, "Tweet edited.")
	} else {
		s.addFlash(r, flashOK, "The text is the same, so the tweet is unchanged.")
	}
	return s.redirect(w, r, "/tweets/"+id)
}

type searchPage struct {
	layout
	Query    string
	Searched bool   // a query was given and is valid
	Error    string // why the query was refused
	Users    []string
	Tweets   template.HTML
	Pager    pager
}

// search: GET /search?q= — the users whose names match (store.SearchUsers:
// pytwask:names:{names}) and a page of the tweets with every word of the
// query, or its #tag (store.SearchTweets: pytwask:word2:<word>), for
// anyone. No query is the search form alone; one with nothing to look for
// is a 400 that says why.
func (s *Server) search(w http.ResponseWriter, r *http.Request) error {
	n, secret, err := s.pageAndSecret(r)
	if err != nil {
		return err
	}
	raw := r.URL.Query().Get("q")
	page := &searchPage{layout: layout{Title: "Search"}}
	if len(raw) <= 4*store.MaxQueryLen {
		page.Query = raw // shown again in the form; a longer one is not
	}
	q, err := store.ParseQuery(raw)
	var refusal *store.Error
	if blank := strings.TrimSpace(raw) == ""; blank || errors.As(err, &refusal) {
		// The form alone, or again with why the query was refused.
		v, err := s.store.Authenticate(r.Context(), secret)
		s.adopt(r, secret, v)
		if err != nil && !errors.Is(err, store.ErrNotLoggedIn) {
			return err
		}
		status := http.StatusOK
		if !blank {
			page.Error, status = refusal.Msg, http.StatusBadRequest
		}
		return s.render(w, r, status, "search", page)
	}
	if err != nil {
		return err
	}
	v, p, err := s.store.SearchTweets(r.Context(), secret, q, (n-1)*pageSize, pageSize)
	s.adopt(r, secret, v)
	if err != nil {
		return err
	}
	if err := pastEnd(n, len(p.Tweets) == 0, p.More); err != nil {
		return err
	}
	if n == 1 {
		if page.Users, err = s.store.SearchUsers(r.Context(), q); err != nil {
			return err
		}
	}
	if page.Tweets, err = s.tweetList(p.Tweets, v); err != nil {
		return err
	}
	page.Title = "Search: " + shorten(raw, 40)
	page.Searched = true
	page.Pager = newPager("/search?q="+url.QueryEscape(raw), n, p.More)
	return s.render(w, r, http.StatusOK, "search", page)
}
