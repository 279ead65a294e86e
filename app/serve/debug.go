package serve

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"

	"pytwask/app/config"
)

// debugHandler serves the profiles, the round-trip counter and the metrics
// (/metrics, in the Prometheus format). It is only
// ever served on PYTWASK_DEBUG_ADDR, which config allows on loopback or a
// unix socket only, never next to the site. It answers only requests whose
// Host is a loopback name: a page in a browser on the server could
// otherwise reach it through DNS rebinding (a name of the page's own that
// turns into 127.0.0.1) and read the profiles.
func debugHandler(roundTrips func() int64, metrics http.Handler) http.Handler {
	mux := debugMux(roundTrips)
	mux.Handle("GET /metrics", metrics)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "the debug listener answers only to localhost, 127.0.0.1 or [::1]", http.StatusMisdirectedRequest)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func debugMux(roundTrips func() int64) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/redis", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]int64{"round_trips": roundTrips()})
	})
	return mux
}

func listenDebug(cfg *config.Config) (net.Listener, error) {
	if path, ok := strings.CutPrefix(cfg.DebugAddr, "unix:"); ok {
		return listenUnix(path, 0o600, "")
	}
	return net.Listen("tcp", cfg.DebugAddr)
}
