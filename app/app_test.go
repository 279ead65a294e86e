package app

import (
	"bytes"
	"strings"
	"testing"
)

func TestBadConfigurationStopsTheStart(t *testing.T) {
	t.Setenv("PYTWASK_ENV", "staging")
	t.Setenv("REDIS_DB_PASSWORD", "hunter2-secret")
	t.Setenv("REDIS_DB_PORT", "70000")
	var out, errb bytes.Buffer
	if code := Main([]string{"pytwask"}, nil, &out, &errb); code != 2 {
		t.Fatalf("exit %d; want 2", code)
	}
	msg := errb.String()
	for _, want := range []string{"PYTWASK_ENV: expected dev, test or prod", "REDIS_DB_PORT: expected a port", "pytwask -h"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Error("the message shows the Redis password")
	}
}

func TestHelpAndVersion(t *testing.T) {
	var out bytes.Buffer
	if code := Main([]string{"pytwask", "help"}, nil, &out, &out); code != 0 || !strings.Contains(out.String(), "REDIS_DB_SOCKET") ||
		!strings.Contains(out.String(), "pytwask cli") || !strings.Contains(out.String(), "pytwask check") || !strings.Contains(out.String(), "pytwask seed") {
		t.Errorf("-h: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := Main([]string{"pytwask", "version"}, nil, &out, &out); code != 0 || !strings.HasPrefix(out.String(), "pytwask ") {
		t.Errorf("version: exit %d %q", code, out.String())
	}
	out.Reset()
	if code := Main([]string{"pytwask", "frobnicate"}, nil, &out, &out); code != 2 || !strings.Contains(out.String(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d %q", code, out.String())
	}
}
