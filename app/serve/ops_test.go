package serve_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/password"
	"pytwask/app/store"
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
	r := startSampleRedis(t, socketDir(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rdb := r.client()
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping with the password: %v", err)
	}
	if got := rdb.ConfigGet(ctx, "appendonly").Val()["appendonly"]; got != "yes" {
		t.Errorf("appendonly = %q", got)
	}
	anon := redis.NewClient(&redis.Options{Network: "unix", Addr: r.sock})
	defer anon.Close()
	if err := anon.Set(ctx, "x", "y", 0).Err(); err == nil {
		t.Error("the sample config accepts commands without the password")
	}
}

// TestRedisUserOfItsOwn: the sample configuration's user for pytwask
// (its "#user pytwask" line, uncommented with a password) is read by
// redis-server, and the site and `pytwask check` run as it through
// REDIS_URL as the comment says: pytwask reads what it reads at its start,
// a visitor signs up, signs in and posts, and Redis refused nothing (its
// ACL LOG; every operation is run as the user in the store's
// TestOperationsAsItsOwnRedisUser).
func TestRedisUserOfItsOwn(t *testing.T) {
	dir := socketDir(t)
	r := startSampleRedis(t, dir)
	own := randomHex(16)
	b, err := os.ReadFile(r.conf)
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(b), "\n#user pytwask on >CHANGE-ME-to-another-long-random-password ", "\nuser pytwask on >"+own+" ", 1)
	if conf == string(b) {
		t.Fatal("the sample configuration has no #user pytwask line")
	}
	if err := os.WriteFile(r.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r.stop()
	r.start()

	sock := filepath.Join(dir, "p.sock")
	env := append(siteEnv(), "REDIS_URL=unix://pytwask:"+own+"@"+r.sock+"?db=0")
	p := start(t, append(env, "PYTWASK_LISTEN=unix:"+sock))
	if warned := p.lines(`"level":"WARN"`); len(warned) > 0 {
		t.Errorf("the start warned: %s", strings.Join(warned, "\n"))
	}
	c := loadClient(t, sock)
	signUpOver(t, c, "alice")
	res, err := c.PostForm("http://x/tweets/user_timeline", url.Values{"tweet": {"posted as a user of its own"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if st, body := get(t, c, "http://x/tweets/user_timeline"); st != 200 || !strings.Contains(body, "posted as a user of its own") {
		t.Errorf("alice's timeline: %d\n%s", st, body)
	}
	check := exec.Command(binary, "check")
	check.Env = env
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("pytwask check: %v\n%s", err, out)
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}

	rdb := r.client()
	defer rdb.Close()
	log, err := rdb.ACLLog(context.Background(), 100).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range log {
		t.Errorf("Redis refused pytwask's user: %s %s (%s)", e.Reason, e.Object, e.Context)
	}
}

// TestBackupAndRestore follows docs/maintaining.md ("Backups") on a Redis
// of the sample configuration, which keeps an append-only file: a backup
// taken while the site writes (redis-cli --rdb), then a restore. Restored
// the obvious way (the snapshot put in place of the data), Redis 7 starts
// empty: with appendonly yes and no append-only file it makes a new, empty
// one rather than read the snapshot. The documented way brings back
// exactly what the backup held, and a restart after it too.
func TestBackupAndRestore(t *testing.T) {
	cli := need(t, "redis-cli")
	dir := socketDir(t)
	r := startSampleRedis(t, dir)
	rdb := r.client()
	defer rdb.Close()
	ctx := context.Background()
	st := store.New(rdb, password.Hasher{Iterations: 1000}, nil)
	if err := st.Register(ctx, "alice", "Passw0rd!"); err != nil {
		t.Fatal(err)
	}
	alice := rdb.HGet(ctx, "users", "alice").Val()
	before, err := st.Post(ctx, alice, "before the backup")
	if err != nil {
		t.Fatal(err)
	}

	backup := filepath.Join(t.TempDir(), "pytwask.rdb")
	cmd := exec.Command(cli, "-s", r.sock, "--rdb", backup)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+r.password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --rdb: %v\n%s", err, out)
	}
	after, err := st.Post(ctx, alice, "after the backup")
	if err != nil {
		t.Fatal(err)
	}

	// The restore: Redis stopped, its append-only files removed, the
	// backup in place of its snapshot, started once without the
	// append-only file, which CONFIG SET then writes from the data.
	r.stop()
	if err := os.RemoveAll(filepath.Join(dir, "appendonlydir")); err != nil {
		t.Fatal(err)
	}
	copyFile(t, backup, filepath.Join(dir, "dump.rdb"))
	r.setConf("appendonly yes", "appendonly no")
	r.start()
	rdb = r.client()
	defer rdb.Close()
	if err := rdb.ConfigSet(ctx, "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info := rdb.Info(ctx, "persistence").Val()
		if strings.Contains(info, "aof_enabled:1") && strings.Contains(info, "aof_rewrite_in_progress:0") &&
			!strings.Contains(info, "aof_rewrite_scheduled:1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the append-only file was not written:\n%s", info)
		}
	}
	r.setConf("appendonly no", "appendonly yes")
	// A restart after the restore reads the new append-only file.
	r.stop()
	r.start()
	rdb = r.client()
	defer rdb.Close()
	st = store.New(rdb, password.Hasher{Iterations: 1000}, nil)
	_, page, err := st.Timeline(ctx, "", store.General, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tw := range page.Tweets {
		got = append(got, tw.ID)
	}
	if len(got) != 1 || got[0] != before {
		t.Errorf("the general timeline after the restore holds %v; want only %s (the post before the backup), not %s", got, before, after)
	}
	if _, err := st.Login(ctx, "", "alice", "Passw0rd!"); err != nil {
		t.Errorf("alice signing in after the restore: %v", err)
	}
}

// sampleRedis is a redis-server on ops/redis/pytwask-redis.conf, its
// socket, data directory and password put in a test's directory.
type sampleRedis struct {
	t              *testing.T
	server, conf   string
	sock, password string
	cmd            *exec.Cmd
}

func startSampleRedis(t *testing.T, dir string) *sampleRedis {
	r := &sampleRedis{t: t, server: need(t, "redis-server"), sock: filepath.Join(dir, "redis.sock"),
		password: randomHex(16), conf: filepath.Join(dir, "redis.conf")}
	b, err := os.ReadFile("../../ops/redis/pytwask-redis.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer(
		"/run/redis/redis-server.sock", r.sock,
		"dir /var/lib/redis", "dir "+dir,
		"CHANGE-ME-to-a-long-random-password", r.password,
	).Replace(string(b))
	if err := os.WriteFile(r.conf, []byte(conf+"\nlogfile "+filepath.Join(dir, "log")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.start()
	t.Cleanup(func() {
		if r.cmd != nil {
			r.cmd.Process.Kill()
			r.cmd.Wait()
		}
	})
	return r
}

func (r *sampleRedis) start() {
	r.cmd = exec.Command(r.server, r.conf)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	waitListening(r.t, "unix", r.sock)
}

// stop shuts Redis down as systemd does (SIGTERM: it saves, then exits).
func (r *sampleRedis) stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	if err := r.cmd.Wait(); err != nil {
		r.t.Fatalf("redis-server on SIGTERM: %v", err)
	}
	r.cmd = nil
}

func (r *sampleRedis) client() *redis.Client {
	return redis.NewClient(&redis.Options{Network: "unix", Addr: r.sock, Password: r.password})
}

// setConf replaces a line of the configuration file, as an operator edits
// it.
func (r *sampleRedis) setConf(old, new string) {
	b, err := os.ReadFile(r.conf)
	if err != nil {
		r.t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n"+old+"\n") {
		r.t.Fatalf("the configuration has no line %q", old)
	}
	if err := os.WriteFile(r.conf, []byte(strings.Replace(string(b), "\n"+old+"\n", "\n"+new+"\n", 1)), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o640); err != nil {
		t.Fatal(err)
	}
}
