package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"

	"pytwask/app/live"
	"pytwask/app/password"
)

// Viewer is a signed-in user as the pages see them: never the hash or secret.
type Viewer struct {
	ID        string
	Username  string
	Followers int64
	Following int64
	// Unread is how many notifications came since the user last read them.
	Unread int64
}

// Register creates a user (pytwis register). The name is claimed in the same
// atomic step that creates the profile, so of two simultaneous sign-ups of one
// name exactly one wins and no half-made user is ever left behind.
func (s *Store) Register(ctx context.Context, username, pw string) error {
	switch {
	case len(username) > MaxUsernameLen:
		return ErrUsernameTooLong
	case !ValidUsername(username):
		return ErrInvalidUsername
	}
	if !password.Strong(pw) {
		return ErrWeakPassword
	}
	if held, err := s.nameHeld(ctx, username); err != nil || held {
		if err == nil {
			err = ErrNameReserved
		}
		return err
	}
	exists, err := s.rdb.HExists(ctx, keyUsers, username).Result()
	if err != nil {
		return fmt.Errorf("register %s: %w", username, err)
	}
	if exists { // checked again atomically below; this skips the costly hash
		return refuse(Conflict, "username %s already exists", username)
	}
	var hash string
	var hashErr error
	if err := s.withHashSlot(ctx, "", func() { hash, hashErr = s.hasher.Hash(pw) }); err != nil {
		return err
	}
	if hashErr != nil {
		return hashErr
	}
	secret, folded := newSecret(), FoldUsername(username)
	for range 3 {
		var id int64
		var err error
		if s.sharded {
			id, err = s.registerSharded(ctx, username, hash, secret, folded)
		} else {
			id, err = s.runDurable(ctx, registerScript, []string{keyUsers, keyNextUserID, keyAuths, keyFoldedNames, keyFoldedCount},
				username, hash, secret, folded).Int64()
		}
		switch {
		case err != nil:
			return fmt.Errorf("register %s: %w", username, err)
		case id == 0:
			return refuse(Conflict, "username %s already exists", username)
		case id == -2:
			return refuse(Conflict, "username %s already exists in other upper and lower case; usernames that differ only in case are the same", username)
		case id > 0:
			if err := s.indexName(ctx, username); err != nil {
				// The indexer fills it in: it finds fewer names than users.
				s.log.Warn("could not index a new user's name", "err", err)
			}
			return nil
		}
		if err := s.foldNames(ctx); err != nil {
			return fmt.Errorf("register %s: %w", username, err)
		}
	}
	return fmt.Errorf("register %s: users keep being added elsewhere while their names are indexed; try again", username)
}

