package store

import (
	"strings"
	"testing"
	"unicode"
)

func TestValidUsername(t *testing.T) {
	cases := map[string]bool{
		"alice": true, "Erin-x": true, "dave_99": true, "abc": true,
		"ab": false, "1abc": false, "_abc": false, "al ice": false, "alice!": false,
		"": false, "ålice": false, "аlice": false /* Cyrillic а */, "ali\x00ce": false,
		"alice\n": false, strings.Repeat("a", MaxUsernameLen+1): false,
	}
	for name, valid := range cases {
		if got := ValidUsername(name); got != valid {
			t.Errorf("ValidUsername(%q) = %v; want %v", name, got, valid)
		}
	}
}

func TestFoldUsername(t *testing.T) {
	same := [][]string{
		{"jone_1", "JONE_1", "Jone_1", "jOnE_1"},
		{"kelvin", "KELVIN", "\u212aelvin"}, // KELVIN SIGN folds with k
		{"sos", "SOS", "\u017fos"},          // LONG S folds with s
	}
	for _, names := range same {
		for _, n := range names[1:] {
			if FoldUsername(n) != FoldUsername(names[0]) {
				t.Errorf("FoldUsername(%q) = %q; want %q, as for %q", n, FoldUsername(n), FoldUsername(names[0]), names[0])
			}
		}
	}
	for _, pair := range [][2]string{{"alice", "alicf"}, {"ab-c", "ab_c"}, {"user1", "userl"}} {
		if FoldUsername(pair[0]) == FoldUsername(pair[1]) {
			t.Errorf("%q and %q fold alike", pair[0], pair[1])
		}
	}
}

// FuzzValidUsername compares the rule with a plain restatement of pytwis's
// regex: an ASCII letter, then two or more ASCII letters, digits, _ or -.
func FuzzValidUsername(f *testing.F) {
	for _, s := range []string{"alice", "Erin-x", "dave_99", "ab", "1abc", "аlice", "ali\x00ce", "alice\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		letter := func(r rune) bool { return r < 128 && unicode.IsLetter(r) }
		want := len(name) >= 3 && len(name) <= MaxUsernameLen && letter(rune(name[0]))
		for _, r := range name[min(1, len(name)):] {
			if !(letter(r) || (r >= '0' && r <= '9') || r == '_' || r == '-') {
				want = false
			}
		}
		if got := ValidUsername(name); got != want {
			t.Fatalf("ValidUsername(%q) = %v; want %v", name, got, want)
		}
	})
}
