package store

import (
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
)

// A tweet's text holds links, @mentions and #hashtags, found by one
// tokenizer so that what is indexed when a tweet is posted is what is linked
// when it is shown.

// SegmentKind says what a piece of a tweet's text is.
type SegmentKind int

const (
	Text    SegmentKind = iota
	Link                // an http or https URL
	Mention             // @name: Text is the name as written, without the @
	Hashtag             // #tag: Text is the tag as written, without the #
)

// Segment is one piece of a tweet's text.
type Segment struct {
	Kind SegmentKind
	Text string
}

// segmentRE finds the pieces: a URL up to white space or a character that
// cannot end one unescaped; an @name by the username rule; a #tag of
// letters (with their marks: in many scripts vowels are marks), digits and
// _ of any script. A mention or a tag starts at the text's start or after
// a character that is not a letter, mark, digit, _ or one of @#/&, so that
// an e-mail address or a URL's fragment is neither.
var segmentRE = regexp.MustCompile(`https?://[^\s<>"'` + "`" + `]+|(?:^|[^\p{L}\p{M}\p{N}_@#/&])([@#])([\p{L}\p{M}\p{N}_-]+)`)

// Segments splits a tweet's text into text, links, mentions and hashtags.
func Segments(body string) []Segment {
	var out []Segment
	text := func(s string) {
		if s == "" {
			return
		}
		if n := len(out); n > 0 && out[n-1].Kind == Text {
			out[n-1].Text += s
			return
		}
		out = append(out, Segment{Text, s})
	}
	at := 0
	for _, m := range segmentRE.FindAllStringSubmatchIndex(body, -1) {
		if m[2] < 0 { // a URL
			end := m[0] + len(trimURL(body[m[0]:m[1]]))
			text(body[at:m[0]])
			out = append(out, Segment{Link, body[m[0]:end]})
			at = end
			continue
		}
		sigil, word := body[m[2]:m[3]], body[m[4]:m[5]]
		kind := Hashtag
		if sigil == "@" {
			kind = Mention
			// A name is ASCII letters, digits, _ and -, from a letter.
			n := 0
			for n < len(word) && (isASCIILetter(word[n]) || n > 0 && (isDigit(word[n]) || word[n] == '_' || word[n] == '-')) {
				n++
			}
			word = word[:n]
			if !ValidUsername(word) {
				continue
			}
		} else {
			word = strings.TrimRight(word, "-")
			if strings.Contains(word, "-") {
				word = word[:strings.IndexByte(word, '-')]
			}
			if word == "" {
				continue
			}
		}
		text(body[at:m[2]])
		out = append(out, Segment{kind, word})
		at = m[4] + len(word)
	}
	text(body[at:])
	return out
}

// trimURL drops from the end of a URL found in text what belongs to the
// sentence around it: closing punctuation, and a closing bracket that the
// URL does not open, as in "(see https://example.com/a)". A bracket the URL
// opens stays, as in "https://en.wikipedia.org/wiki/Go_(game)".
func trimURL(u string) string {
	for u != "" {
		switch c := u[len(u)-1]; c {
		case '.', ',', ';', ':', '!', '?':
		case ')', ']', '}':
			open := "([{"[strings.IndexByte(")]}", c)]
			if strings.Count(u, string(open)) >= strings.Count(u, string(c)) {
				return u
			}
		default:
			return u
		}
		u = u[:len(u)-1]
	}
	return u
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool       { return c >= '0' && c <= '9' }

// MaxTagLen bounds a tag's length in bytes (a tweet is at most 280
// characters anyway).
const MaxTagLen = 140

// ValidTag reports whether tag can be a hashtag (without its #), as
// written or folded: letters, digits and _ of any script (and the marks that
// folding adds to some letters: İ folds to i and a combining dot), at most
// MaxTagLen bytes.
func ValidTag(tag string) bool {
	if tag == "" || len(tag) > MaxTagLen {
		return false
	}
	for _, r := range tag {
		if !unicode.In(r, unicode.L, unicode.M, unicode.N) && r != '_' {
			return false
		}
	}
	return true
}

// FoldTag is a hashtag under Unicode case folding: #Go, #GO and #go are one
// tag, and so are #Straße and #STRASSE.
func FoldTag(tag string) string { return cases.Fold().String(tag) }

// tagsOf returns the folded tags of a tweet's text, each once.
func tagsOf(body string) []string {
	var tags []string
	seen := map[string]bool{}
	for _, s := range Segments(body) {
		if s.Kind != Hashtag {
			continue
		}
		if t := FoldTag(s.Text); !seen[t] && len(t) <= MaxTagLen {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	return tags
}

// mentionsOf returns the names a tweet's text mentions, each once (by their
// folded form).
func mentionsOf(body string) []string {
	var names []string
	seen := map[string]bool{}
	for _, s := range Segments(body) {
		if f := FoldUsername(s.Text); s.Kind == Mention && !seen[f] {
			seen[f] = true
			names = append(names, s.Text)
		}
	}
	return names
}
