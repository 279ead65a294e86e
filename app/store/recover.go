package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/password"
)

// Password recovery. A user may give an email address, confirmed by a link
// sent to it; then "forgot your password" sends a link that sets a new
// password. The keys, pytwask's own:
//
//   - pytwask:email:<user id> (string): the confirmed address;
//     pytwask:email_user:<address, lower case> (string): whose it is.
//   - pytwask:token:<SHA-256 of the token, hex> (hash: kind, user id,
//     address), with an expiry: a link's token. Only its hash is kept, so
//     that a copy of the database holds no working link; taking it deletes
//     it, so a link works once.

const (
	// ResetTTL is how long a password reset link works.
	ResetTTL = time.Hour
	// ConfirmTTL is how long an address confirmation link works.
	ConfirmTTL = 24 * time.Hour

	prefixEmail     = "pytwask:email:"
	prefixEmailUser = "pytwask:email_user:"
	prefixToken     = "pytwask:token:"
)

func emailKey(uid string) string      { return prefixEmail + uid }
func emailUserKey(addr string) string { return prefixEmailUser + strings.ToLower(addr) }
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return prefixToken + hex.EncodeToString(sum[:])
}

// ErrBadLink refuses a link that expired, was used, or never was.
var ErrBadLink = &Error{Invalid, "This link has expired or was used already. Ask for a new one."}

// takeTokenScript: KEYS a token's hash; ARGV its kind. Returns the token's
// fields and deletes it, or false if there is none of that kind. It marks
// the token taken before deleting it: a full Redis (WritesRefused) refuses
// that write, where it would take the deletion, so that a link used then
// is not spent on a change that Redis refuses next.
var takeTokenScript = script(`
local t = redis.call('HMGET', KEYS[1], 'kind', 'uid', 'address', 'password')
if t[1] ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], 'taken', '1')
redis.call('DEL', KEYS[1])
return {t[2], t[3] or '', t[4] or ''}
`)

// newToken stores a token of kind for the user (and address, and for a
// reset the fingerprint of the password it replaces) for ttl, and returns
// it.
func (s *Store) newToken(ctx context.Context, kind, uid, address, password string, ttl time.Duration) (string, error) {
	token := newSecret()
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		p.HSet(ctx, tokenKey(token), "kind", kind, "uid", uid, "address", address, "password", password)
		p.Expire(ctx, tokenKey(token), ttl)
	})
	return token, err
}

// passwordPrint tells a password hash apart from the next one without
// keeping it where a token is: the first 16 bytes of its SHA-256, in hex.
func passwordPrint(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:16])
}

// resetStands reports whether a reset link made for the user, for the
// password of pwPrint and mailed to address ("" for an operator's link),
// still stands: the password is still that one, and the address still
// the account's. A link outlives neither: one made before a change of the
// password may be a leftover an intruder kept, and one mailed to an
// address the user replaced or removed may reach someone who now has it.
// Links made before pytwask kept the print (none) are taken as they were.
func (s *Store) resetStands(ctx context.Context, uid, address, pwPrint string) (bool, error) {
	var hash, current *redis.StringCmd
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		hash = p.HGet(ctx, userKey(uid), fieldPasswordHash)
		current = p.Get(ctx, emailKey(uid))
	}); err != nil {
		return false, fmt.Errorf("password reset: %w", err)
	}
	return (pwPrint == "" || passwordPrint(hash.Val()) == pwPrint) &&
		(address == "" || strings.EqualFold(current.Val(), address)), nil
}

// CheckAddress returns the address as it will be kept, or a refusal.
func CheckAddress(address string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(address))
	if err != nil || a.Name != "" || len(a.Address) > 254 || !strings.Contains(a.Address, "@") {
		return "", refuse(Invalid, "That is not an email address.")
	}
	return a.Address, nil
}

// AddressToken returns a token that confirms address as the email address
// of the user whose secret it is (ConfirmAddress), for ConfirmTTL.
func (s *Store) AddressToken(ctx context.Context, secret, address string) (string, error) {
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		return "", err
	}
	if address, err = CheckAddress(address); err != nil {
		return "", err
	}
	token, err := s.newToken(ctx, "confirm", v.ID, address, "", ConfirmTTL)
	if err != nil {
		return "", fmt.Errorf("confirm an address: %w", err)
	}
	return token, nil
}

