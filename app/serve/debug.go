package serve

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"

	"pytwask/app/config"
)

// debugHandler serves the profiles and the round-trip counter. It is only
// ever served on PYTWASK_DEBUG_ADDR, which config allows on loopback or a
// unix socket only, never next to the site.
func debugHandler(roundTrips func() int64) http.Handler {
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
