package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"golang.org/x/text/unicode/norm"
)

// Search finds tweets by their words and users by their names, from indexes
// of pytwask's own beside pytwis's keys:
//
//   - pytwask:word2:<word> (list, newest first, the newest WordCap kept):
//     the ids of the tweets with that word, in wordsOf's form; the 2 is
//     searchVersion. An indexer in every instance (IndexSearch, from the
//     cursor pytwask:search2:next up to next_tweet_id, one instance at a
//     time: pytwask:search:lease) adds
//     new tweets a moment after they are posted, and
//     a database written by pytwis is indexed the same way, from its first
//     tweet; an edit and a deletion change the lists at once. A search
//     walks the list of its rarest word and keeps the tweets whose text
//     has every word (so an entry left behind by a race with an edit is
//     harmless), and a #tag alone is its tag's list.
//   - pytwask:names:{names} (sorted set of "<folded name> <name>", for
//     prefixes) and pytwask:gram:{names}:<three characters> (sets of the
//     same, for names that contain the query): one slot, so a search is
//     one script on a Cluster too; kept by sign-up, and filled in from
//     users by the indexer when pytwis added users.

const (
	// WordCap bounds each word's list: a search for only common words
	// finds the newest of them.
	WordCap = 10_000
	// MaxQueryLen bounds a search, in characters.
	MaxQueryLen = 200
	// maxQueryWords bounds the words of a search that are looked up.
	maxQueryWords = 8
	// maxWordLen bounds an indexed word, in bytes.
	maxWordLen = 64
	// searchScan bounds the tweets one search reads to fill a page.
	searchScan = 1000
	// indexBatch is how many tweets one step of the indexer reads.
	indexBatch = 500
	// MaxUsersFound is how many users a search lists.
	MaxUsersFound = 20
	// SearchTTL is how long the tweets a search found are kept
	// (pytwask:found:<words>|<count>): the same search within it shows the
	// same tweets (their counts and the viewer's likes read afresh,
	// deleted ones and ones edited not to match left out) without reading
	// the index again; a tweet posted or edited to match may be missing
	// for that long.
	SearchTTL = 2 * time.Second
)

// searchVersion names the form of the words in the index (wordsOf), and is
// in the names of the index's keys. A version of pytwask that makes words
// otherwise changes it: its indexer then builds an index of its own from
// the first tweet, while instances of the earlier version, during a
// rolling upgrade, keep theirs; once it has caught up, it drops the
// earlier keys (dropEarlierIndexes). 2: without accents, with other
// scripts' marks; 1 (keys without a number): before.
const searchVersion = "2"

const (
	prefixWord       = "pytwask:word" + searchVersion + ":"
	keySearchNext    = "pytwask:search" + searchVersion + ":next"
	keySearchLease   = "pytwask:search:lease"
	keySearchVersion = "pytwask:search:version" // the version whose index is the only one
	keyNames         = "pytwask:names:{names}"
	prefixNameGram   = "pytwask:gram:{names}:"
)

// earlierWordPrefixes start the keys of the word lists of earlier versions.
var earlierWordPrefixes = []string{"pytwask:word:"}

func wordKey(w string) string { return prefixWord + w }

// foundKey names the list of the first count tweets a search for words
// found.
func foundKey(words []string, count int) string {
	return "pytwask:found:" + strings.Join(words, " ") + "|" + strconv.Itoa(count)
}

// ErrBadQuery refuses a search that has nothing to look for.
var ErrBadQuery = &Error{Invalid, "Search for a word, a #tag or a name."}

// wordsOf returns the folded words of a text, each once, in order: runs of
// letters, digits and _ of any script.
func wordsOf(text string) []string {
	var words []string
	for _, w := range strings.FieldsFunc(foldText(text), notInWord) {
		if len(w) <= maxWordLen && !slices.Contains(words, w) {
			words = append(words, w)
		}
	}
	return words
}

// notInWord reports whether r ends a word. A mark is in the word: in many
// scripts, vowels are marks (हिंदी is one word, not ह and द).
func notInWord(r rune) bool {
	return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) && r != '_'
}

// foldText is the form in which search compares words: FoldTag of the
// text, without the accents of Latin and Greek letters (unaccent), so that
// "cafe" finds "Café". ASCII text, the most common, is folded without the
// Unicode tables.
func foldText(text string) string {
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			return unaccent(FoldTag(text))
		}
	}
	return strings.ToLower(text)
}

