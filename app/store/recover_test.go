package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestPasswordRecovery: an address is the user's once its link is used
// (once); a reset token, found by name or address, sets a new password
// once, within its hour, ending every session; Redis keeps only hashes of
// tokens.
func TestPasswordRecovery(t *testing.T) {
	s, rdb := newStore(t)
	testPasswordRecovery(t, s, rdb)
}

// TestResetLinkOutlived: a reset link works only for the password and the
// address it was made for. One made before the password changed (on the
// settings page, or by another link), or mailed to an address the account
// has since replaced or removed (one its owner may have lost), no longer
// works; an operator's link, sent to no address, only ends with a change
// of the password. On one server and on a Cluster.
func TestResetLinkOutlived(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		alice, secret := mustRegister(t, s, "alice")
		setAddress := func(address string) {
			t.Helper()
			token, err := s.AddressToken(ctx, secret, address)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.ConfirmAddress(ctx, token); err != nil {
				t.Fatal(err)
			}
		}
		mailed := func() string {
			t.Helper()
			_, token, err := s.ResetToken(ctx, "alice")
			if err != nil || token == "" {
				t.Fatalf("ResetToken: %q, %v", token, err)
			}
			return token
		}
		operators := func() string {
			t.Helper()
			token, err := s.ResetTokenFor(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			return token
		}
		pw := "Passw0rd!"
		next := func() string { pw += "x"; return pw }
		setAddress("alice@example.com")
		for _, c := range []struct {
			name   string
			link   func() string
			change func()
			works  bool
		}{
			{"mailed, the password changed", mailed, func() {
				var err error
				old := pw
				if secret, err = s.ChangePassword(ctx, "", secret, old, next()); err != nil {
					t.Fatal(err)
				}
			}, false},
			{"mailed, another link used", mailed, func() {
				if err := s.ResetPassword(ctx, "", mailed(), next()); err != nil {
					t.Fatal(err)
				}
				secret, _ = s.Login(ctx, "", "alice", pw)
			}, false},
			{"mailed, the address replaced", mailed, func() { setAddress("alice@example.org") }, false},
			{"mailed, the address removed", mailed, func() {
				if _, err := s.RemoveAddress(ctx, secret); err != nil {
					t.Fatal(err)
				}
			}, false},
			{"operator's, the address set", operators, func() { setAddress("alice@example.net") }, true},
			{"operator's, the password changed", operators, func() {
				var err error
				old := pw
				if secret, err = s.ChangePassword(ctx, "", secret, old, next()); err != nil {
					t.Fatal(err)
				}
			}, false},
			{"mailed, nothing changed", mailed, func() {}, true},
		} {
			link := c.link()
			c.change()
			if ok, err := s.ResetWorks(ctx, link); err != nil || ok != c.works {
				t.Errorf("%s: ResetWorks = %v, %v; want %v", c.name, ok, err, c.works)
			}
			err := s.ResetPassword(ctx, "", link, pw+"-reset")
			switch {
			case c.works && err != nil:
				t.Errorf("%s: ResetPassword: %v", c.name, err)
			case !c.works && !errors.Is(err, ErrBadLink):
				t.Errorf("%s: ResetPassword: %v; want %v", c.name, err, ErrBadLink)
			}
			if err == nil {
				pw += "-reset"
			}
			if secret, err = s.Login(ctx, "", "alice", pw); err != nil {
				t.Fatalf("%s: alice cannot sign in with %q: %v", c.name, pw, err)
			}
			if a, err := s.AddressOf(ctx, alice); err != nil {
				t.Fatal(err)
			} else if a == "" {
				setAddress("alice@example.com")
			}
		}
	})
}

