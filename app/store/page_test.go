package store

import (
	"context"
	"fmt"
	"testing"
)

// The pipelined page reads give exactly what the script gives, for every
// kind of page and viewer, once the ids are remembered.
func TestPagePipelineMatchesScript(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	bob, _ := mustRegister(t, s, "bob")
	_, carolSecret := mustRegister(t, s, "carol")
	if err := s.Follow(ctx, alice, "bob"); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		for _, u := range []string{alice, bob} {
			if _, err := s.Post(ctx, u, fmt.Sprintf("tweet %d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, err := s.Timeline(ctx, "", General, 0, 50); err != nil { // sets the generation
		t.Fatal(err)
	}
	viewers := map[string]string{"nobody": "", "alice": aliceSecret, "carol": carolSecret}
	pages := []struct{ feed, username string }{
		{"general", ""}, {"own", ""}, {"by", "bob"}, {"by", "alice"}, {"by", "nobody"},
	}
	for who, secret := range viewers {
		for _, pg := range pages {
			for _, r := range [][2]int{{0, 4}, {3, 6}} {
				name := fmt.Sprintf("%s/%s %s/%d-%d", who, pg.feed, pg.username, r[0], r[1])
				want, err := s.readPageScript(ctx, secret, pg.feed, pg.username, r[0], r[1])
				if err != nil {
					t.Fatal(err)
				}
				s.readPage(ctx, secret, pg.feed, pg.username, r[0], r[1]-r[0]) // remembers the ids
				got, ok, err := s.readPagePipelined(ctx, secret, pg.feed, pg.username, r[0], r[1])
				if err != nil {
					t.Fatal(err)
				}
				// Pages of nobody (no such user) always take the script.
				if wantOK := pg.username != "nobody"; ok != wantOK {
					t.Errorf("%s: pipelined %v; want %v", name, ok, wantOK)
					continue
				}
				if want.ids == nil { // nothing to read: the generation does not matter
					want.gen = got.gen
				}
				if ok && fmt.Sprintf("%+v %+v %+v %q", got.viewer, got.target, got.ids, got.gen) !=
					fmt.Sprintf("%+v %+v %+v %q", want.viewer, want.target, want.ids, want.gen) {
					t.Errorf("%s:\npipeline %+v %+v %v %q\nscript   %+v %+v %v %q", name,
						got.viewer, got.target, got.ids, got.gen, want.viewer, want.target, want.ids, want.gen)
				}
			}
		}
	}
}

// A remembered id that no longer holds is never believed: a signed-out
// secret shows nobody signed in, and a name that now belongs to another id
// (a database replaced) shows that user.
func TestPagePipelineStaleIDs(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	_, secret := mustRegister(t, s, "alice")
	mustRegister(t, s, "bob")
	if v, up, err := s.UserTweets(ctx, secret, "bob", 0, 10); err != nil || v == nil || up.ID != "2" {
		t.Fatalf("first page: %+v %+v %v", v, up, err)
	}
	if err := s.Logout(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if v, _, err := s.UserTweets(ctx, secret, "bob", 0, 10); err != nil || v != nil {
		t.Errorf("after sign-out the page shows viewer %+v, %v", v, err)
	}
	if _, _, err := s.Timeline(ctx, secret, Own, 0, 10); err != ErrNotLoggedIn {
		t.Errorf("own timeline after sign-out: %v", err)
	}

	rdb.FlushDB(ctx)
	mustRegister(t, s, "carol")
	bob, _ := mustRegister(t, s, "bob")
	if _, up, err := s.UserTweets(ctx, "", "bob", 0, 10); err != nil || up.ID != bob {
		t.Errorf("bob's page after the database was replaced: id %q, %v; want %s", up.ID, err, bob)
	}
}
