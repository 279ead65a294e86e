package password

import "unicode"

// WeakPasswordMessage is pytwis's own (pytwis_constants.py), so users and
// scripts see the same words as before.
const WeakPasswordMessage = "Weak password. A strong password must have 8 characters or more; " +
	"1 digit or more; 1 uppercase letter or more; 1 lowercase letter or more; " +
	"1 symbol (excluding whitespace characters) or more."

// MaxLen bounds the work one sign-in can cause.
const MaxLen = 1024

// Strong applies pytwis's strength rule: 8+ characters with a digit, an
// upper- and a lower-case letter and a symbol that is not white space.
// pytwis's "symbol" is its regex [^A-Za-z0-9\s], which this mirrors.
func Strong(pw string) bool {
	if len([]rune(pw)) < 8 || len(pw) > MaxLen {
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
