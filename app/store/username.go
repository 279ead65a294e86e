package store

import (
	"regexp"
	"strings"
	"unicode"
)

// InvalidUsernameMessage is pytwis's own (pytwis_constants.py), so users and
// scripts see the same words as before.
const InvalidUsernameMessage = "Invalid username. A valid username must have 3 characters or more; " +
	"have only letters (either uppercase or lowercase), digits, '_', or '-'; start with a letter."

var usernameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{2,}$`)

// MaxUsernameLen bounds a name so that a form cannot store a megabyte in the
// users hash; pytwis had no limit, and no fixture name comes close.
const MaxUsernameLen = 64

// ValidUsername applies pytwis's username rule.
func ValidUsername(name string) bool {
	return len(name) <= MaxUsernameLen && usernameRE.MatchString(name)
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