// TestRemoveAddressBesideAConfirmation: a removal of the address and a
// confirmation of another at once leave the account with the new address,
// named by it. The removal deleted the account's address whatever it had
// become, and left the new one naming a user without an address (found by
// TestRandomOperations, four users at once).
func TestRemoveAddressBesideAConfirmation(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		alice, secret := mustRegister(t, s, "alice")
		confirm := func(st *Store, address string) {
			t.Helper()
			token, err := st.AddressToken(ctx, secret, address)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.ConfirmAddress(ctx, token); err != nil {
				t.Fatal(err)
			}
		}
		confirm(s, "old@example.com")
		// The removal, whose first write comes after the confirmation of
		// a new address.
		hooked := cutClient(t, rdb)
		once := false
		hooked.AddHook(hookOn{match: func(c redis.Cmder) bool {
			return !once && slices.ContainsFunc(c.Args(), func(a any) bool { return a == emailKey(alice) }) && c.Name() != "get"
		}, fn: func() error {
			once = true
			confirm(s, "new@example.com")
			return nil
		}})
		if _, err := New(hooked, testHasher, nil).RemoveAddress(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if !once {
			t.Fatal("the removal wrote nothing to the address; the test did not interleave")
		}
		if a, err := s.AddressOf(ctx, alice); err != nil || a != "new@example.com" {
			t.Errorf("alice's address after both: %q, %v; want new@example.com", a, err)
		}
		if owner := rdb.Get(ctx, emailUserKey("new@example.com")).Val(); owner != alice {
			t.Errorf("new@example.com names %q; want alice (%s)", owner, alice)
		}
		if n := rdb.Exists(ctx, emailUserKey("old@example.com")).Val(); n != 0 {
			t.Error("old@example.com still names an account")
		}
	})
}

// TestPasswordRecoveryOnCluster is TestPasswordRecovery on a Cluster.
func TestPasswordRecoveryOnCluster(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	testPasswordRecovery(t, s, rdb)
}

