package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"pytwask/app/redistest"
)

// reading returns a Conn that reads the given server output.
func reading(out string) *Conn {
	return &Conn{r: bufio.NewReaderSize(strings.NewReader(out), 64)}
}

// readBulk reads a bulk string into a new buffer.
func readBulk(c *Conn) (string, bool, error) {
	b, ok, err := c.AppendBulk(nil)
	return string(b), ok, err
}

func TestReadReplies(t *testing.T) {
	tests := []struct {
		name, out string
		read      func(*Conn) (any, error)
		want      any
		wantErr   string
	}{
		{"status", "+QUEUED\r\n", func(c *Conn) (any, error) { return nil, c.Expect("QUEUED") }, nil, ""},
		{"other status", "+OK\r\n", func(c *Conn) (any, error) { return nil, c.Expect("QUEUED") }, nil, `got "+OK", want +QUEUED`},
		{"error reply", "-WRONGTYPE Operation against a key\r\n", func(c *Conn) (any, error) { return c.ReadInt() }, int64(0), "WRONGTYPE Operation against a key"},
		{"int", ":1101\r\n", func(c *Conn) (any, error) { return c.ReadInt() }, int64(1101), ""},
		{"negative int", ":-3\r\n", func(c *Conn) (any, error) { return c.ReadInt() }, int64(-3), ""},
		{"int as status", "+OK\r\n", func(c *Conn) (any, error) { return c.ReadInt() }, int64(0), `got '+' reply, want ':'`},
		{"bad number", ":12x\r\n", func(c *Conn) (any, error) { return c.ReadInt() }, int64(0), `bad number "12x"`},
		{"array", "*10000\r\n", func(c *Conn) (any, error) { return c.ReadArrayLen() }, 10000, ""},
		{"nil array", "*-1\r\n", func(c *Conn) (any, error) { return c.ReadArrayLen() }, -1, ""},
		{"null for an array", "_\r\n", func(c *Conn) (any, error) { return c.ReadArrayLen() }, -1, ""},
		{"null for a bulk", "_\r\n", func(c *Conn) (any, error) { _, ok, err := readBulk(c); return ok, err }, false, ""},
		{"null for an int", "_\r\n", func(c *Conn) (any, error) { return c.ReadInt() }, int64(0), `got '_' reply, want ':'`},
		{"a map skipped", "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nmodules\r\n*1\r\n%1\r\n+a\r\n$-1\r\n:7\r\n", func(c *Conn) (any, error) {
			if err := c.skip(); err != nil {
				return nil, err
			}
			return c.ReadInt()
		}, int64(7), ""},
		{"attribute skipped", "|1\r\n+ttl\r\n:3\r\n~3\r\n,1.5\r\n#t\r\n=7\r\ntxt:abc\r\n:8\r\n", func(c *Conn) (any, error) {
			if err := c.skip(); err != nil {
				return nil, err
			}
			return c.ReadInt()
		}, int64(8), ""},
		{"push skipped", ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n:9\r\n", func(c *Conn) (any, error) { return c.ReadInt() }, int64(9), ""},
		{"bad push", ">x\r\n:9\r\n", func(c *Conn) (any, error) { return c.ReadInt() }, int64(0), "bad push header"},
		{"bulk", "$5\r\n12345\r\n", func(c *Conn) (any, error) { s, _, err := readBulk(c); return s, err }, "12345", ""},
		{"bulk with CRLF inside", "$4\r\na\r\nb\r\n", func(c *Conn) (any, error) { s, _, err := readBulk(c); return s, err }, "a\r\nb", ""},
		{"nil bulk", "$-1\r\n", func(c *Conn) (any, error) { _, ok, err := readBulk(c); return ok, err }, false, ""},
		{"huge bulk", "$9999999999\r\n", func(c *Conn) (any, error) { s, _, err := readBulk(c); return s, err }, "", "bulk string of 9999999999 bytes"},
		{"short bulk", "$5\r\n12", func(c *Conn) (any, error) { s, _, err := readBulk(c); return s, err }, "", "unexpected EOF"},
		{"after the handshake", "+OK\r\n+OK\r\n:5\r\n", func(c *Conn) (any, error) { c.handshake = 2; return c.ReadInt() }, int64(5), ""},
		{"handshake refused", "+OK\r\n-ERR DB index is out of range\r\n:5\r\n", func(c *Conn) (any, error) { c.handshake = 2; return c.ReadInt() }, int64(0), "redis handshake: ERR DB index"},
		{"handshake not OK", ":1\r\n:5\r\n", func(c *Conn) (any, error) { c.handshake = 1; return c.ReadInt() }, int64(0), `redis handshake: got ":1", want +OK`},
		{"after discarded replies", "+OK\r\n-WRONGTYPE no list\r\n*2\r\n$1\r\na\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n$2\r\nhi\r\n:5\r\n", func(c *Conn) (any, error) {
			c.unwanted = 4
			return c.ReadInt()
		}, int64(5), ""},
		{"discarded after the handshake", "+OK\r\n+OK\r\n:5\r\n", func(c *Conn) (any, error) { c.handshake, c.unwanted = 1, 1; return c.ReadInt() }, int64(5), ""},
		{"discarded reply cut off", "*2\r\n$1\r\na\r\n", func(c *Conn) (any, error) { c.unwanted = 1; return c.ReadInt() }, int64(0), "EOF"},
		{"error inside a discarded reply", "*2\r\n-ERR x\r\n:1\r\n:5\r\n", func(c *Conn) (any, error) { c.unwanted = 1; return c.ReadInt() }, int64(5), ""},
		{"no CRLF", ":1\n", func(c *Conn) (any, error) { return c.ReadInt() }, int64(0), "malformed reply"},
		{"cut off", ":1", func(c *Conn) (any, error) { return c.ReadInt() }, int64(0), "EOF"},
		{"line too long", "+" + strings.Repeat("x", 100) + "\r\n", func(c *Conn) (any, error) { return nil, c.Expect("OK") }, nil, "reply line too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read(reading(tt.out))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v; want %q", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %#v; want %#v", got, tt.want)
			}
		})
	}
}

