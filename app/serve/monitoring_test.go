package serve_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pytwask/app/redistest"
)

// TestMonitoring checks the shipped Prometheus configuration and alerts
// (ops/prometheus) with Prometheus's own tools. promtool checks them and
// runs the alerts' unit tests. Then Prometheus, with the shipped
// configuration at one-second intervals, scrapes a running pytwask: every
// rule evaluates without error and none fires on a healthy site; with
// Redis stopped under page views the server-error and Redis alerts go
// pending; every metric the alerts and the Grafana dashboard name has
// arrived, and Prometheus runs every query of the dashboard; and with
// pytwask stopped, PytwaskDown goes pending.
func TestMonitoring(t *testing.T) {
	promtool := need(t, "promtool")
	prometheus := need(t, "prometheus")
	const ops = "../../ops/prometheus"
	for _, args := range [][]string{{"check", "config", "prometheus.yml"}, {"test", "rules", "pytwask-alerts.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = ops
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	rs := redistest.Start(t)
	sock := filepath.Join(socketDir(t), "p.sock")
	debug := "127.0.0.1:" + strconv.Itoa(freePort(t))
	site := start(t, append(baseEnv(rs), "PYTWASK_LISTEN=unix:"+sock, "PYTWASK_DEBUG_ADDR="+debug))

	// The shipped configuration, on this instance, every second.
	conf, err := os.ReadFile(filepath.Join(ops, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs(filepath.Join(ops, "pytwask-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.NewReplacer("scrape_interval: 15s", "scrape_interval: 1s", "evaluation_interval: 15s", "evaluation_interval: 1s",
		`"127.0.0.1:6060"`, `"`+debug+`"`, "- pytwask-alerts.yml", "- "+rules).Replace(string(conf))
	if edited == string(conf) || !strings.Contains(edited, debug) || !strings.Contains(edited, rules) {
		t.Fatalf("the shipped prometheus.yml changed shape:\n%s", conf)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	web := "127.0.0.1:" + strconv.Itoa(freePort(t))
	prom := exec.Command(prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
	promLog := &lockedBuffer{}
	prom.Stdout, prom.Stderr = promLog, promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("Prometheus's log:\n%s", promLog)
		}
	})
	c := &http.Client{Timeout: 5 * time.Second}
	api := func(path string, data any) error {
		res, err := c.Get("http://" + web + "/api/v1/" + path)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		var body struct {
			Status, Error string
			Data          json.RawMessage
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil || body.Status != "success" {
			return fmt.Errorf("%s: %s %s %v", path, body.Status, body.Error, err)
		}
		return json.Unmarshal(body.Data, data)
	}
	alerts := func() map[string]string {
		var data struct {
			Alerts []struct {
				Labels map[string]string
				State  string
			}
		}
		if err := api("alerts", &data); err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, a := range data.Alerts {
			states[a.Labels["alertname"]] = a.State
		}
		return states
	}
	// until calls cond every 200 ms, with a page view, until it is true.
	until := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("within %v: %s; alerts %v", within, what, alerts())
			}
			if res, err := unixClient(sock).Get("http://x/tweets/general_timeline"); err == nil {
				res.Body.Close()
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// A healthy site: scraped, every rule evaluated three times without
	// error, no alert.
	until("Prometheus scrapes pytwask", 30*time.Second, func() bool {
		var data struct{ ActiveTargets []struct{ Health string } }
		return api("targets", &data) == nil && len(data.ActiveTargets) == 1 && data.ActiveTargets[0].Health == "up"
	})
	time.Sleep(3 * time.Second)
	var data struct {
		Groups []struct {
			Rules []struct{ Name, Health, LastError string }
		}
	}
	if err := api("rules", &data); err != nil {
		t.Fatal(err)
	}
	evaluated := 0
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			evaluated++
			if r.Health != "ok" {
				t.Errorf("rule %s: health %q, error %q", r.Name, r.Health, r.LastError)
			}
		}
	}
	if evaluated != 7 {
		t.Errorf("Prometheus evaluates %d rules; want the 7 of pytwask-alerts.yml", evaluated)
	}
	if a := alerts(); len(a) != 0 {
		t.Errorf("alerts on a healthy site: %v", a)
	}

	// Redis stops while people ask for pages.
	rs.Stop()
	until("the server-error and Redis alerts go pending", 30*time.Second, func() bool {
		a := alerts()
		return a["PytwaskServerErrors"] != "" && a["PytwaskRedisErrors"] != ""
	})

	// Every metric the alerts and the dashboard name has arrived.
	var names []string
	if err := api("label/__name__/values", &names); err != nil {
		t.Fatal(err)
	}
	metric := regexp.MustCompile(`\b(?:pytwask|go|process)_[a-z0-9_]+|\bup\b`)
	for _, file := range []string{filepath.Join(ops, "pytwask-alerts.yml"), "../../ops/grafana/pytwask-dashboard.json"} {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var exprs []string
		if strings.HasSuffix(file, ".json") {
			exprs = regexp.MustCompile(`"expr": "([^"\\]|\\.)*"`).FindAllString(string(text), -1)
		} else {
			exprs = regexp.MustCompile(`(?m)expr: [^\n]*(\n {10,}[^\n]*)*`).FindAllString(string(text), -1)
		}
		if len(exprs) == 0 {
			t.Fatalf("%s: no expressions found", file)
		}
		for _, e := range exprs {
			for _, name := range metric.FindAllString(e, -1) {
				if !slices.Contains(names, name) {
					t.Errorf("%s asks for %s, which pytwask has not reported (it has %v)", file, name, names)
				}
			}
			// The dashboard's queries are Prometheus's to parse and run, as
			// promtool did for the alerts.
			if expr, ok := strings.CutPrefix(e, `"expr": `); ok {
				if err := json.Unmarshal([]byte(expr), &expr); err != nil {
					t.Fatal(err)
				}
				var result json.RawMessage
				if err := api("query?query="+url.QueryEscape(expr), &result); err != nil {
					t.Errorf("%s: Prometheus refuses %s: %v", file, expr, err)
				}
			}
		}
	}

	// pytwask stops.
	site.stop()
	until("PytwaskDown goes pending", 30*time.Second, func() bool { return alerts()["PytwaskDown"] != "" })
}
