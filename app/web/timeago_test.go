package web

import (
	"testing"
	"time"
)

func TestTimeAgo(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		ago  time.Duration
		want string
	}{
		{-time.Minute, "a few seconds ago"},
		{0, "a few seconds ago"},
		{44 * time.Second, "a few seconds ago"},
		{60 * time.Second, "a minute ago"},
		{3 * time.Minute, "3 minutes ago"},
		{44 * time.Minute, "44 minutes ago"},
		{50 * time.Minute, "an hour ago"},
		{5 * time.Hour, "5 hours ago"},
		{30 * time.Hour, "a day ago"},
		{3 * 24 * time.Hour, "3 days ago"},
		{30 * 24 * time.Hour, "a month ago"},
		{100 * 24 * time.Hour, "3 months ago"},
		{400 * 24 * time.Hour, "a year ago"},
		{8 * 365 * 24 * time.Hour, "8 years ago"},
	}
	for _, c := range cases {
		if got := timeAgo(now.Add(-c.ago), now); got != c.want {
			t.Errorf("timeAgo(now-%v) = %q; want %q", c.ago, got, c.want)
		}
	}
}
