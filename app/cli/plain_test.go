package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestPlainWriter(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Got 2 tweets\n\tbody\n", "Got 2 tweets\n\tbody\n"},
		{"café 日本語 ×", "café 日本語 ×"},
		{"title \x1b]0;pwned\x07!", `title \x1b]0;pwned\x07!`},
		{"fake\rline", `fake\x0dline`},
		{"csi \u009b2J", `csi \u009b2J`},
		{"bad \xff byte", `bad \xff byte`},
		{"del \x7f nul \x00", `del \x7f nul \x00`},
		{"", ""},
	} {
		var out bytes.Buffer
		n, err := plainWriter{&out}.Write([]byte(c.in))
		if err != nil || n != len(c.in) || out.String() != c.want {
			t.Errorf("Write(%q) = %d, %v, wrote %q; want %d, nil, %q", c.in, n, err, out.String(), len(c.in), c.want)
		}
	}
}

// TestShellEscapesWhatUsersWrote: a tweet that pytwis stored with a
// terminal escape sequence reaches the operator's terminal as text.
func TestShellEscapesWhatUsersWrote(t *testing.T) {
	sh, out, rs := newShell(t)
	ctx := context.Background()
	for _, line := range []string{"register alice Passw0rd!", "login alice Passw0rd!", "post placeholder"} {
		sh.Exec(ctx, line)
	}
	rdb := rs.Client()
	defer rdb.Close()
	// As pytwis, which took any text, could have written it.
	if err := rdb.HSet(ctx, "tweet:1", "body", "\x1b]0;pwned\x07\x1b[2J\rgone").Err(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	sh.Exec(ctx, "tweetsby alice")
	if strings.ContainsAny(out.String(), "\x1b\x07\r") {
		t.Errorf("tweetsby wrote control characters: %q", out.String())
	}
	if want := `\x1b]0;pwned\x07\x1b[2J\x0dgone`; !strings.Contains(out.String(), want) {
		t.Errorf("tweetsby wrote %q; want the body as %s", out.String(), want)
	}
}