// unaccent takes the combining marks off Latin and Greek letters (in
// canonical decomposition, é is e and an acute accent) and leaves other
// scripts as they are: there a mark is often a letter of its own
// (Devanagari's vowel signs, Thai's tones), and Cyrillic's й is not и.
func unaccent(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	strip := false
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			strip = unicode.In(r, unicode.Latin, unicode.Greek)
		} else if strip {
			continue
		}
		b.WriteRune(r)
	}
	return norm.NFC.String(b.String())
}

// hasWords reports whether text has every one of words (folded, at most
// 64). A search calls it on every tweet it reads, so it does not allocate
// for ASCII text.
func hasWords(text string, words []string) bool {
	ascii := true
	for i := 0; i < len(text) && ascii; i++ {
		ascii = text[i] < utf8.RuneSelf
	}
	if !ascii {
		text = foldText(text)
	}
	var found uint64
	all := uint64(1)<<min(len(words), 64) - 1
	for start := 0; start < len(text); {
		r, size := utf8.DecodeRuneInString(text[start:])
		if notInWord(r) {
			start += size
			continue
		}
		end := start + size
		for end < len(text) {
			r, size := utf8.DecodeRuneInString(text[end:])
			if notInWord(r) {
				break
			}
			end += size
		}
		for i, q := range words[:min(len(words), 64)] {
			if found&(1<<i) == 0 && len(q) == end-start && (ascii && asciiFoldEqual(text[start:end], q) || !ascii && text[start:end] == q) {
				if found |= 1 << i; found == all {
					return true
				}
			}
		}
		start = end
	}
	return found == all
}

