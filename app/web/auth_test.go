package web

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestRootRedirectsToSignIn(t *testing.T) {
	s := newSite(t)
	s.browser().get("/").wantRedirect(t, "/auth/")
}

func TestSignUp(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.get("/auth/signup").want(t, 200, `<label for="username">Username</label>`, `name="password2"`)

	cases := []struct {
		name, user, pw, confirm, want string
	}{
		{"passwords differ", "alice", "Passw0rd!", "Passw0rd?", "Passwords must match"},
		{"weak password", "alice", "alllowercase", "alllowercase", "Weak password."},
		{"bad username", "1alice", "Passw0rd!", "Passw0rd!", "Invalid username."},
		{"missing username", "", "Passw0rd!", "Passw0rd!", "This field is required."},
		{"script in username", "<script>x", "Passw0rd!", "Passw0rd!", "Invalid username."},
		{"long username", strings.Repeat("a", 65), "Passw0rd!", "Passw0rd!", "Invalid username. A username has at most 64 characters."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.post("/auth/signup", form("username", c.user, "password", c.pw, "password2", c.confirm))
			p.want(t, http.StatusUnprocessableEntity, c.want)
			if c.user != "" && !strings.Contains(p.body, `value="`+htmlEscape(c.user)+`"`) {
				t.Errorf("the form does not keep the username %q", c.user)
			}
			if strings.Contains(p.body, c.pw) {
				t.Error("the page shows the password")
			}
			if strings.Contains(p.body, "<script>x") {
				t.Error("the username was not escaped")
			}
		})
	}
	if n := s.rdb.DBSize(t.Context()).Val(); n != 0 {
		t.Fatalf("refused sign-ups wrote %d keys", n)
	}

	p := b.post("/auth/signup", form("username", "alice", "password", "Passw0rd!", "password2", "Passw0rd!"))
	p.wantRedirect(t, "/auth/")
	b.follow(p).want(t, 200, "Welcome, alice! Please login")
	if s.rdb.HGet(t.Context(), "users", "alice").Val() != "1" {
		t.Fatal("alice is not in users")
	}

	p = b.post("/auth/signup", form("username", "alice", "password", "Passw0rd!", "password2", "Passw0rd!"))
	p.want(t, http.StatusUnprocessableEntity, "username alice already exists")
}

