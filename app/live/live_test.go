package live

import "testing"

func TestParseStream(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Stream
		ok   bool
	}{
		{"home", Stream{Kind: "home"}, true},
		{"public", Stream{Kind: "public"}, true},
		{"notifications", Stream{Kind: "notifications"}, true},
		{"user:alice", Stream{Kind: "user", Arg: "alice"}, true},
		{"tag:go", Stream{Kind: "tag", Arg: "go"}, true},
		{"tweet:7", Stream{Kind: "tweet", Arg: "7"}, true},
		{"home:1", Stream{Kind: "home"}, false},
		{"user:", Stream{Kind: "user"}, false},
		{"tag", Stream{Kind: "tag"}, false},
		{"everything", Stream{}, false},
		{"", Stream{}, false},
	} {
		got, ok := ParseStream(c.in)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("ParseStream(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
		if ok && got.String() != c.in {
			t.Errorf("%q reads back as %q", c.in, got.String())
		}
	}
}

func TestIDs(t *testing.T) {
	for _, c := range []struct {
		a, b  string
		after bool
	}{
		{"2-0", "1-0", true},
		{"1-0", "2-0", false},
		{"1-1", "1-0", true},
		{"10-0", "9-5", true},
		{"1-0", "1-0", false},
	} {
		if got := After(c.a, c.b); got != c.after {
			t.Errorf("After(%s, %s) = %v", c.a, c.b, got)
		}
	}
	for id, valid := range map[string]bool{"1-0": true, "1796577134213-12": true, "1": false, "a-1": false, "1-": false, "": false, "-1-0": false} {
		if ValidID(id) != valid {
			t.Errorf("ValidID(%q) = %v", id, !valid)
		}
	}
}
