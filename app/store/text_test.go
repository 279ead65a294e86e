package store

import (
	"reflect"
	"testing"
	"unicode"
)

func TestSegments(t *testing.T) {
	L, M, H, T := Link, Mention, Hashtag, Text
	cases := []struct {
		body string
		want []Segment
	}{
		{"plain text", []Segment{{T, "plain text"}}},
		{"hi @alice!", []Segment{{T, "hi "}, {M, "alice"}, {T, "!"}}},
		{"@bob_1 and @carol-x", []Segment{{M, "bob_1"}, {T, " and "}, {M, "carol-x"}}},
		{"mail me@example.com", []Segment{{T, "mail me@example.com"}}},
		{"@ab is too short, @1abc starts with a digit", []Segment{{T, "@ab is too short, @1abc starts with a digit"}}},
		{"#Go and #日本語 and #café_2", []Segment{{H, "Go"}, {T, " and "}, {H, "日本語"}, {T, " and "}, {H, "café_2"}}},
		{"#हिंदी में", []Segment{{H, "हिंदी"}, {T, " में"}}}, // vowel signs are marks
		{"#foo-bar", []Segment{{H, "foo"}, {T, "-bar"}}},
		{"a#b c&#39; x/#y", []Segment{{T, "a#b c&#39; x/#y"}}},
		{"see https://example.com/a?b=1#c.", []Segment{{T, "see "}, {L, "https://example.com/a?b=1#c"}, {T, "."}}},
		{"(http://x.org/y)", []Segment{{T, "("}, {L, "http://x.org/y"}, {T, ")"}}},
		{"https://en.wikipedia.org/wiki/Go_(game)", []Segment{{L, "https://en.wikipedia.org/wiki/Go_(game)"}}},
		{"(see https://w.org/Go_(game)).", []Segment{{T, "(see "}, {L, "https://w.org/Go_(game)"}, {T, ")."}}},
		{"[http://x.org/a[1]]", []Segment{{T, "["}, {L, "http://x.org/a[1]"}, {T, "]"}}},
		{"http://x.org/a)b)", []Segment{{L, "http://x.org/a)b"}, {T, ")"}}},
		{`http://a.b/"onmouseover=x`, []Segment{{L, "http://a.b/"}, {T, `"onmouseover=x`}}},
		{"javascript:alert(1) ftp://x", []Segment{{T, "javascript:alert(1) ftp://x"}}},
		{"@<script> #\"quoted\"", []Segment{{T, "@<script> #\"quoted\""}}},
		{"", nil},
	}
	for _, c := range cases {
		if got := Segments(c.body); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Segments(%q) = %v; want %v", c.body, got, c.want)
		}
	}
}

func TestTagsAndMentions(t *testing.T) {
	if got := tagsOf("#Go #GO #go #Straße #STRASSE #x"); !reflect.DeepEqual(got, []string{"go", "strasse", "x"}) {
		t.Errorf("tagsOf = %q", got)
	}
	if got := mentionsOf("@Alice @alice @bob"); !reflect.DeepEqual(got, []string{"Alice", "bob"}) {
		t.Errorf("mentionsOf = %q", got)
	}
}

func TestValidTag(t *testing.T) {
	for _, c := range []struct {
		tag  string
		want bool
	}{
		{"go", true},
		{"café_2", true},
		{"日本語", true},
		{FoldTag("İstanbul"), true}, // folding adds a combining mark
		{"x", true},
		{"", false},
		{"a b", false},
		{"a-b", false},
		{"\x00", false},
		{"<script>", false},
		{`"q`, false},
		{string(make([]byte, MaxTagLen+1)), false},
	} {
		if got := ValidTag(c.tag); got != c.want {
			t.Errorf("ValidTag(%q) = %v; want %v", c.tag, got, c.want)
		}
	}
	// Every tag the tokenizer finds is valid, folded too: each letter and
	// digit of Unicode folds to a valid tag.
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.In(r, unicode.L, unicode.N) && !ValidTag(FoldTag(string(r))) {
			t.Errorf("%U %q folds to %q, which ValidTag refuses", r, r, FoldTag(string(r)))
		}
	}
	for _, tag := range tagsOf("#Go #日本語 #café_2 #İstanbul #x_1") {
		if !ValidTag(tag) {
			t.Errorf("tagsOf gave %q, which ValidTag refuses", tag)
		}
	}
}
