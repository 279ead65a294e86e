package serve_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pytwask/app/redistest"
)

// superviseScript is what systemd does for a socket-activated service
// that is restarted: it keeps the listening socket (the descriptors it was
// given) open and starts the service again, with LISTEN_PID set to the new
// process, whenever it exits.
const superviseScript = `
while [ ! -e "$STOP" ]; do
  bash -c 'export LISTEN_PID=$$; exec "$0" serve' "$BINARY"
done
`

// TestRollingRestart: wrk loads pages through a socket that
// systemd-socket-activate opened, and pytwask is restarted three times
// (SIGTERM, then a new process on the same socket), as systemctl restart
// does. No request fails: the old process finishes what it took, and
// connections that arrive meanwhile wait in the socket's backlog for the
// new one.
func TestRollingRestart(t *testing.T) {
	wrk := need(t, "wrk")
	tool := need(t, "systemd-socket-activate")
	rs := redistest.Start(t)
	registerUsers(t, rs, "alice")
	dir := socketDir(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	script := filepath.Join(dir, "supervise.sh")
	if err := os.WriteFile(script, []byte(superviseScript), 0o755); err != nil {
		t.Fatal(err)
	}
	stop := filepath.Join(dir, "stop")
	args := []string{tool, "-l", addr, "--fdname=site", "-E", "BINARY=" + binary, "-E", "STOP=" + stop}
	for _, e := range baseEnv(rs) {
		args = append(args, "-E", e)
	}
	sup := launch(t, nil, append(args, "bash", script)...)
	t.Cleanup(func() { os.WriteFile(stop, nil, 0o600) })

	// The service is started by the first connection; wait for it.
	waitUp(t, "http://"+addr+"/readyz")

	load := exec.Command(wrk, "-t2", "-c16", "-d12s", "--latency", "http://"+addr+"/tweets/general_timeline")
	out := &lockedBuffer{}
	load.Stdout, load.Stderr = out, out
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for range 3 {
		time.Sleep(3 * time.Second)
		pid := servicePID(t, sup.cmd.Process.Pid)
		pids = append(pids, pid)
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for servicePID(t, sup.cmd.Process.Pid) == pid {
			if time.Now().After(deadline) {
				t.Fatal("the service was not restarted")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := load.Wait(); err != nil {
		t.Fatalf("wrk: %v\n%s", err, out.String())
	}
	report := out.String()
	requests := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(report)
	if requests == nil || requests[1] == "0" {
		t.Fatalf("wrk made no requests:\n%s", report)
	}
	if strings.Contains(report, "Socket errors") || strings.Contains(report, "Non-2xx or 3xx") {
		t.Errorf("requests failed across the restarts of %v:\n%s", pids, report)
	}
	t.Logf("three restarts under load: %s requests, none failed\n%s", requests[1], report)
	os.WriteFile(stop, nil, 0o600)
	servicePIDStop(t, sup.cmd.Process.Pid)
}

// servicePID is the pid of pytwask under the supervising shell.
func servicePID(t *testing.T, shell int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, pid := range children(shell) {
			// The inner bash becomes pytwask when it execs.
			if exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil && filepath.Base(exe) == filepath.Base(binary) {
				return pid
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("pytwask is not running under the supervisor")
	return 0
}

// children lists the processes whose parent is pid, from /proc.
func children(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so from the last ')'.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// servicePIDStop ends the last service so that the supervisor exits.
func servicePIDStop(t *testing.T, shell int) {
	t.Helper()
	syscall.Kill(servicePID(t, shell), syscall.SIGTERM)
}

// waitUp waits until url answers 200.
func waitUp(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := c.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
