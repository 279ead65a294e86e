package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"pytwask/app/redistest"
)

// binary is the pytwask binary built once for the tests that run it.
var binary string

const releaseVersion = "v0.0.0-test"

func TestMain(m *testing.M) {
	if addr := os.Getenv(floodEnv); addr != "" {
		flood(addr) // this process is a test's attacker, not a test run
		return
	}
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // the fast tier: no binary (start skips the tests that run it)
	}
	dir, err := os.MkdirTemp("", "pytwask-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pytwask")
	// The README's release build: static, stripped, version stamped.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X pytwask/app/buildinfo.version="+releaseVersion, "-o", binary, "pytwask")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pytwask:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needBinary skips the test in the fast tier, which builds no binary.
func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test runs the binary (the full tier runs it)")
	}
}

// proc is a running pytwask binary.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *lockedBuffer
	done chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// baseEnv is a production configuration on the test's own Redis.
func baseEnv(rs *redistest.Server) []string { return append(rs.Env(), siteEnv()...) }

// siteEnv is the production configuration but for Redis.
func siteEnv() []string {
	return append([]string{},
		"PATH="+os.Getenv("PATH"),
		"PYTWASK_ENV=prod",
		"PYTWASK_SECRET_KEY="+randomHex(32),
		"PYTWASK_HASH_ITERATIONS=10000",
		"PYTWASK_LOG_LEVEL=info",
	)
}

// start runs the binary and waits until it logs that it is ready.
func start(t *testing.T, env []string) *proc {
	t.Helper()
	p := launch(t, env, binary, "serve")
	p.waitLog(`"msg":"pytwask is ready"`, 30*time.Second)
	return p
}

// launch runs argv (the binary, or a wrapper such as systemd-socket-activate)
// and kills it, if still running, when the test ends.
func launch(t *testing.T, env []string, argv ...string) *proc {
	t.Helper()
	needBinary(t)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	p := &proc{t: t, cmd: cmd, logs: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		close(exited)
		p.done <- err
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("pytwask log:\n%s", p.logs.String())
		}
	})
	return p
}

