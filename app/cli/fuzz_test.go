package cli

import (
	"context"
	"strings"
	"testing"
	"unicode"
)

// FuzzParse: the line parser never panics; the command name holds no space;
// post keeps the rest of the line, other commands split it on white space.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"login alice pw", "post  hello  world ", "\ttimeline\t5", "", "   ", "post", "x\x00y z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		name, args, err := Parse(line)
		if err != nil {
			return
		}
		if strings.IndexFunc(name, unicode.IsSpace) >= 0 {
			t.Fatalf("name %q holds white space", name)
		}
		if name == "" {
			if strings.TrimSpace(line) != "" || len(args) > 0 {
				t.Fatalf("%q parsed as empty", line)
			}
			return
		}
		for _, a := range args {
			if a == "" || strings.TrimSpace(a) != a {
				t.Fatalf("argument %q of %q is blank or padded", a, line)
			}
		}
		if name != "post" && len(args) > 0 {
			fields := strings.Fields(line)
			if strings.Join(fields[1:], "\x00") != strings.Join(args, "\x00") {
				t.Fatalf("%q: args %q; want %q", line, args, fields[1:])
			}
		}
	})
}

// FuzzShellExec: no input line makes a command panic, and every line that
// is not blank or exit prints something.
func FuzzShellExec(f *testing.F) {
	for _, s := range []string{"register alice Passw0rd!", "login alice Passw0rd!", "post hi", "timeline -1",
		"tweetsby x 99999999999999999999", "changepwd a b c", "follow", "\x00", "userprofile", "logout"} {
		f.Add(s)
	}
	sh, out, _ := newShell(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, line string) {
		out.Reset()
		quit := sh.Exec(ctx, line)
		if strings.Contains(out.String(), "Internal error") {
			t.Fatalf("%q: %s", line, out.String())
		}
		if !quit && strings.TrimSpace(line) != "" && out.Len() == 0 {
			t.Fatalf("%q printed nothing", line)
		}
	})
}