// Confirmed is an address ConfirmAddress made a user's, and the one it
// replaced ("" if none, or the same address).
type Confirmed struct{ Address, Previous string }

// ConfirmAddress takes a token from AddressToken and makes its address the
// user's. ErrBadLink for a token that does not work or whose account was
// deleted since, a Conflict refusal if another user has the address.
func (s *Store) ConfirmAddress(ctx context.Context, token string) (Confirmed, error) {
	// Once Redis has the request the link is spent: the address is set
	// whatever the caller does.
	ctx, err := begin(ctx)
	if err != nil {
		return Confirmed{}, err
	}
	res, err := takeTokenScript.Run(ctx, s.rdb, []string{tokenKey(token)}, "confirm").StringSlice()
	if errors.Is(err, redis.Nil) {
		return Confirmed{}, ErrBadLink
	}
	if err != nil || len(res) != 3 {
		return Confirmed{}, fmt.Errorf("confirm an address: %v %w", res, err)
	}
	uid, address := res[0], res[1]
	if live, err := s.liveUser(ctx, uid); err != nil {
		return Confirmed{}, fmt.Errorf("confirm an address: %w", err)
	} else if !live {
		return Confirmed{}, ErrBadLink
	}
	ok, err := s.rdb.SetNX(ctx, emailUserKey(address), uid, 0).Result()
	if err != nil {
		return Confirmed{}, fmt.Errorf("confirm an address: %w", err)
	}
	if !ok {
		if owner, err := s.rdb.Get(ctx, emailUserKey(address)).Result(); err != nil || owner != uid {
			return Confirmed{}, refuse(Conflict, "Another account has that email address.")
		}
	}
	old, err := s.rdb.GetSet(ctx, emailKey(uid), address).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Confirmed{}, fmt.Errorf("confirm an address: %w", err)
	}
	if strings.EqualFold(old, address) {
		old = ""
	}
	if old != "" {
		if err := s.rdb.Del(ctx, emailUserKey(old)).Err(); err != nil {
			return Confirmed{}, fmt.Errorf("confirm an address: %w", err)
		}
	}
	// deleteAccount takes the name out of users before it reads the
	// address to remove it: an account deleted since the check above
	// either removes this address itself, or is seen gone here.
	if live, err := s.liveUser(ctx, uid); err != nil {
		return Confirmed{}, fmt.Errorf("confirm an address: %w", err)
	} else if !live {
		if err := s.forgetAddress(ctx, uid, address); err != nil {
			return Confirmed{}, err
		}
		return Confirmed{}, ErrBadLink
	}
	return Confirmed{Address: address, Previous: old}, nil
}

// delIfScript: KEYS a string key; ARGV a value. Deletes the key if it
// holds that value.
var delIfScript = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// forgetAddress removes address as the user's: their address if it is
// still that one, and whose the address is if it is still theirs. A
// confirmation of another address meanwhile keeps its own (it replaces
// this one, and takes it off). Two keys in two slots, so two calls;
// between them the address names a user who has none, which ResetToken
// takes as no address.
func (s *Store) forgetAddress(ctx context.Context, uid, address string) error {
	if err := delIfScript.Run(ctx, s.rdb, []string{emailKey(uid)}, address).Err(); err != nil {
		return fmt.Errorf("forget the address of user %s: %w", uid, err)
	}
	if err := delIfScript.Run(ctx, s.rdb, []string{emailUserKey(address)}, uid).Err(); err != nil {
		return fmt.Errorf("forget the address of user %s: %w", uid, err)
	}
	return nil
}

// RemoveAddress forgets the confirmed email address of the user whose
// secret it is, and returns it ("" when there was none): a forgotten
// password can no longer be reset by email.
func (s *Store) RemoveAddress(ctx context.Context, secret string) (string, error) {
	v, err := s.Authenticate(ctx, secret)
	if err != nil {
		return "", err
	}
	address, err := s.AddressOf(ctx, v.ID)
	if err != nil || address == "" {
		return "", err
	}
	return address, s.forgetAddress(ctx, v.ID, address)
}

