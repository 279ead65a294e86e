package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pytwask/app/redistest"
)

// TestPasswordPromptOnTerminal runs the real binary on a terminal (util-linux
// `script` gives it one): `login alice` asks for the password, and what is
// typed there is not echoed.
func TestPasswordPromptOnTerminal(t *testing.T) {
	scriptTool, err := exec.LookPath("script")
	if err != nil {
		if redistest.Strict() {
			t.Fatal("script (util-linux) is not installed")
		}
		t.Skip("script (util-linux) is not installed")
	}
	bin := filepath.Join(t.TempDir(), "pytwask")
	if out, err := exec.Command("go", "build", "-o", bin, "pytwask").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	rs := redistest.Start(t)
	setRedisEnv(t, rs)
	var reg bytes.Buffer
	if code := Clt(context.Background(), nil, strings.NewReader("register alice S3cret-Word!\n"), &reg, &reg); code != 0 {
		t.Fatalf("register: %s", reg.String())
	}

	cmd := exec.Command(scriptTool, "-q", "-e", "-c", bin+" cli", "/dev/null")
	cmd.Env = os.Environ()
	stdin, _ := cmd.StdinPipe()
	var mu sync.Mutex
	var out bytes.Buffer
	cmd.Stdout = writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := out.String()
			mu.Unlock()
			if strings.Contains(got, s) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q on the terminal:\n%s", s, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("> ")
	io.WriteString(stdin, "login alice\n")
	waitFor("Password: ")
	io.WriteString(stdin, "S3cret-Word!\n")
	waitFor("Logged into username alice")
	io.WriteString(stdin, "quit\n")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the shell did not quit")
	}
	mu.Lock()
	defer mu.Unlock()
	// The terminal echoes what is typed at the prompt, so the check below
	// would see an echoed password.
	if !strings.Contains(out.String(), "login alice") {
		t.Fatalf("the terminal does not echo input; the test proves nothing:\n%s", out.String())
	}
	if strings.Contains(out.String(), "S3cret-Word!") {
		t.Errorf("the password was echoed:\n%s", out.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
