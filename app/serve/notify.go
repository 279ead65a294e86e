package serve

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notify tells systemd (Type=notify) about the service's state; outside
// systemd it does nothing.
func notify(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("sd_notify failed", "state", state, "err", err)
	}
}

// watchdog pings systemd's watchdog at half of WatchdogSec, but only while
// Redis answers: a site that cannot reach its data is restarted by systemd
// instead of looking alive.
func watchdog(ctx context.Context, log *slog.Logger, ping func(context.Context) error) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, interval/4)
			err := ping(pctx)
			cancel()
			if err != nil {
				log.Warn("watchdog: Redis is not answering; not pinging systemd", "err", err)
				continue
			}
			notify(log, daemon.SdNotifyWatchdog)
		}
	}
}
