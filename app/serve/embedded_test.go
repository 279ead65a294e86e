package serve_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"pytwask/app/config"
	"pytwask/app/serve"
)

// TestEmbeddedDefault is `go run .` on a fresh machine: dev, no Redis
// configured, the in-process database. A user can sign up, sign in and post;
// cancelling (SIGTERM) stops the server cleanly.
func TestEmbeddedDefault(t *testing.T) {
	db := 1
	cfg := &config.Config{Env: "dev", Listen: []string{"127.0.0.1:0"}, InMemory: true, RedisDB: &db, HashIterations: 10_000}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan []net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve.Run(ctx, cfg, log, func(a []net.Addr) { addrc <- a }) }()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a[0].String()
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after 10 s")
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	post := func(path string, f url.Values) string {
		res, err := c.PostForm(base+path, f)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	post("/auth/signup", url.Values{"username": {"alice"}, "password": {"Passw0rd!"}, "password2": {"Passw0rd!"}})
	post("/auth/", url.Values{"username": {"alice"}, "password": {"Passw0rd!"}})
	page := post("/tweets/user_timeline", url.Values{"tweet": {"hello from memory"}})
	if !strings.Contains(page, "Tweet successfully posted") || !strings.Contains(page, "hello from memory") {
		t.Fatalf("posting through the embedded default failed:\n%s", page)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after shutdown", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no clean stop")
	}
	if !strings.Contains(logs.String(), "in-memory database") {
		t.Errorf("the log does not say the data is in memory:\n%s", logs.String())
	}
}