// asciiFoldEqual reports whether the ASCII word equals the folded q.
func asciiFoldEqual(word, q string) bool {
	for i := 0; i < len(word); i++ {
		c := word[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != q[i] {
			return false
		}
	}
	return true
}

// Query is a search as typed, checked: the folded words to find, or one
// #tag; and the name to look for among users ("" for none).
type Query struct {
	Words []string
	Tag   string
	Name  string
}

// ParseQuery checks a search: at most MaxQueryLen characters, with a word
// in it. A single #tag searches that tag; a single word, or @name, names
// too.
func ParseQuery(q string) (Query, error) {
	q = strings.TrimSpace(q)
	if n := len([]rune(q)); n > MaxQueryLen {
		return Query{}, refuse(Invalid, "The search is %d characters long; the limit is %d.", n, MaxQueryLen)
	}
	var out Query
	fields := strings.Fields(q)
	if len(fields) == 1 {
		f := fields[0]
		if segs := Segments(f); len(segs) == 1 && segs[0].Kind == Hashtag {
			out.Tag = FoldTag(segs[0].Text)
			return out, nil
		}
		if name := strings.TrimPrefix(f, "@"); name != "" && strings.IndexFunc(name, func(r rune) bool {
			return !isASCIILetter(byte(r)) && !isDigit(byte(r)) && r != '_' && r != '-' || r > unicode.MaxASCII
		}) < 0 {
			out.Name = FoldUsername(name)
		}
	}
	out.Words = wordsOf(q)
	if len(out.Words) > maxQueryWords {
		out.Words = out.Words[:maxQueryWords]
	}
	if len(out.Words) == 0 && out.Name == "" {
		return Query{}, ErrBadQuery
	}
	return out, nil
}

// SearchTweets returns a page of the tweets that match q, newest first, and
// the viewer whose secret it is (or nil).
func (s *Store) SearchTweets(ctx context.Context, secret string, q Query, offset, n int) (*Viewer, Page, error) {
	if q.Tag != "" {
		return s.TagTweets(ctx, secret, q.Tag, offset, n)
	}
	if len(q.Words) == 0 {
		v, err := s.viewerOnly(ctx, secret)
		return v, Page{}, err
	}
	enough := offset + n + 1 // matches that fill the page and tell if there are more
	if n < 0 {
		enough = searchScan
	}
	// What a search found is kept for SearchTTL as a list, which a page
	// reads as a tag's: the viewer, the generation, the ids and the
	// viewer's marks in one round trip.
	found := foundKey(q.Words, enough)
	r, err := s.readPage(ctx, secret, pageQuery{feed: "list", key: found}, offset, n)
	if err != nil {
		return nil, Page{}, fmt.Errorf("search: %w", err)
	}
	if len(r.ids) > 0 {
		page, err := s.resolve(ctx, r.gen, r.ids, n, r.decoration())
		// An edit since may have taken a word out.
		page.Tweets = slices.DeleteFunc(page.Tweets, func(t Tweet) bool { return !hasWords(t.Body, q.Words) })
		return r.viewer, page, err
	}
	// The rarest word's list is walked; the others are checked in each
	// tweet's text.
	rarest := 0
	if len(q.Words) > 1 {
		lens := make([]*redis.IntCmd, len(q.Words))
		if err := s.pipelined(ctx, func(p redis.Pipeliner) {
			for i, w := range q.Words {
				lens[i] = p.LLen(ctx, wordKey(w))
			}
		}); err != nil {
			return nil, Page{}, fmt.Errorf("search: %w", err)
		}
		for i, l := range lens {
			if l.Val() < lens[rarest].Val() {
				rarest = i
			}
		}
	}
	// The first read is of twice the tweets the page shows, with the
	// viewer: enough for one word; more are read as needed.
	chunk := min(max(2*enough, 50), 200)
	v := r.viewer
	ids, err := s.rdb.LRange(ctx, wordKey(q.Words[rarest]), 0, int64(chunk-1)).Result()
	if err != nil {
		return nil, Page{}, fmt.Errorf("search: %w", err)
	}
	var matched []string
	for start := 0; ; {
		found, err := s.resolve(ctx, r.gen, ids, -1, nil)
		if err != nil {
			return v, Page{}, fmt.Errorf("search: %w", err)
		}
		for _, t := range found.Tweets {
			if len(matched) < enough && hasWords(t.Body, q.Words) && !slices.Contains(matched, t.ID) {
				matched = append(matched, t.ID)
			}
		}
		start += len(ids)
		if len(ids) < chunk || start >= searchScan || len(matched) >= enough {
			break
		}
		chunk = 200
		if ids, err = s.rdb.LRange(ctx, wordKey(q.Words[rarest]), int64(start), int64(start+chunk-1)).Result(); err != nil {
			return v, Page{}, fmt.Errorf("search: %w", err)
		}
	}
	kept := []any{"0"} // tweet 0 is none: a search that found nothing is kept too
	if len(matched) > 0 {
		kept = kept[:0]
		for _, id := range matched {
			kept = append(kept, id)
		}
	}
	var keep *redis.IntCmd
	if _, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, found)
		keep = p.RPush(ctx, found, kept...)
		p.PExpire(ctx, found, SearchTTL)
		return nil
	}); err != nil && !WritesRefused(keep.Err()) {
		// Unkept when Redis refuses writes: the next page searches again.
		return v, Page{}, fmt.Errorf("search: keep what it found: %w", err)
	}
	if offset >= len(matched) {
		return v, Page{}, nil
	}
	page, err := s.resolve(ctx, r.gen, matched[offset:], n, decorationFor(v))
	return v, page, err
}

