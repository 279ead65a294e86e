package cli

import (
	"bytes"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"
)

// plainWriter writes text with its control characters shown as escapes
// (ESC as \x1b, a C1 control as \u009b, a byte that is not UTF-8 as \xff).
// The shell prints what users wrote, and pytwis stored any text: a tweet
// must not send a terminal escape sequence (a new window title, a cleared
// screen, a line overwritten after a carriage return) to the operator's
// terminal. Newlines and tabs, which the shell's layout uses, pass.
type plainWriter struct{ w io.Writer }

func (p plainWriter) Write(b []byte) (int, error) {
	if plain(b) {
		return p.w.Write(b)
	}
	var buf bytes.Buffer
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&buf, `\x%02x`, b[i])
		case r < utf8.RuneSelf && shown(r):
			buf.WriteByte(byte(r))
		case r < utf8.RuneSelf:
			fmt.Fprintf(&buf, `\x%02x`, r)
		case unicode.IsControl(r):
			fmt.Fprintf(&buf, `\u%04x`, r)
		default:
			buf.Write(b[i : i+size])
		}
		i += size
	}
	if _, err := p.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// shown reports whether an ASCII character is written as it is.
func shown(r rune) bool { return r == '\n' || r == '\t' || !unicode.IsControl(r) }

// plain reports whether b is valid UTF-8 with no control character to
// escape: the shell's usual output, written as it is.
func plain(b []byte) bool {
	for i := 0; i < len(b); {
		if c := b[i]; c < utf8.RuneSelf {
			if !shown(rune(c)) {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || unicode.IsControl(r) {
			return false
		}
		i += size
	}
	return true
}
