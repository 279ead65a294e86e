// Package resp speaks the Redis protocol (RESP2, or RESP3 once Track has
// switched to it) on one dedicated connection, for the two places where
// go-redis costs more than Redis: a post fanned out to 10,000 followers, a
// MULTI/EXEC of 10,000 LPUSHes, and a page's pipeline of up to ten reads,
// sent thousands of times a second. go-redis spends about 1.8 µs of CPU and
// five allocations on each command object, more than Redis takes to run it.
// Here a command is appended to one buffer and a reply is read in place,
// with no objects per command.
//
// Everything else goes through go-redis; this is not a general client.
package resp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Error is an error reply from Redis. Like go-redis's errors it implements
// redis.Error, so callers classify both the same way (LOADING, BUSY, ...).
type Error string

func (e Error) Error() string { return string(e) }

// RedisError marks Error as a reply from the server (redis.Error).
func (Error) RedisError() {}

var _ redis.Error = Error("")

// Conn is one connection. It is not safe for concurrent use.
type Conn struct {
	nc  net.Conn
	r   *bufio.Reader
	buf []byte
	ctx context.Context
	// timeout bounds each Flush and the reads after it; 0 for none.
	timeout time.Duration
	stop    func() bool
	// handshake counts the replies to Dial's AUTH and SELECT not read yet:
	// those commands go out with the first ones sent after them, saving a
	// round trip, and their replies are checked before any other is read.
	handshake int
	// invalidate, once Track has turned tracking on, is told of each key
	// Redis says has changed (nil: every key).
	invalidate func(key []byte)
	// unwanted counts the replies to SendDiscard's commands not read yet.
	unwanted int
}

// sendBuffer is the kernel send buffer Dial asks for: room for a post to
// tens of thousands of followers (about 48 bytes a push), so that Flush
// hands the whole transaction to the kernel at once. With Linux's default of
// 208 KiB, the writer waited for Redis to drain the buffer and was woken only
// once a quarter of it was left: while wrk kept the cores busy, Go could not
// always run it again before Redis had read that quarter, and Redis then
// waited for the rest of the post. The kernel grants at most twice
// net.core.wmem_max (416 KiB by default), and only uses what is written.
const sendBuffer = 4 << 20

// Dial opens a connection to the server that opt names, with its dialer,
// credentials and database, the way go-redis would. While ctx lasts it bounds
// every read and write too: when ctx ends, they fail. The credentials and
// database are sent with the first Flush, and a refusal of them is the error
// of the first read.
func Dial(ctx context.Context, opt *redis.Options) (*Conn, error) {
	dialer := opt.Dialer
	if dialer == nil {
		dialer = redis.NewDialer(opt)
	}
	dctx := ctx
	if opt.DialTimeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, opt.DialTimeout)
		defer cancel()
	}
	nc, err := dialer(dctx, opt.Network, opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial redis: %w", err)
	}
	if b, ok := nc.(interface{ SetWriteBuffer(int) error }); ok {
		b.SetWriteBuffer(sendBuffer) // a wish: the kernel caps it, and a smaller one still works
	}
	c := &Conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), ctx: ctx, timeout: max(0, opt.ReadTimeout) + max(0, opt.WriteTimeout)}
	c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	if opt.Password != "" {
		if opt.Username != "" {
			c.Send("AUTH", opt.Username, opt.Password)
		} else {
			c.Send("AUTH", opt.Password)
		}
		c.handshake++
	}
	if opt.DB != 0 {
		c.Send("SELECT", strconv.Itoa(opt.DB))
		c.handshake++
	}
	return c, nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.stop()
	return c.nc.Close()
}

// Release ends the bounding of the connection by its context (Dial's or
// Bind's) and reports whether that context was still going: if it ended, a
// read or write may have been cut off, and the connection is not to be used
// again.
func (c *Conn) Release() bool {
	return c.stop() && c.ctx.Err() == nil
}

// Bind makes ctx bound the connection's reads and writes, after Release: a
// connection kept between requests is bound to each in turn.
func (c *Conn) Bind(ctx context.Context) {
	c.ctx = ctx
	c.stop = context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
}