// SearchUsers returns the names of the users whose name is q.Name, starts
// with it, or (for three characters or more) contains it, in that order,
// then alphabetically; at most MaxUsersFound.
//
// What it found is kept in process for SearchTTL: a name is a word, so a
// one-word search looks for both, and the tweets are read in one round trip
// from what SearchTweets kept.
func (s *Store) SearchUsers(ctx context.Context, q Query) ([]string, error) {
	if q.Name == "" {
		return nil, nil
	}
	if hit, ok := s.namesFound.Get(q.Name); ok && s.now().Sub(hit.at) < SearchTTL {
		return hit.names, nil
	}
	var prefixed *redis.StringSliceCmd
	var containing *redis.StringSliceCmd
	err := s.pipelined(ctx, func(p redis.Pipeliner) {
		prefixed = p.ZRangeByLex(ctx, keyNames, &redis.ZRangeBy{Min: "[" + q.Name, Max: "[" + q.Name + "\xff", Count: MaxUsersFound})
		if grams := nameGrams(q.Name); len(grams) > 0 {
			keys := make([]string, len(grams))
			for i, g := range grams {
				keys[i] = prefixNameGram + g
			}
			containing = p.SInter(ctx, keys...)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	var exact, prefix, rest []string
	seen := map[string]bool{}
	add := func(member string) {
		folded, name, ok := strings.Cut(member, " ")
		if !ok || seen[name] || !strings.Contains(folded, q.Name) {
			return
		}
		seen[name] = true
		switch {
		case folded == q.Name:
			exact = append(exact, name)
		case strings.HasPrefix(folded, q.Name):
			prefix = append(prefix, name)
		default:
			rest = append(rest, name)
		}
	}
	for _, m := range prefixed.Val() {
		add(m)
	}
	if containing != nil {
		members := containing.Val()
		slices.Sort(members)
		for _, m := range members {
			add(m)
		}
	}
	names := append(append(exact, prefix...), rest...)
	names = names[:min(len(names), MaxUsersFound)]
	s.namesFound.Put(q.Name, namesFound{names: names, at: s.now()})
	return names, nil
}

// namesFound is what a search of names found, and when.
type namesFound struct {
	names []string
	at    time.Time
}

// nameGrams returns the three-character pieces of a folded name.
func nameGrams(folded string) []string {
	var grams []string
	for i := 0; i+3 <= len(folded); i++ {
		if g := folded[i : i+3]; !slices.Contains(grams, g) {
			grams = append(grams, g)
		}
	}
	return grams
}

// indexNames adds users' names to the name indexes, in one pipeline.
func indexNames(ctx context.Context, p redis.Pipeliner, names ...string) {
	for _, name := range names {
		folded := FoldUsername(name)
		member := folded + " " + name
		p.ZAdd(ctx, keyNames, redis.Z{Member: member})
		for _, g := range nameGrams(folded) {
			p.SAdd(ctx, prefixNameGram+g, member)
		}
	}
}

// indexName adds one user's name to the name indexes.
func (s *Store) indexName(ctx context.Context, name string) error {
	return s.pipelined(ctx, func(p redis.Pipeliner) { indexNames(ctx, p, name) })
}

// indexWordScript: KEYS a word's list; ARGV tweet id, cap. Pushes the id
// unless it is among the list's newest entries (a batch indexed twice, by
// two instances at once), and trims the list back to cap.
var indexWordScript = script(`
if redis.call('LPOS', KEYS[1], ARGV[1], 'MAXLEN', 100) then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return 1
`)

// advanceScript: KEYS the indexer's cursor; ARGV where it was, where it
// goes. Moves it on unless another instance did.
var advanceScript = script(`
if math.max(tonumber(redis.call('GET', KEYS[1]) or '1'), 1) ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
`)

// IndexSearch indexes the words of the tweets posted since the indexer's
// cursor, up to indexBatch of them, and the names of users pytwis added;
// it returns how many tweets it read (0: nothing left to do). One instance
// at a time does (searchLease).
func (s *Store) IndexSearch(ctx context.Context) (int, error) {
	// Whether there is anything to do is read before the lease is taken:
	// the lease is two writes, and an idle site that wrote to Redis every
	// SearchIndexIdle would grow its append-only file and set off its
	// snapshots (save 300 10) for good.
	if w, err := s.indexWork(ctx); err != nil || !w.any() {
		return 0, err
	}
	release, err := s.searchLease(ctx)
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	defer release()
	w, err := s.indexWork(ctx) // again: another instance may have done it
	if err != nil {
		return 0, err
	}
	if w.names {
		if err := s.indexAllNames(ctx); err != nil {
			return 0, err
		}
	}
	from, upTo := w.from, w.upTo
	if from > upTo {
		if w.earlier {
			return 0, s.dropEarlierIndexes(ctx)
		}
		return 0, nil
	}
	to := min(upTo, from+indexBatch-1)
	tweets := make([]*redis.SliceCmd, 0, to-from+1)
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for id := from; id <= to; id++ {
			tweets = append(tweets, p.HMGet(ctx, tweetKey(strconv.FormatInt(id, 10)), fieldTweetBody, fieldDeleted, fieldTweetTime, fieldPosting))
		}
	}); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	// An id without a tweet is a post between taking its id and writing
	// its hash (two steps on a Cluster), or one cut off there for good; so
	// is a tweet still marked posting (fieldPosting), not yet on its
	// lists. The batch ends before it until a later tweet is holeWait old,
	// and then leaves it out (a post whose job ends later indexes itself:
	// posted).
	var texts []indexedText // oldest first: each word's list is newest first
	for i, t := range tweets {
		v := t.Val()
		if len(v) != 4 {
			continue
		}
		notYet := v[0] == nil || v[3] != nil
		if notYet && !postedBefore(tweets[i+1:], s.now().Add(-holeWait)) {
			to = from + int64(i) - 1
			break
		}
		if !notYet && v[1] == nil { // not deleted
			texts = append(texts, indexedText{strconv.FormatInt(from+int64(i), 10), str(v[0])})
		}
	}
	if to < from {
		return 0, nil
	}
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for _, t := range texts {
			for _, w := range wordsOf(t.body) {
				indexWordScript.Eval(ctx, p, []string{wordKey(w)}, t.id, WordCap)
			}
		}
	}); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	if err := s.indexedMeanwhile(ctx, texts); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	if err := advanceScript.Run(ctx, s.rdb, []string{keySearchNext}, from, to+1).Err(); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	return int(to - from + 1), nil
}

