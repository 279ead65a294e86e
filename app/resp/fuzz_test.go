package resp

import (
	"strconv"
	"testing"
)

// FuzzReadReplies: no server output, however malformed, makes the reader
// panic or report a value with an error, with or without replies to discard
// first; well-formed integer and bulk replies read back as written; and
// parseInt agrees with strconv.
func FuzzReadReplies(f *testing.F) {
	for _, seed := range []string{"+OK\r\n", "+QUEUED\r\n", ":12\r\n", "*3\r\n", "*-1\r\n", "$5\r\nhello\r\n",
		"$-1\r\n", "-ERR x\r\n", "$9999999999\r\n", ":\r\n", "$3\r\nab", "*1\r\n:1\r\n"} {
		f.Add(seed, int64(7), "value")
	}
	f.Fuzz(func(t *testing.T, out string, n int64, s string) {
		c := reading(out)
		c.unwanted = int(uint64(n) % 4)
		for range 8 {
			_ = c.Expect("OK")
			if _, err := c.ReadInt(); err != nil {
				_, _ = c.ReadArrayLen()
			}
			if v, ok, err := c.AppendBulk([]byte("x")); err != nil && (string(v) != "x" || ok) {
				t.Fatalf("AppendBulk gave %q, %v with error %v", v, ok, err)
			}
		}
		var b []byte
		b = append(b, ':')
		b = strconv.AppendInt(b, n, 10)
		b = append(b, '\r', '\n')
		b = appendBulk(b, s)
		c = reading(string(b))
		if got, err := c.ReadInt(); err != nil || got != n {
			t.Fatalf("ReadInt = %d, %v; want %d", got, err, n)
		}
		if got, ok, err := c.AppendBulk(nil); err != nil || !ok || string(got) != s {
			t.Fatalf("AppendBulk = %q, %v, %v; want %q", got, ok, err, s)
		}
		want, err := strconv.ParseInt(s, 10, 64)
		if got, ok := parseInt([]byte(s)); ok != (err == nil) || ok && got != want {
			t.Fatalf("parseInt(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, err)
		}
	})
}