// Track switches the connection to RESP3 and asks Redis to track the keys
// read through it (client-side caching, CLIENT TRACKING): from then on, when
// such a key changes, Redis sends its name, and invalidate is called with it
// (or with nil, for every key, after FLUSHALL) during the next read. Redis
// sends it at once, so it comes before the reply to any command that Redis
// ran after the change. ok is false when the server has no RESP3 (Redis
// before 6) or refuses tracking; the connection then serves as before.
func (c *Conn) Track(invalidate func(key []byte)) (ok bool, err error) {
	c.Send("HELLO", "3")
	err = c.Flush()
	if err == nil {
		err = c.skip()
	}
	if err == nil {
		// Only on RESP3: on RESP2 Redis would accept this and send nothing.
		c.Send("CLIENT", "TRACKING", "ON")
		if err = c.Flush(); err == nil {
			err = c.Expect("OK")
		}
	}
	if _, refused := errors.AsType[Error](err); refused {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c.invalidate = invalidate
	return true, nil
}

// Send appends a command to the write buffer.
func (c *Conn) Send(args ...string) {
	c.buf = appendArrayLen(c.buf, len(args))
	for _, a := range args {
		c.buf = appendBulk(c.buf, a)
	}
}

// SendBytes is Send for arguments built in a reused buffer: it keeps no
// reference to them, and costs no allocation. (Send and SendBytes are not
// one generic function because the arguments of that one escaped to the
// heap: an allocation per command.)
func (c *Conn) SendBytes(args ...[]byte) {
	c.buf = appendArrayLen(c.buf, len(args))
	for _, a := range args {
		c.buf = appendBulk(c.buf, a)
	}
}

// SendDiscard appends a command whose reply nobody waits for: it is read and
// dropped, whatever it is, an error included, before the next reply that is
// read. A task can so end with housekeeping that costs it no round trip: the
// replies are read when the connection is next used, long after they came.
// Redis runs a connection's commands in order, so a command sent after these
// runs after them.
func (c *Conn) SendDiscard(args ...string) {
	c.Send(args...)
	c.unwanted++
}

// Grow makes room in the write buffer for another n bytes of commands, so
// that a long transaction is not copied over and over as it is built.
func (c *Conn) Grow(n int) { c.buf = slices.Grow(c.buf, n) }

// appendArrayLen appends the header of a command of n arguments.
func appendArrayLen(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// appendBulk appends s as a RESP bulk string.
func appendBulk[T string | []byte](b []byte, s T) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// maxKeptBuffer is the largest write buffer a connection keeps after Flush:
// one grown for a post to 10,000 followers (half a megabyte) is let go, as a
// connection may be kept for long between such posts.
const maxKeptBuffer = 64 << 10

// Flush writes the buffered commands. The connection's timeouts start over
// here, for the writing and for the reading of the replies.
func (c *Conn) Flush() error {
	var deadline time.Time
	if c.timeout > 0 {
		deadline = time.Now().Add(c.timeout)
	}
	c.nc.SetDeadline(deadline)
	// Checked after setting the deadline: had ctx ended just before, the
	// deadline set by Dial's AfterFunc would have been undone.
	if err := c.ctx.Err(); err != nil {
		return fmt.Errorf("write to redis: %w", err)
	}
	_, err := c.nc.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > maxKeptBuffer {
		c.buf = nil // see maxKeptBuffer
	}
	if err != nil {
		return fmt.Errorf("write to redis: %w", err)
	}
	return nil
}

// line reads one reply line: its type byte and the rest, without CRLF. An
// error reply is returned as Error. The line is valid until the next read.
// The handshake's replies come first, then those SendDiscard drops, and
// pushes (RESP3's out-of-band messages) are handled on the way.
func (c *Conn) line() (byte, []byte, error) {
	for c.handshake > 0 {
		kind, rest, err := c.readLine()
		if err == nil {
			err = status(kind, rest, "OK")
		}
		if err != nil {
			return 0, nil, fmt.Errorf("redis handshake: %w", err)
		}
		c.handshake--
	}
	if c.unwanted > 0 {
		if err := c.discard(); err != nil {
			return 0, nil, err
		}
	}
	for {
		kind, rest, err := c.readLine()
		if err != nil || kind != '>' {
			return kind, rest, err
		}
		if err := c.push(rest); err != nil {
			return 0, nil, err
		}
	}
}

// push reads the rest of a push whose header line's rest is n: an
// invalidation goes to c.invalidate, anything else is skipped.
func (c *Conn) push(n []byte) error {
	count, ok := parseInt(n)
	if !ok || count < 1 {
		return fmt.Errorf("read from redis: bad push header %q", n)
	}
	kind, _, err := c.AppendBulk(nil)
	if err != nil {
		return err
	}
	if string(kind) != "invalidate" || count != 2 || c.invalidate == nil {
		for range count - 1 {
			if err := c.skip(); err != nil {
				return err
			}
		}
		return nil
	}
	keys, err := c.ReadArrayLen()
	if err != nil {
		return err
	}
	if keys < 0 {
		c.invalidate(nil)
	}
	var key []byte
	for range keys {
		if key, _, err = c.AppendBulk(key[:0]); err != nil {
			return err
		}
		c.invalidate(key)
	}
	return nil
}

// discard reads and drops the replies to SendDiscard's commands.
func (c *Conn) discard() error {
	n := c.unwanted
	c.unwanted = 0 // the reads below are not to discard again
	for range n {
		if err := c.skipReply(); err != nil {
			return err
		}
	}
	return nil
}

// skipReply is skip for a reply that may be an error: that is skipped too.
func (c *Conn) skipReply() error {
	err := c.skip()
	if _, isReply := errors.AsType[Error](err); isReply {
		return nil
	}
	return err
}

// skip reads one whole reply of any type, RESP3's included. An error reply
// is returned as Error; one inside an array is skipped like its other
// elements.
func (c *Conn) skip() error {
	kind, rest, err := c.line()
	if err != nil {
		return err
	}
	switch kind {
	case '$', '!', '=': // bulk string, bulk error, verbatim string
		n, ok := parseInt(rest)
		if !ok || n > maxBulk {
			return fmt.Errorf("read from redis: bad length %q", rest)
		}
		if n >= 0 {
			if _, err := c.r.Discard(int(n) + 2); err != nil {
				return fmt.Errorf("read from redis: %w", noEOF(err))
			}
		}
	case '*', '~', '%', '|': // array, set, map, attribute
		n, ok := parseInt(rest)
		if !ok {
			return fmt.Errorf("read from redis: bad length %q", rest)
		}
		if kind == '%' || kind == '|' {
			n *= 2
		}
		if kind == '|' {
			n++ // the reply the attributes are about
		}
		for range n {
			if err := c.skipReply(); err != nil {
				return err
			}
		}
	}
	return nil // the rest are one line
}

// readLine is line without the handshake.
func (c *Conn) readLine() (byte, []byte, error) {
	l, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			err = errors.New("reply line too long")
		}
		return 0, nil, fmt.Errorf("read from redis: %w", err)
	}
	if len(l) < 3 || l[len(l)-2] != '\r' {
		return 0, nil, fmt.Errorf("read from redis: malformed reply %q", l)
	}
	kind, rest := l[0], l[1:len(l)-2]
	if kind == '-' {
		return kind, nil, Error(rest)
	}
	return kind, rest, nil
}