// foldNames takes every name in users into the folded names (registerScript)
// and records how many users there were before it began: a user added
// meanwhile (by pytwis) may be missed by the scan, and the count then
// tells the next sign-up to fill them in again. Of existing names that
// differ only in case (pytwis allowed them), the folded name keeps one;
// both users still sign in with their own names.
func (s *Store) foldNames(ctx context.Context) error {
	count, err := s.rdb.HLen(ctx, keyUsers).Result()
	if err != nil {
		return err
	}
	iter := s.rdb.HScan(ctx, keyUsers, 0, "", 1000).Iterator()
	pipe := s.rdb.Pipeline()
	for iter.Next(ctx) {
		name := iter.Val()
		if !iter.Next(ctx) {
			break
		}
		pipe.HSetNX(ctx, keyFoldedNames, FoldUsername(name), iter.Val())
		if pipe.Len() >= 1000 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	pipe.Set(ctx, keyFoldedCount, count, 0)
	_, err = pipe.Exec(ctx)
	return err
}

// Login checks a password and returns the user's authentication secret
// (pytwis login). A hash weaker than the current policy is replaced by a new
// one on success. A refusal costs the same time whatever the stored hash
// cost, and unknown names cost the same as wrong passwords: the time tells
// nothing. client names whose line the check waits in (withHashSlot).
func (s *Store) Login(ctx context.Context, client, username, pw string) (secret string, err error) {
	var res []string
	if s.sharded {
		res, err = s.credentialsSharded(ctx, username)
	} else {
		res, err = credentialsScript.Run(ctx, s.rdb, []string{keyUsers}, username).StringSlice()
	}
	if errors.Is(err, redis.Nil) {
		if err := s.withHashSlot(ctx, client, func() { _, _ = password.Verify(s.dummyHash(), pw) }); err != nil {
			return "", err
		}
		return "", refuse(NotFound, "username %s doesn't exist", username)
	}
	if err != nil {
		return "", fmt.Errorf("login %s: %w", username, err)
	}
	id, stored := res[0], res[1]
	// The check, and the upgrade of a weak hash after a right password, in
	// one turn of the client's line.
	var ok bool
	var verifyErr, hashErr error
	var upgraded string
	if err := s.withHashSlot(ctx, client, func() {
		ok, verifyErr = password.Verify(stored, pw)
		switch {
		case !ok:
			s.padRefusal(stored, pw)
		case s.hasher.NeedsRehash(stored):
			upgraded, hashErr = s.hasher.Hash(pw)
		}
	}); err != nil {
		return "", err
	}
	if err := verifyErr; err != nil {
		// Never log the hash: only that it is of an unknown kind.
		s.log.Warn("stored password hash cannot be verified", "user_id", id, "err", err)
	}
	if !ok {
		return "", ErrIncorrectPassword
	}
	if upgraded != "" || hashErr != nil {
		s.rehash(ctx, id, stored, upgraded, hashErr)
	}
	secret, err = s.rdb.HGet(ctx, userKey(id), fieldAuth).Result()
	if errors.Is(err, redis.Nil) || err == nil && secret == "" {
		// The account's deletion took its secret during the check.
		return "", refuse(NotFound, "username %s doesn't exist", username)
	}
	if err != nil {
		return "", fmt.Errorf("login %s: read secret: %w", username, err)
	}
	return secret, nil
}

// padRefusal spends, after a refused check against a hash cheaper than the
// current policy, what the policy would have cost on top, so that a refusal
// does not tell an old account (or an old hash) by its speed.
func (s *Store) padRefusal(stored, pw string) {
	if pad := s.hasher.Padding(stored); pad != "" {
		_, _ = password.Verify(pad, pw)
	}
}

// rehash stores hash, of the password the old hash verified, in its place.
// A failure (hashErr, or Redis's) only costs the upgrade, so it is logged
// and sign-in goes on.
func (s *Store) rehash(ctx context.Context, id, old, hash string, hashErr error) {
	err := hashErr
	if err == nil {
		err = rehashScript.Run(ctx, s.rdb, []string{userKey(id)}, old, hash).Err()
	}
	if err != nil {
		s.log.Warn("could not upgrade a password hash", "user_id", id, "err", err)
	}
}

// Authenticate returns the user whose current secret this is, or
// ErrNotLoggedIn (pytwis _is_loggedin), with their follow counts.
func (s *Store) Authenticate(ctx context.Context, secret string) (*Viewer, error) {
	if secret == "" {
		return nil, ErrNotLoggedIn
	}
	if s.sharded {
		v, err := s.viewerSharded(ctx, secret)
		if err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		if v == nil {
			return nil, ErrNotLoggedIn
		}
		return v, nil
	}
	res, err := authenticateScript.Run(ctx, s.rdb, []string{keyAuths}, secret).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotLoggedIn
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	v := parseViewer(res)
	if v == nil {
		return nil, fmt.Errorf("authenticate: unexpected reply of %d values", len(res))
	}
	return v, nil
}

// parseViewer reads a script's {id, username, followers, following,
// unread}.
func parseViewer(res []any) *Viewer {
	if len(res) != 5 {
		return nil
	}
	v := &Viewer{ID: str(res[0]), Username: str(res[1])}
	v.Followers, _ = res[2].(int64)
	v.Following, _ = res[3].(int64)
	v.Unread, _ = strconv.ParseInt(str(res[4]), 10, 64)
	return v
}

// Logout replaces the user's secret (pytwis logout), which ends every session
// of that user at once.
func (s *Store) Logout(ctx context.Context, secret string) error {
	_, err := s.RenewSecret(ctx, secret)
	return err
}

// RenewSecret replaces the user's secret as Logout does, ending every
// session that holds it, and returns the new one, for the session that
// asked to keep ("sign out everywhere else").
func (s *Store) RenewSecret(ctx context.Context, secret string) (string, error) {
	renewed := newSecret()
	n, err := s.rotate(ctx, secret, renewed, "", "")
	if err != nil {
		return "", fmt.Errorf("renew secret: %w", err)
	}
	if n != 1 {
		return "", ErrNotLoggedIn
	}
	return renewed, nil
}

// ChangePassword verifies the old password, stores a hash of the new one and
// rotates the secret in one atomic step, returning the new secret so that the
// caller's own session survives while every other session ends.
//
// client names whose line the checks wait in, as for Login.
func (s *Store) ChangePassword(ctx context.Context, client, secret, oldPassword, newPassword string) (string, error) {
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		return "", err
	}
	stored, err := s.rdb.HGet(ctx, userKey(v.ID), fieldPasswordHash).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("change password: %w", err)
	}
	var ok bool
	if err := s.withHashSlot(ctx, client, func() {
		if ok, _ = password.Verify(stored, oldPassword); !ok {
			s.padRefusal(stored, oldPassword)
		}
	}); err != nil {
		return "", err
	}
	if !ok {
		return "", ErrIncorrectOld
	}
	if newPassword == oldPassword {
		return "", ErrSamePassword
	}
	if !password.Strong(newPassword) {
		return "", ErrWeakPassword
	}
	var hash string
	var hashErr error
	if err := s.withHashSlot(ctx, client, func() { hash, hashErr = s.hasher.Hash(newPassword) }); err != nil {
		return "", err
	}
	if hashErr != nil {
		return "", hashErr
	}
	newSecret := newSecret()
	n, err := s.rotate(ctx, secret, newSecret, hash, stored)
	switch {
	case err != nil:
		return "", fmt.Errorf("change password: %w", err)
	case n == 0:
		return "", ErrNotLoggedIn
	case n < 0:
		return "", ErrConcurrentPassword
	}
	return newSecret, nil
}