func testPasswordRecovery(t *testing.T, s *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	_, bobSecret := mustRegister(t, s, "bob")
	var refusal *Error
	if _, err := s.AddressToken(ctx, aliceSecret, "not an address"); !errors.As(err, &refusal) || refusal.Kind != Invalid {
		t.Errorf("a bad address: %v", err)
	}
	confirm, err := s.AddressToken(ctx, aliceSecret, "Alice@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := s.AddressOf(ctx, alice); a != "" {
		t.Errorf("the address is alice's before its link was used: %q", a)
	}
	if a, err := s.ConfirmAddress(ctx, confirm); err != nil || a != (Confirmed{Address: "Alice@Example.com"}) {
		t.Fatalf("ConfirmAddress: %q, %v", a, err)
	}
	if _, err := s.ConfirmAddress(ctx, confirm); !errors.Is(err, ErrBadLink) {
		t.Errorf("the link again: %v; want %v", err, ErrBadLink)
	}
	// A change names the address it replaced (to be told of it), the same
	// address in other case does not.
	for _, c := range []struct{ address, previous string }{
		{"alice@example.org", "Alice@Example.com"}, {"ALICE@example.org", ""}, {"Alice@Example.com", "ALICE@example.org"},
	} {
		token, err := s.AddressToken(ctx, aliceSecret, c.address)
		if err != nil {
			t.Fatal(err)
		}
		if a, err := s.ConfirmAddress(ctx, token); err != nil || a != (Confirmed{c.address, c.previous}) {
			t.Errorf("ConfirmAddress(%s) = %q, %v; want the previous %q", c.address, a, err, c.previous)
		}
	}
	if n := rdb.Exists(ctx, emailUserKey("alice@example.org")).Val(); n != 0 {
		t.Error("the replaced address still names alice")
	}
	bobs, _ := s.AddressToken(ctx, bobSecret, "alice@example.com")
	if _, err := s.ConfirmAddress(ctx, bobs); !errors.As(err, &refusal) || refusal.Kind != Conflict {
		t.Errorf("bob taking alice's address: %v; want a conflict", err)
	}

	for _, c := range []struct{ who, address string }{
		{"alice", "Alice@Example.com"}, {"ALICE@example.com", "Alice@Example.com"}, {"bob", ""}, {"nobody", ""}, {"x@y.z", ""},
	} {
		address, token, err := s.ResetToken(ctx, c.who)
		if err != nil || address != c.address || (token == "") != (c.address == "") {
			t.Errorf("ResetToken(%q) = %q, token %v, %v; want %q", c.who, address, token != "", err, c.address)
		}
	}
	_, token, _ := s.ResetToken(ctx, "alice")
	if err := s.ResetPassword(ctx, "", token, "weak"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("a weak password: %v", err)
	}
	if ok, _ := s.ResetWorks(ctx, token); !ok {
		t.Fatal("a refused weak password used up the link")
	}
	if err := s.ResetPassword(ctx, "", token, "N3w-Passw0rd"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, aliceSecret); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("alice's session after the reset: %v; want it ended", err)
	}
	if _, err := s.Login(ctx, "", "alice", "N3w-Passw0rd"); err != nil {
		t.Errorf("signing in with the new password: %v", err)
	}
	if err := s.ResetPassword(ctx, "", token, "Other-Passw0rd"); !errors.Is(err, ErrBadLink) {
		t.Errorf("the link again: %v; want %v", err, ErrBadLink)
	}
	expired, err := s.ResetTokenFor(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	rdb.PExpire(ctx, tokenKey(expired), time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if err := s.ResetPassword(ctx, "", expired, "Other-Passw0rd"); !errors.Is(err, ErrBadLink) {
		t.Errorf("an expired link: %v; want %v", err, ErrBadLink)
	}
	if ttl := rdb.TTL(ctx, tokenKey(confirm)).Val(); ttl > 0 {
		t.Errorf("a used confirmation is kept %v", ttl)
	}
	fresh, _ := s.ResetTokenFor(ctx, "bob")
	if ttl := rdb.TTL(ctx, tokenKey(fresh)).Val(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Errorf("a reset token lives %v; want an hour", ttl)
	}
	if n := rdb.Exists(ctx, prefixToken+fresh).Val(); n != 0 || strings.Contains(tokenKey(fresh), fresh) {
		t.Error("the token itself is a key name")
	}

	// Alice removes her address: no reset through it, and bob may have it.
	if _, err := s.RemoveAddress(ctx, ""); !errors.Is(err, ErrNotLoggedIn) {
		t.Errorf("removing nobody's address: %v; want %v", err, ErrNotLoggedIn)
	}
	aliceSecret, err = s.Login(ctx, "", "alice", "N3w-Passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"Alice@Example.com", ""} {
		if a, err := s.RemoveAddress(ctx, aliceSecret); err != nil || a != want {
			t.Errorf("RemoveAddress, time %d: %q, %v; want %q", i+1, a, err, want)
		}
	}
	for _, who := range []string{"alice", "alice@example.com"} {
		if address, token, err := s.ResetToken(ctx, who); err != nil || address != "" || token != "" {
			t.Errorf("ResetToken(%q) after the removal: %q, token %v, %v; want none", who, address, token != "", err)
		}
	}
	for _, key := range []string{emailKey(alice), emailUserKey("alice@example.com")} {
		if rdb.Exists(ctx, key).Val() != 0 {
			t.Errorf("%s is left", key)
		}
	}
	bobs, _ = s.AddressToken(ctx, bobSecret, "alice@example.com")
	if a, err := s.ConfirmAddress(ctx, bobs); err != nil || a.Address != "alice@example.com" {
		t.Errorf("bob confirming the address alice removed: %q, %v", a, err)
	}
}

// TestLinksWhileFull: a link used while Redis is full is refused before it
// is spent, and works once there is room. The link was spent first, and
// the address or password then refused: the user had to ask for another.
func TestLinksWhileFull(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		if rdb.ConfigSet(t.Context(), "maxmemory", "0").Err() != nil {
			t.Skip("needs redis-server: the in-memory stand-in has no maxmemory")
		}
		ctx := context.Background()
		_, secret := mustRegister(t, s, "alice")
		confirm, err := s.AddressToken(ctx, secret, "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		setFull(t, s, true)
		if _, err := s.ConfirmAddress(ctx, confirm); !WritesRefused(err) {
			t.Errorf("confirm with Redis full: %v; want it refused", err)
		}
		setFull(t, s, false)
		if c, err := s.ConfirmAddress(ctx, confirm); err != nil || c.Address != "alice@example.com" {
			t.Fatalf("confirm with room: %q, %v", c.Address, err)
		}
		reset, err := s.ResetTokenFor(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		setFull(t, s, true)
		if err := s.ResetPassword(ctx, "", reset, "N3w-Passw0rd"); !WritesRefused(err) {
			t.Errorf("reset with Redis full: %v; want it refused", err)
		}
		setFull(t, s, false)
		if err := s.ResetPassword(ctx, "", reset, "N3w-Passw0rd"); err != nil {
			t.Fatalf("reset with room: %v", err)
		}
		if _, err := s.Login(ctx, "", "alice", "N3w-Passw0rd"); err != nil {
			t.Errorf("sign in with the new password: %v", err)
		}
	})
}
