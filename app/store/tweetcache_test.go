package store

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/redistest"
)

// TestLostPostsLeaveNoCachedText: Redis can come back without the last
// posts while pytwask runs (restored from a backup, restarted from files
// that missed the last second, a replica promoted that had not received
// them) and give their ids to new posts. An instance that had shown a lost
// post must show the new one under its id, not the text and author it
// kept.
func TestLostPostsLeaveNoCachedText(t *testing.T) {
	t.Run("one server", func(t *testing.T) {
		srv := redistest.Start(t)
		if srv.InProcess() {
			t.Skip("the in-process Redis keeps no snapshot to restart from")
		}
		rdb := srv.Client()
		t.Cleanup(func() { rdb.Close() })
		testLostPosts(t, New(rdb, testHasher, nil), func() {
			if err := rdb.Save(context.Background()).Err(); err != nil {
				t.Fatalf("SAVE: %v", err)
			}
		}, func() {
			srv.Stop()
			srv.Restart()
		})
	})
	t.Run("cluster", func(t *testing.T) {
		s, rdb, cl := clusterStore(t)
		testLostPosts(t, s, func() {
			err := rdb.ForEachShard(context.Background(), func(ctx context.Context, n *redis.Client) error {
				return n.Save(ctx).Err()
			})
			if err != nil {
				t.Fatalf("SAVE: %v", err)
			}
		}, cl.RestartAll)
	})
}

// testLostPosts has Redis take a backup (SAVE), then come back from it
// (restore) while s keeps running.
func testLostPosts(t *testing.T, s *Store, backup, restore func()) {
	ctx := context.Background()
	alice, aliceSecret := mustRegister(t, s, "alice")
	bob, _ := mustRegister(t, s, "bob")
	kept := mustPost(t, s, alice, "kept by the backup")
	// A page read before the backup: the database has its generation, as
	// every database in use has.
	if _, _, err := s.Timeline(ctx, "", General, 0, 10); err != nil {
		t.Fatal(err)
	}
	backup()
	lost := mustPost(t, s, alice, "lost with the restore")
	texts := func(when string) map[string]string {
		t.Helper()
		got := map[string]string{}
		for _, secret := range []string{"", aliceSecret} {
			_, p, err := s.Timeline(ctx, secret, General, 0, 10)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			for _, tw := range p.Tweets {
				got[tw.ID] = tw.Username + ": " + tw.Body
			}
		}
		_, c, err := s.TweetConversation(ctx, "", lost, 0, 10)
		if err == nil {
			got["page "+c.Tweet.ID] = c.Tweet.Username + ": " + c.Tweet.Body
		} else if !isKind(err, NotFound) {
			t.Fatalf("%s: the page of tweet %s: %v", when, lost, err)
		}
		return got
	}
	if got := texts("before the restore"); got[lost] != "alice: lost with the restore" {
		t.Fatalf("before the restore: %v", got)
	}

	restore()
	// The first requests after the restore may meet connections the
	// restart closed, or a Cluster still settling; then pages are served.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, _, err := s.Timeline(ctx, aliceSecret, General, 0, 10)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page after the restore: %v", err)
		}
	}
	if got := texts("after the restore"); got[lost] != "" || got["page "+lost] != "" || got[kept] != "alice: kept by the backup" {
		t.Errorf("after the restore: %v; want only tweet %s", got, kept)
	}
	reused := mustPost(t, s, bob, "posted after the restore")
	if reused != lost {
		t.Fatalf("the post after the restore has id %s; the lost one had %s (the test expects the id reused)", reused, lost)
	}
	want := map[string]string{kept: "alice: kept by the backup", reused: "bob: posted after the restore",
		"page " + reused: "bob: posted after the restore"}
	got := texts("after a post")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("after the restore and a new post, %s shows %q; want %q", k, got[k], v)
		}
	}
}