// rotate replaces the user's secret, and with a hash the password hash if
// it is still expected (rotateScript's replies).
// The pages open with the old secret are told their session ended.
func (s *Store) rotate(ctx context.Context, secret, renewed, hash, expected string) (int, error) {
	// Once the secret changes, the open pages of the sessions it ends hear
	// of it (their live streams close), whatever the caller does.
	ctx, err := begin(ctx)
	if err != nil {
		return 0, err
	}
	var n int
	if s.sharded {
		n, err = s.rotateSharded(ctx, secret, renewed, hash, expected)
	} else {
		n, err = s.runDurable(ctx, rotateScript, []string{keyAuths}, secret, renewed, hash, expected).Int()
	}
	if err == nil && n == 1 {
		s.events.Publish(ctx, &live.Event{Kind: live.KindEnd, Session: live.SessionTag(secret)})
	}
	return n, err
}

// Profile is what pytwis get_user_profile returned, less the password hash
// and the secret, which nothing may show.
type Profile struct {
	ID       string
	Username string
}

// UserProfile returns the signed-in user's profile.
func (s *Store) UserProfile(ctx context.Context, secret string) (Profile, error) {
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		return Profile{}, err
	}
	return Profile{ID: v.ID, Username: v.Username}, nil
}

// Followers returns the usernames of who follows the user, sorted: all of
// them, for pytwis_clt's followers command; pages use FollowersPage.
func (s *Store) Followers(ctx context.Context, userID string) ([]string, error) {
	return s.names(ctx, followerKey(userID))
}

// Following returns the usernames the user follows, sorted, all of them;
// pages use FollowingPage.
func (s *Store) Following(ctx context.Context, userID string) ([]string, error) {
	return s.names(ctx, followingKey(userID))
}

// People is one page of a follower or following list.
type People struct {
	Names []string // newest follow first
	Total int      // in the whole list
}

