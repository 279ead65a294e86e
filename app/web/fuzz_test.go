package web

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// FuzzSafeNext: an accepted ?next= is a path on this site: it starts with
// one slash, has no backslash, and parses with neither scheme nor host.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/tweets/user_timeline", "//evil.example", "https://evil.example", `/\evil`, "javascript:x", "/a?b=c#d", "/%2f%2fevil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got, ok := safeNext(next)
		if !ok || got == "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(got, "/") ||
			strings.HasPrefix(got, "//") || strings.Contains(got, `\`) {
			t.Fatalf("accepted %q", got)
		}
		// What the browser is sent must stay on this site too.
		r, _ := http.NewRequest("GET", "http://site.example/", nil)
		loc, _ := url.Parse(got)
		if dest := r.URL.ResolveReference(loc); dest.Host != "site.example" {
			t.Fatalf("%q leads to %s", got, dest)
		}
	})
}

// FuzzForms posts arbitrary bodies to every form, signed in: no 5xx answer,
// every answer a page of the site.
func FuzzForms(f *testing.F) {
	seeds := []string{
		"username=alice&password=Passw0rd!", "username=bob&password=Passw0rd!&password2=Passw0rd!",
		"tweet=hello", "tweet=%00", "old_password=Passw0rd!&new_password=x&new_password2=x", "next=//evil",
		"username=%ff", "a=1&a=2", "tweet=" + strings.Repeat("x", 300), "%", "==&&",
	}
	for i, s := range seeds {
		f.Add(uint8(i), s)
	}
	paths := []string{"/auth/", "/auth/signup", "/tweets/user_timeline", "/auth/user_settings", "/tweets/follow/bob", "/tweets/unfollow/bob"}
	// The site is made once per process, inside the fuzz function: a fuzz
	// worker may run the target's cleanups while it still fuzzes. The test
	// redis-server dies with the process.
	var once sync.Once
	var b *browser
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		once.Do(func() {
			s := newSite(processTB{t})
			b = s.browser()
			b.signUp("alice", "Passw0rd!")
			b.signUp("bob", "Passw0rd!")
			b.signIn("alice", "Passw0rd!", true)
		})
		b.t = t
		p := b.do("POST", paths[int(which)%len(paths)], strings.NewReader(body), "application/x-www-form-urlencoded")
		if p.status >= 500 {
			fuzzLog.mu.Lock()
			logs := fuzzLog.w.(*strings.Builder).String()
			fuzzLog.mu.Unlock()
			t.Fatalf("%d for %q; log:\n%s", p.status, body, logs[max(0, len(logs)-1500):])
		}
		if p.status < 300 || p.status >= 400 {
			if !strings.Contains(p.body, `<header class="site">`) {
				t.Fatalf("%d without the site's page for %q", p.status, body)
			}
		}
	})
}

// processTB lives as long as the process: its cleanups never run (the test
// redis-server is killed with the process instead).
type processTB struct{ testing.TB }

func (processTB) Cleanup(func())      {}
func (p processTB) Output() io.Writer { return fuzzLog }

var fuzzLog = &lockedWriter{w: new(strings.Builder)}
