package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSearch: users by name (exact, then prefix, then the rest that
// contain it), tweets by all their words, newest first, or by a #tag; the
// index follows edits and deletions at once, takes in new tweets and
// users pytwis wrote, and pages.
func TestSearch(t *testing.T) {
	s, rdb := newStore(t)
	testSearch(t, s, rdb)
}

// TestSearchOnCluster is TestSearch on a Redis Cluster.
func TestSearchOnCluster(t *testing.T) {
	s, rdb, _ := clusterStore(t)
	testSearch(t, s, rdb)
}

func testSearch(t *testing.T, s *Store, rdb redis.UniversalClient) {
	ctx := context.Background()
	for _, name := range []string{"alice", "alicia", "malice", "Alfred", "bob"} {
		mustRegister(t, s, name)
	}
	_, aliceSecret := mustRegister(t, s, "Ali")
	users := func(q string) []string {
		t.Helper()
		query, err := ParseQuery(q)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		names, err := s.SearchUsers(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"ali", []string{"Ali", "alice", "alicia", "malice"}},
		{"ALICE", []string{"alice", "malice"}},
		{"@alic", []string{"alice", "alicia", "malice"}},
		{"al", []string{"Alfred", "Ali", "alice", "alicia"}}, // too short to look inside names
		{"lic", []string{"alice", "alicia", "malice"}},
		{"nobody", nil},
		{"two words", nil},
	} {
		if got := users(c.q); !slices.Equal(got, c.want) {
			t.Errorf("users for %q: %v; want %v", c.q, got, c.want)
		}
	}

	post := func(body string) string {
		t.Helper()
		id, err := s.PostAs(ctx, aliceSecret, body)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	picnic := post("Picnic in the Park #sunday")
	closed := post("The park is closed")
	post("Coffee in the morning")
	parks := post("café and parks")
	greek := post("Καλημέρα κόσμε")
	hindi := post("हिंदी में")
	indexAll(t, s)
	check := func(q string, want ...string) {
		t.Helper()
		if got := searchIDs(t, s, q); !slices.Equal(got, want) {
			t.Errorf("tweets for %q: %v; want %v", q, got, want)
		}
	}
	check("park", closed, picnic)
	check("PARK picnic", picnic)
	check("#Sunday", picnic)
	check("sunday", picnic)
	check("parks", parks)
	check("CAFÉ", parks)
	check("cafe", parks) // accents are not compared
	check("Cafè", parks)
	check("καλημερα", greek)
	check("हिंदी", hindi)
	check("हिदी") // a mark of Devanagari is a letter
	check("park coffee")
	if !inWordList(ctx, rdb, "cafe", parks) || inWordList(ctx, rdb, "café", parks) {
		t.Error("café is not indexed as cafe")
	}

	inWord := func(word, id string) bool { return inWordList(ctx, rdb, word, id) }
	// An edit and a deletion change the index at once.
	if _, err := s.EditTweet(ctx, aliceSecret, closed, "The garden is closed", DefaultEditWindow); err != nil {
		t.Fatal(err)
	}
	check("park", picnic)
	check("garden", closed)
	if inWord("park", closed) || !inWord("garden", closed) {
		t.Error("the index does not follow the edit")
	}
	if err := s.DeleteTweet(ctx, aliceSecret, picnic); err != nil {
		t.Fatal(err)
	}
	check("park")
	check("#sunday")
	for _, w := range []string{"picnic", "park", "sunday", "the"} {
		if inWord(w, picnic) {
			t.Errorf("pytwask:word:%s still holds the deleted tweet", w)
		}
	}

	// What pytwis wrote: a user and a tweet, found once indexed.
	uid := strconv.FormatInt(rdb.Incr(ctx, "next_user_id").Val(), 10)
	tid := strconv.FormatInt(rdb.Incr(ctx, "next_tweet_id").Val(), 10)
	rdb.HSet(ctx, "user:"+uid, "username", "pythonista", "password_hash", "x", "auth", "y")
	rdb.HSet(ctx, "users", "pythonista", uid)
	rdb.HSet(ctx, "tweet:"+tid, "userid", uid, "unix_time", "1700000000", "body", "written by pytwis")
	rdb.LPush(ctx, "timeline", tid)
	indexAll(t, s)
	check("pytwis", tid)
	if got := users("python"); !slices.Equal(got, []string{"pythonista"}) {
		t.Errorf("users for python: %v; want pythonista", got)
	}

	// A post between taking its id and writing its tweet (two steps on a
	// Cluster): the indexer waits for it. An id whose post was cut off
	// there is passed once a later tweet is a few seconds old.
	hole := strconv.FormatInt(rdb.Incr(ctx, "next_tweet_id").Val(), 10)
	after := post("posted after the gap")
	indexAll(t, s)
	if inWord("gap", after) {
		t.Error("the indexer went past an id still being posted")
	}
	rdb.HSet(ctx, "tweet:"+hole, "userid", uid, "unix_time", time.Now().Unix(), "body", "the gap filled")
	indexAll(t, s)
	if got := rdb.LRange(ctx, wordKey("gap"), 0, -1).Val(); !slices.Equal(got, []string{after, hole}) {
		t.Errorf("pytwask:word:gap holds %v; want %v", got, []string{after, hole})
	}
	rdb.Incr(ctx, "next_tweet_id") // a post cut off
	late := post("a late one")
	indexAll(t, s)
	if inWord("late", late) {
		t.Error("the indexer went past an id with no tweet at once")
	}
	rdb.HSet(ctx, "tweet:"+late, "unix_time", time.Now().Add(-holeWait-time.Second).Unix())
	indexAll(t, s)
	if !inWord("late", late) {
		t.Error("the indexer waits for a post cut off for good")
	}

	// Paging, newest first.
	var many []string
	for i := range 25 {
		many = append([]string{post(fmt.Sprintf("many %d", i))}, many...)
	}
	indexAll(t, s)
	query, _ := ParseQuery("many")
	_, p1, err := s.SearchTweets(ctx, "", query, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	_, p2, err := s.SearchTweets(ctx, "", query, 20, 20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tw := range append(p1.Tweets, p2.Tweets...) {
		got = append(got, tw.ID)
	}
	if !slices.Equal(got, many) || !p1.More || p2.More {
		t.Errorf("pages of many: %v (more %v, %v); want %v", got, p1.More, p2.More, many)
	}
	// Again at once: what it found is kept (SearchTTL), and only the
	// viewer, the generation and the counts are read.
	before := s.RoundTrips()
	if _, p, err := s.SearchTweets(ctx, "", query, 0, 20); err != nil || len(p.Tweets) != 20 {
		t.Fatalf("the same search again: %d tweets, %v", len(p.Tweets), err)
	}
	if n := s.RoundTrips() - before; n > 2 {
		t.Errorf("the same search again took %d round trips; want at most 2", n)
	}
	// Indexing again adds nothing twice.
	rdb.Del(ctx, keySearchNext)
	indexAll(t, s)
	if n := len(rdb.LRange(ctx, wordKey("many"), 0, -1).Val()); n != 25 {
		t.Errorf("pytwask:word:many holds %d ids after indexing twice; want 25", n)
	}
}

func TestParseQuery(t *testing.T) {
	for _, c := range []struct {
		q    string
		want Query
		err  string
	}{
		{"Picnic  PARK", Query{Words: []string{"picnic", "park"}}, ""},
		{"alice", Query{Words: []string{"alice"}, Name: FoldUsername("alice")}, ""},
		{"@Alice", Query{Words: []string{"alice"}, Name: FoldUsername("alice")}, ""},
		{"#Sunday", Query{Tag: "sunday"}, ""},
		{"Straße", Query{Words: []string{"strasse"}}, ""},
		{"!!! ... ???", Query{}, "Search for a word, a #tag or a name."},
		{"@", Query{}, "Search for a word, a #tag or a name."},
		{strings.Repeat("a", 10000), Query{}, "The search is 10000 characters long; the limit is 200."},
		{strings.Repeat("w ", 20), Query{Words: []string{"w"}}, ""},
	} {
		got, err := ParseQuery(c.q)
		var refusal *Error
		switch {
		case c.err != "" && (!errors.As(err, &refusal) || refusal.Msg != c.err):
			t.Errorf("ParseQuery(%.20q): %v; want %q", c.q, err, c.err)
		case c.err == "" && (err != nil || !slices.Equal(got.Words, c.want.Words) || got.Tag != c.want.Tag || got.Name != c.want.Name):
			t.Errorf("ParseQuery(%.20q) = %+v, %v; want %+v", c.q, got, err, c.want)
		}
	}
}

// indexAll runs the indexer until it has nothing left to do.
func indexAll(t *testing.T, s *Store) {
	t.Helper()
	for {
		n, err := s.IndexSearch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// searchIDs returns the ids of the tweets on the first page of a search
// for q.
func searchIDs(t *testing.T, s *Store, q string) []string {
	t.Helper()
	query, err := ParseQuery(q)
	if err != nil {
		t.Fatalf("%q: %v", q, err)
	}
	_, p, err := s.SearchTweets(context.Background(), "", query, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tw := range p.Tweets {
		ids = append(ids, tw.ID)
	}
	return ids
}

// inWordList reports whether word's list holds the tweet id.
func inWordList(ctx context.Context, rdb redis.UniversalClient, word, id string) bool {
	return slices.Contains(rdb.LRange(ctx, wordKey(word), 0, -1).Val(), id)
}

// TestSearchRebuilt: where an earlier version left an index (words of
// another form, keys without a version), this version builds its own from
// the first tweet while the earlier one stays for the instances that still
// read it; once caught up, it drops the earlier one, once.
func TestSearchRebuilt(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		ann, _ := mustRegister(t, s, "ann")
		cafe, plain := mustPost(t, s, ann, "Un café à Paris"), mustPost(t, s, ann, "plain words")
		// The index as pytwask left it before versions: words folded with
		// their accents, and its own cursor.
		earlier := map[string]string{"un": cafe, "café": cafe, "à": cafe, "paris": cafe, "plain": plain, "words": plain}
		for word, id := range earlier {
			rdb.LPush(ctx, "pytwask:word:"+word, id)
		}
		rdb.Set(ctx, "pytwask:search:next", plainNext(t, plain), 0)

		// One step lists both tweets in this version's index; the earlier
		// one is still there.
		if n, err := s.IndexSearch(ctx); err != nil || n != 2 {
			t.Fatalf("the first step indexed %d tweets, %v; want both", n, err)
		}
		if !inWordList(ctx, rdb, "cafe", cafe) || rdb.Exists(ctx, "pytwask:word:café").Val() != 1 {
			t.Error("after one step, want cafe in this version's index and café still in the earlier one")
		}
		// An instance of the earlier version posts and indexes meanwhile.
		the := mustPost(t, s, ann, "un thé")
		rdb.LPush(ctx, "pytwask:word:thé", the)
		rdb.Set(ctx, "pytwask:search:next", plainNext(t, the), 0)

		indexAll(t, s)
		if v := rdb.Get(ctx, keySearchVersion).Val(); v != searchVersion {
			t.Errorf("pytwask:search:version is %q; want %q", v, searchVersion)
		}
		if left, err := s.scan(ctx, "pytwask:word:*", 100); err != nil || len(left) != 0 {
			t.Errorf("the earlier index's lists are left: %v %v", left, err)
		}
		if rdb.Get(ctx, "pytwask:search:next").Val() == "" {
			t.Error("the earlier index's cursor was dropped: an earlier instance still running would list every tweet again")
		}
		for q, want := range map[string][]string{"café": {cafe}, "CAFE": {cafe}, "a paris": {cafe}, "plain": {plain}, "the": {the}} {
			if got := searchIDs(t, s, q); !slices.Equal(got, want) {
				t.Errorf("%q found %v; want %v", q, got, want)
			}
		}
		if l := rdb.LRange(ctx, wordKey("words"), 0, -1).Val(); !slices.Equal(l, []string{plain}) {
			t.Errorf("%s holds %v; want %v once", wordKey("words"), l, plain)
		}
		// Once: lists written later by an instance of the earlier version
		// stay, and this version's are left be.
		rdb.LPush(ctx, "pytwask:word:late", plain)
		if _, err := s.IndexSearch(ctx); err != nil {
			t.Fatal(err)
		}
		if rdb.Exists(ctx, "pytwask:word:late").Val()+rdb.Exists(ctx, wordKey("words")).Val() != 2 { // two slots
			t.Error("a later run dropped lists again")
		}
	})
}

// plainNext is the id after id.
func plainNext(t *testing.T, id string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n + 1
}

func TestFoldTextUnaccents(t *testing.T) {
	for in, want := range map[string]string{
		"Café":     "cafe",
		"Ångström": "angstrom",
		"naïve":    "naive",
		"Straße":   "strasse",
		"Καλημέρα": "καλημερα",
		"йогурт":   "йогурт", // й is a letter of its own
		"हिंदी":    "हिंदी",
		"ภาษาไทย":  "ภาษาไทย",
		"한국어":      "한국어",
		"日本語":      "日本語",
		"ASCII":    "ascii",
	} {
		if got := foldText(in); got != want {
			t.Errorf("foldText(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestHasWords(t *testing.T) {
	for _, c := range []struct {
		text  string
		words []string
		want  bool
	}{
		{"Picnic in the PARK, at noon.", []string{"park", "noon"}, true},
		{"Picnic in the parks", []string{"park"}, false},
		{"#Sunday_picnic", []string{"sunday_picnic"}, true},
		{"Die STRASSE ist nass", []string{"straße"}, false}, // words are folded before they come here
		{"Die Straße ist nass", []string{"strasse", "nass"}, true},
		{"Ein Café", []string{"cafe"}, true},
		{"Un CAFÈ noir", []string{"cafe", "noir"}, true},
		{"Καλημέρα", []string{"καλημερα"}, true},
		{"हिंदी", []string{"हिदी"}, false},
		{"", []string{"x"}, false},
		{"anything", nil, true},
	} {
		if got := hasWords(c.text, c.words); got != c.want {
			t.Errorf("hasWords(%q, %q) = %v; want %v", c.text, c.words, got, c.want)
		}
	}
}

// Two instances indexing the same batch at once list each tweet once under
// each word, however many tweets of the batch have it.
func TestIndexersAtOnce(t *testing.T) {
	onBoth(t, func(t *testing.T, s *Store, rdb redis.UniversalClient) {
		ctx := context.Background()
		ann, _ := mustRegister(t, s, "ann")
		for i := range indexBatch {
			mustPost(t, s, ann, fmt.Sprintf("common words %d", i))
		}
		other := New(rdb, testHasher, nil) // another instance
		var wg sync.WaitGroup
		for _, st := range []*Store{s, other} {
			wg.Go(func() {
				if _, err := st.IndexSearch(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for _, w := range []string{"common", "words"} {
			l := rdb.LRange(ctx, wordKey(w), 0, -1).Val()
			seen := map[string]bool{}
			for _, id := range l {
				seen[id] = true
			}
			if len(l) != indexBatch || len(seen) != indexBatch {
				t.Errorf("%q lists %d tweets in %d entries; want %d in as many", w, len(seen), len(l), indexBatch)
			}
		}
	})
}