// AddressOf is the user's confirmed email address ("" for none).
func (s *Store) AddressOf(ctx context.Context, uid string) (string, error) {
	a, err := s.rdb.Get(ctx, emailKey(uid)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return a, err
}

// ResetToken finds the user named, or whose confirmed address is, who, and
// returns their address and a password reset token for ResetTTL; "" and ""
// when there is no such user or they have no address (the caller answers
// the same either way).
func (s *Store) ResetToken(ctx context.Context, who string) (address, token string, err error) {
	who = strings.TrimSpace(who)
	uid, err := s.rdb.HGet(ctx, keyUsers, who).Result()
	if errors.Is(err, redis.Nil) && strings.Contains(who, "@") {
		uid, err = s.rdb.Get(ctx, emailUserKey(who)).Result()
	}
	if errors.Is(err, redis.Nil) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("password reset: %w", err)
	}
	if address, err = s.AddressOf(ctx, uid); err != nil || address == "" {
		return "", "", err
	}
	token, err = s.resetToken(ctx, uid, address)
	return address, token, err
}

// ResetTokenFor is a password reset token for the user, whatever their
// address: for an operator (pytwask cli) where no email is sent.
func (s *Store) ResetTokenFor(ctx context.Context, username string) (string, error) {
	uid, err := s.rdb.HGet(ctx, keyUsers, username).Result()
	if errors.Is(err, redis.Nil) {
		return "", refuse(NotFound, "username %s doesn't exist", username)
	}
	if err != nil {
		return "", fmt.Errorf("password reset: %w", err)
	}
	return s.resetToken(ctx, uid, "")
}

// resetToken is a reset token for the user, mailed to address ("" for an
// operator's), made for the password they have now (resetStands).
func (s *Store) resetToken(ctx context.Context, uid, address string) (string, error) {
	hash, err := s.rdb.HGet(ctx, userKey(uid), fieldPasswordHash).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("password reset: %w", err)
	}
	return s.newToken(ctx, "reset", uid, address, passwordPrint(hash), ResetTTL)
}

// ResetWorks reports whether a reset token would work now.
func (s *Store) ResetWorks(ctx context.Context, token string) (bool, error) {
	t, err := s.rdb.HMGet(ctx, tokenKey(token), "kind", "uid", "address", "password").Result()
	if err != nil {
		return false, fmt.Errorf("password reset: %w", err)
	}
	if str(t[0]) != "reset" {
		return false, nil
	}
	return s.resetStands(ctx, str(t[1]), str(t[2]), str(t[3]))
}

// ResetPassword takes a reset token and sets the user's new password,
// ending every session as a password change does. A weak password is
// refused before the token is taken, so it can be tried again.
func (s *Store) ResetPassword(ctx context.Context, client, token, newPassword string) error {
	if !password.Strong(newPassword) {
		return ErrWeakPassword
	}
	// Once Redis has the request the link is spent: the password is set
	// whatever the caller does.
	ctx, err := begin(ctx)
	if err != nil {
		return err
	}
	res, err := takeTokenScript.Run(ctx, s.rdb, []string{tokenKey(token)}, "reset").StringSlice()
	if errors.Is(err, redis.Nil) {
		return ErrBadLink
	}
	if err != nil || len(res) != 3 {
		return fmt.Errorf("password reset: %v %w", res, err)
	}
	uid, address, pwPrint := res[0], res[1], res[2]
	if ok, err := s.resetStands(ctx, uid, address, pwPrint); err != nil {
		return err
	} else if !ok {
		return ErrBadLink
	}
	var hash string
	var hashErr error
	if err := s.withHashSlot(ctx, client, func() { hash, hashErr = s.hasher.Hash(newPassword) }); err != nil {
		return err
	}
	if hashErr != nil {
		return hashErr
	}
	for range 3 { // a sign-in meanwhile renews the secret: read it again
		u, err := s.rdb.HMGet(ctx, userKey(uid), fieldAuth, fieldPasswordHash).Result()
		if err != nil {
			return fmt.Errorf("password reset: %w", err)
		}
		if u[0] == nil {
			return ErrBadLink // the account is gone
		}
		if pwPrint != "" && passwordPrint(str(u[1])) != pwPrint {
			return ErrBadLink // the password changed since resetStands
		}
		n, err := s.rotate(ctx, str(u[0]), newSecret(), hash, str(u[1]))
		if err != nil {
			return fmt.Errorf("password reset: %w", err)
		}
		if n == 1 {
			return nil
		}
	}
	return ErrConcurrentPassword
}
