package serve_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestSystemdUnitsVerify runs systemd-analyze verify on the shipped units,
// with ExecStart pointed at the freshly built binary.
func TestSystemdUnitsVerify(t *testing.T) {
	tool := need(t, "systemd-analyze")
	dir := socketDir(t)
	units := map[string]string{
		"pytwask.service":      "../../pytwask.service",
		"pytwask.socket":       "../../ops/pytwask.socket",
		"pytwask-http.socket":  "../../ops/pytwask-http.socket",
		"pytwask-https.socket": "../../ops/pytwask-https.socket",
		"pytwask@.service":     "../../ops/pytwask@.service",
		"pytwask@.socket":      "../../ops/pytwask@.socket",
	}
	var paths []string
	for name, src := range units {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "/usr/local/bin/pytwask", binary)
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		paths = append(paths, p)
	}
	service, _ := os.ReadFile("../../pytwask.service")
	for _, want := range []string{"Type=notify", "WatchdogSec=", "EnvironmentFile=-/etc/pytwask/pytwask.env", "StateDirectory=",
		"RuntimeDirectory=", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes",
		"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "SystemCallFilter=@system-service", "Restart=on-failure", "DynamicUser=yes"} {
		if !strings.Contains(string(service), want) {
			t.Errorf("pytwask.service lacks %s", want)
		}
	}
	// The instances' template is pytwask.service but for what an instance
	// does not have (its own directories, binding ports): a setting added
	// to one is added to the other.
	template, _ := os.ReadFile("../../ops/pytwask@.service")
	settings := func(unit []byte) map[string]bool {
		m := map[string]bool{}
		for _, line := range strings.Split(string(unit), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "Description=") {
				m[line] = true
			}
		}
		return m
	}
	single, instance := settings(service), settings(template)
	onlySingle := map[string]bool{"StateDirectory=pytwask": true, "StateDirectoryMode=0700": true, "RuntimeDirectory=pytwask": true,
		"RuntimeDirectoryMode=0755": true, "RuntimeDirectoryPreserve=restart": true,
		"AmbientCapabilities=CAP_NET_BIND_SERVICE": true, "CapabilityBoundingSet=CAP_NET_BIND_SERVICE": true}
	for line := range single {
		if !instance[line] && !onlySingle[line] {
			t.Errorf("ops/pytwask@.service lacks pytwask.service's %s", line)
		}
	}
	for line := range instance {
		if !single[line] && line != "CapabilityBoundingSet=" {
			t.Errorf("ops/pytwask@.service has %s, which pytwask.service does not", line)
		}
	}

	cmd := exec.Command(tool, append([]string{"verify"}, paths...)...)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=warning")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestRedisSampleConfig starts redis-server on the shipped sample
// configuration (paths and password adjusted) and talks to it.
func TestRedisSampleConfig(t *testing.T) {
	server := need(t, "redis-server")
	b, err := os.ReadFile("../../ops/redis/pytwask-redis.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := socketDir(t)
	sock := filepath.Join(dir, "redis.sock")
	pw := randomHex(16)
	conf := strings.NewReplacer(
		"/run/redis/redis-server.sock", sock,
		"dir /var/lib/redis", "dir "+dir,
		"CHANGE-ME-to-a-long-random-password", pw,
	).Replace(string(b))
	confPath := filepath.Join(dir, "redis.conf")
	os.WriteFile(confPath, []byte(conf+"\nlogfile "+filepath.Join(dir, "log")+"\n"), 0o644)
	cmd := exec.Command(server, confPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(t, "unix", sock)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, Password: pw})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping with the password: %v", err)
	}
	if got := rdb.ConfigGet(ctx, "appendonly").Val()["appendonly"]; got != "yes" {
		t.Errorf("appendonly = %q", got)
	}
	anon := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	defer anon.Close()
	if err := anon.Set(ctx, "x", "y", 0).Err(); err == nil {
		t.Error("the sample config accepts commands without the password")
	}
}
