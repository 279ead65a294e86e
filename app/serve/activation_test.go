package serve_test

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pytwask/app/redistest"
)

// notifySocket listens where a Type=notify service sends its state.
type notifySocket struct {
	path string
	conn *net.UnixConn
}

func listenNotify(t *testing.T, dir string) *notifySocket {
	t.Helper()
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifySocket{path: path, conn: conn}
}

// expect reads messages until one contains want.
func (n *notifySocket) expect(t *testing.T, want string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	buf := make([]byte, 4096)
	var seen []string
	for {
		n.conn.SetReadDeadline(deadline)
		k, err := n.conn.Read(buf)
		if err != nil {
			t.Fatalf("no %q from the service (got %q): %v", want, seen, err)
		}
		msg := string(buf[:k])
		seen = append(seen, msg)
		if strings.Contains(msg, want) {
			return msg
		}
	}
}

// drain discards messages already queued.
func (n *notifySocket) drain() { n.collect(10 * time.Millisecond) }

// collect returns the messages that arrive within d.
func (n *notifySocket) collect(d time.Duration) []string {
	var out []string
	buf := make([]byte, 4096)
	deadline := time.Now().Add(d)
	for {
		n.conn.SetReadDeadline(deadline)
		k, err := n.conn.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, string(buf[:k]))
	}
}

// activate runs the binary under systemd-socket-activate with the given
// listen addresses and names, passing env through -E. The binary starts on
// the first connection to one of the sockets.
func activate(t *testing.T, env []string, listen []string, names string) *proc {
	t.Helper()
	tool := need(t, "systemd-socket-activate")
	args := []string{}
	for _, l := range listen {
		args = append(args, "-l", l)
	}
	args = append(args, "--fdname="+names)
	for _, e := range env {
		args = append(args, "-E", e)
	}
	args = append(args, binary, "serve")
	return launch(t, nil, append([]string{tool}, args...)...)
}

// TestSocketActivation: systemd passes a TCP and a unix socket; pytwask
// serves on both, opens nothing itself, tells systemd READY=1 and STOPPING=1,
// and leaves systemd's socket file alone when it exits.
func TestSocketActivation(t *testing.T) {
	rs := redistest.Start(t)
	dir := socketDir(t)
	ns := listenNotify(t, dir)
	port := strconv.Itoa(freePort(t))
	sock := filepath.Join(dir, "site.sock")
	env := append(baseEnv(rs), "NOTIFY_SOCKET="+ns.path)
	p := activate(t, env, []string{"127.0.0.1:" + port, sock}, "http:nginx")

	// systemd-socket-activate starts pytwask on the first connection.
	waitListening(t, "tcp", "127.0.0.1:"+port)
	tcp := &http.Client{Timeout: 10 * time.Second}
	if st, body := get(t, tcp, "http://127.0.0.1:"+port+"/tweets/general_timeline"); st != 200 || !strings.Contains(body, "Recent Timeline") {
		t.Fatalf("over the activated TCP socket: %d", st)
	}
	ns.expect(t, "READY=1", 10*time.Second)
	ns.expect(t, "STATUS=serving", time.Second)
	if st, _ := get(t, unixClient(sock), "http://x/healthz"); st != 200 {
		t.Fatalf("over the activated unix socket: %d", st)
	}
	if logs := p.logs.String(); !strings.Contains(logs, `"systemd":true`) || strings.Contains(logs, `"systemd":false`) {
		t.Errorf("pytwask opened a listener of its own:\n%s", logs)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ns.expect(t, "STOPPING=1", 5*time.Second)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d", code)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Errorf("pytwask removed systemd's socket file: %v", err)
	}
}

func waitListening(t *testing.T, network, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