// indexWork is what the indexer has to do: the tweets from from to upTo,
// the names of users pytwis added if names is set, and, once it has caught
// up, the indexes of earlier versions to drop if earlier is.
type indexWork struct {
	from, upTo     int64
	names, earlier bool
}

func (w indexWork) any() bool { return w.names || w.earlier || w.from <= w.upTo }

// SearchIndexed returns how far this version's search index has come: the
// tweets up to indexed are listed, of last in all (last 0: none yet).
func (s *Store) SearchIndexed(ctx context.Context) (indexed, last int64, err error) {
	w, err := s.indexWork(ctx)
	return w.from - 1, w.upTo, err
}

// indexWork reads what the indexer has to do, without writing.
func (s *Store) indexWork(ctx context.Context) (indexWork, error) {
	var next, last, version *redis.StringCmd
	var nameCount, userCount *redis.IntCmd
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		next, last = p.Get(ctx, keySearchNext), p.Get(ctx, keyNextTweetID)
		nameCount, userCount = p.ZCard(ctx, keyNames), p.HLen(ctx, keyUsers)
		version = p.Get(ctx, keySearchVersion)
	}); err != nil {
		return indexWork{}, fmt.Errorf("index: %w", err)
	}
	from, _ := strconv.ParseInt(next.Val(), 10, 64)
	upTo, _ := strconv.ParseInt(last.Val(), 10, 64)
	return indexWork{from: max(from, 1), upTo: upTo, names: nameCount.Val() < userCount.Val(),
		earlier: version.Val() != searchVersion}, nil
}

// dropEarlierIndexes deletes the word lists of earlier versions
// (earlierWordPrefixes), once this version's index has caught up, and
// notes that it did (pytwask:search:version). Their cursors stay: an
// instance of an earlier version still running would otherwise list every
// tweet again; it lists only new ones, whose lists stay unread until an
// operator deletes them (docs/maintaining.md).
func (s *Store) dropEarlierIndexes(ctx context.Context) error {
	dropped := 0
	for _, prefix := range earlierWordPrefixes {
		err := s.scanEach(ctx, prefix+"*", func(ctx context.Context, c redis.Cmdable, keys []string) (bool, error) {
			_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Unlink(ctx, k) // one a command: on a Cluster node, keys are in many slots
				}
				return nil
			})
			dropped += len(keys)
			return true, err
		})
		if err != nil {
			return fmt.Errorf("index: drop the earlier indexes: %w", err)
		}
	}
	if err := s.rdb.Set(ctx, keySearchVersion, searchVersion, 0).Err(); err != nil {
		return fmt.Errorf("index: drop the earlier indexes: %w", err)
	}
	if dropped > 0 {
		s.log.Info("search index: this version's has caught up; the earlier ones are dropped",
			"version", searchVersion, "keys", dropped)
	}
	return nil
}

// searchLeaseTTL bounds how long an instance that stopped while indexing
// holds up the others.
const searchLeaseTTL = 30 * time.Second

