package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pytwask/app/mailtest"
	"pytwask/app/redistest"
)

func runCheck(t *testing.T) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := Check(context.Background(), &out)
	return code, out.String()
}

// TestSeedThenCheck seeds through the command and checks the result.
func TestSeedThenCheck(t *testing.T) {
	rs := redistest.Start(t)
	setRedisEnv(t, rs)
	t.Setenv("PYTWASK_LISTEN", "unix:"+filepath.Join(t.TempDir(), "p.sock"))
	var out, errb bytes.Buffer
	if code := Seed(context.Background(), []string{"--users", "200", "--follows", "20", "--tweets", "5000", "--seed", "7"}, &out, &errb); code != 0 {
		t.Fatalf("seed: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "200 users") || !strings.Contains(out.String(), "4000 follows") || !strings.Contains(out.String(), "5000 tweets") {
		t.Errorf("seed said: %s", out.String())
	}
	// A second run refuses to touch the populated database.
	out.Reset()
	errb.Reset()
	if code := Seed(context.Background(), []string{"--users", "5", "--follows", "1", "--tweets", "5"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "only with --force") {
		t.Errorf("second seed: exit %d %s", code, errb.String())
	}

	code, report := runCheck(t)
	if code != 0 || !strings.Contains(report, "the pytwis keys look right (200 users)") || !strings.Contains(report, "no problems found") ||
		!strings.Contains(report, "ok: the search index has every tweet (5000)") {
		t.Fatalf("check after seed: exit %d\n%s", code, report)
	}
	if !rs.InProcess() && !regexp.MustCompile(`runs Redis [0-9]+\.[0-9]+\.[0-9]+ \(6\.2 or newer needed\)`).MatchString(report) {
		t.Errorf("check does not say the Redis version:\n%s", report)
	}
	flat := strings.Join(strings.Fields(report), " ")
	for _, want := range []string{"REDIS_DB_PASSWORD (set, hidden)", "REDIS_DB_INDEX 3", "PYTWASK_ENV prod", "PYTWASK_PAGE_SLOTS 0 (four per core)"} {
		if !strings.Contains(flat, want) {
			t.Errorf("settings lack %q:\n%s", want, report)
		}
	}
	if strings.Contains(report, rs.Password) {
		t.Error("check printed the Redis password")
	}
	// An index being built (after an upgrade, or on a pytwis database).
	rdb := rs.Client()
	defer rdb.Close()
	rdb.Set(context.Background(), "pytwask:search2:next", 1001, 0)
	if code, report := runCheck(t); code != 0 || !strings.Contains(report, "ok: the search index is being built by a running pytwask: 1000 of 5000 tweets so far") {
		t.Errorf("check with the index a fifth built: exit %d\n%s", code, report)
	}
	rdb.Set(context.Background(), "pytwask:search2:next", 5001, 0)

	if rs.InProcess() {
		return // it neither fills up nor saves
	}
	// A full Redis: check says why writes are refused.
	if err := rdb.ConfigSet(context.Background(), "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	code, report = runCheck(t)
	if code == 0 || !regexp.MustCompile(`refuses writes: it is full \([0-9.]+[KMG]? of its maxmemory 1B\)`).MatchString(report) {
		t.Errorf("check with Redis full: exit %d\n%s", code, report)
	}
	// Set to evict any key when full, Redis would lose pytwask's data.
	for _, kv := range [][2]string{{"maxmemory", "1gb"}, {"maxmemory-policy", "allkeys-lru"}} {
		if err := rdb.ConfigSet(context.Background(), kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	code, report = runCheck(t)
	if code == 0 || !strings.Contains(report, "would lose posts, accounts and sessions: it evicts any key when full (maxmemory-policy allkeys-lru, maxmemory 1.00G); set maxmemory-policy noeviction") {
		t.Errorf("check with Redis evicting: exit %d\n%s", code, report)
	}
	for _, kv := range [][2]string{{"maxmemory", "0"}, {"maxmemory-policy", "noeviction"}} {
		if err := rdb.ConfigSet(context.Background(), kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}

	// A Redis that cannot save to disk refuses writes, and PING, but reads:
	// check says so and reads on; the CLI still reads.
	rs.BlockSaving()
	code, report = runCheck(t)
	if code == 0 || !strings.Contains(report, "refuses writes: MISCONF") || !strings.Contains(report, "the pytwis keys look right (200 users)") {
		t.Errorf("check with Redis unable to save: exit %d\n%s", code, report)
	}
	out.Reset()
	errb.Reset()
	if code := Clt(context.Background(), nil, strings.NewReader("timeline 3\n"), &out, &errb); code != 0 || !strings.Contains(out.String(), "Got 3 tweets in the general timeline") {
		t.Errorf("cli with Redis unable to save: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

func TestCheckReportsEachProblem(t *testing.T) {
	rs := redistest.Start(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	aFile := filepath.Join(t.TempDir(), "file")
	os.WriteFile(aFile, []byte("x"), 0o600)

	cases := []struct {
		name  string
		env   map[string]string
		setup func()
		want  string
	}{
		{"wrong password", map[string]string{"REDIS_DB_PASSWORD": "not-the-password"}, nil,
			"authentication failed: check REDIS_DB_PASSWORD"},
		{"no password", map[string]string{"REDIS_DB_PASSWORD": ""}, nil,
			"the server requires a password: set REDIS_DB_PASSWORD"},
		{"unreachable", map[string]string{"REDIS_DB_SOCKET": "/nonexistent/redis.sock"}, nil, "unreachable"},
		{"no such database", map[string]string{"REDIS_DB_INDEX": "999"}, nil, "no such database: check REDIS_DB_INDEX"},
		{"not a pytwis key type", nil, func() {
			rdb := rs.Client()
			defer rdb.Close()
			rdb.Set(context.Background(), "users", "oops", 0)
			rdb.RPush(context.Background(), "tweet:7", "x")
		}, "key users is a string; pytwis keeps a hash there"},
		{"port in use", map[string]string{"PYTWASK_LISTEN": busy.Addr().String()}, nil, "cannot listen on " + busy.Addr().String()},
		{"socket path is a file", map[string]string{"PYTWASK_LISTEN": "unix:" + aFile}, nil, "PYTWASK_LISTEN unix:" + aFile + ": the path exists and is not a socket"},
		{"socket directory missing", map[string]string{"PYTWASK_LISTEN": "unix:/nonexistent-dir/p.sock"}, nil, "the directory /nonexistent-dir does not exist"},
		{"certificate directory", map[string]string{"PYTWASK_DOMAINS": "example.com", "PYTWASK_DATA_DIR": aFile,
			"PYTWASK_HTTPS_ADDR": "127.0.0.1:0", "PYTWASK_HTTP_ADDR": "127.0.0.1:0"}, nil, "PYTWASK_DATA_DIR " + aFile + ": is not a directory"},
		{"bad configuration", map[string]string{"REDIS_DB_PORT": "x"}, nil, "PROBLEM: REDIS_DB_PORT: expected a whole number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "no such database" && rs.InProcess() {
				t.Skip("the in-process Redis has every database index: install redis-server to run this")
			}
			rdb := rs.Client()
			rdb.FlushDB(context.Background())
			rdb.Close()
			setRedisEnv(t, rs)
			t.Setenv("PYTWASK_LISTEN", "127.0.0.1:0")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			if c.setup != nil {
				c.setup()
			}
			code, report := runCheck(t)
			if code != 1 || !strings.Contains(report, c.want) {
				t.Fatalf("exit %d; want 1 and %q in:\n%s", code, c.want, report)
			}
			want := 1
			if c.setup != nil {
				want = 2 // users and tweet:7
			}
			if n := strings.Count(report, "PROBLEM:"); n != want {
				t.Errorf("%d problem lines; want %d:\n%s", n, want, report)
			}
		})
	}
}

// TestSentinelMode: with REDIS_SENTINEL_* set, check names the mode and
// checks the Sentinels, and the CLI works on the primary they name.
func TestSentinelMode(t *testing.T) {
	ss := redistest.StartSentinels(t)
	t.Setenv("PYTWASK_ENV", "prod")
	t.Setenv("PYTWASK_HASH_ITERATIONS", "10000")
	t.Setenv("PYTWASK_LISTEN", "unix:"+filepath.Join(t.TempDir(), "p.sock"))
	for _, kv := range ss.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	code, report := runCheck(t)
	for _, want := range []string{"ok: Redis mode: sentinel", "names the primary " + ss.Primary, "with 1 replica(s) up", "no problems found"} {
		if code != 0 || !strings.Contains(report, want) {
			t.Errorf("check: exit %d, no %q:\n%s", code, want, report)
		}
	}
	// Pointed at the replica itself, check says it refuses writes.
	unset := func(keys ...string) {
		for _, k := range keys {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	unset("REDIS_SENTINEL_ADDRS", "REDIS_SENTINEL_MASTER")
	host, port, _ := net.SplitHostPort(ss.Replica)
	t.Setenv("REDIS_DB_HOSTNAME", host)
	t.Setenv("REDIS_DB_PORT", port)
	if code, report := runCheck(t); code == 0 || !strings.Contains(report, "refuses writes: it is a replica (of 127.0.0.1:"+strings.Split(ss.Primary, ":")[1]+")") {
		t.Errorf("check on the replica: exit %d\n%s", code, report)
	}
	unset("REDIS_DB_HOSTNAME", "REDIS_DB_PORT")
	for _, kv := range ss.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if strings.Contains(report, ss.Password) {
		t.Error("check printed the Redis password")
	}

	var out, errb bytes.Buffer
	if code := Clt(context.Background(), nil, strings.NewReader("register carol Passw0rd!\n"), &out, &errb); code != 0 {
		t.Fatalf("cli: exit %d\n%s%s", code, out.String(), errb.String())
	}
	rdb := ss.Client()
	defer rdb.Close()
	if !rdb.HExists(context.Background(), "users", "carol").Val() {
		t.Errorf("the CLI's sign-up is not on the primary:\n%s", out.String())
	}

	t.Setenv("REDIS_SENTINEL_MASTER", "elsewhere")
	code, report = runCheck(t)
	if code != 1 || !strings.Contains(report, `monitors no primary named "elsewhere"`) {
		t.Errorf("check with a wrong primary name: exit %d\n%s", code, report)
	}
}

// TestClusterMode: with REDIS_CLUSTER_ADDRS set, check names the mode and
// checks the Cluster (slots, replicas); the seeder and the CLI work there.
func TestClusterMode(t *testing.T) {
	cl := redistest.StartCluster(t)
	cl.WaitReplicasSeen() // check reports replicas as the node it asks sees them
	t.Setenv("PYTWASK_ENV", "prod")
	t.Setenv("PYTWASK_LISTEN", "unix:"+filepath.Join(t.TempDir(), "p.sock"))
	for _, kv := range cl.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	code, report := runCheck(t)
	for _, want := range []string{"ok: Redis mode: cluster", "serves all 16384 slots", "no problems found"} {
		if code != 0 || !strings.Contains(report, want) {
			t.Errorf("check: exit %d, no %q:\n%s", code, want, report)
		}
	}
	if n := strings.Count(report, "has 1 replica(s) online"); n != 3 {
		t.Errorf("check names %d primaries with a replica; want 3:\n%s", n, report)
	}
	if strings.Contains(report, cl.Password) {
		t.Error("check printed the Redis password")
	}
	// The CLI and the seeder work on the Cluster.
	var out, errb bytes.Buffer
	if code := Seed(context.Background(), []string{"--users", "50", "--follows", "5", "--tweets", "0", "--seed", "3"}, &out, &errb); code != 0 {
		t.Fatalf("seed on a cluster: exit %d\n%s%s", code, out.String(), errb.String())
	}
	// pytwis_clt's transcript gives the same output as on one server.
	in, err := os.Open("testdata/transcript.in")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out.Reset()
	Clt(context.Background(), []string{"--prompt"}, in, &out, &errb)
	got := timeLine.ReplaceAllString(out.String(), "Time: <time>")
	got = strings.ReplaceAll(got, "cluster> ", "<redis>> ")
	// The seed took ids 1-50: alice and bob are 51 and 52 here.
	got = strings.NewReplacer("userid: 51\n", "userid: 1\n", "userid: 52\n", "userid: 2\n").Replace(got)
	want, _ := os.ReadFile("testdata/transcript.golden")
	if got != string(want) {
		t.Errorf("the transcript on a cluster differs from testdata/transcript.golden:\n%s", got)
	}
	code, report = runCheck(t)
	if code != 0 || !strings.Contains(report, "the pytwis keys look right (52 users)") {
		t.Errorf("check after seeding the cluster: exit %d\n%s", code, report)
	}
}

// TestRedisURLModes: REDIS_URL reaches Redis over TLS (rediss://, with the
// CA and a client certificate, which this server demands), over a unix
// socket (unix://), and as an ACL user (redis://user:password@).
func TestRedisURLModes(t *testing.T) {
	tlsSrv := redistest.StartTLS(t)
	rs := redistest.Start(t)
	if rs.InProcess() {
		t.Skip("needs redis-server for a unix socket and ACL users")
	}
	rdb := rs.Client()
	defer rdb.Close()
	aclPass := "acl-" + strings.Repeat("x", 20)
	if err := rdb.Do(context.Background(), "ACL", "SETUSER", "site", "on", ">"+aclPass, "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, problem string // problem: a line check must report, or "" for none
		env           map[string]string
	}{
		{"TLS with a client certificate", "", map[string]string{"REDIS_URL": "rediss://:" + tlsSrv.Password + "@" + tlsSrv.Addr + "/0",
			"REDIS_TLS_CA_FILE": tlsSrv.CAFile, "REDIS_TLS_CERT_FILE": tlsSrv.CertFile, "REDIS_TLS_KEY_FILE": tlsSrv.KeyFile}},
		{"TLS without the client certificate", "PROBLEM: redis", map[string]string{"REDIS_URL": "rediss://:" + tlsSrv.Password + "@" + tlsSrv.Addr + "/0",
			"REDIS_TLS_CA_FILE": tlsSrv.CAFile}},
		{"TLS without the CA", "PROBLEM: redis", map[string]string{"REDIS_URL": "rediss://:" + tlsSrv.Password + "@" + tlsSrv.Addr + "/0"}},
		{"a unix socket", "", map[string]string{"REDIS_URL": "unix://" + rs.Addr + "?db=3", "REDIS_DB_PASSWORD": rs.Password}},
		{"an ACL user", "", map[string]string{"REDIS_URL": "unix://site:" + aclPass + "@" + rs.Addr + "?db=3"}},
		{"a wrong ACL password", "PROBLEM:", map[string]string{"REDIS_URL": "unix://site:wrong@" + rs.Addr + "?db=3"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("PYTWASK_ENV", "prod")
			t.Setenv("PYTWASK_LISTEN", "unix:"+filepath.Join(t.TempDir(), "p.sock"))
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			code, report := runCheck(t)
			switch {
			case c.problem == "" && (code != 0 || !strings.Contains(report, "the pytwis keys look right")):
				t.Errorf("check: exit %d\n%s", code, report)
			case c.problem != "" && (code != 1 || !strings.Contains(report, c.problem)):
				t.Errorf("check: exit %d, want a line with %q\n%s", code, c.problem, report)
			}
			for _, secret := range []string{tlsSrv.Password, rs.Password, aclPass} {
				if strings.Contains(report, secret) {
					t.Error("check printed a password")
				}
			}
		})
	}
}

// TestCheckMail: check says whether email is off, and with PYTWASK_SMTP_*
// set, whether a real SMTP server on loopback answers as configured.
func TestCheckMail(t *testing.T) {
	rs := redistest.Start(t)
	smtp := mailtest.Start(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := strconv.Itoa(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()
	at := net.JoinHostPort(smtp.Host, strconv.Itoa(smtp.Port))
	for _, c := range []struct {
		name, host, port, tls string
		code                  int
		want                  string
	}{
		{"off", "", "", "", 0, "ok: email is off (PYTWASK_SMTP_HOST not set)"},
		{"answers", smtp.Host, strconv.Itoa(smtp.Port), "none", 0, "ok: the SMTP server at " + at + " answers (none)"},
		{"no STARTTLS", smtp.Host, strconv.Itoa(smtp.Port), "starttls", 1, "PROBLEM: the SMTP server at " + at + " (PYTWASK_SMTP_*)"},
		{"nobody there", "127.0.0.1", closedPort, "none", 1, "PROBLEM: the SMTP server at 127.0.0.1:" + closedPort + " (PYTWASK_SMTP_*)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			setRedisEnv(t, rs)
			t.Setenv("PYTWASK_LISTEN", "127.0.0.1:0")
			if c.host != "" {
				for k, v := range map[string]string{"PYTWASK_SMTP_HOST": c.host, "PYTWASK_SMTP_PORT": c.port, "PYTWASK_SMTP_TLS": c.tls,
					"PYTWASK_SMTP_FROM": "noreply@pytwask.test", "PYTWASK_BASE_URL": "https://pytwask.test"} {
					t.Setenv(k, v)
				}
			}
			code, report := runCheck(t)
			if code != c.code || !strings.Contains(report, c.want) {
				t.Errorf("exit %d; want %d and %q in:\n%s", code, c.code, c.want, report)
			}
		})
	}
	if n := len(smtp.Messages()); n != 0 {
		t.Errorf("check sent %d messages", n)
	}
}
