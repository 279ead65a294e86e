package auth

import (
	"regexp"
	"strings"
	"unicode"
)

// The messages are pytwis's own (pytwis_constants.py), so users and scripts
// see the same words as before.
const (
	InvalidUsernameMessage = "Invalid username. A valid username must have 3 characters or more; " +
		"have only letters (either uppercase or lowercase), digits, '_', or '-'; start with a letter."
	WeakPasswordMessage = "Weak password. A strong password must have 8 characters or more; " +
		"1 digit or more; 1 uppercase letter or more; 1 lowercase letter or more; " +
		"1 symbol (excluding whitespace characters) or more."
)

var usernameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{2,}$`)

// MaxUsernameLen bounds a name so that a form cannot store a megabyte in the
// users hash; pytwis had no limit, and no fixture name comes close.
const MaxUsernameLen = 64

// MaxPasswordLen bounds the work one sign-in can cause.
const MaxPasswordLen = 1024

// ValidUsername applies pytwis's username rule.
func ValidUsername(name string) bool {
	return len(name) <= MaxUsernameLen && usernameRE.MatchString(name)
}

// StrongPassword applies pytwis's strength rule: 8+ characters with a digit,
// an upper- and a lower-case letter and a symbol that is not white space.
// pytwis's "symbol" is its regex [^A-Za-z0-9\s], which this mirrors.
func StrongPassword(pw string) bool {
	if len([]rune(pw)) < 8 || len(pw) > MaxPasswordLen {
		return false
	}
	var digit, upper, lower, symbol bool
	for _, r := range pw {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case !unicode.IsSpace(r):
			symbol = true
		}
	}
	return digit && upper && lower && symbol
}

// FoldUsername is a username under Unicode simple case folding: two names
// that differ only in upper and lower case fold to the same string, so that
// a new account cannot pose as an existing one (jone_1, JONE_1, Jone_1).
// Each character becomes the smallest of those it folds together with.
func FoldUsername(name string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, name)
}
