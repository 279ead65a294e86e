package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/term"

	"pytwask/app/config"
	"pytwask/app/password"
	"pytwask/app/redisconn"
	"pytwask/app/store"
)

// Clt is `pytwask cli`: pytwis_clt's flags and commands. The flags default to
// the variables the server reads (REDIS_DB_*). It returns the exit status:
// 0 when every command succeeded, 1 when any failed, 2 for bad flags.
func Clt(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(stderr, "pytwask cli: the configuration has problems:\n%s\n", err)
		return 2
	}
	fs := flag.NewFlagSet("pytwask cli", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("h", cfg.RedisHost, "the Redis server `hostname` (REDIS_DB_HOSTNAME)")
	port := fs.Int("p", cfg.RedisPort, "the Redis server `port` (REDIS_DB_PORT)")
	socket := fs.String("s", cfg.RedisSocket, "the Redis server unix `socket`; overrides -h and -p (REDIS_DB_SOCKET)")
	db := fs.Int("n", *cfg.RedisDB, "the Redis `database` index (REDIS_DB_INDEX)")
	redisPassword := fs.String("a", cfg.RedisPassword, "the Redis `password` (REDIS_DB_PASSWORD; the variable keeps it out of the process list)")
	alwaysPrompt := fs.Bool("prompt", false, "show the prompt even when input is not a terminal")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: pytwask cli [-h HOST] [-p PORT] [-s SOCKET] [-n DB] [-a PASSWORD]

Connects to the pytwis database and runs pytwis_clt's commands, read one per
line from the terminal or from standard input (then the exit status is 1 if
any command failed). Type help at the prompt for the commands.

`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pytwask cli: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	// The flags, when given, name one server; otherwise the configuration
	// says where Redis is, Sentinel and Cluster included.
	flagged := false
	fs.Visit(func(f *flag.Flag) { flagged = flagged || f.Name != "prompt" })
	var rdb redis.UniversalClient
	var prompt string
	switch mode := cfg.RedisMode(); {
	case flagged || mode == config.Server && cfg.RedisURL.URL == nil:
		network, addr := "tcp", net.JoinHostPort(*host, strconv.Itoa(*port))
		prompt = *host + ":" + strconv.Itoa(*port)
		if *socket != "" {
			network, addr, prompt = "unix", *socket, *socket
		}
		rdb = redisconn.Dial(network, addr, *redisPassword, *db)
	default:
		if rdb, err = redisconn.New(cfg); err != nil {
			fmt.Fprintf(stderr, "pytwask cli: %v\n", err)
			return 2
		}
		prompt = string(mode)
		if mode == config.Server {
			prompt = cfg.RedisURL.Host
		}
	}
	defer rdb.Close()
	st := store.New(rdb, password.Hasher{Iterations: cfg.HashIterations}, slog.New(slog.NewTextHandler(stderr, nil)))
	pingCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = rdb.Ping(pingCtx).Err()
	cancel()
	if err != nil && !store.WritesRefused(err) { // refusing writes, it still reads
		// The error names the address, never the password.
		fmt.Fprintf(stderr, "pytwask cli: cannot use Redis at %s: %v\n", prompt, err)
		return 1
	}
	baseURL := cfg.BaseURL
	if baseURL == "" && len(cfg.Domains) > 0 {
		baseURL = "https://" + cfg.Domains[0]
	}
	sh := NewShell(st, stdout, time.Local, Rules{EditWindow: cfg.EditWindow, NameHold: cfg.NameHold, BaseURL: baseURL})

	interactive := false
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		interactive = true
		fd := int(f.Fd())
		sh.askPassword = func(p string) (string, error) {
			restore, err := echoOff(fd)
			if err != nil {
				return "", err
			}
			defer restore()
			fmt.Fprint(stdout, p)
			pw, err := term.ReadPassword(fd)
			fmt.Fprintln(stdout)
			return string(pw), err
		}
	}
	showPrompt := interactive || *alwaysPrompt
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		if showPrompt {
			fmt.Fprint(stdout, prompt+"> ")
		}
		if !in.Scan() {
			break
		}
		if sh.Exec(ctx, in.Text()) || ctx.Err() != nil {
			break
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(stderr, "pytwask cli: reading input: %v\n", err)
		return 1
	}
	if showPrompt && interactive {
		fmt.Fprintln(stdout)
	}
	if sh.Failed() && !interactive {
		return 1
	}
	return 0
}
