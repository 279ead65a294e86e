package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// The typed settings below are read by envconfig through their Decode
// methods. A value that does not parse is kept, with what was expected, for
// validate, which reports it with every other problem at once.

// decoded is a typed setting that may hold a value that did not parse.
type decoded interface {
	// problem says what was expected and what was written, or "".
	problem() string
}

// Limit is a rate limit: at most Max events per Window; Max 0 is none. It
// is written COUNT/PERIOD ("30/10m"), or 0.
type Limit struct {
	Max    int
	Window time.Duration
	text   string
	bad    bool
}

func (l *Limit) Decode(s string) error {
	*l = Limit{text: s}
	if s == "0" {
		return nil
	}
	count, period, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(count)
	d, err2 := time.ParseDuration(period)
	if !ok || err != nil || n < 1 || err2 != nil || d < time.Second {
		l.bad = true
		return nil
	}
	l.Max, l.Window = n, d
	return nil
}

func (l Limit) String() string { return l.text }

func (l Limit) problem() string {
	if l.bad {
		return fmt.Sprintf("expected COUNT/PERIOD such as 30/10m, or 0, got %q", l.text)
	}
	return ""
}

// FileMode is a file mode written in octal ("0660").
type FileMode struct {
	os.FileMode
	text string
	bad  bool
}

func (m *FileMode) Decode(s string) error {
	n, err := strconv.ParseUint(s, 8, 32)
	*m = FileMode{FileMode: os.FileMode(n), text: s, bad: err != nil || n > 0o777}
	return nil
}

func (m FileMode) String() string { return m.text }

func (m FileMode) problem() string {
	if m.bad {
		return fmt.Sprintf("expected an octal file mode such as 0660, got %q", m.text)
	}
	return ""
}

// Prefixes is a comma-separated list of addresses and CIDR ranges; an
// address stands for itself alone.
type Prefixes struct {
	List []netip.Prefix
	text string
	bad  string // the first entry that does not parse
}

func (p *Prefixes) Decode(s string) error {
	*p = Prefixes{text: s}
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		prefix, err := parsePrefix(e)
		if err != nil {
			p.bad = e
			return nil
		}
		p.List = append(p.List, prefix)
	}
	return nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (p Prefixes) String() string { return p.text }

func (p Prefixes) problem() string {
	if p.bad != "" {
		return fmt.Sprintf("expected IP addresses or CIDR ranges, got %q", p.bad)
	}
	return ""
}

// Level is a log level: debug, info, warn or error.
type Level struct {
	slog.Level
	text string
	bad  bool
}

func (l *Level) Decode(s string) error {
	*l = Level{text: s}
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		_ = l.Level.UnmarshalText([]byte(s))
	default:
		l.bad = true
	}
	return nil
}

func (l Level) String() string { return l.text }

func (l Level) problem() string {
	if l.bad {
		return fmt.Sprintf("expected debug, info, warn or error, got %q", l.text)
	}
	return ""
}

// URL is a Redis URL: redis://, rediss:// or unix://. String hides its
// password.
type URL struct {
	*url.URL
	text string
	bad  string // why it is refused
}

func (u *URL) Decode(s string) error {
	*u = URL{text: s}
	if s == "" {
		return nil
	}
	parsed, err := url.Parse(s)
	switch {
	case err != nil:
		u.bad = "it does not parse as a URL"
	case parsed.Scheme != "redis" && parsed.Scheme != "rediss" && parsed.Scheme != "unix":
		u.bad = "the scheme must be redis, rediss or unix"
	case parsed.Scheme == "unix" && !strings.HasPrefix(parsed.Path, "/"):
		u.bad = "a unix URL needs an absolute socket path: unix:///run/redis/redis.sock"
	case parsed.Scheme != "unix" && parsed.Host == "":
		u.bad = "it names no host"
	default:
		u.URL = parsed
	}
	return nil
}

func (u URL) String() string {
	if u.URL == nil {
		return ""
	}
	return u.URL.Redacted()
}

func (u URL) problem() string {
	if u.bad != "" {
		// The URL itself may hold a password: it is not repeated.
		return "expected redis://host:port/db, rediss://... or unix:///path: " + u.bad
	}
	return ""
}
