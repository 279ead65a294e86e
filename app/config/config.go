// Package config reads pytwask's settings from environment variables, the
// original pytwask's names included, and checks them all at once so that an
// operator can fix every problem in one go.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"
)

// Config is every setting. The envconfig tags are the variable names.
type Config struct {
	Env    string `envconfig:"PYTWASK_ENV" default:"dev" desc:"dev, test or prod"`
	Listen string `envconfig:"PYTWASK_LISTEN" default:"127.0.0.1:5000" desc:"address to serve HTTP on, host:port"`

	SecretKeys []string `envconfig:"PYTWASK_SECRET_KEY" desc:"cookie-signing keys, comma-separated, newest first, 32+ characters each; unset: generated once and kept in Redis"`

	RedisHost     string `envconfig:"REDIS_DB_HOSTNAME" default:"127.0.0.1" desc:"Redis host"`
	RedisPort     int    `envconfig:"REDIS_DB_PORT" default:"6379" desc:"Redis port"`
	RedisSocket   string `envconfig:"REDIS_DB_SOCKET" desc:"Redis unix socket path; overrides host and port"`
	RedisDB       *int   `envconfig:"REDIS_DB_INDEX" desc:"Redis database number (unset: 0 in prod, 1 in dev, 15 in test, as the original)"`
	RedisPassword string `envconfig:"REDIS_DB_PASSWORD" desc:"Redis password"`

	LogLevel       string `envconfig:"PYTWASK_LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	HashIterations int    `envconfig:"PYTWASK_HASH_ITERATIONS" default:"600000" desc:"PBKDF2-SHA512 iterations for new password hashes"`

	// InMemory is set when dev runs with no Redis variable at all: the site
	// then uses an in-process Redis whose data is lost at exit.
	InMemory bool `ignored:"true"`
}

// redisVars are the variables whose presence means "use a real Redis".
var redisVars = []string{"REDIS_DB_HOSTNAME", "REDIS_DB_PORT", "REDIS_DB_SOCKET", "REDIS_DB_INDEX", "REDIS_DB_PASSWORD"}

// secretVars are never printed.
var secretVars = map[string]bool{"PYTWASK_SECRET_KEY": true, "REDIS_DB_PASSWORD": true}

// MinSecretKeyLen is the shortest accepted PYTWASK_SECRET_KEY entry.
const MinSecretKeyLen = 32

// Load reads the environment. The error lists every problem, one per line,
// each naming its variable.
func Load() (*Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			val := pe.Value
			if secretVars[pe.KeyName] {
				val = "(hidden)"
			}
			return nil, fmt.Errorf("%s: expected %s, got %q", pe.KeyName, expected(pe.TypeName), val)
		}
		return nil, err
	}
	if c.RedisDB == nil {
		db := map[string]int{"dev": 1, "test": 15}[c.Env]
		c.RedisDB = &db
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

func expected(typeName string) string {
	switch typeName {
	case "int":
		return "a whole number"
	case "bool":
		return "true or false"
	}
	return typeName
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
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("PYTWASK_LISTEN", "expected host:port, got %q", c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("PYTWASK_LISTEN", "expected a port from 0 to 65535, got %q", port)
	}
	for i, k := range c.SecretKeys {
		if len(k) < MinSecretKeyLen {
			bad("PYTWASK_SECRET_KEY", "key %d is %d characters long; each key needs %d or more (try: openssl rand -hex 32)", i+1, len(k), MinSecretKeyLen)
		}
	}
	if c.RedisPort < 1 || c.RedisPort > 65535 {
		bad("REDIS_DB_PORT", "expected a port from 1 to 65535, got %d", c.RedisPort)
	}
	if *c.RedisDB < 0 {
		bad("REDIS_DB_INDEX", "expected 0 or more, got %d", *c.RedisDB)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("PYTWASK_LOG_LEVEL", "expected debug, info, warn or error, got %q", c.LogLevel)
	}
	if c.HashIterations < 10_000 || c.HashIterations > 10_000_000 {
		bad("PYTWASK_HASH_ITERATIONS", "expected 10000 to 10000000, got %d", c.HashIterations)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
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
