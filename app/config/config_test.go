package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// variables are the names of every variable Config reads.
func variables() []string {
	var names []string
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Tag.Get("envconfig"); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func clearEnv(t *testing.T) {
	for _, v := range append(variables(), "STATE_DIRECTORY") {
		t.Setenv(v, "")
		// t.Setenv then unset: the variable must be absent, not empty.
		unsetenv(t, v)
	}
}

func TestDefaults(t *testing.T) {
	clearEnv(t)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != "dev" || len(c.Listen) != 1 || c.Listen[0] != "127.0.0.1:5000" || c.ListenSet || !c.InMemory || *c.RedisDB != 1 || c.DataDir != DefaultDataDir {
		t.Errorf("defaults = env %q listen %q inMemory %v db %d", c.Env, c.Listen, c.InMemory, *c.RedisDB)
	}
	if n, a := c.RedisAddr(); n != "tcp" || a != "127.0.0.1:6379" {
		t.Errorf("RedisAddr = %s %s", n, a)
	}
}

func TestRedisSettings(t *testing.T) {
	cases := []struct {
		name        string
		env         map[string]string
		inMemory    bool
		db          int
		network, at string
	}{
		{"dev with a socket", map[string]string{"REDIS_DB_SOCKET": "/run/redis.sock"}, false, 1, "unix", "/run/redis.sock"},
		{"dev with only a password", map[string]string{"REDIS_DB_PASSWORD": "pw"}, false, 1, "tcp", "127.0.0.1:6379"},
		{"prod never in memory", map[string]string{"PYTWASK_ENV": "prod"}, false, 0, "tcp", "127.0.0.1:6379"},
		{"test uses 15", map[string]string{"PYTWASK_ENV": "test"}, false, 15, "tcp", "127.0.0.1:6379"},
		{"socket beats host", map[string]string{"PYTWASK_ENV": "prod", "REDIS_DB_HOSTNAME": "10.0.0.1", "REDIS_DB_SOCKET": "/r.sock", "REDIS_DB_INDEX": "4"}, false, 4, "unix", "/r.sock"},
		{"host and port", map[string]string{"PYTWASK_ENV": "prod", "REDIS_DB_HOSTNAME": "::1", "REDIS_DB_PORT": "6380"}, false, 0, "tcp", "[::1]:6380"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg, err := Load()
			if err != nil {
				t.Fatal(err)
			}
			n, a := cfg.RedisAddr()
			if cfg.InMemory != c.inMemory || *cfg.RedisDB != c.db || n != c.network || a != c.at {
				t.Errorf("inMemory %v db %d addr %s %s", cfg.InMemory, *cfg.RedisDB, n, a)
			}
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	clearEnv(t)
	t.Setenv("PYTWASK_ENV", "production")
	t.Setenv("PYTWASK_LISTEN", "5000")
	t.Setenv("PYTWASK_SECRET_KEY", "short,"+strings.Repeat("k", 40))
	t.Setenv("PYTWASK_LOG_LEVEL", "loud")
	_, err := Load()
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, want := range []string{"PYTWASK_ENV: expected dev, test or prod", "PYTWASK_LISTEN: expected host:port", "PYTWASK_SECRET_KEY: key 1 is 5 characters", "PYTWASK_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "kkkk") || strings.Contains(err.Error(), "short") {
		t.Error("the error shows a secret key")
	}
}

// TestParseErrorsNameEveryVariable: a value that does not parse names its
// variable and what was expected, and every such value is listed at once.
func TestParseErrorsNameEveryVariable(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REDIS_DB_PORT": "six"}, `REDIS_DB_PORT: expected a whole number, got "six"`},
		{map[string]string{"PYTWASK_SESSION_IDLE": "12"}, `PYTWASK_SESSION_IDLE: expected a duration such as 30m or 12h, got "12"`},
		{map[string]string{"PYTWASK_EDIT_WINDOW": "abc", "REDIS_DB_INDEX": "x", "PYTWASK_SESSION_MAX": "1 day", "REDIS_DB_PORT": "0x18eb"},
			`REDIS_DB_INDEX: expected a whole number, got "x"` + "\n" +
				`PYTWASK_SESSION_MAX: expected a duration such as 30m or 12h, got "1 day"` + "\n" +
				`PYTWASK_EDIT_WINDOW: expected a duration such as 30m or 12h, got "abc"`},
	} {
		clearEnv(t)
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		if _, err := Load(); err == nil || err.Error() != c.want {
			t.Errorf("%v: error\n%v\nwant\n%s", c.env, err, c.want)
		}
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	var buf bytes.Buffer
	if err := Usage(&buf); err != nil {
		t.Fatal(err)
	}
	for _, v := range append(redisVars, "PYTWASK_ENV", "PYTWASK_LISTEN", "PYTWASK_SECRET_KEY", "127.0.0.1:5000", "6379") {
		if !strings.Contains(buf.String(), v) {
			t.Errorf("usage lacks %s:\n%s", v, buf.String())
		}
	}
}

// unsetenv removes a variable for the rest of the test; the t.Setenv before
// it registers the restore.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

func TestServingSettings(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		bad  string // "" when valid
	}{
		{"tcp and unix", map[string]string{"PYTWASK_LISTEN": "127.0.0.1:8000,unix:/run/pytwask/pytwask.sock"}, ""},
		{"relative socket", map[string]string{"PYTWASK_LISTEN": "unix:pytwask.sock"}, "PYTWASK_LISTEN: expected an absolute socket path"},
		{"no port", map[string]string{"PYTWASK_LISTEN": "localhost"}, "PYTWASK_LISTEN: expected host:port"},
		{"socket mode", map[string]string{"PYTWASK_SOCKET_MODE": "0999"}, "PYTWASK_SOCKET_MODE"},
		{"domains", map[string]string{"PYTWASK_DOMAINS": "example.com,www.example.com"}, ""},
		{"bad domain", map[string]string{"PYTWASK_DOMAINS": "exa mple.com"}, "PYTWASK_DOMAINS"},
		{"bad CA", map[string]string{"PYTWASK_DOMAINS": "example.com", "PYTWASK_ACME_CA": "ftp://x"}, "PYTWASK_ACME_CA"},
		{"missing CA root", map[string]string{"PYTWASK_DOMAINS": "example.com", "PYTWASK_ACME_CA_ROOT": "/nonexistent.pem"}, "PYTWASK_ACME_CA_ROOT: cannot read"},
		{"proxies", map[string]string{"PYTWASK_TRUSTED_PROXIES": "10.0.0.0/8,::1,192.168.1.7"}, ""},
		{"bad proxy", map[string]string{"PYTWASK_TRUSTED_PROXIES": "10.0.0.0/33"}, "PYTWASK_TRUSTED_PROXIES"},
		{"debug on loopback", map[string]string{"PYTWASK_DEBUG_ADDR": "127.0.0.1:6060"}, ""},
		{"debug on a socket", map[string]string{"PYTWASK_DEBUG_ADDR": "unix:/run/pytwask/debug.sock"}, ""},
		{"debug in public", map[string]string{"PYTWASK_DEBUG_ADDR": "0.0.0.0:6060"}, "PYTWASK_DEBUG_ADDR: profiles must never be public"},
		{"debug on all interfaces", map[string]string{"PYTWASK_DEBUG_ADDR": ":6060"}, "PYTWASK_DEBUG_ADDR: profiles must never be public"},
		{"limits", map[string]string{"PYTWASK_SIGNIN_LIMIT_CLIENT": "100/1h", "PYTWASK_SIGNIN_LIMIT_USER": "0"}, ""},
		{"bad limit", map[string]string{"PYTWASK_SIGNUP_LIMIT_CLIENT": "10 per hour"}, "PYTWASK_SIGNUP_LIMIT_CLIENT: expected COUNT/PERIOD"},
		{"page slots", map[string]string{"PYTWASK_PAGE_SLOTS": "16"}, ""},
		{"negative page slots", map[string]string{"PYTWASK_PAGE_SLOTS": "-1"}, "PYTWASK_PAGE_SLOTS: expected 0 (four per core) to 10000"},
		{"http-01 without http", map[string]string{"PYTWASK_DOMAINS": "example.com", "PYTWASK_HTTP_ADDR": "", "PYTWASK_ACME_CHALLENGES": "http-01"}, "PYTWASK_HTTP_ADDR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := Load()
			if c.bad == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)) {
				t.Fatalf("error %v; want one about %s", err, c.bad)
			}
		})
	}
}