// waitLog waits for a log line containing s.
func (p *proc) waitLog(s string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(p.logs.String(), s) {
		select {
		case err := <-p.done:
			p.done <- err
			p.t.Fatalf("pytwask exited (%v) before logging %q:\n%s", err, s, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("pytwask did not log %q within %v:\n%s", s, within, p.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop() int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Fatal("pytwask did not stop within 20 s of SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

// socketDir returns a short directory for unix sockets (paths are limited
// to about 100 bytes).
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func unixClient(path string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// handedOut holds the ports freePort has returned in this test binary.
var handedOut sync.Map

// freePort returns a loopback port that nothing listens on, for a server
// that a test starts, and never the same one twice: the kernel may hand a
// port out again as soon as its listener closes, and once gave Pebble's
// challenge server the port a test had chosen for pytwask's HTTPS.
func freePort(t *testing.T) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	res, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// lines returns the log lines that contain s.
func (p *proc) lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(p.logs.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// TestGracefulShutdown: requests in flight when SIGTERM arrives complete
// with success, and the process exits 0 and removes its socket.
func TestGracefulShutdown(t *testing.T) {
	rs := redistest.Start(t)
	sock := filepath.Join(socketDir(t), "p.sock")
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock))
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket %s: %v %v; want mode 0660", sock, fi, err)
	}

	// Each request sends its headers and half its body, then waits: it is
	// in flight when SIGTERM arrives.
	const n = 10
	body := "username=alice&password=Passw0rd!&password2=Passw0rd!"
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /auth/signup HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
		conns[i] = c
	}
	time.Sleep(200 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.waitLog("shutting down", 5*time.Second)
	statuses := map[int]int{}
	for _, c := range conns {
		io.WriteString(c, body[10:])
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("in-flight request failed: %v", err)
		}
		statuses[res.StatusCode]++
	}
	// One sign-up wins the name; the others are told it is taken.
	if statuses[303] != 1 || statuses[422] != n-1 {
		t.Errorf("statuses %v; want one 303 and %d 422", statuses, n-1)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d; want 0", code)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Error("the socket file is left after a clean exit")
	}
}

// TestRedisOutage: with Redis gone, pages answer 503 and /readyz fails within
// a second; when it returns, the site serves again within two seconds.
func TestRedisOutage(t *testing.T) {
	rs := redistest.Start(t)
	sock := filepath.Join(socketDir(t), "p.sock")
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock))
	c := unixClient(sock)
	if st, _ := get(t, c, "http://x/readyz"); st != 200 {
		t.Fatalf("readyz %d before the outage", st)
	}
	rs.Stop()
	t0 := time.Now()
	for {
		st, _ := get(t, c, "http://x/readyz")
		if st == 503 {
			break
		}
		if time.Since(t0) > time.Second {
			t.Fatal("/readyz still succeeds a second after Redis stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, body := get(t, c, "http://x/tweets/general_timeline")
	if st != 503 || !strings.Contains(body, "The database is not answering right now") {
		t.Fatalf("page during outage: %d\n%s", st, body)
	}
	rs.Restart()
	t0 = time.Now()
	for {
		st, _ := get(t, c, "http://x/tweets/general_timeline")
		if st == 200 {
			break
		}
		if time.Since(t0) > 2*time.Second {
			t.Fatalf("still %d two seconds after Redis returned", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(p.lines(`"level":"WARN","msg":"redis unavailable"`)) == 0 {
		t.Error("the outage was not logged")
	}
	if probes := p.lines(`"path":"/readyz"`); len(probes) > 0 {
		t.Errorf("health probes in the info log: %s", probes[0])
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestStartedBeforeRedis: pytwask started while Redis is down (at boot,
// say) serves 503 pages, then, once Redis answers, logs its version (a
// Redis too old would stop it, as at a start: store.OldRedisError) and
// serves the site.
func TestStartedBeforeRedis(t *testing.T) {
	rs := redistest.Start(t)
	if rs.InProcess() {
		t.Skip("needs redis-server to stop and start")
	}
	rs.Stop()
	sock := filepath.Join(socketDir(t), "p.sock")
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock))
	c := unixClient(sock)
	if st, body := get(t, c, "http://x/tweets/general_timeline"); st != 503 || !strings.Contains(body, "The database is not answering right now") {
		t.Fatalf("a page before Redis started: %d\n%s", st, body)
	}
	if len(p.lines(`"msg":"Redis is not answering; pages answer 503 until it does"`)) != 1 {
		t.Error("the start did not say that Redis is not answering")
	}
	rs.Restart()
	p.waitLog(`"msg":"Redis answers"`, 5*time.Second)
	if line := p.lines(`"msg":"Redis answers"`)[0]; !strings.Contains(line, `"redis_version":"`) || strings.Contains(line, `"redis_version":""`) {
		t.Errorf("Redis's version is not logged: %s", line)
	}
	if st, _ := get(t, c, "http://x/tweets/general_timeline"); st != 200 {
		t.Errorf("a page once Redis answers: %d", st)
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestStartedWithARefusedPassword: pytwask started with a password Redis
// refuses (a rotation half done) says so at its start, answers 503 pages
// that do not blame a passing outage, and serves once Redis takes the
// password, without a restart.
func TestStartedWithARefusedPassword(t *testing.T) {
	rs := redistest.Start(t)
	if rs.InProcess() {
		t.Skip("needs redis-server: the in-memory stand-in's password is set at its start")
	}
	sock := filepath.Join(socketDir(t), "p.sock")
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock, "REDIS_DB_PASSWORD=rotated"))
	c := unixClient(sock)
	if st, body := get(t, c, "http://x/tweets/general_timeline"); st != 503 || !strings.Contains(body, "The site cannot reach its database right now") {
		t.Fatalf("a page with the password refused: %d\n%s", st, body)
	}
	if st, _ := get(t, c, "http://x/readyz"); st != 503 {
		t.Errorf("/readyz with the password refused: %d", st)
	}
	if len(p.lines(`"msg":"Redis refuses pytwask's password or user: check REDIS_DB_PASSWORD`)) != 1 {
		t.Error("the start did not say that Redis refuses the password")
	}
	rdb := rs.Client()
	defer rdb.Close()
	if err := rdb.ConfigSet(context.Background(), "requirepass", "rotated").Err(); err != nil {
		t.Fatal(err)
	}
	p.waitLog(`"msg":"Redis answers"`, 5*time.Second)
	if st, _ := get(t, c, "http://x/tweets/general_timeline"); st != 200 {
		t.Errorf("a page once Redis takes the password: %d", st)
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestStartWarnsOfEviction: pointed at a Redis set up as a cache (one that
// evicts any key when full), pytwask says at its start that it would lose
// data there.
func TestStartWarnsOfEviction(t *testing.T) {
	rs := redistest.Start(t, "--maxmemory", "100mb", "--maxmemory-policy", "allkeys-lru")
	sock := filepath.Join(socketDir(t), "p.sock")
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock))
	lines := p.lines(`"msg":"Redis would lose posts, accounts and sessions to make room: set its maxmemory-policy to noeviction"`)
	if len(lines) != 1 || !strings.Contains(lines[0], `"why":"it evicts any key when full (maxmemory-policy allkeys-lru, maxmemory 100.00M)"`) {
		t.Errorf("the start did not warn of eviction: %q", lines)
	}
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestReleaseBuild: the release build is static and says its version.
func TestReleaseBuild(t *testing.T) {
	needBinary(t)
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "pytwask "+releaseVersion {
		t.Fatalf("version: %q %v", out, err)
	}
	// After an upgrade, the log says which version started.
	if ready := start(t, append(baseEnv(redistest.Start(t)), "PYTWASK_LISTEN=unix:"+filepath.Join(socketDir(t), "p.sock"))).
		lines(`"msg":"pytwask is ready","version":"` + releaseVersion + `"`); len(ready) != 1 {
		t.Errorf("the start logged %d lines that it is ready with version %s", len(ready), releaseVersion)
	}
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Fatal("the release binary is dynamically linked")
		}
	}
}

// TestWatchdog: with WatchdogSec set, WATCHDOG=1 arrives at half the
// interval while Redis answers, stops while it does not, and resumes; it
// goes on while Redis refuses writes.
func TestWatchdog(t *testing.T) {
	rs := redistest.Start(t)
	dir := socketDir(t)
	ns := listenNotify(t, dir)
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+filepath.Join(dir, "p.sock"),
		"NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC=400000"))
	ns.expect(t, "READY=1", 5*time.Second)
	ns.expect(t, "WATCHDOG=1", time.Second)
	ns.expect(t, "WATCHDOG=1", time.Second)

	rs.Stop()
	time.Sleep(300 * time.Millisecond) // a ping may have been on its way
	ns.drain()
	if msgs := ns.collect(800 * time.Millisecond); strings.Contains(strings.Join(msgs, " "), "WATCHDOG=1") {
		t.Fatalf("watchdog pinged while Redis was down: %q", msgs)
	}
	rs.Restart()
	ns.expect(t, "WATCHDOG=1", 2*time.Second)

	// A Redis that cannot save to disk answers PING with MISCONF, and
	// serves reads: not a Redis that is gone, and no reason to restart.
	rs.BlockSaving()
	ns.drain()
	ns.expect(t, "WATCHDOG=1", time.Second)
	ns.expect(t, "WATCHDOG=1", time.Second)
	if code := p.stop(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestDebugListener: profiles and the round-trip counter are served on the
// debug address only, never on the site's listener.
func TestDebugListener(t *testing.T) {
	rs := redistest.Start(t)
	sock := filepath.Join(socketDir(t), "p.sock")
	debug := "127.0.0.1:" + strconv.Itoa(freePort(t))
	p := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock, "PYTWASK_DEBUG_ADDR="+debug))
	c := &http.Client{Timeout: 10 * time.Second}
	if st, body := get(t, c, "http://"+debug+"/debug/pprof/"); st != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof on the debug address: %d", st)
	}
	site := unixClient(sock)
	if st, _ := get(t, site, "http://x/debug/pprof/"); st != 404 {
		t.Errorf("pprof on the site: %d; want 404", st)
	}
	get(t, site, "http://x/tweets/general_timeline") // loads the script into Redis
	// The counter counts the process's background work too (the search
	// indexer, the live events' reader): the page's cost is the least of a
	// few tries.
	least := -1
	for range 5 {
		_, before := get(t, c, "http://"+debug+"/debug/redis")
		get(t, site, "http://x/tweets/general_timeline")
		_, after := get(t, c, "http://"+debug+"/debug/redis")
		var b, a struct {
			RoundTrips int `json:"round_trips"`
		}
		json.Unmarshal([]byte(before), &b)
		json.Unmarshal([]byte(after), &a)
		if n := a.RoundTrips - b.RoundTrips; least < 0 || n < least {
			least = n
		}
	}
	if least != 1 {
		t.Errorf("the general timeline cost %d round trips; want 1", least)
	}

	// The metrics, read with the parser Prometheus itself uses. (A page's
	// reads go out on the store's own connections, not through go-redis and
	// its hook; /readyz's PING does.)
	get(t, site, "http://x/readyz")
	res, err := c.Get("http://" + debug + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	value := func(family string, labels map[string]string) float64 {
		for _, m := range families[family].GetMetric() {
			match := true
			for _, l := range m.GetLabel() {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					match = false
				}
			}
			if match {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			}
		}
		return -1
	}
	for _, c := range []struct {
		family string
		labels map[string]string
		least  float64
	}{
		{"pytwask_http_requests_total", map[string]string{"route": "GET /tweets/general_timeline", "status": "200"}, 2},
		{"pytwask_http_request_duration_seconds", map[string]string{"route": "GET /tweets/general_timeline"}, 2},
		{"pytwask_redis_commands_total", map[string]string{"command": "ping"}, 2},
		{"pytwask_password_checks_waiting", nil, 0},
		{"pytwask_pages_waiting", nil, 0},
		{"pytwask_build_info", map[string]string{"version": releaseVersion, "goversion": runtime.Version()}, 1},
		{"go_goroutines", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	} {
		if v := value(c.family, c.labels); v < c.least {
			t.Errorf("metric %s%v = %v; want at least %v", c.family, c.labels, v, c.least)
		}
	}
	if st, _ := get(t, site, "http://x/metrics"); st != 404 {
		t.Errorf("/metrics on the site: %d; want 404", st)
	}

	// DNS rebinding: a page from attacker.example whose name now points at
	// 127.0.0.1 sends its own Host. Only loopback names are answered.
	for host, want := range map[string]int{"attacker.example": 421, "attacker.example:" + debug[strings.LastIndex(debug, ":")+1:]: 421,
		"127.0.0.1.nip.io": 421, "localhost": 200, "localhost:6060": 200, "127.0.0.1": 200, "[::1]:6060": 200} {
		req, _ := http.NewRequest("GET", "http://"+debug+"/debug/pprof/cmdline", nil)
		req.Host = host
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("Host %s: %d; want %d", host, res.StatusCode, want)
		}
	}
	p.stop()
}

// TestPageSlotsFromEnvironment: PYTWASK_PAGE_SLOTS reaches the site, and
// without it the site builds four pages per core Go runs on. The ready line
// tells an operator the number in effect.
func TestPageSlotsFromEnvironment(t *testing.T) {
	rs := redistest.Start(t)
	for _, tc := range []struct {
		env  []string
		want int
	}{
		{[]string{"PYTWASK_PAGE_SLOTS=3"}, 3},
		{[]string{"GOMAXPROCS=2"}, 8},
		{[]string{"GOMAXPROCS=1", "PYTWASK_PAGE_SLOTS=0"}, 4},
	} {
		t.Run(strings.Join(tc.env, ","), func(t *testing.T) {
			sock := filepath.Join(socketDir(t), "p.sock")
			p := start(t, append(append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock), tc.env...))
			ready := p.lines(`"msg":"pytwask is ready"`)
			if want := fmt.Sprintf(`"page_slots":%d`, tc.want); len(ready) != 1 || !strings.Contains(ready[0], want) {
				t.Errorf("ready line %q; want it to hold %s", ready, want)
			}
			p.stop()
		})
	}
}
