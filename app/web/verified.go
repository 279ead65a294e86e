package web

import (
	"maps"
	"time"

	"pytwask/app/cache"
)

// verifiedCookies remembers session cookies that were decoded and verified
// recently, so that a signed-in visitor's next pages skip the HMAC, AES and
// JSON work (about a tenth of a signed-in page's CPU). A cookie is only ever
// looked up by its exact value, which only our keys could have produced, and
// is re-verified after verifiedFor; the cache holds at most about max cookies.
type verifiedCookies struct {
	cookies *cache.Bounded[string, verifiedCookie]
}

type verifiedCookie struct {
	values map[any]any
	until  time.Time
}

// verifiedFor is how long a verified cookie is trusted without verifying it
// again; it only matters for a cookie that expires within that time.
const verifiedFor = time.Minute

func newVerifiedCookies(size int) *verifiedCookies {
	return &verifiedCookies{cookies: cache.New[string, verifiedCookie](size)}
}

// get returns a copy of the cookie's values, if it was verified recently.
func (v *verifiedCookies) get(cookie string, now time.Time) (map[any]any, bool) {
	e, ok := v.cookies.Get(cookie)
	if !ok || now.After(e.until) {
		return nil, false
	}
	return cloneValues(e.values), true
}

func (v *verifiedCookies) put(cookie string, values map[any]any, now time.Time) {
	v.cookies.Put(cookie, verifiedCookie{values: cloneValues(values), until: now.Add(verifiedFor)})
}

// cloneValues copies session values deeply enough that a handler adding a
// flash message (an append to a list) cannot change the cached copy.
func cloneValues(src map[any]any) map[any]any {
	dst := maps.Clone(src)
	for k, val := range dst {
		if list, ok := val.([]any); ok {
			dst[k] = append([]any(nil), list...)
		}
	}
	return dst
}
