package serve_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"pytwask/app/redistest"
)

// TestRobots reads /robots.txt with Python's own parser of it (what many
// crawlers are built on): the public pages may be crawled; searches, live
// streams and a person's own pages and forms may not.
func TestRobots(t *testing.T) {
	python := need(t, "python3")
	rs := redistest.Start(t)
	port := strconv.Itoa(freePort(t))
	start(t, append(baseEnv(rs), "PYTWASK_LISTEN=127.0.0.1:"+port))
	want := map[string]bool{
		"/":                               true,
		"/auth/":                          true,
		"/auth/signup":                    true,
		"/tweets/general_timeline":        true,
		"/tweets/general_timeline?page=2": true,
		"/tweets/user_history/alice":      true,
		"/tweets/123":                     true,
		"/tags/picnic":                    true,
		"/search?q=picnic":                false,
		"/events?stream=public":           false,
		"/notifications":                  false,
		"/tweets/user_timeline":           false,
		"/tweets/delete/123":              false,
		"/tweets/edit/123":                false,
		"/auth/user_settings":             false,
		"/auth/forgot":                    false,
		"/auth/reset?token=x":             false,
		"/auth/confirm_email?token=x":     false,
	}
	args := []string{"-c", `import sys, urllib.robotparser
rp = urllib.robotparser.RobotFileParser(sys.argv[1] + "/robots.txt")
rp.read()
for path in sys.argv[2:]:
    print(path, rp.can_fetch("Googlebot", sys.argv[1] + path))`, "http://127.0.0.1:" + port}
	for path := range want {
		args = append(args, path)
	}
	out, err := exec.Command(python, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, may, _ := strings.Cut(line, " ")
		got[path] = may == "True"
	}
	for path, may := range want {
		if allowed, ok := got[path]; !ok || allowed != may {
			t.Errorf("may a crawler fetch %s? %v (answered: %v); want %v", path, allowed, ok, may)
		}
	}
}
