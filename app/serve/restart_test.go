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
	// A page's live stream, held by curl, ends cleanly (the chunked
	// response closed, curl exits 0) when its process stops, at once
	// rather than at the end of the shutdown's grace; a new one opens on the
	// next process.
	curl := need(t, "curl")
	stream := exec.Command(curl, "-sSN", "--max-time", "60", "http://"+addr+"/events?stream=public")
	streamOut := &lockedBuffer{}
	stream.Stdout, stream.Stderr = streamOut, streamOut
	if err := stream.Start(); err != nil {
		t.Fatal(err)
	}
	streamDone := make(chan error, 1)
	go func() { streamDone <- stream.Wait() }()
	var pids []int
	for i := range 3 {
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
		if i == 0 {
			select {
			case err := <-streamDone:
				if err != nil || !strings.HasPrefix(streamOut.String(), ": live") {
					t.Errorf("the live stream across the restart: %v, %q; want a clean end", err, streamOut.String())
				}
			case <-time.After(5 * time.Second):
				t.Error("the live stream was still open 5 s after its process was told to stop")
			}
			out, _ := exec.Command(curl, "-sSN", "--max-time", "1", "http://"+addr+"/events?stream=public").CombinedOutput()
			if !strings.HasPrefix(string(out), ": live") {
				t.Errorf("a live stream on the new process: %q", out)
			}
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

// fakeSystemctl stands in for `systemctl restart pytwask@N.service` on a
// machine without systemd: it stops instance N (SIGTERM to the process
// under its supervisor, whose pid is in $SUPERVISORS/N) and returns once
// a new one runs, as systemd's restart of a Type=notify service does.
const fakeSystemctl = `#!/usr/bin/env bash
set -eu
[ "$1" = restart ] || { echo "fake systemctl: $*" >&2; exit 2; }
n=${2#pytwask@}; n=${n%.service}
sup=$(cat "$SUPERVISORS/$n")
child() { for s in /proc/[0-9]*/stat; do read -r pid _ _ ppid _ < "$s" 2>/dev/null || continue; [ "$ppid" = "$sup" ] && echo "$pid"; done; return 0; }
old=$(child)
kill -TERM "$old"
while [ -d "/proc/$old" ] || [ -z "$(child)" ]; do sleep 0.01; done
`

// TestRestartInstancesScript runs ops/restart-instances on two instances
// behind the shipped nginx configuration, each on a socket that
// systemd-socket-activate holds, while wrk loads pages through nginx: both
// are restarted, one after the other, and no request fails.
func TestRestartInstancesScript(t *testing.T) {
	nginx := need(t, "nginx")
	wrk := need(t, "wrk")
	tool := need(t, "systemd-socket-activate")
	need(t, "curl")
	rs := redistest.Start(t)
	dir := socketDir(t)
	script := filepath.Join(dir, "supervise.sh")
	os.WriteFile(script, []byte(superviseScript), 0o755)
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fakeSystemctl), 0o755)
	supervisors := filepath.Join(dir, "supervisors")
	os.Mkdir(supervisors, 0o755)
	stop := filepath.Join(dir, "stop")
	t.Cleanup(func() { os.WriteFile(stop, nil, 0o600) })

	var servers []string
	var pids []int
	for _, n := range []string{"1", "2"} {
		sock := filepath.Join(dir, "pytwask-"+n+".sock")
		args := []string{tool, "-l", sock, "--fdname=nginx", "-E", "BINARY=" + binary, "-E", "STOP=" + stop}
		for _, e := range baseEnv(rs) {
			if !strings.HasPrefix(e, "PYTWASK_SECRET_KEY=") { // shared through Redis
				args = append(args, "-E", e)
			}
		}
		sup := launch(t, nil, append(args, "bash", script)...)
		os.WriteFile(filepath.Join(supervisors, n), []byte(strconv.Itoa(sup.cmd.Process.Pid)), 0o644)
		servers = append(servers, "server unix:"+sock+";")
		pids = append(pids, sup.cmd.Process.Pid)
	}
	port := freePort(t)
	runNginx(t, nginx, dir, shippedNginxConf(t, port, strings.Join(servers, "\n    ")))
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitUp(t, base+"/readyz")
	for range 4 { // both instances started (the first connection to each starts it)
		waitUp(t, base+"/readyz")
	}
	before := []int{servicePID(t, pids[0]), servicePID(t, pids[1])}

	load := exec.Command(wrk, "-t2", "-c16", "-d8s", "--latency", base+"/tweets/general_timeline")
	out := &lockedBuffer{}
	load.Stdout, load.Stderr = out, out
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	restart := exec.Command("../../ops/restart-instances", "1", "2")
	restart.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "SUPERVISORS="+supervisors, "PYTWASK_SOCKET_DIR="+dir)
	if msg, err := restart.CombinedOutput(); err != nil || !strings.Contains(string(msg), "pytwask@2 is ready") {
		t.Fatalf("ops/restart-instances: %v\n%s", err, msg)
	}
	if err := load.Wait(); err != nil {
		t.Fatalf("wrk: %v\n%s", err, out.String())
	}
	after := []int{servicePID(t, pids[0]), servicePID(t, pids[1])}
	if after[0] == before[0] || after[1] == before[1] {
		t.Errorf("instances %v before and %v after: not both restarted", before, after)
	}
	report := out.String()
	if strings.Contains(report, "Socket errors") || strings.Contains(report, "Non-2xx or 3xx") || !strings.Contains(report, "requests in") {
		t.Errorf("requests failed while the instances restarted:\n%s", report)
	}
	t.Logf("two instances restarted one at a time under load through nginx:\n%s", report)
	os.WriteFile(stop, nil, 0o600)
	for _, p := range pids {
		servicePIDStop(t, p)
	}
}