func TestDataDirFromSystemd(t *testing.T) {
	clearEnv(t)
	t.Setenv("STATE_DIRECTORY", "/var/lib/pytwask-state:/var/lib/other")
	c, err := Load()
	if err != nil || c.DataDir != "/var/lib/pytwask-state" {
		t.Fatalf("DataDir %q, %v", c.DataDir, err)
	}
	t.Setenv("PYTWASK_DATA_DIR", "/srv/certs")
	if c, _ := Load(); c.DataDir != "/srv/certs" {
		t.Fatalf("PYTWASK_DATA_DIR not used: %q", c.DataDir)
	}
}

// TestEveryVariableDocumented: docs/configuration.md's table and the sample environment
// file name every variable, so that an operator reading either finds all.
func TestEveryVariableDocumented(t *testing.T) {
	docs := []struct {
		path   string
		format string // how a variable is named there
	}{
		{"../../docs/configuration.md", "`%s`"},
		{"../../ops/pytwask.env.example", "%s="},
	}
	for _, doc := range docs {
		text, err := os.ReadFile(doc.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range variables() {
			if !strings.Contains(string(text), fmt.Sprintf(doc.format, name)) {
				t.Errorf("%s does not name %s", doc.path, name)
			}
		}
	}
}

func TestLimitsAreTyped(t *testing.T) {
	t.Setenv("PYTWASK_SIGNIN_LIMIT_CLIENT", "30/10m")
	t.Setenv("PYTWASK_POST_LIMIT_USER", "0")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.SignInLimitClient.Max != 30 || c.SignInLimitClient.Window != 10*time.Minute || c.SignInLimitClient.String() != "30/10m" {
		t.Errorf("PYTWASK_SIGNIN_LIMIT_CLIENT=30/10m read as %+v", c.SignInLimitClient)
	}
	if c.PostLimitUser.Max != 0 {
		t.Errorf("PYTWASK_POST_LIMIT_USER=0 read as %+v", c.PostLimitUser)
	}
	if c.FollowLimitUser.Max != 300 || c.FollowLimitUser.Window != time.Hour {
		t.Errorf("the default PYTWASK_FOLLOW_LIMIT_USER read as %+v", c.FollowLimitUser)
	}
	// Two bad limits: both are reported at once.
	t.Setenv("PYTWASK_SIGNUP_LIMIT_CLIENT", "ten")
	t.Setenv("PYTWASK_FOLLOW_LIMIT_CLIENT", "5/never")
	_, err = Load()
	if err == nil || !strings.Contains(err.Error(), "PYTWASK_SIGNUP_LIMIT_CLIENT") || !strings.Contains(err.Error(), "PYTWASK_FOLLOW_LIMIT_CLIENT") {
		t.Errorf("Load = %v; want both bad limits named", err)
	}
}

// TestTypedValues: settings that are not plain text are parsed once, by
// Load, into the values the site uses.
func TestTypedValues(t *testing.T) {
	clearEnv(t)
	t.Setenv("PYTWASK_SOCKET_MODE", "0640")
	t.Setenv("PYTWASK_TRUSTED_PROXIES", "10.0.0.0/8, ::ffff:192.168.1.7")
	t.Setenv("PYTWASK_LOG_LEVEL", "WARN")
	t.Setenv("PYTWASK_SESSION_IDLE", "90m")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.SocketMode.FileMode != 0o640 {
		t.Errorf("PYTWASK_SOCKET_MODE=0640 read as %v", c.SocketMode.FileMode)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")}; !slices.Equal(c.TrustedProxies.List, want) {
		t.Errorf("PYTWASK_TRUSTED_PROXIES read as %v; want %v", c.TrustedProxies.List, want)
	}
	if c.LogLevel.Level != slog.LevelWarn {
		t.Errorf("PYTWASK_LOG_LEVEL=WARN read as %v", c.LogLevel.Level)
	}
	if c.SessionIdle != 90*time.Minute {
		t.Errorf("PYTWASK_SESSION_IDLE=90m read as %v", c.SessionIdle)
	}
}

// TestSettingsShown: `pytwask check` lists every variable once, in the
// words it was written in, with secrets hidden.
func TestSettingsShown(t *testing.T) {
	clearEnv(t)
	t.Setenv("REDIS_DB_PASSWORD", "s3cret-password")
	t.Setenv("PYTWASK_SECRET_KEY", strings.Repeat("k", 40)+","+strings.Repeat("j", 40))
	t.Setenv("PYTWASK_SOCKET_MODE", "0600")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range c.Settings() {
		if _, dup := got[s.Name]; dup {
			t.Errorf("%s listed twice", s.Name)
		}
		got[s.Name] = s.Value
		if strings.Contains(s.Value, "s3cret") || strings.Contains(s.Value, "kkkk") {
			t.Errorf("%s shows a secret: %q", s.Name, s.Value)
		}
	}
	if len(got) != len(variables()) {
		t.Errorf("Settings lists %d variables; Config reads %d", len(got), len(variables()))
	}
	for name, want := range map[string]string{
		"REDIS_DB_PASSWORD": "(set, hidden)", "PYTWASK_SECRET_KEY": "(2 keys, hidden)",
		"PYTWASK_SOCKET_MODE": "0600", "PYTWASK_PAGE_SLOTS": "0 (four per core)", "REDIS_DB_INDEX": "1",
		"PYTWASK_SESSION_IDLE": "12h0m0s", "PYTWASK_SOCKET_GROUP": "(not set)", "PYTWASK_SIGNIN_LIMIT_CLIENT": "30/10m",
	} {
		if got[name] != want {
			t.Errorf("%s shown as %q; want %q", name, got[name], want)
		}
	}
}

// TestRedisModes: each way to reach Redis is chosen by its variables, and
// two at once are refused with both named.
func TestRedisModes(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		mode    RedisMode
		where   string // in RedisWhere, or in the error when problem is set
		problem bool
	}{
		{"nothing in dev", nil, InMemory, "in-memory", false},
		{"REDIS_DB_*", map[string]string{"REDIS_DB_SOCKET": "/r.sock"}, Server, "unix:/r.sock", false},
		{"a URL", map[string]string{"REDIS_URL": "redis://app:s3cret@10.0.0.5:6380/2"}, Server, "redis://app:xxxxx@10.0.0.5:6380/2", false},
		{"a unix URL", map[string]string{"REDIS_URL": "unix:///run/redis.sock?db=3"}, Server, "unix:///run/redis.sock?db=3", false},
		{"sentinel", map[string]string{"REDIS_SENTINEL_ADDRS": "10.0.0.1:26379,10.0.0.2:26379", "REDIS_SENTINEL_MASTER": "pytwask"}, Sentinel, `"pytwask" of the Sentinels at 10.0.0.1:26379,10.0.0.2:26379`, false},
		{"cluster", map[string]string{"REDIS_CLUSTER_ADDRS": "10.0.0.1:7000"}, Cluster, "Cluster at 10.0.0.1:7000", false},
		{"URL and host", map[string]string{"REDIS_URL": "redis://h:1", "REDIS_DB_HOSTNAME": "h"}, "", "REDIS_DB_HOSTNAME: and REDIS_URL are both set", true},
		{"sentinel and cluster", map[string]string{"REDIS_SENTINEL_ADDRS": "a:1", "REDIS_SENTINEL_MASTER": "m", "REDIS_CLUSTER_ADDRS": "b:2"}, "", "REDIS_SENTINEL_ADDRS: and REDIS_CLUSTER_ADDRS are both set", true},
		{"sentinel without a master", map[string]string{"REDIS_SENTINEL_ADDRS": "a:1"}, "", "REDIS_SENTINEL_MASTER: is empty", true},
		{"a bad URL", map[string]string{"REDIS_URL": "http://user:hunter2@h/"}, "", "REDIS_URL: expected redis://", true},
		{"cluster with a database", map[string]string{"REDIS_CLUSTER_ADDRS": "a:1", "REDIS_DB_INDEX": "2"}, "", "REDIS_DB_INDEX: is 2, but a Redis Cluster has only database 0", true},
		{"TLS files without TLS", map[string]string{"REDIS_URL": "redis://h:1", "REDIS_TLS_CERT_FILE": "config_test.go", "REDIS_TLS_KEY_FILE": "config_test.go"}, "", "REDIS_TLS_CERT_FILE: is set, but nothing uses TLS", true},
		{"a certificate without its key", map[string]string{"REDIS_URL": "rediss://h:1", "REDIS_TLS_CERT_FILE": "config_test.go"}, "", "REDIS_TLS_CERT_FILE: and REDIS_TLS_KEY_FILE go together", true},
		{"waiting in a cluster", map[string]string{"REDIS_CLUSTER_ADDRS": "a:1", "REDIS_WAIT_REPLICAS": "1"}, "", "REDIS_WAIT_REPLICAS: is not supported", true},
		{"a wait too long", map[string]string{"REDIS_SENTINEL_ADDRS": "a:1", "REDIS_SENTINEL_MASTER": "m", "REDIS_WAIT_TIMEOUT": "5s"}, "", "REDIS_WAIT_TIMEOUT: expected a duration from 10ms to 1s", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			cfg, err := Load()
			if c.problem {
				if err == nil || !strings.Contains(err.Error(), c.where) {
					t.Fatalf("Load = %v; want a problem with %q", err, c.where)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the URL's password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.RedisMode() != c.mode || !strings.Contains(cfg.RedisWhere(), c.where) {
				t.Errorf("mode %s, where %q; want %s, %q", cfg.RedisMode(), cfg.RedisWhere(), c.mode, c.where)
			}
			for _, s := range cfg.Settings() {
				if strings.Contains(s.Value, "s3cret") {
					t.Errorf("%s shows a password: %q", s.Name, s.Value)
				}
			}
		})
	}
}

