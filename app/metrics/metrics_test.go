package metrics

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

func TestCounts(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	m := New()
	rdb.AddHook(m.RedisHook())
	ctx := context.Background()
	rdb.Set(ctx, "k", "v", 0)
	rdb.Get(ctx, "missing") // redis.Nil is an answer, not an error
	rdb.Do(ctx, "NOSUCHCOMMAND")
	pipe := rdb.Pipeline()
	pipe.Get(ctx, "k")
	pipe.Get(ctx, "k")
	pipe.Exec(ctx)
	m.Request("GET /x", "GET", 200, 3*time.Millisecond)
	m.SignIn("ok")
	var nilMetrics *Metrics
	nilMetrics.Request("GET /x", "GET", 200, time.Millisecond) // counts nothing, and does not panic

	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`pytwask_redis_commands_total{command="set"} 1`,
		`pytwask_redis_commands_total{command="get"} 3`,
		`pytwask_redis_errors_total{command="nosuchcommand"} 1`,
		`pytwask_http_requests_total{method="GET",route="GET /x",status="200"} 1`,
		`pytwask_http_request_duration_seconds_bucket{route="GET /x",le="0.005"} 1`,
		`pytwask_signins_total{result="ok"} 1`,
		`pytwask_signins_total{result="refused"} 0`, // there before the first
		`pytwask_posts_total 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `pytwask_redis_errors_total{command="get"}`) {
		t.Error("a missing key counted as an error")
	}
}
