package serve

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"pytwask/app/config"
)

func TestPlan(t *testing.T) {
	base := func(mod func(*config.Config)) *config.Config {
		c := &config.Config{Listen: []string{"127.0.0.1:5000"}, HTTPSAddr: ":443", HTTPAddr: ":80"}
		if mod != nil {
			mod(c)
		}
		return c
	}
	site := func(network, addr string) Spec { return Spec{RoleSite, network, addr, -1} }
	cases := []struct {
		name      string
		cfg       *config.Config
		activated []Socket
		want      []Spec
		err       string
	}{
		{name: "default tcp", cfg: base(nil), want: []Spec{site("tcp", "127.0.0.1:5000")}},
		{name: "unix socket", cfg: base(func(c *config.Config) { c.Listen = []string{"unix:/run/pytwask/pytwask.sock"} }),
			want: []Spec{site("unix", "/run/pytwask/pytwask.sock")}},
		{name: "several", cfg: base(func(c *config.Config) { c.Listen = []string{"[::1]:8080", "unix:/run/p.sock", "0.0.0.0:8081"} }),
			want: []Spec{site("tcp", "[::1]:8080"), site("unix", "/run/p.sock"), site("tcp", "0.0.0.0:8081")}},
		{name: "https", cfg: base(func(c *config.Config) { c.Domains = []string{"example.com"} }),
			want: []Spec{{RoleHTTPS, "tcp", ":443", -1}, {RoleRedirect, "tcp", ":80", -1}}},
		{name: "https without http", cfg: base(func(c *config.Config) { c.Domains = []string{"example.com"}; c.HTTPAddr = "" }),
			want: []Spec{{RoleHTTPS, "tcp", ":443", -1}}},
		{name: "https and an explicit unix socket", cfg: base(func(c *config.Config) {
			c.Domains, c.ListenSet, c.Listen = []string{"example.com"}, true, []string{"unix:/run/p.sock"}
		}), want: []Spec{site("unix", "/run/p.sock"), {RoleHTTPS, "tcp", ":443", -1}, {RoleRedirect, "tcp", ":80", -1}}},
		{name: "same address twice", cfg: base(func(c *config.Config) {
			c.Domains, c.ListenSet, c.Listen = []string{"example.com"}, true, []string{":443"}
		}), err: ":443 is configured twice"},
		{name: "listen twice", cfg: base(func(c *config.Config) { c.Listen = []string{"unix:/a.sock", "unix:/a.sock"} }), err: "configured twice"},
		{name: "port 0 twice is fine", cfg: base(func(c *config.Config) { c.Listen = []string{"127.0.0.1:0", "127.0.0.1:0"} }),
			want: []Spec{site("tcp", "127.0.0.1:0"), site("tcp", "127.0.0.1:0")}},
		{name: "activated tcp and unix", cfg: base(nil),
			activated: []Socket{{"LISTEN_FD_3", "tcp", "127.0.0.1:8000"}, {"nginx", "unix", "/run/pytwask.sock"}},
			want:      []Spec{{RoleSite, "tcp", "127.0.0.1:8000", 0}, {RoleSite, "unix", "/run/pytwask.sock", 1}}},
		{name: "activated http without domains serves the site", cfg: base(nil),
			activated: []Socket{{"http", "tcp", "[::]:80"}},
			want:      []Spec{{RoleSite, "tcp", "[::]:80", 0}}},
		{name: "activated https with names", cfg: base(func(c *config.Config) { c.Domains = []string{"example.com"} }),
			activated: []Socket{{"http", "tcp", "[::]:80"}, {"https", "tcp", "[::]:443"}, {"nginx", "unix", "/run/p.sock"}},
			want:      []Spec{{RoleRedirect, "tcp", "[::]:80", 0}, {RoleHTTPS, "tcp", "[::]:443", 1}, {RoleSite, "unix", "/run/p.sock", 2}}},
		{name: "activated https without domains", cfg: base(nil),
			activated: []Socket{{"https", "tcp", "[::]:443"}}, err: "PYTWASK_DOMAINS is not set"},
		{name: "domains but no activated https", cfg: base(func(c *config.Config) { c.Domains = []string{"example.com"} }),
			activated: []Socket{{"http", "tcp", "[::]:80"}}, err: `no socket named "https"`},
		{name: "activated and PYTWASK_LISTEN", cfg: base(func(c *config.Config) { c.ListenSet = true }),
			activated: []Socket{{"http", "tcp", "[::]:80"}}, err: "PYTWASK_LISTEN is set, but systemd passed sockets"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Plan(c.cfg, c.activated)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v; want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %v; want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("listener %d: %v; want %v", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestListenUnix(t *testing.T) {
	dir, err := os.MkdirTemp("", "sock")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "p.sock")

	ln, err := listenUnix(path, 0o660, "")
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v; want 0660", fi.Mode())
	}
	// A live socket is not taken over.
	if _, err := listenUnix(path, 0o660, ""); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second listen: %v", err)
	}
	ln.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("a clean close left the socket file behind")
	}

	// A stale socket (its process died) is replaced.
	stale, _ := net.Listen("unix", path)
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	ln, err = listenUnix(path, 0o600, "")
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v; want 0600", fi.Mode().Perm())
	}
	ln.Close()

	// A file that is not a socket is never deleted.
	if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := listenUnix(path, 0o660, ""); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("listen over a file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "data" {
		t.Error("the file was changed")
	}

	// The group is set when asked.
	os.Remove(path)
	gid := os.Getgid()
	ln, err = listenUnix(path, 0o660, strconv.Itoa(gid))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := listenUnix(filepath.Join(dir, "q.sock"), 0o660, "no-such-group-here"); err == nil {
		t.Error("an unknown group was accepted")
	}
}
