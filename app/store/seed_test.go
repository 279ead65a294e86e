package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"
)

// TestSeedMatchesFanOut: what Seed writes is what Register, Follow and Post
// would have written: every timeline holds exactly the newest tweets of the
// user and of whom they follow, as many as Post's trimming would have left,
// and the follow sets mirror each other.
func TestSeedMatchesFanOut(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	res, err := s.Seed(ctx, SeedOptions{Users: 20, Follows: 10, Tweets: 3000, Password: "Passw0rd!",
		Rand: rand.New(rand.NewPCG(1, 2)), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstUserID != 1 || res.FirstTweetID != 1 || res.FollowPairs != 200 {
		t.Fatalf("result %+v", res)
	}
	authorOf := map[string]string{}
	for id := 1; id <= 3000; id++ {
		authorOf[strconv.Itoa(id)] = rdb.HGet(ctx, "tweet:"+strconv.Itoa(id), "userid").Val()
	}
	desc := func(ids []string) []string {
		sort.Slice(ids, func(i, j int) bool { a, _ := strconv.Atoi(ids[i]); b, _ := strconv.Atoi(ids[j]); return a > b })
		return ids
	}
	capped := false
	lengths := map[int]bool{}
	for u := 1; u <= 20; u++ {
		uid := strconv.Itoa(u)
		following := rdb.ZRange(ctx, "following:"+uid, 0, -1).Val()
		if len(following) != 10 || slices.Contains(following, uid) {
			t.Fatalf("following:%s = %v", uid, following)
		}
		for _, f := range following {
			a := rdb.ZScore(ctx, "following:"+uid, f).Val()
			b, err := rdb.ZScore(ctx, "follower:"+f, uid).Result()
			if err != nil || a != b {
				t.Fatalf("follower:%s lacks %s with score %v", f, uid, a)
			}
		}
		var own, want []string
		for id, author := range authorOf {
			if author == uid {
				own = append(own, id)
			}
			if author == uid || slices.Contains(following, author) {
				want = append(want, id)
			}
		}
		want = desc(want)
		// Post pushes, and trims back to the cap past the trim point.
		n := int64(0)
		for range want {
			if n++; n > trimPoint(uint64(u)) {
				n, capped = UserTimelineCap, true
			}
		}
		want = want[:n]
		lengths[len(want)] = true
		if got := rdb.LRange(ctx, "timeline:"+uid, 0, -1).Val(); !slices.Equal(got, want) {
			t.Errorf("timeline:%s has %d ids; want %d", uid, len(got), len(want))
		}
		if got := rdb.LRange(ctx, "tweets_by:"+uid, 0, -1).Val(); !slices.Equal(got, desc(own)) {
			t.Errorf("tweets_by:%s differs", uid)
		}
	}
	if !capped {
		t.Error("no timeline was trimmed; the test data is too small")
	}
	if len(lengths) < 10 {
		t.Errorf("the 20 timelines have only %d lengths between them; want them spread", len(lengths))
	}
	general := rdb.LRange(ctx, "timeline", 0, -1).Val()
	if len(general) != GeneralTimelineCap || general[0] != "3000" || general[999] != "2001" {
		t.Errorf("general timeline: %d ids from %s", len(general), general[0])
	}
	if rdb.Get(ctx, "next_user_id").Val() != "20" || rdb.Get(ctx, "next_tweet_id").Val() != "3000" {
		t.Error("counters not advanced")
	}
	// Seeded users sign in, and posting on top works as usual.
	secret, err := s.Login(ctx, "", res.Names[0], "Passw0rd!")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := s.Authenticate(ctx, secret)
	if id, err := s.Post(ctx, v.ID, "after the seed"); err != nil || id != "3001" {
		t.Fatalf("post after seed: %s %v", id, err)
	}
	// Tweet times increase with ids, as posting in order would make them.
	t1, _ := strconv.Atoi(rdb.HGet(ctx, "tweet:1", "unix_time").Val())
	t2, _ := strconv.Atoi(rdb.HGet(ctx, "tweet:3000", "unix_time").Val())
	if t1 >= t2 {
		t.Error("tweet times do not increase")
	}

	// A database with users is refused without Force, extended with it.
	_, err = s.Seed(ctx, SeedOptions{Users: 5, Follows: 1, Tweets: 5, Password: "Passw0rd!", Rand: rand.New(rand.NewPCG(3, 4)), Now: time.Now()})
	var refusal *Error
	if !errors.As(err, &refusal) || refusal.Kind != Conflict {
		t.Fatalf("second seed without force: %v", err)
	}
	res, err = s.Seed(ctx, SeedOptions{Users: 5, Follows: 1, Tweets: 5, Password: "Passw0rd!", Force: true, Rand: rand.New(rand.NewPCG(3, 4)), Now: time.Now()})
	if err != nil || res.FirstUserID != 21 || res.FirstTweetID != 3002 {
		t.Fatalf("forced seed: %+v %v", res, err)
	}
	if n := rdb.HLen(ctx, "users").Val(); n != 25 {
		t.Errorf("users %d; want 25", n)
	}
	if problems, _, err := s.CheckLayout(ctx, 1000); err != nil || len(problems) > 0 {
		t.Errorf("layout after seeding: %v %v", problems, err)
	}
}

func TestSeedCelebrities(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	res, err := s.Seed(ctx, SeedOptions{Users: 50, Follows: 3, Tweets: 10, Celebrities: 2, Password: "Passw0rd!",
		Rand: rand.New(rand.NewPCG(5, 6)), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, celeb := range []string{"1", "2"} {
		if n := rdb.ZCard(ctx, "follower:"+celeb).Val(); n != 49 {
			t.Errorf("user %s has %d followers; want every other user (49)", celeb, n)
		}
	}
	if n := rdb.ZCard(ctx, "following:10").Val(); n != 5 {
		t.Errorf("user 10 follows %d; want 3 plus the 2 celebrities", n)
	}
	if res.FollowPairs != 50*3+2*49 {
		t.Errorf("follow pairs %d", res.FollowPairs)
	}
}

func TestSeedRefusesBadOptions(t *testing.T) {
	s, rdb := newStore(t)
	for _, o := range []SeedOptions{
		{Users: 0, Password: "Passw0rd!"},
		{Users: 5, Follows: 5, Password: "Passw0rd!"},
		{Users: 5, Tweets: -1, Password: "Passw0rd!"},
		{Users: 5, Password: "weak"},
	} {
		o.Rand, o.Now = rand.New(rand.NewPCG(1, 1)), time.Now()
		if _, err := s.Seed(context.Background(), o); err == nil {
			t.Errorf("accepted %+v", o)
		}
	}
	if n := rdb.DBSize(context.Background()).Val(); n != 0 {
		t.Errorf("refused seeds wrote %d keys", n)
	}
}
