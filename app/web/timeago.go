package web

import (
	"math"
	"strconv"
	"time"
)

// appendTimeAgo appends how long before now t was, in the words moment.js's
// fromNow() used in the original ("a few seconds ago", "3 minutes ago", "a
// year ago").
func appendTimeAgo(b []byte, t, now time.Time) []byte {
	d := now.Sub(t)
	if d < 0 {
		d = 0 // a clock a little ahead of ours
	}
	s := d.Seconds()
	round := func(x float64) int { return int(math.Round(x)) }
	// Appended by hand: this runs 50 times per page. fmt.Sprintf was a tenth
	// of a page's rendering time, and building a string for each, 3% of a
	// user's page under load.
	n := func(k int, unit string) []byte { return append(strconv.AppendInt(b, int64(k), 10), unit...) }
	w := func(words string) []byte { return append(b, words...) }
	switch {
	case s < 45:
		return w("a few seconds ago")
	case s < 90:
		return w("a minute ago")
	case s < 45*60:
		return n(round(s/60), " minutes ago")
	case s < 90*60:
		return w("an hour ago")
	case s < 22*3600:
		return n(round(s/3600), " hours ago")
	case s < 36*3600:
		return w("a day ago")
	}
	days := s / 86400
	switch {
	case days < 26:
		return n(round(days), " days ago")
	case days < 45:
		return w("a month ago")
	case days < 320:
		return n(max(2, round(days/30.4375)), " months ago")
	case days < 548:
		return w("a year ago")
	}
	return n(max(2, round(days/365.25)), " years ago")
}