// PeoplePageSize is how many names a page of People holds.
const PeoplePageSize = 100

// FollowersPage returns page (from 1) of who follows the user, newest first.
func (s *Store) FollowersPage(ctx context.Context, userID string, page int) (People, error) {
	return s.namesPage(ctx, followerKey(userID), page)
}

// FollowingPage returns page (from 1) of whom the user follows, newest
// first.
func (s *Store) FollowingPage(ctx context.Context, userID string, page int) (People, error) {
	return s.namesPage(ctx, followingKey(userID), page)
}

func (s *Store) namesPage(ctx context.Context, key string, page int) (People, error) {
	start := (page - 1) * PeoplePageSize
	if s.sharded {
		total, err := s.rdb.ZCard(ctx, key).Result()
		if err != nil {
			return People{}, fmt.Errorf("read %s: %w", key, err)
		}
		ids, err := s.rdb.ZRevRange(ctx, key, int64(start), int64(start+PeoplePageSize-1)).Result()
		if err != nil {
			return People{}, fmt.Errorf("read %s: %w", key, err)
		}
		names, err := s.namesSharded(ctx, ids)
		if err != nil {
			return People{}, fmt.Errorf("read %s: %w", key, err)
		}
		return People{Names: names, Total: int(total)}, nil
	}
	res, err := namesPageScript.Run(ctx, s.rdb, []string{key}, start, start+PeoplePageSize-1).Slice()
	if err != nil {
		return People{}, fmt.Errorf("read %s: %w", key, err)
	}
	var p People
	for i, v := range res {
		switch v := v.(type) {
		case int64:
			if i == 0 {
				p.Total = int(v)
			}
		case string:
			p.Names = append(p.Names, v)
		}
	}
	return p, nil
}

func (s *Store) names(ctx context.Context, key string) ([]string, error) {
	var names []string
	var err error
	if s.sharded {
		var ids []string
		if ids, err = s.rdb.ZRange(ctx, key, 0, -1).Result(); err == nil {
			names, err = s.namesSharded(ctx, ids)
		}
	} else {
		names, err = namesScript.Run(ctx, s.rdb, []string{key}).StringSlice()
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	sort.Strings(names)
	return names, nil
}

// Follow makes the user follow the named user (pytwis follow).
func (s *Store) Follow(ctx context.Context, userID, followee string) error {
	return s.follow(ctx, userID, followee, "follow")
}

// Unfollow undoes Follow (pytwis unfollow).
func (s *Store) Unfollow(ctx context.Context, userID, followee string) error {
	return s.follow(ctx, userID, followee, "unfollow")
}

func (s *Store) follow(ctx context.Context, userID, followee, op string) error {
	// Once followed, the notice follows, whatever the caller does.
	ctx, err := begin(ctx)
	if err != nil {
		return err
	}
	var n int64
	if s.sharded {
		n, err = s.followSharded(ctx, userID, followee, op)
	} else {
		n, err = followScript.Run(ctx, s.rdb, []string{keyUsers}, userID, followee, s.now().Unix(), op).Int64()
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, followee, err)
	}
	switch n {
	case -1:
		return refuse(NotFound, "Followee %s doesn't exist", followee)
	case -2:
		return refuse(Invalid, "Can't follow yourself %s", followee)
	case -3:
		return ErrNotLoggedIn
	}
	if n == 0 {
		return nil // so already: nothing to tell
	}
	// Told as it stands, not as asked: a follow and an unfollow at once.
	fid := strconv.FormatInt(n, 10)
	s.tellAsItStands(ctx, notice{fid, NotifyFollow, userID, "-"}, func() (bool, error) {
		err := s.rdb.ZScore(ctx, followerKey(fid), userID).Err()
		if errors.Is(err, redis.Nil) {
			return false, nil
		}
		return err == nil, err
	})
	return nil
}

// str turns a Lua reply value (string or integer) into a string.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

// strs turns a Lua reply's list into strings, as str does each value.
func strs(list []any) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = str(v)
	}
	return out
}