func htmlEscape(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", `"`, "&#34;", "&", "&amp;", "'", "&#39;").Replace(s)
}

func TestSignIn(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.get("/auth/").want(t, 200, "Keep me logged in", `name="password"`)

	for _, c := range []struct{ user, pw string }{{"alice", "Wrong0rd!"}, {"nobody", "Passw0rd!"}} {
		p := b.post("/auth/", form("username", c.user, "password", c.pw))
		p.want(t, http.StatusUnprocessableEntity, "Invalid username or password", `value="`+c.user+`"`)
		if strings.Contains(p.body, c.pw) {
			t.Error("the page shows the password")
		}
	}
	b.post("/auth/", form("username", "alice")).want(t, http.StatusUnprocessableEntity, "Please enter your username and password.")

	p := b.signIn("alice", "Passw0rd!", false)
	p.want(t, 200, "Logged in successfully.", "Your Timeline", "Signed in as")
	// The flash is shown once.
	if strings.Contains(b.get("/tweets/user_timeline").body, "Logged in successfully.") {
		t.Error("the flash message was shown twice")
	}
	// Signed in, the welcome page moves on to the timeline.
	b.get("/auth/").wantRedirect(t, "/tweets/user_timeline")
}

func TestSessionCookieFlags(t *testing.T) {
	cases := []struct {
		name     string
		tls      bool
		remember string // the original's remember_me field; "" leaves it out
		maxAge   string
	}{
		{"browser session over http", false, "", ""},
		{"keep me logged in over http", false, "y", "Max-Age=604800"},
		{"browser session over https", true, "", ""},
		{"keep me logged in over https", true, "y", "Max-Age=604800"},
		// WTForms' BooleanField: "false" is unchecked, any other value checked.
		{"remember_me=false", false, "false", ""},
		{"remember_me=on", false, "on", "Max-Age=604800"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSiteTLS(t, c.tls)
			b := s.browser()
			b.signUp("alice", "Passw0rd!")
			f := form("username", "alice", "password", "Passw0rd!")
			if c.remember != "" {
				f.Set("remember_me", c.remember)
			}
			p := b.post("/auth/", f)
			p.wantRedirect(t, "/tweets/user_timeline")
			var set string
			for _, h := range p.header.Values("Set-Cookie") {
				if strings.HasPrefix(h, cookieName+"=") {
					set = h
				}
			}
			for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
				if !strings.Contains(set, want) {
					t.Errorf("cookie %q lacks %s", set, want)
				}
			}
			if got := strings.Contains(set, "Secure"); got != c.tls {
				t.Errorf("cookie Secure = %v; want %v (%s)", got, c.tls, set)
			}
			if c.maxAge == "" && (strings.Contains(set, "Max-Age") || strings.Contains(set, "Expires")) {
				t.Errorf("a browser-session cookie has a lifetime: %s", set)
			}
			if c.maxAge != "" && !strings.Contains(set, c.maxAge) {
				t.Errorf("cookie %q lacks %s", set, c.maxAge)
			}
			if strings.Contains(set, s.rdb.HGet(t.Context(), "user:1", "auth").Val()) {
				t.Error("the cookie shows the authentication secret in clear")
			}
			// A later flash keeps the cookie's lifetime.
			p = b.post("/tweets/user_timeline", form("tweet", "hi"))
			for _, h := range p.header.Values("Set-Cookie") {
				if strings.HasPrefix(h, cookieName+"=") && c.maxAge != "" && !strings.Contains(h, c.maxAge) {
					t.Errorf("re-saved cookie lost its lifetime: %s", h)
				}
			}
		})
	}
}

func TestNextParameter(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.signUp("bob", "Passw0rd!")

	// A login-required page sends the visitor to sign in, and back after.
	b.get("/auth/user_settings").wantRedirect(t, "/auth/?next=%2Fauth%2Fuser_settings")
	p := b.get("/auth/?next=%2Ftweets%2Fuser_history%2Fbob")
	p.want(t, 200, `name="next" value="/tweets/user_history/bob"`)
	p = b.post("/auth/?next=%2Ftweets%2Fuser_history%2Fbob", form("username", "alice", "password", "Passw0rd!", "next", "/tweets/user_history/bob"))
	p.wantRedirect(t, "/tweets/user_history/bob")

	// An off-site or malformed next is dropped, not refused: the page is
	// shown, the sign-in succeeds, and it goes to the default page.
	for _, next := range []string{"//evil.example", "https://evil.example", `/\evil.example`, "javascript:alert(1)", "evil.example", "/\r\nSet-Cookie:x", "///evil.example", "/%zz"} {
		t.Run(next, func(t *testing.T) {
			anon := s.browser()
			p := anon.get("/auth/?next=" + url.QueryEscape(next))
			p.want(t, http.StatusOK, `name="next" value=""`, "Sign in")
			if strings.Contains(p.body, "evil") {
				t.Error("the page carries the refused next")
			}
			anon.post("/auth/", form("username", "alice", "password", "Passw0rd!", "next", next)).wantRedirect(t, "/tweets/user_timeline")
			anon.get("/tweets/user_timeline").want(t, http.StatusOK, "Logged in successfully.")
			b.get("/auth/?next="+url.QueryEscape(next)).wantRedirect(t, "/tweets/user_timeline") // b is signed in
			signedOut := s.browser()
			signedOut.post("/auth/?next="+url.QueryEscape(next), form("username", "alice", "password", "Passw0rd!")).wantRedirect(t, "/tweets/user_timeline")
		})
	}
}

func TestLoginRequired(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	p := b.get("/auth/user_settings")
	p.wantRedirect(t, "/auth/?next=%2Fauth%2Fuser_settings")
	b.follow(p).want(t, 200, "Please log in to access this page.")
	b.post("/tweets/user_timeline", form("tweet", "hi")).wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	b.post("/tweets/follow/bob", nil).wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	if n := s.rdb.DBSize(t.Context()).Val(); n != 0 {
		t.Errorf("anonymous posts wrote %d keys", n)
	}
}

func TestChangePassword(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", true)
	other := s.browser()
	other.signIn("alice", "Passw0rd!", false)

	b.get("/auth/user_settings").want(t, 200, "Change password", `name="old_password"`)
	cases := []struct{ old, new, confirm, want string }{
		{"Passw0rd!", "N3w-Passw0rd", "N3w-Passw0rd?", "New passwords must match"},
		{"Wrong0rd!", "N3w-Passw0rd", "N3w-Passw0rd", "Incorrect old password"},
		{"Passw0rd!", "Passw0rd!", "Passw0rd!", "New password same as old one"},
		{"Passw0rd!", "weakling", "weakling", "Weak password."},
		{"", "N3w-Passw0rd", "N3w-Passw0rd", "This field is required."},
	}
	hash := s.rdb.HGet(t.Context(), "user:1", "password_hash").Val()
	for _, c := range cases {
		p := b.post("/auth/user_settings", form("old_password", c.old, "new_password", c.new, "new_password2", c.confirm))
		p.want(t, http.StatusUnprocessableEntity, c.want)
		for _, pw := range []string{c.old, c.new} {
			if pw != "" && strings.Contains(p.body, pw) {
				t.Errorf("the page shows a password %q", pw)
			}
		}
	}
	if s.rdb.HGet(t.Context(), "user:1", "password_hash").Val() != hash {
		t.Fatal("a refused change changed the hash")
	}

	p := b.post("/auth/user_settings", form("old_password", "Passw0rd!", "new_password", "N3w-Passw0rd", "new_password2", "N3w-Passw0rd"))
	p.wantRedirect(t, "/auth/user_settings")
	for _, h := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(h, cookieName+"=") && !strings.Contains(h, "Max-Age=604800") {
			t.Errorf("the renewed cookie lost Keep me logged in: %s", h)
		}
	}
	b.follow(p).want(t, 200, "Password successfully changed", "Signed in as")
	// The other browser's session ended with the old secret.
	other.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	b.get("/tweets/user_timeline").want(t, 200, "Your Timeline")
	s.browser().signIn("alice", "N3w-Passw0rd", false)
}

func TestSignOutEndsEverySession(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signUp("alice", "Passw0rd!")
	b.signIn("alice", "Passw0rd!", false)
	other := s.browser()
	other.signIn("alice", "Passw0rd!", true)

	// GET only asks; nothing changes.
	b.get("/auth/signout").want(t, 200, `action="/auth/signout"`)
	other.get("/tweets/user_timeline").want(t, 200, "Your Timeline")

	p := b.post("/auth/signout", nil)
	p.wantRedirect(t, "/auth/")
	b.follow(p).want(t, 200, "Logged out successfully.", "Sign in")
	b.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	other.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	// Signed out, GET /auth/signout goes to the sign-in page.
	b.get("/auth/signout").wantRedirect(t, "/auth/")
}

// TestConcurrentSignUpsOfOneName: 50 browsers sign up one name at once;
// exactly one gets the account.
func TestConcurrentSignUpsOfOneName(t *testing.T) {
	s := newSite(t)
	statuses := make(chan int, 50)
	var wg sync.WaitGroup
	for range 50 {
		b := s.browser()
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- b.post("/auth/signup", form("username", "alice", "password", "Passw0rd!", "password2", "Passw0rd!")).status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[http.StatusSeeOther] != 1 || count[http.StatusUnprocessableEntity] != 49 {
		t.Fatalf("statuses %v; want one 303 and 49 422s", count)
	}
	if n := s.rdb.HLen(t.Context(), "users").Val(); n != 1 {
		t.Fatalf("users holds %d names", n)
	}
}

// TestDeleteAccountPage: the settings page offers to delete the account;
// a missing or wrong password is asked again and changes nothing; the
// right one deletes the account, signs out, and the name is refused to a
// new sign-up.
func TestDeleteAccountPage(t *testing.T) {
	s := newSite(t)
	users := s.signedIn("alice", "bob")
	alice, bob := users[0], users[1]
	bob.post("/tweets/follow/alice", nil)
	alice.post("/tweets/user_timeline", form("tweet", "my last words"))
	alice.get("/auth/user_settings").want(t, 200, "Delete your account", `action="/auth/delete_account"`, "for 30 days")
	alice.post("/auth/delete_account", form("password", "")).want(t, 422, "This field is required.")
	alice.post("/auth/delete_account", form("password", "Wr0ng-password")).want(t, 422, "Incorrect password")
	alice.get("/tweets/user_timeline").want(t, 200, "my last words")
	bob.post("/auth/delete_account", form("password", "Passw0rd!")).wantRedirect(t, "/auth/") // bob's own, not alice's
	alice.post("/auth/delete_account", form("password", "Passw0rd!")).wantRedirect(t, "/auth/")
	alice.get("/auth/").want(t, 200, "Your account was deleted.")
	alice.get("/tweets/user_timeline").wantRedirect(t, "/auth/?next=%2Ftweets%2Fuser_timeline")
	s.browser().get("/tweets/user_history/alice").want(t, 404)
	if p := s.browser().get("/tweets/general_timeline"); strings.Contains(p.body, "my last words") {
		t.Error("the general timeline still shows the deleted account's tweet")
	}
	b := s.browser()
	b.post("/auth/signup", form("username", "Alice", "password", "Passw0rd!", "password2", "Passw0rd!")).want(t, 422, "belonged to an account deleted recently")
}
