package web

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestBadInputChangesNothing sends what the internet sends: every case gets a
// clear 4xx page, nothing is written to Redis, and no field is echoed
// unescaped.
func TestBadInputChangesNothing(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.signUp("bob", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", false)
	b.post("/tweets/user_timeline", form("tweet", "warm-up")) // creates the generation key
	b.get("/tweets/general_timeline")
	before := snapshot(t, s.rdb)

	signup := func(user, pw, confirm string) string {
		return form("username", user, "password", pw, "password2", confirm).Encode()
	}
	raw := func(kv ...string) string { // keeps bytes that url.Values would escape the same way anyway
		var parts []string
		for i := 0; i+1 < len(kv); i += 2 {
			parts = append(parts, kv[i]+"="+kv[i+1])
		}
		return strings.Join(parts, "&")
	}
	cases := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		text                     string
	}{
		// Sizes and encodings.
		{"body over the limit", "POST", "/tweets/user_timeline", "tweet=" + strings.Repeat("x", 70<<10), nil, 413, "larger than 64 KiB"},
		{"invalid UTF-8 tweet", "POST", "/tweets/user_timeline", raw("tweet", "%ff%fe"), nil, 400, "not valid UTF-8"},
		{"invalid UTF-8 username", "POST", "/auth/signup", raw("username", "%c3%28", "password", "Passw0rd!", "password2", "Passw0rd!"), nil, 400, "not valid UTF-8"},
		{"invalid UTF-8 field name", "POST", "/auth/", raw("user%ffname", "x"), nil, 400, "not valid UTF-8"},
		{"duplicate fields", "POST", "/auth/signup", raw("username", "carol", "username", "dave", "password", "Passw0rd!", "password2", "Passw0rd!"), nil, 400, "more than once"},
		{"malformed body", "POST", "/tweets/user_timeline", "tweet=%zz", nil, 400, "could not be read"},
		// Tweets.
		{"NUL in a tweet", "POST", "/tweets/user_timeline", raw("tweet", "a%00b"), nil, 422, "control character"},
		{"escape sequence in a tweet", "POST", "/tweets/user_timeline", raw("tweet", "%1b%5b31mred"), nil, 422, "control character"},
		{"whitespace-only tweet", "POST", "/tweets/user_timeline", raw("tweet", "%20%0d%0a%09%20"), nil, 422, "The tweet is empty."},
		{"empty tweet", "POST", "/tweets/user_timeline", raw("tweet", ""), nil, 422, "The tweet is empty."},
		{"invisible tweet", "POST", "/tweets/user_timeline", raw("tweet", "%E2%80%8B%E2%A0%80%E3%85%A4%E2%80%AE"), nil, 422, "The tweet is empty."},
		{"10,000-character tweet", "POST", "/tweets/user_timeline", form("tweet", strings.Repeat("a", 10000)).Encode(), nil, 422, "10000 characters long; the limit is 280"},
		{"no tweet field", "POST", "/tweets/user_timeline", "", nil, 422, "The tweet is empty."},
		// Usernames.
		{"NUL in a username", "POST", "/auth/signup", signup("car\x00ol", "Passw0rd!", "Passw0rd!"), nil, 422, "Invalid username."},
		{"newline in a username", "POST", "/auth/signup", signup("carol\n", "Passw0rd!", "Passw0rd!"), nil, 422, "Invalid username."},
		{"another script", "POST", "/auth/signup", signup("Алиса", "Passw0rd!", "Passw0rd!"), nil, 422, "Invalid username."},
		{"look-alike of alice", "POST", "/auth/signup", signup("аlice", "Passw0rd!", "Passw0rd!"), nil, 422, "Invalid username."},
		{"full-width letters", "POST", "/auth/signup", signup("ａlice", "Passw0rd!", "Passw0rd!"), nil, 422, "Invalid username."},
		{"script in a username", "POST", "/auth/signup", signup(`<script>alert(1)</script>`, "Passw0rd!", "Passw0rd!"), nil, 422, "&lt;script&gt;"},
		{"script in a sign-in name", "POST", "/auth/", form("username", `"><script>x</script>`, "password", "x").Encode(), nil, 422, "&#34;&gt;&lt;script&gt;"},
		{"very long username", "POST", "/auth/signup", signup(strings.Repeat("a", 5000), "Passw0rd!", "Passw0rd!"), nil, 422, "Invalid username."},
		{"taken name", "POST", "/auth/signup", signup("alice", "Passw0rd!", "Passw0rd!"), nil, 422, "already exists"},
		// Passwords (never echoed).
		{"script as a password", "POST", "/auth/signup", signup("carol", "<script>x</script>", "<script>x</script>"), nil, 422, "Weak password."},
		{"settings with script", "POST", "/auth/user_settings", form("old_password", "<b>", "new_password", "<i>x", "new_password2", "<i>x").Encode(), nil, 422, "Incorrect old password"},
		// Follow targets.
		{"follow with script", "POST", "/tweets/follow/" + url.PathEscape("<script>"), "", nil, 404, "Followee &lt;script&gt; doesn&#39;t exist"},
		{"unfollow nobody", "POST", "/tweets/unfollow/nobody", "", nil, 404, "Followee nobody doesn&#39;t exist"},
		{"page of nobody", "GET", "/tweets/user_history/" + url.PathEscape(`"><img src=x>`), "", nil, 404, "&#34;&gt;&lt;img src=x&gt;"},
		// Deletions.
		{"delete a tweet id that is not a number", "POST", "/tweets/delete/abc", "", nil, 404, "That tweet does not exist."},
		{"delete a tweet that does not exist", "POST", "/tweets/delete/999999", "", nil, 404, "That tweet does not exist."},
		{"ask to delete a tweet that does not exist", "GET", "/tweets/delete/999999", "", nil, 404, "There is no tweet 999999."},
		{"cross-site delete", "POST", "/tweets/delete/1", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "sent from another site"},
		// Edits.
		{"edit a tweet id that is not a number", "POST", "/tweets/edit/abc", form("tweet", "x").Encode(), nil, 404, "That tweet does not exist."},
		{"edit a tweet that does not exist", "GET", "/tweets/edit/999999", "", nil, 404, "There is no tweet 999999."},
		{"edit to 10,000 characters", "POST", "/tweets/edit/1", form("tweet", strings.Repeat("a", 10000)).Encode(), nil, 422, "10000 characters long; the limit is 280"},
		{"edit to nothing", "POST", "/tweets/edit/1", raw("tweet", "%E2%80%8B"), nil, 422, "The tweet is empty."},
		{"edit with script", "POST", "/tweets/edit/1", form("tweet", strings.Repeat("<script>", 40)).Encode(), nil, 422, "the limit is 280"},
		{"cross-site edit", "POST", "/tweets/edit/1", "tweet=forged", map[string]string{"Origin": "https://evil.example"}, 403, "sent from another site"},
		// Searches.
		{"search of 10,000 characters", "GET", "/search?q=" + strings.Repeat("a", 10000), "", nil, 400, "The search is 10000 characters long; the limit is 200."},
		{"search of punctuation only", "GET", "/search?q=" + url.QueryEscape("!!! ... ???"), "", nil, 400, "Search for a word, a #tag or a name."},
		{"search with script", "GET", "/search?q=" + url.QueryEscape(`"><script>x</script>`), "", nil, 200, "&#34;&gt;&lt;script&gt;"},
		{"search page not a number", "GET", "/search?q=x&page=x", "", nil, 400, "The page number must be"},
		// Wrong methods.
		{"GET follow", "GET", "/tweets/follow/bob", "", nil, 405, "does not accept GET"},
		{"PUT tweet", "PUT", "/tweets/user_timeline", "tweet=x", nil, 405, "does not accept PUT"},
		{"DELETE settings", "DELETE", "/auth/user_settings", "", nil, 405, "does not accept DELETE"},
		// Cross-site requests.
		{"cross-site post", "POST", "/tweets/user_timeline", "tweet=forged", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "sent from another site"},
		{"foreign origin follow", "POST", "/tweets/follow/bob", "", map[string]string{"Origin": "https://evil.example"}, 403, "sent from another site"},
		{"null origin sign-out", "POST", "/auth/signout", "", map[string]string{"Origin": "null"}, 403, "sent from another site"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.header = http.Header{}
			for k, v := range c.header {
				b.header.Set(k, v)
			}
			var body *strings.Reader
			if c.body != "" || c.method == "POST" {
				body = strings.NewReader(c.body)
			}
			var p *resp
			if body != nil {
				p = b.do(c.method, c.path, body, "application/x-www-form-urlencoded")
			} else {
				p = b.do(c.method, c.path, nil, "")
			}
			p.want(t, c.status, c.text, `<header class="site">`)
			if strings.Contains(p.body, "<script>") || strings.Contains(p.body, "<img src=x>") {
				t.Error("input echoed unescaped")
			}
		})
	}
	b.header = http.Header{}
	after := snapshot(t, s.rdb)
	for k := range after {
		// What a valid search found, kept for 2 s: a cache, not data.
		if strings.HasPrefix(k, "pytwask:found:") {
			delete(after, k)
		}
	}
	if !reflect.DeepEqual(after, before) {
		for k := range after {
			if !reflect.DeepEqual(after[k], before[k]) {
				t.Errorf("key %s changed", k)
			}
		}
		for k := range before {
			if _, ok := after[k]; !ok {
				t.Errorf("key %s removed", k)
			}
		}
	}
}