// number reads a reply line of the given kind whose rest is an integer.
func (c *Conn) number(want byte) (int64, error) {
	kind, rest, err := c.line()
	if err != nil {
		return 0, err
	}
	if kind == '_' && (want == '*' || want == '$') {
		return -1, nil // RESP3's null, in RESP2 a nil array or bulk string
	}
	if kind != want {
		return 0, fmt.Errorf("read from redis: got %q reply, want %q", kind, want)
	}
	n, ok := parseInt(rest)
	if !ok {
		return 0, fmt.Errorf("read from redis: bad number %q", rest)
	}
	return n, nil
}

// parseInt is strconv.ParseInt(string(b), 10, 64) without the string: a
// transaction's replies hold thousands of numbers.
func parseInt(b []byte) (int64, bool) {
	digits := b
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		digits = b[1:]
	}
	if len(digits) == 0 || len(digits) > 18 { // 18 digits can't overflow
		n, err := strconv.ParseInt(string(b), 10, 64)
		return n, err == nil
	}
	var n int64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	if b[0] == '-' {
		n = -n
	}
	return n, true
}

// Expect reads a simple-string reply and checks that it is want, such as
// OK or QUEUED.
func (c *Conn) Expect(want string) error {
	kind, rest, err := c.line()
	if err != nil {
		return err
	}
	if err := status(kind, rest, want); err != nil {
		return fmt.Errorf("read from redis: %w", err)
	}
	return nil
}

// status checks that a reply line is the simple string want.
func status(kind byte, rest []byte, want string) error {
	if kind != '+' || string(rest) != want {
		return fmt.Errorf("got %q, want +%s", append([]byte{kind}, rest...), want)
	}
	return nil
}

// ReadInt reads an integer reply.
func (c *Conn) ReadInt() (int64, error) { return c.number(':') }

// ReadArrayLen reads an array header: the count of elements that follow, or
// -1 for a nil array or a null (EXEC after a watched key changed).
func (c *Conn) ReadArrayLen() (int, error) {
	n, err := c.number('*')
	return int(n), err
}

// AppendBulk reads a bulk-string reply and appends it to dst; ok is false
// for a nil one. Reading into a reused dst allocates nothing. On an error
// dst comes back as it was.
func (c *Conn) AppendBulk(dst []byte) (_ []byte, ok bool, err error) {
	n, err := c.number('$')
	if err != nil || n < 0 {
		return dst, false, err
	}
	if n > maxBulk {
		return dst, false, fmt.Errorf("read from redis: bulk string of %d bytes", n)
	}
	// Copied as the bytes arrive: a length is no reason to allocate it all.
	start := len(dst)
	for n > 0 {
		b, err := c.r.Peek(int(min(n, int64(c.r.Size()))))
		dst = append(dst, b...)
		c.r.Discard(len(b))
		n -= int64(len(b))
		if err != nil {
			return dst[:start], false, fmt.Errorf("read from redis: %w", noEOF(err))
		}
	}
	if _, err := c.r.Discard(2); err != nil {
		return dst[:start], false, fmt.Errorf("read from redis: %w", noEOF(err))
	}
	return dst, true, nil
}

// maxBulk is Redis's own limit on a bulk string (proto-max-bulk-len).
const maxBulk = 512 << 20

// noEOF reports a reply cut short as io.ErrUnexpectedEOF, as io.ReadFull does.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
