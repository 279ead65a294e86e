package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"pytwask/app/config"
	"pytwask/app/password"
	"pytwask/app/redisconn"
	"pytwask/app/store"
)

// Seed is `pytwask seed`: it fills the configured Redis with a demo or
// benchmark data set in the pytwis layout.
func Seed(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pytwask seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	users := fs.Int("users", 1000, "number of users")
	follows := fs.Int("follows", 50, "how many users each user follows")
	tweets := fs.Int("tweets", 20000, "number of tweets")
	celebrities := fs.Int("celebrities", 0, "how many users (the first ones) every other user follows too")
	userPassword := fs.String("password", "Passw0rd!", "every seeded user's password (pytwis's rules apply)")
	force := fs.Bool("force", false, "add to a database that already holds pytwis users")
	seed := fs.Uint64("seed", 0, "random seed (0: a different data set each run)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: pytwask seed [--users N] [--follows F] [--tweets T] [--celebrities C] [--password P] [--force]\n\n"+
			"Fills the Redis database that the configuration names (REDIS_DB_*) with users, a\n"+
			"random follow graph and tweets, in the pytwis layout.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(stderr, "pytwask seed: the configuration has problems:\n%s\n", err)
		return 2
	}
	if cfg.InMemory {
		fmt.Fprintln(stderr, "pytwask seed: no Redis is configured (set REDIS_DB_SOCKET or REDIS_DB_HOSTNAME); an in-memory database would be lost at once")
		return 2
	}
	rdb, err := redisconn.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "pytwask seed: %v\n", err)
		return 2
	}
	defer rdb.Close()
	st := store.New(rdb, password.Hasher{Iterations: cfg.HashIterations}, slog.New(slog.NewTextHandler(stderr, nil)))
	r := rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15))
	if *seed == 0 {
		r = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	t0 := time.Now()
	res, err := st.Seed(ctx, store.SeedOptions{
		Users: *users, Follows: *follows, Tweets: *tweets, Celebrities: *celebrities,
		Password: *userPassword, Force: *force, Rand: r, Now: time.Now(),
	})
	if err != nil {
		fmt.Fprintf(stderr, "pytwask seed: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Seeded %s in %v: %d users (ids %d-%d), %d follows, %d tweets (ids %d-%d).\n",
		cfg.RedisWhere(), time.Since(t0).Round(time.Millisecond), *users, res.FirstUserID, res.FirstUserID+int64(*users)-1,
		res.FollowPairs, *tweets, res.FirstTweetID, res.FirstTweetID+int64(*tweets)-1)
	if *celebrities > 0 {
		fmt.Fprintf(stdout, "Followed by every user: %s\n", res.Names[0])
	}
	fmt.Fprintf(stdout, "Sign in as %s (or any seeded user) with the --password given.\n", res.Names[len(res.Names)-1])
	return 0
}
