package logs

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestCutsLongValues(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(New(slog.NewJSONHandler(&out, nil), DefaultRate(), nil))
	long := strings.Repeat("é", 300) // 600 bytes
	log.With("path", "/"+strings.Repeat("a", 1000)).Warn("sign-in failed", "username", long, "err", errors.New(strings.Repeat("x", 500)), "status", 422)
	line := out.String()
	for _, want := range []string{`"username":"` + strings.Repeat("é", 128) + `…(600 bytes)"`, `…(1001 bytes)`, `…(500 bytes)`, `"status":422`} {
		if !strings.Contains(line, want) {
			t.Errorf("the line lacks %s:\n%s", want, line)
		}
	}
	if len(line) > 4*MaxValue+200 {
		t.Errorf("the line is %d bytes", len(line))
	}
}

func TestLimitsLinesPerClient(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(1_000_000, 0)
	log := slog.New(New(slog.NewTextHandler(&out, nil), Rate{PerSecond: 10, Burst: 50}, func() time.Time { return now }))
	for range 200 {
		log.Info("request", "client", "203.0.113.9")
	}
	log.Info("request", "client", "198.51.100.1") // another client is not held back
	log.Info("stopped")                           // nor a line about no client
	if n := strings.Count(out.String(), "client=203.0.113.9"); n != 50 {
		t.Errorf("%d lines about the flooding client at once; want the burst, 50", n)
	}
	for _, want := range []string{"client=198.51.100.1", "msg=stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the log lacks %s", want)
		}
	}
	out.Reset()
	now = now.Add(time.Second)
	for range 200 {
		log.Info("request", "client", "203.0.113.9")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 10 || !strings.Contains(lines[0], "log_lines_dropped=150") || strings.Contains(lines[1], "dropped") {
		t.Errorf("a second later: %d lines, the first %q; want 10, the first saying 150 were dropped", len(lines), lines[0])
	}
}
