package store

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzNormalizeTweet: an accepted tweet is valid UTF-8 without CR or control
// characters (but newline and tab), not blank, at most MaxTweetLen code
// points, and normalising it again changes nothing.
func FuzzNormalizeTweet(f *testing.F) {
	for _, s := range []string{"hello", "a\r\nb", " ", "\x00", "\xff", strings.Repeat("é", 281), "tab\there", "😀", "\u200b", "\u202eabc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got, err := NormalizeTweet(body)
		if err != nil {
			return
		}
		switch {
		case !utf8.ValidString(got):
			t.Fatal("accepted invalid UTF-8")
		case strings.ContainsRune(got, '\r'):
			t.Fatal("kept a carriage return")
		case !strings.ContainsFunc(got, visible):
			t.Fatal("accepted a tweet that shows nothing")
		case utf8.RuneCountInString(got) > MaxTweetLen:
			t.Fatalf("accepted %d code points", utf8.RuneCountInString(got))
		}
		for _, r := range got {
			if unicode.IsControl(r) && r != '\n' && r != '\t' {
				t.Fatalf("kept control character %U", r)
			}
		}
		if again, err := NormalizeTweet(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q (%v)", got, again, err)
		}
	})
}
