// Package config reads pytwask's settings from environment variables, the
// original pytwask's names included, and checks them all at once so that an
// operator can fix every problem in one go.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"

	"pytwask/app/mail"
)

// Config is every setting. The envconfig tags are the variable names.
type Config struct {
	Env    string   `envconfig:"PYTWASK_ENV" default:"dev" desc:"dev, test or prod"`
	Listen []string `envconfig:"PYTWASK_LISTEN" default:"127.0.0.1:5000" desc:"addresses to serve HTTP on, comma-separated: host:port or unix:/path.sock"`
	// ListenSet reports that PYTWASK_LISTEN was set explicitly.
	ListenSet bool `ignored:"true"`

	SocketMode  FileMode `envconfig:"PYTWASK_SOCKET_MODE" default:"0660" desc:"file mode of unix sockets pytwask creates (octal)"`
	SocketGroup string   `envconfig:"PYTWASK_SOCKET_GROUP" desc:"group of unix sockets pytwask creates, e.g. www-data"`

	Domains        []string `envconfig:"PYTWASK_DOMAINS" desc:"domain names to serve over HTTPS with automatic certificates, comma-separated; turns HTTPS on"`
	HTTPSAddr      string   `envconfig:"PYTWASK_HTTPS_ADDR" default:":443" desc:"with PYTWASK_DOMAINS: where to serve HTTPS"`
	HTTPAddr       string   `envconfig:"PYTWASK_HTTP_ADDR" default:":80" desc:"with PYTWASK_DOMAINS: where to answer ACME HTTP-01 challenges and redirect to HTTPS (empty: nowhere)"`
	ACMEEmail      string   `envconfig:"PYTWASK_ACME_EMAIL" desc:"contact address for the ACME account"`
	ACMECA         string   `envconfig:"PYTWASK_ACME_CA" default:"https://acme-v02.api.letsencrypt.org/directory" desc:"ACME directory URL (Let's Encrypt production by default)"`
	ACMECARoot     string   `envconfig:"PYTWASK_ACME_CA_ROOT" desc:"PEM file of a root to trust for the ACME CA (a private CA)"`
	ACMEChallenges []string `envconfig:"PYTWASK_ACME_CHALLENGES" default:"http-01,tls-alpn-01" desc:"ACME challenge types to use"`
	DataDir        string   `envconfig:"PYTWASK_DATA_DIR" desc:"where certificates and the ACME account are kept (default: $STATE_DIRECTORY, else /var/lib/pytwask)"`

	TrustedProxies Prefixes `envconfig:"PYTWASK_TRUSTED_PROXIES" desc:"proxy addresses or CIDRs whose X-Forwarded-For/-Proto are believed (requests over a unix socket always are)"`

	SecretKeys []string `envconfig:"PYTWASK_SECRET_KEY" secret:"true" desc:"cookie-signing keys, comma-separated, newest first, 32+ characters each; unset: generated once and kept in Redis"`

	RedisHost     string `envconfig:"REDIS_DB_HOSTNAME" default:"127.0.0.1" desc:"Redis host"`
	RedisPort     int    `envconfig:"REDIS_DB_PORT" default:"6379" desc:"Redis port"`
	RedisSocket   string `envconfig:"REDIS_DB_SOCKET" desc:"Redis unix socket path; overrides host and port"`
	RedisDB       *int   `envconfig:"REDIS_DB_INDEX" desc:"Redis database number (unset: 0 in prod, 1 in dev, 15 in test, as the original)"`
	RedisPassword string `envconfig:"REDIS_DB_PASSWORD" secret:"true" desc:"Redis password (with Sentinel or Cluster: the data nodes' password)"`

	RedisURL         URL           `envconfig:"REDIS_URL" desc:"Redis as a URL instead of REDIS_DB_*: redis://[user:password@]host:port/db, rediss://... for TLS, unix:///path.sock?db=N"`
	RedisTLSCAFile   string        `envconfig:"REDIS_TLS_CA_FILE" desc:"PEM file of the CA that signed Redis's certificate (rediss://; with Sentinel or Cluster, setting it turns TLS on)"`
	RedisTLSCertFile string        `envconfig:"REDIS_TLS_CERT_FILE" desc:"PEM client certificate to present to Redis over TLS (with REDIS_TLS_KEY_FILE)"`
	RedisTLSKeyFile  string        `envconfig:"REDIS_TLS_KEY_FILE" desc:"PEM key of REDIS_TLS_CERT_FILE"`
	SentinelAddrs    []string      `envconfig:"REDIS_SENTINEL_ADDRS" desc:"Redis Sentinel addresses, host:port comma-separated: Redis is the primary they name (with REDIS_SENTINEL_MASTER)"`
	SentinelMaster   string        `envconfig:"REDIS_SENTINEL_MASTER" desc:"the name the Sentinels know the primary by"`
	SentinelPassword string        `envconfig:"REDIS_SENTINEL_PASSWORD" secret:"true" desc:"the Sentinels' own password (requirepass in sentinel.conf), if any"`
	ClusterAddrs     []string      `envconfig:"REDIS_CLUSTER_ADDRS" desc:"Redis Cluster seed addresses, host:port comma-separated: Redis is that cluster"`
	WaitReplicas     int           `envconfig:"REDIS_WAIT_REPLICAS" default:"0" desc:"replicas that must have a sign-up, post or password change before it is acknowledged (Redis WAIT), so that a failover cannot lose it; 0: do not wait"`
	WaitTimeout      time.Duration `envconfig:"REDIS_WAIT_TIMEOUT" default:"1s" desc:"how long to wait for REDIS_WAIT_REPLICAS; past it the user is told the change may not be saved"`

	SignInLimitClient Limit `envconfig:"PYTWASK_SIGNIN_LIMIT_CLIENT" default:"30/10m" desc:"sign-in attempts allowed per client address (IPv6 per /64), as COUNT/PERIOD; 0 for no limit"`
	SignInLimitUser   Limit `envconfig:"PYTWASK_SIGNIN_LIMIT_USER" default:"10/15m" desc:"failed sign-ins allowed per username from one client network (IPv4 /24, IPv6 /48), and per username in a browser it signed in with before, as COUNT/PERIOD; 0 for no limit"`
	SignInLimitAll    Limit `envconfig:"PYTWASK_SIGNIN_LIMIT_USER_ALL" default:"100/1h" desc:"failed sign-ins allowed per username from all networks together, for browsers it never signed in with, as COUNT/PERIOD; 0 for no limit"`
	SignUpLimitClient Limit `envconfig:"PYTWASK_SIGNUP_LIMIT_CLIENT" default:"10/1h" desc:"sign-ups allowed per client address, as COUNT/PERIOD; 0 for no limit"`
	PostLimitUser     Limit `envconfig:"PYTWASK_POST_LIMIT_USER" default:"300/1h" desc:"tweets allowed per account, as COUNT/PERIOD; 0 for no limit"`
	PostLimitClient   Limit `envconfig:"PYTWASK_POST_LIMIT_CLIENT" default:"600/1h" desc:"tweets allowed per client address, as COUNT/PERIOD; 0 for no limit"`
	FollowLimitUser   Limit `envconfig:"PYTWASK_FOLLOW_LIMIT_USER" default:"300/1h" desc:"follows and unfollows allowed per account, as COUNT/PERIOD; 0 for no limit"`
	FollowLimitClient Limit `envconfig:"PYTWASK_FOLLOW_LIMIT_CLIENT" default:"600/1h" desc:"follows and unfollows allowed per client address, as COUNT/PERIOD; 0 for no limit"`

	DebugAddr string `envconfig:"PYTWASK_DEBUG_ADDR" desc:"serve /debug/pprof/ and /debug/redis here: a loopback host:port or unix:/path (unset: nowhere)"`

	LogLevel       Level `envconfig:"PYTWASK_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	HashIterations int   `envconfig:"PYTWASK_HASH_ITERATIONS" default:"600000" desc:"PBKDF2-SHA512 iterations for new password hashes"`
	PageSlots      int   `envconfig:"PYTWASK_PAGE_SLOTS" default:"0" zero:"four per core" desc:"timeline pages built at once; more wait in line, then get a 503 after 10 s (0: four per core)"`

	SessionIdle time.Duration `envconfig:"PYTWASK_SESSION_IDLE" default:"12h" desc:"a sign-in without \"Keep me logged in\" ends after this long without a request"`
	SessionMax  time.Duration `envconfig:"PYTWASK_SESSION_MAX" default:"24h" desc:"a sign-in without \"Keep me logged in\" ends this long after it began, whatever its use"`
	EditWindow  time.Duration `envconfig:"PYTWASK_EDIT_WINDOW" default:"30m" desc:"how long after posting the author may edit a tweet (0: never)"`
	NameHold    time.Duration `envconfig:"PYTWASK_NAME_HOLD" default:"720h" desc:"how long the name of a deleted account stays reserved (0: not at all)"`

	StreamsPerClient int `envconfig:"PYTWASK_STREAMS_PER_CLIENT" default:"20" desc:"live-update streams (open pages) one client address may hold at once, on each instance (0: no limit)"`
	StreamsPerUser   int `envconfig:"PYTWASK_STREAMS_PER_USER" default:"10" desc:"live-update streams one account may hold at once, on each instance (0: no limit)"`

	SMTPHost     string `envconfig:"PYTWASK_SMTP_HOST" desc:"SMTP server for address confirmations and password resets (unset: no email)"`
	SMTPPort     int    `envconfig:"PYTWASK_SMTP_PORT" default:"587" desc:"SMTP server port"`
	SMTPTLS      string `envconfig:"PYTWASK_SMTP_TLS" default:"starttls" desc:"starttls (required), tls (implicit, usually port 465) or none (a relay on this host)"`
	SMTPUser     string `envconfig:"PYTWASK_SMTP_USER" desc:"SMTP user name, if the server asks for one"`
	SMTPPassword string `envconfig:"PYTWASK_SMTP_PASSWORD" secret:"true" desc:"SMTP password"`
	SMTPFrom     string `envconfig:"PYTWASK_SMTP_FROM" desc:"the From address of the site's email, e.g. pytwask <noreply@example.com>"`
	BaseURL      string `envconfig:"PYTWASK_BASE_URL" desc:"the site's address for links in email, e.g. https://example.com (default: https:// and the first of PYTWASK_DOMAINS)"`

	MaxConns          int `envconfig:"PYTWASK_MAX_CONNS" default:"10000" desc:"open connections allowed on each listener; more are closed at once (0: no limit)"`
	MaxConnsPerClient int `envconfig:"PYTWASK_MAX_CONNS_PER_CLIENT" default:"100" desc:"open connections, and HTTP/2 requests in progress, allowed from one client address (IPv6 per /64) on each TCP listener; not on unix sockets, where nginx speaks for everyone (0: no limit)"`

	// InMemory is set when dev runs with no Redis variable at all: the site
	// then uses an in-process Redis whose data is lost at exit.
	InMemory bool `ignored:"true"`
	// modesSet are the Redis modes' variables that are set, one per group.
	modesSet []string
}

// redisVars are the variables whose presence means "use a real Redis".
var redisVars = []string{"REDIS_DB_HOSTNAME", "REDIS_DB_PORT", "REDIS_DB_SOCKET", "REDIS_DB_INDEX", "REDIS_DB_PASSWORD",
	"REDIS_URL", "REDIS_SENTINEL_ADDRS", "REDIS_CLUSTER_ADDRS"}

// RedisMode is how Redis is reached.
type RedisMode string

const (
	InMemory RedisMode = "in-memory" // dev with no Redis configured
	Server   RedisMode = "server"    // one server: REDIS_DB_* or REDIS_URL
	Sentinel RedisMode = "sentinel"  // the primary that Sentinels name
	Cluster  RedisMode = "cluster"   // a Redis Cluster
)

// modeVars are the variables that each choose a way to reach Redis; at most
// one of these groups may be set.
var modeVars = [][]string{
	{"REDIS_DB_HOSTNAME", "REDIS_DB_PORT", "REDIS_DB_SOCKET"},
	{"REDIS_URL"},
	{"REDIS_SENTINEL_ADDRS"},
	{"REDIS_CLUSTER_ADDRS"},
}

// DefaultDataDir keeps certificates when neither PYTWASK_DATA_DIR nor
// systemd's STATE_DIRECTORY says where.
const DefaultDataDir = "/var/lib/pytwask"

// MinSecretKeyLen is the shortest accepted PYTWASK_SECRET_KEY entry.
const MinSecretKeyLen = 32

// Load reads the environment. The error lists every problem, one per line,
// each naming its variable: every value that does not parse, or, once all
// do, every value that is out of range or contradicts another.
func Load() (*Config, error) {
	if problems := parseProblems(); len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return nil, err
	}
	if _, set := os.LookupEnv("PYTWASK_LISTEN"); set {
		c.ListenSet = true
	}
	if c.DataDir == "" {
		c.DataDir = os.Getenv("STATE_DIRECTORY")
		if i := strings.IndexByte(c.DataDir, ':'); i >= 0 {
			c.DataDir = c.DataDir[:i] // systemd lists several directories with ':'
		}
		if c.DataDir == "" {
			c.DataDir = DefaultDataDir
		}
	}
	if c.RedisDB == nil {
		db := map[string]int{"dev": 1, "test": 15}[c.Env]
		c.RedisDB = &db
	}
	for _, group := range modeVars {
		for _, v := range group {
			if _, set := os.LookupEnv(v); set {
				c.modesSet = append(c.modesSet, v)
				break
			}
		}
	}
	if c.Env == "dev" {
		c.InMemory = true
		for _, v := range redisVars {
			if _, set := os.LookupEnv(v); set {
				c.InMemory = false
			}
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// parseProblems says which set variables of the kinds that envconfig
// parses itself (whole numbers, durations) do not parse, one line each, in
// the order of Config: envconfig would stop at the first, and name its Go
// type. The settings' own types (Limit, FileMode, ...) keep their problems
// for validate. An empty value is unset, as for envconfig.
func parseProblems() []string {
	var out []string
	forEachSetting(new(Config), func(name string, _ reflect.Value, f reflect.StructField) {
		val := os.Getenv(name)
		if val == "" {
			return
		}
		t := f.Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		var want string
		switch {
		case t == reflect.TypeFor[time.Duration]():
			if _, err := time.ParseDuration(val); err != nil {
				want = "a duration such as 30m or 12h"
			}
		case t.Kind() == reflect.Int:
			if _, err := strconv.ParseInt(val, 0, 64); err != nil {
				want = "a whole number"
			}
		}
		if want != "" {
			if f.Tag.Get("secret") == "true" {
				val = "(hidden)"
			}
			out = append(out, fmt.Sprintf("%s: expected %s, got %q", name, want, val))
		}
	})
	return out
}

func (c *Config) validate() error {
	var errs []string
	bad := func(name, format string, args ...any) {
		errs = append(errs, name+": "+fmt.Sprintf(format, args...))
	}
	switch c.Env {
	case "dev", "test", "prod":
	default:
		bad("PYTWASK_ENV", "expected dev, test or prod, got %q", c.Env)
	}
	if len(c.Listen) == 0 {
		bad("PYTWASK_LISTEN", "expected at least one address")
	}
	for _, l := range c.Listen {
		if path, ok := strings.CutPrefix(l, "unix:"); ok {
			if !strings.HasPrefix(path, "/") {
				bad("PYTWASK_LISTEN", "expected an absolute socket path after unix:, got %q", l)
			}
		} else if msg := checkHostPort(l); msg != "" {
			bad("PYTWASK_LISTEN", "%s", msg)
		}
	}
	forEachSetting(c, func(name string, v reflect.Value, _ reflect.StructField) {
		if d, ok := v.Interface().(decoded); ok && d.problem() != "" {
			bad(name, "%s", d.problem())
		}
	})
	for _, d := range c.Domains {
		if !validDomain(d) {
			bad("PYTWASK_DOMAINS", "expected domain names, got %q", d)
		}
	}
	if len(c.Domains) > 0 {
		if msg := checkHostPort(c.HTTPSAddr); msg != "" {
			bad("PYTWASK_HTTPS_ADDR", "%s", msg)
		}
		if c.HTTPAddr != "" {
			if msg := checkHostPort(c.HTTPAddr); msg != "" {
				bad("PYTWASK_HTTP_ADDR", "%s", msg)
			}
		}
		if u, err := url.Parse(c.ACMECA); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("PYTWASK_ACME_CA", "expected an https:// directory URL, got %q", c.ACMECA)
		}
		if c.ACMECARoot != "" {
			if _, err := os.ReadFile(c.ACMECARoot); err != nil {
				bad("PYTWASK_ACME_CA_ROOT", "cannot read %s: %v", c.ACMECARoot, err)
			}
		}
		if c.ACMEEmail != "" && !strings.Contains(c.ACMEEmail, "@") {
			bad("PYTWASK_ACME_EMAIL", "expected an e-mail address, got %q", c.ACMEEmail)
		}
		if len(c.ACMEChallenges) == 0 {
			bad("PYTWASK_ACME_CHALLENGES", "expected http-01, tls-alpn-01 or both")
		}
		for _, ch := range c.ACMEChallenges {
			if ch != "http-01" && ch != "tls-alpn-01" {
				bad("PYTWASK_ACME_CHALLENGES", "expected http-01 or tls-alpn-01, got %q", ch)
			}
		}
		if c.HTTPAddr == "" && slices.Equal(c.ACMEChallenges, []string{"http-01"}) {
			bad("PYTWASK_HTTP_ADDR", "is empty, so the only challenge type allowed (http-01) cannot be answered")
		}
	}
	if c.DebugAddr != "" {
		if path, ok := strings.CutPrefix(c.DebugAddr, "unix:"); ok {
			if !strings.HasPrefix(path, "/") {
				bad("PYTWASK_DEBUG_ADDR", "expected an absolute socket path after unix:, got %q", c.DebugAddr)
			}
		} else if msg := checkHostPort(c.DebugAddr); msg != "" {
			bad("PYTWASK_DEBUG_ADDR", "%s", msg)
		} else if host, _, _ := net.SplitHostPort(c.DebugAddr); !isLoopback(host) {
			bad("PYTWASK_DEBUG_ADDR", "profiles must never be public: expected a loopback address (127.0.0.1, [::1], localhost) or a unix socket, got %q", c.DebugAddr)
		}
	}
	for i, k := range c.SecretKeys {
		if len(k) < MinSecretKeyLen {
			bad("PYTWASK_SECRET_KEY", "key %d is %d characters long; each key needs %d or more (try: openssl rand -hex 32)", i+1, len(k), MinSecretKeyLen)
		}
	}
	c.validateRedis(bad)
	if c.RedisPort < 1 || c.RedisPort > 65535 {
		bad("REDIS_DB_PORT", "expected a port from 1 to 65535, got %d", c.RedisPort)
	}
	if *c.RedisDB < 0 {
		bad("REDIS_DB_INDEX", "expected 0 or more, got %d", *c.RedisDB)
	}
	if c.HashIterations < 10_000 || c.HashIterations > 10_000_000 {
		bad("PYTWASK_HASH_ITERATIONS", "expected 10000 to 10000000, got %d", c.HashIterations)
	}
	if c.PageSlots < 0 || c.PageSlots > 10_000 {
		bad("PYTWASK_PAGE_SLOTS", "expected 0 (four per core) to 10000, got %d", c.PageSlots)
	}
	if c.SessionIdle < time.Minute {
		bad("PYTWASK_SESSION_IDLE", "expected a duration of a minute or more, such as 12h, got %v", c.SessionIdle)
	}
	if c.SMTPHost != "" {
		if !slices.Contains([]string{"starttls", "tls", "none"}, c.SMTPTLS) {
			bad("PYTWASK_SMTP_TLS", "expected starttls, tls or none, got %q", c.SMTPTLS)
		}
		if c.SMTPFrom == "" {
			bad("PYTWASK_SMTP_FROM", "expected the From address of the site's email, with PYTWASK_SMTP_HOST")
		}
		if c.BaseURL == "" && len(c.Domains) == 0 {
			bad("PYTWASK_BASE_URL", "expected the site's address for links in email (or PYTWASK_DOMAINS), with PYTWASK_SMTP_HOST")
		}
	}
	if u, err := url.Parse(c.BaseURL); c.BaseURL != "" && (err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "") {
		bad("PYTWASK_BASE_URL", "expected an address such as https://example.com, got %q", c.BaseURL)
	}
	if c.NameHold < 0 {
		bad("PYTWASK_NAME_HOLD", "expected a duration of 0 or more, such as 720h, got %v", c.NameHold)
	}
	if c.StreamsPerClient < 0 {
		bad("PYTWASK_STREAMS_PER_CLIENT", "expected 0 (no limit) or more, got %d", c.StreamsPerClient)
	}
	if c.StreamsPerUser < 0 {
		bad("PYTWASK_STREAMS_PER_USER", "expected 0 (no limit) or more, got %d", c.StreamsPerUser)
	}
	if c.EditWindow < 0 {
		bad("PYTWASK_EDIT_WINDOW", "expected a duration of 0 or more, such as 30m, got %v", c.EditWindow)
	}
	if c.SessionMax < time.Minute {
		bad("PYTWASK_SESSION_MAX", "expected a duration of a minute or more, such as 24h, got %v", c.SessionMax)
	}
	if c.MaxConns < 0 {
		bad("PYTWASK_MAX_CONNS", "expected 0 (no limit) or more, got %d", c.MaxConns)
	}
	if c.MaxConnsPerClient < 0 {
		bad("PYTWASK_MAX_CONNS_PER_CLIENT", "expected 0 (no limit) or more, got %d", c.MaxConnsPerClient)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

func checkHostPort(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("expected host:port, got %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("expected a port from 0 to 65535, got %q", port)
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

var domainRE = regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

func validDomain(d string) bool { return len(d) <= 253 && domainRE.MatchString(d) }

// Mail is how to reach the SMTP server (PYTWASK_SMTP_*); the site sends
// email only when SMTPHost is set.
func (c *Config) Mail() mail.Config {
	return mail.Config{Host: c.SMTPHost, Port: c.SMTPPort, TLS: c.SMTPTLS, User: c.SMTPUser, Password: c.SMTPPassword, From: c.SMTPFrom}
}

// RedisMode says how Redis is reached.
func (c *Config) RedisMode() RedisMode {
	switch {
	case c.InMemory:
		return InMemory
	case len(c.SentinelAddrs) > 0:
		return Sentinel
	case len(c.ClusterAddrs) > 0:
		return Cluster
	}
	return Server
}

// RedisWhere says where Redis is, for logs and `pytwask check`; it names no
// password.
func (c *Config) RedisWhere() string {
	switch c.RedisMode() {
	case InMemory:
		return "the in-memory database"
	case Sentinel:
		return fmt.Sprintf("the primary %q of the Sentinels at %s, database %d", c.SentinelMaster, strings.Join(c.SentinelAddrs, ","), *c.RedisDB)
	case Cluster:
		return "the Redis Cluster at " + strings.Join(c.ClusterAddrs, ",")
	}
	if c.RedisURL.URL != nil {
		return c.RedisURL.String()
	}
	network, addr := c.RedisAddr()
	return fmt.Sprintf("Redis at %s:%s, database %d", network, addr, *c.RedisDB)
}

// validateRedis checks the ways to reach Redis other than REDIS_DB_*.
func (c *Config) validateRedis(bad func(name, format string, args ...any)) {
	if len(c.modesSet) > 1 {
		bad(c.modesSet[0], "and %s are both set: they name two ways to reach Redis; keep one", strings.Join(c.modesSet[1:], " and "))
	}
	if len(c.SentinelAddrs) > 0 && c.SentinelMaster == "" {
		bad("REDIS_SENTINEL_MASTER", "is empty: with REDIS_SENTINEL_ADDRS, name the primary as sentinel.conf's \"sentinel monitor\" does")
	}
	if len(c.SentinelAddrs) == 0 && c.SentinelMaster != "" {
		bad("REDIS_SENTINEL_ADDRS", "is empty, but REDIS_SENTINEL_MASTER is set: list the Sentinels' addresses")
	}
	for _, a := range c.SentinelAddrs {
		if msg := checkHostPort(a); msg != "" {
			bad("REDIS_SENTINEL_ADDRS", "%s", msg)
		}
	}
	for _, a := range c.ClusterAddrs {
		if msg := checkHostPort(a); msg != "" {
			bad("REDIS_CLUSTER_ADDRS", "%s", msg)
		}
	}
	if len(c.ClusterAddrs) > 0 && *c.RedisDB != 0 {
		if _, set := os.LookupEnv("REDIS_DB_INDEX"); set {
			bad("REDIS_DB_INDEX", "is %d, but a Redis Cluster has only database 0", *c.RedisDB)
		}
		*c.RedisDB = 0
	}
	tls := c.RedisURL.URL != nil && c.RedisURL.Scheme == "rediss" || c.RedisTLSCAFile != ""
	for name, f := range map[string]string{"REDIS_TLS_CA_FILE": c.RedisTLSCAFile, "REDIS_TLS_CERT_FILE": c.RedisTLSCertFile, "REDIS_TLS_KEY_FILE": c.RedisTLSKeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.ReadFile(f); err != nil {
			bad(name, "cannot read %s: %v", f, err)
		}
		if !tls {
			bad(name, "is set, but nothing uses TLS: use a rediss:// REDIS_URL, or REDIS_TLS_CA_FILE with Sentinel or Cluster")
		}
	}
	if (c.RedisTLSCertFile == "") != (c.RedisTLSKeyFile == "") {
		bad("REDIS_TLS_CERT_FILE", "and REDIS_TLS_KEY_FILE go together: set both or neither")
	}
	if c.WaitReplicas < 0 || c.WaitReplicas > 100 {
		bad("REDIS_WAIT_REPLICAS", "expected 0 to 100, got %d", c.WaitReplicas)
	}
	if c.WaitReplicas > 0 && len(c.ClusterAddrs) > 0 {
		bad("REDIS_WAIT_REPLICAS", "is not supported with REDIS_CLUSTER_ADDRS yet: a change there spans several primaries")
	}
	if c.WaitTimeout < 10*time.Millisecond || c.WaitTimeout > time.Second {
		bad("REDIS_WAIT_TIMEOUT", "expected a duration from 10ms to 1s, got %v", c.WaitTimeout)
	}
}

// RedisAddr returns the network and address Redis is reached at.
func (c *Config) RedisAddr() (network, addr string) {
	if c.RedisSocket != "" {
		return "unix", c.RedisSocket
	}
	return "tcp", net.JoinHostPort(c.RedisHost, strconv.Itoa(c.RedisPort))
}

// Usage writes every variable with its default and meaning.
func Usage(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	err := envconfig.Usagef("", &Config{}, tw, "{{range .}}{{usage_key .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}")
	if err != nil {
		return err
	}
	return tw.Flush()
}

// Setting is one variable as `pytwask check` shows it.
type Setting struct{ Name, Value string }

// Settings lists every variable with its value in effect, in the order of
// Config's fields; secrets are masked.
func (c *Config) Settings() []Setting {
	var list []Setting
	forEachSetting(c, func(name string, v reflect.Value, f reflect.StructField) {
		list = append(list, Setting{name, show(v, f)})
	})
	return list
}

// show writes one setting's value for people.
func show(v reflect.Value, f reflect.StructField) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "(not set)"
		}
		v = v.Elem()
	}
	var text string
	switch x := v.Interface().(type) {
	case []string:
		text = strings.Join(x, ",")
		if f.Tag.Get("secret") == "true" && len(x) > 0 {
			return fmt.Sprintf("(%d keys, hidden)", len(x))
		}
	case fmt.Stringer:
		text = x.String()
	default:
		text = fmt.Sprint(x)
	}
	switch {
	case text == "" && f.Name == "SecretKeys":
		return "(not set: generated once and kept in Redis)"
	case text == "":
		return "(not set)"
	case f.Tag.Get("secret") == "true":
		return "(set, hidden)"
	case text == "0" && f.Tag.Get("zero") != "":
		// e.g. PYTWASK_PAGE_SLOTS, resolved where the site starts from the
		// cores it may use there; the ready line logs the number.
		return "0 (" + f.Tag.Get("zero") + ")"
	}
	return text
}

// forEachSetting calls fn with each environment variable's name, its field's
// value and the field.
func forEachSetting(c *Config, fn func(name string, v reflect.Value, f reflect.StructField)) {
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if name := f.Tag.Get("envconfig"); name != "" && f.Tag.Get("ignored") != "true" {
			fn(name, v.Field(i), f)
		}
	}
}
