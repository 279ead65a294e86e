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
