package web

import (
	"math"
	"strconv"
	"time"
)

// timeAgo says how long before now t was, in the words moment.js's
// fromNow() used in the original ("a few seconds ago", "3 minutes ago", "a
// year ago").
func timeAgo(t, now time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0 // a clock a little ahead of ours
	}
	s := d.Seconds()
	n := func(x float64, unit string) string { return strconv.Itoa(int(math.Round(x))) + unit }
	switch {
	case s < 45:
		return "a few seconds ago"
	case s < 90:
		return "a minute ago"
	case s < 45*60:
		return n(s/60, " minutes ago")
	case s < 90*60:
		return "an hour ago"
	case s < 22*3600:
		return n(s/3600, " hours ago")
	case s < 36*3600:
		return "a day ago"
	}
	days := s / 86400
	switch {
	case days < 26:
		return n(days, " days ago")
	case days < 45:
		return "a month ago"
	case days < 320:
		return n(max(2, days/30.4375), " months ago")
	case days < 548:
		return "a year ago"
	}
	return n(max(2, days/365.25), " years ago")
}