// Redis's reports that keys changed come as pushes, before the reply that
// follows them, and reach the connection's invalidate in order.
func TestInvalidations(t *testing.T) {
	tests := []struct {
		name, out string
		want      []string // "<all>" for nil
	}{
		{"keys", ">2\r\n$10\r\ninvalidate\r\n*2\r\n$10\r\nfollower:1\r\n$1\r\nx\r\n:5\r\n", []string{"follower:1", "x"}},
		{"all keys", ">2\r\n$10\r\ninvalidate\r\n_\r\n:5\r\n", []string{"<all>"}},
		{"two pushes", ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nb\r\n:5\r\n", []string{"a", "b"}},
		{"another kind", ">3\r\n$7\r\nmessage\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\n:5\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := reading(tt.out)
			var got []string
			c.invalidate = func(key []byte) {
				if key == nil {
					got = append(got, "<all>")
				} else {
					got = append(got, string(key))
				}
			}
			if n, err := c.ReadInt(); n != 5 || err != nil {
				t.Fatalf("reply %d, %v; want 5", n, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("invalidated %q; want %q", got, tt.want)
			}
		})
	}
}

// Against a real server: after Track, a change made by another client to a
// key read through the connection, or a flush, is reported before the reply
// to the next command; a server without RESP3 (HELLO renamed away, as on
// Redis 5) gets no tracking, and the connection serves as before.
func TestTrack(t *testing.T) {
	ctx := context.Background()
	t.Run("tracking", func(t *testing.T) {
		srv := redistest.Start(t)
		if srv.InProcess() {
			t.Skip("the in-process Redis has no CLIENT TRACKING")
		}
		rdb := srv.Client()
		defer rdb.Close()
		c, err := Dial(ctx, srv.Options())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var got []string
		ok, err := c.Track(func(key []byte) {
			if key == nil {
				got = append(got, "<all>")
			} else {
				got = append(got, string(key))
			}
		})
		if !ok || err != nil {
			t.Fatalf("Track: %v, %v", ok, err)
		}
		exists := func() int64 {
			t.Helper()
			c.Send("EXISTS", "set")
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			n, err := c.ReadInt()
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		c.Send("ZRANGE", "set", "0", "-1") // read, so tracked
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		if n, err := c.ReadArrayLen(); n != 0 || err != nil {
			t.Fatalf("ZRANGE: %d, %v", n, err)
		}
		rdb.ZAdd(ctx, "set", redis.Z{Score: 1, Member: "a"})
		rdb.Set(ctx, "untracked", "1", 0)
		if n := exists(); n != 1 || !slices.Equal(got, []string{"set"}) {
			t.Fatalf("after ZADD elsewhere: EXISTS %d, invalidated %q; want 1, [set]", n, got)
		}
		exists() // a read too, so tracked again
		rdb.FlushDB(ctx)
		if n := exists(); n != 0 || !slices.Equal(got, []string{"set", "<all>"}) {
			t.Errorf("after FLUSHDB: EXISTS %d, invalidated %q; want 0, [set <all>]", n, got)
		}
	})
	t.Run("no RESP3", func(t *testing.T) {
		srv := redistest.Start(t, "--rename-command", "HELLO", "")
		c, err := Dial(ctx, srv.Options())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if ok, err := c.Track(func([]byte) { t.Error("invalidated") }); ok || err != nil {
			t.Fatalf("Track without HELLO: %v, %v; want false, nil", ok, err)
		}
		c.Send("INCR", "n")
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		if n, err := c.ReadInt(); n != 1 || err != nil {
			t.Errorf("INCR after Track: %d, %v", n, err)
		}
	})
}

// An error reply is a redis.Error, so that callers tell it from a broken
// connection the same way as go-redis's.
func TestErrorReplyIsRedisError(t *testing.T) {
	_, err := reading("-LOADING Redis is loading the dataset in memory\r\n").ReadInt()
	var re redis.Error
	if !errors.As(err, &re) || !strings.HasPrefix(re.Error(), "LOADING") {
		t.Errorf("error %#v is not a redis.Error", err)
	}
}

// Against a real server: the handshake selects the database with the
// password, a transaction round-trips, and a wrong password is refused.
func TestDialAndTransaction(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	defer rdb.Close()
	ctx := context.Background()
	c, err := Dial(ctx, srv.Options())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Send("MULTI")
	c.Send("LPUSH", "list", "a b")
	c.Send("LPUSH", "list", "ü\r\n")
	c.Send("EXEC")
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.Expect("OK"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Expect("QUEUED"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.ReadArrayLen(); n != 2 || err != nil {
		t.Fatalf("EXEC: %d replies, %v", n, err)
	}
	for want := int64(1); want <= 2; want++ {
		if n, err := c.ReadInt(); n != want || err != nil {
			t.Fatalf("LPUSH returned %d, %v; want %d", n, err, want)
		}
	}
	// go-redis, on the configured database, sees what was written.
	if got := rdb.LRange(ctx, "list", 0, -1).Val(); len(got) != 2 || got[0] != "ü\r\n" || got[1] != "a b" {
		t.Errorf("list = %q", got)
	}

	// A wrong password is the error of the first reply, and a redis.Error;
	// the command sent with it is not run.
	bad := srv.Options()
	bad.Password = "wrong"
	c, err = Dial(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Send("LPUSH", "list", "c")
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	var re redis.Error
	if _, err := c.ReadInt(); !errors.As(err, &re) || !strings.Contains(err.Error(), "handshake") {
		t.Errorf("first reply with a wrong password: %v", err)
	}
	if n := rdb.LLen(ctx, "list").Val(); n != 2 {
		t.Errorf("list has %d items; want 2", n)
	}
}

// dialCancelable connects to a new test server with a context that the
// caller ends.
func dialCancelable(t *testing.T) (*Conn, context.CancelFunc) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := Dial(ctx, srv.Options())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, cancel
}

// When the context ends, a read that would wait for Redis fails at once.
func TestContextEndsReads(t *testing.T) {
	c, cancel := dialCancelable(t)
	c.Send("BLPOP", "nothing", "5") // would block for 5 s
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.ReadArrayLen(); err == nil {
		t.Error("read succeeded after the context ended")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("read returned after %v", d)
	}
}

// A context that has ended fails the next write too, although each write
// sets a fresh deadline.
func TestContextEndsWrites(t *testing.T) {
	c, cancel := dialCancelable(t)
	cancel()
	c.Send("PING")
	if err := c.Flush(); !errors.Is(err, context.Canceled) {
		t.Errorf("write after the context ended: %v", err)
	}
}

// A bulk string longer than the read buffer is read whole.
func TestReadLongBulk(t *testing.T) {
	long := strings.Repeat("0123456789", 20)
	got, ok, err := readBulk(reading("$200\r\n" + long + "\r\n"))
	if err != nil || !ok || got != long {
		t.Errorf("got %d bytes, %v, %v", len(got), ok, err)
	}
}

// AppendBulk appends to what the buffer holds, and a buffer reused for
// replies that fit in it costs no allocation.
func TestAppendBulkReusesBuffer(t *testing.T) {
	c := reading("$3\r\nabc\r\n$2\r\nde\r\n")
	b, ok, err := c.AppendBulk([]byte("key:"))
	if err != nil || !ok || string(b) != "key:abc" {
		t.Fatalf("got %q, %v, %v; want key:abc", b, ok, err)
	}
	if b, _, _ = c.AppendBulk(b[:0]); string(b) != "de" {
		t.Errorf("got %q; want de", b)
	}
	out := strings.Repeat("$5\r\n12345\r\n", 100)
	allocs := testing.AllocsPerRun(10, func() {
		c := &Conn{r: bufio.NewReader(strings.NewReader(out))}
		var buf []byte
		for range 100 {
			buf, _, _ = c.AppendBulk(buf[:0])
		}
	})
	// The Conn, its reader and buffer, the strings.Reader, and buf's one
	// allocation: nothing per reply.
	if allocs > 6 {
		t.Errorf("%v allocations for 100 replies", allocs)
	}
}

func TestParseInt(t *testing.T) {
	for _, in := range []string{"0", "7", "-3", "+5", "1101", "999999999999999999", "-999999999999999999",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "", "-", "+", "12x", "--1", "1-",
		"00012", "99999999999999999999999"} {
		want, err := strconv.ParseInt(in, 10, 64)
		got, ok := parseInt([]byte(in))
		if ok != (err == nil) || ok && got != want {
			t.Errorf("parseInt(%q) = %d, %v; strconv says %d, %v", in, got, ok, want, err)
		}
	}
}

// A transaction bigger than Linux's default send buffer (208 KiB), such as a
// post to 6,000 followers, goes into the kernel in one Flush while the server
// has read none of it: the writer does not wait on Redis to be woken again
// (sendBuffer).
func TestFlushDoesNotWaitForTheReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silent.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept() // and never read from
		accepted <- nc
	}()
	c, err := Dial(context.Background(), &redis.Options{Network: "unix", Addr: path, WriteTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if nc := <-accepted; nc != nil {
		defer nc.Close()
	}
	key, id := []byte("LPUSH"), []byte("200123")
	for i := range 6000 {
		c.SendBytes(key, fmt.Appendf(nil, "timeline:%d", 10000+i), id)
	}
	size := len(c.buf)
	if size <= 212992 {
		t.Fatalf("the transaction is %d bytes, not more than the default buffer", size)
	}
	start := time.Now()
	if err := c.Flush(); err != nil {
		t.Fatalf("Flush of %d bytes that nobody reads: %v after %v", size, err, time.Since(start))
	}
}