// TestEmailSettings: SMTP needs a From address, a TLS mode it knows and an
// address for links (PYTWASK_BASE_URL or PYTWASK_DOMAINS); the password is
// never shown.
func TestEmailSettings(t *testing.T) {
	clearEnv(t)
	t.Setenv("PYTWASK_SMTP_HOST", "smtp.example.com")
	t.Setenv("PYTWASK_SMTP_TLS", "maybe")
	t.Setenv("PYTWASK_BASE_URL", "example.com")
	_, err := Load()
	for _, want := range []string{"PYTWASK_SMTP_TLS: expected starttls, tls or none", "PYTWASK_SMTP_FROM: expected",
		"PYTWASK_BASE_URL: expected an address such as https://example.com"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	t.Setenv("PYTWASK_SMTP_TLS", "tls")
	t.Setenv("PYTWASK_SMTP_FROM", "pytwask <noreply@example.com>")
	t.Setenv("PYTWASK_BASE_URL", "")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "PYTWASK_BASE_URL: expected the site's address") {
		t.Errorf("SMTP without an address for links: %v", err)
	}
	t.Setenv("PYTWASK_BASE_URL", "https://example.com")
	t.Setenv("PYTWASK_SMTP_PASSWORD", "smtp-s3cret")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Settings() {
		if strings.Contains(s.Value, "smtp-s3cret") {
			t.Errorf("%s shows the SMTP password", s.Name)
		}
	}
}