// searchLease waits until this caller alone may index, and returns what
// ends that. Two instances indexing one batch at once would each list its
// tweets, and a word in more of the batch's tweets than a push looks
// among (indexWordScript) would list them twice. The lease
// (pytwask:search:lease, a token) ends by itself after searchLeaseTTL.
func (s *Store) searchLease(ctx context.Context) (release func(), err error) {
	token := newSecret()
	for {
		won, err := s.rdb.SetNX(ctx, keySearchLease, token, searchLeaseTTL).Result()
		if err != nil {
			return nil, err
		}
		if won {
			return func() {
				// Even when ctx ended: a lease left would hold the others
				// up until it expires.
				ctx := context.WithoutCancel(ctx)
				if err := delIfScript.Run(ctx, s.rdb, []string{keySearchLease}, token).Err(); err != nil {
					s.log.Warn("search index: could not end the lease", "err", err)
				}
			}, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// holeWait is how long after a later tweet the indexer passes an id that
// has no tweet: a post takes milliseconds between its id and its hash.
const holeWait = 3 * time.Second

// postedBefore reports whether one of the tweets (HMGET replies of body,
// deleted, unix_time) was posted before t.
func postedBefore(tweets []*redis.SliceCmd, t time.Time) bool {
	for _, tw := range tweets {
		if v := tw.Val(); len(v) == 4 && v[2] != nil {
			if posted, err := strconv.ParseInt(str(v[2]), 10, 64); err == nil && posted < t.Unix() {
				return true
			}
		}
	}
	return false
}

// indexedText is a tweet's text as the indexer read it.
type indexedText struct{ id, body string }

// indexedMeanwhile is for the indexer, which just listed tweets under the
// words of the texts it read: an edit or a deletion since then changed the
// lists before the indexer wrote, so the words they took out are taken out
// again. One later finds the indexer's entries.
func (s *Store) indexedMeanwhile(ctx context.Context, texts []indexedText) error {
	now := make([]*redis.SliceCmd, len(texts))
	if err := s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, t := range texts {
			now[i] = p.HMGet(ctx, tweetKey(t.id), fieldTweetBody, fieldDeleted)
		}
	}); err != nil {
		return err
	}
	return s.pipelined(ctx, func(p redis.Pipeliner) {
		for i, t := range texts {
			v := now[i].Val()
			if len(v) != 2 {
				continue
			}
			latest := str(v[0])
			if v[1] != nil {
				latest = "" // deleted
			}
			if latest == t.body {
				continue
			}
			for _, w := range without(wordsOf(t.body), wordsOf(latest)) {
				p.LRem(ctx, wordKey(w), 1, t.id)
			}
		}
	})
}

// indexAllNames adds every user's name to the name indexes.
func (s *Store) indexAllNames(ctx context.Context) error {
	var cursor uint64
	for {
		kv, next, err := s.rdb.HScan(ctx, keyUsers, cursor, "*", 1000).Result()
		if err != nil {
			return fmt.Errorf("index names: %w", err)
		}
		var names []string
		for i := 0; i+1 < len(kv); i += 2 {
			names = append(names, kv[i])
		}
		if err := s.pipelined(ctx, func(p redis.Pipeliner) { indexNames(ctx, p, names...) }); err != nil {
			return fmt.Errorf("index names: %w", err)
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// RunIndexer runs IndexSearch until ctx ends: at once while there is
// something to index (with a pause between batches, so that a database of
// pytwis's is indexed without crowding out pages), every idle otherwise.
func (s *Store) RunIndexer(ctx context.Context, idle time.Duration) {
	for ctx.Err() == nil {
		n, err := s.IndexSearch(ctx)
		wait := idle
		switch {
		case err != nil && !errors.Is(err, context.Canceled):
			s.log.Warn("search index", "err", err)
			wait = time.Second
		case n > 0:
			wait = 20 * time.Millisecond
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// reindexWords takes a tweet off the lists of words (a deletion, or words
// an edit took out) and puts it on those of added (an edit's new words).
func (s *Store) reindexWords(ctx context.Context, id string, removed, added []string) error {
	return s.pipelined(ctx, func(p redis.Pipeliner) { reindexWordsIn(ctx, p, id, removed, added) })
}

// reindexWordsIn is reindexWords's commands, queued on p.
func reindexWordsIn(ctx context.Context, p redis.Pipeliner, id string, removed, added []string) {
	for _, w := range removed {
		p.LRem(ctx, wordKey(w), 1, id)
	}
	for _, w := range added {
		// EVAL, not EVALSHA: a pipeline cannot fall back from NOSCRIPT.
		insertByIDScript.Eval(ctx, p, []string{wordKey(w)}, id)
	}
}
