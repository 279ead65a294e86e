package password

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzVerify: no stored hash, however malformed, makes Verify panic or take
// unbounded time, and an unparsable hash never verifies.
func FuzzVerify(f *testing.F) {
	f.Add("pbkdf2:sha512:1000$salt$00", "Passw0rd!")
	f.Add("scrypt:16:1:1$salt$00", "x")
	f.Add("pbkdf2:sha256:1$$", "")
	f.Fuzz(func(t *testing.T, stored, password string) {
		if len(stored) > 256 {
			return
		}
		// Keep costs small enough to fuzz: the parser's own bounds are
		// tested in TestVerifyRejectsMalformed.
		if p, err := parse(stored); err == nil && (p.iterations > 5000 || p.n > 1<<10 || p.r*p.p > 16) {
			return
		}
		ok, err := Verify(stored, password)
		if ok && err != nil {
			t.Fatalf("verified with an error: %v", err)
		}
		if _, perr := parse(stored); perr != nil && ok {
			t.Fatal("an unparsable hash verified")
		}
	})
}

// FuzzHashVerify: every password verifies against its own hash, and a
// different password does not.
func FuzzHashVerify(f *testing.F) {
	f.Add("Passw0rd!", "Passw0rd?")
	f.Add("", "x")
	f.Add("héllo wörld 1A!", "hello world 1A!")
	h := Hasher{Iterations: 100}
	f.Fuzz(func(t *testing.T, pw, other string) {
		stored, err := h.Hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := Verify(stored, pw); !ok || err != nil {
			t.Fatalf("own hash does not verify: %v", err)
		}
		// HMAC pads short keys with zero bytes, so passwords that differ
		// only by trailing NULs share a PBKDF2 hash (in Werkzeug too).
		if strings.TrimRight(other, "\x00") != strings.TrimRight(pw, "\x00") {
			if ok, _ := Verify(stored, other); ok {
				t.Fatalf("%q verified against the hash of %q", other, pw)
			}
		}
	})
}

// FuzzStrong compares the rule with its statement in pytwis.
func FuzzStrong(f *testing.F) {
	for _, s := range []string{"Passw0rd!", "Passw0rd", "pa55-Wor", "Pa 55 wor", "ÄÖÜäöü1!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		want := len([]rune(pw)) >= 8 && len(pw) <= MaxLen &&
			strings.ContainsAny(pw, "0123456789") &&
			strings.ContainsAny(pw, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") &&
			strings.ContainsAny(pw, "abcdefghijklmnopqrstuvwxyz") &&
			strings.IndexFunc(pw, func(r rune) bool {
				return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || unicode.IsSpace(r))
			}) >= 0
		if got := Strong(pw); got != want {
			t.Fatalf("Strong(%q) = %v; want %v", pw, got, want)
		}
	})
}
