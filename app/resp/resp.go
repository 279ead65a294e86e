// Package resp speaks the Redis protocol (RESP2) on one dedicated
// connection, for the rare transaction too large for go-redis: a post fanned
// out to 10,000 followers is a MULTI/EXEC of 10,000 LPUSHes, and go-redis
// spends about 1.8 µs of CPU and five allocations on each command object,
// more than Redis takes to run it. Here a command is appended to one buffer
// and a reply is read in place, with no objects per command.
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
	"strconv"
	"strings"
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
}

// Dial opens a connection to the server that opt names, with its dialer,
// credentials and database, the way go-redis would. While ctx lasts it bounds
// every read and write too: when ctx ends, they fail.
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
	c := &Conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), ctx: ctx, timeout: max(0, opt.ReadTimeout) + max(0, opt.WriteTimeout)}
	c.stop = context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	n := 0
	if opt.Password != "" {
		if opt.Username != "" {
			c.Send("AUTH", opt.Username, opt.Password)
		} else {
			c.Send("AUTH", opt.Password)
		}
		n++
	}
	if opt.DB != 0 {
		c.Send("SELECT", strconv.Itoa(opt.DB))
		n++
	}
	err = c.Flush()
	for ; err == nil && n > 0; n-- {
		err = c.Expect("OK")
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("redis handshake: %w", err)
	}
	return c, nil
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.stop()
	return c.nc.Close()
}

// Send appends a command to the write buffer.
func (c *Conn) Send(args ...string) {
	c.buf = append(c.buf, '*')
	c.buf = strconv.AppendInt(c.buf, int64(len(args)), 10)
	c.buf = append(c.buf, '\r', '\n')
	for _, a := range args {
		c.buf = appendBulk(c.buf, a)
	}
}

// appendBulk appends s as a RESP bulk string.
func appendBulk(b []byte, s string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

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
	if err != nil {
		return fmt.Errorf("write to redis: %w", err)
	}
	return nil
}

// line reads one reply line: its type byte and the rest, without CRLF. An
// error reply is returned as Error. The line is valid until the next read.
func (c *Conn) line() (byte, []byte, error) {
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
	if kind != want {
		return 0, fmt.Errorf("read from redis: got %q reply, want %q", kind, want)
	}
	n, err := strconv.ParseInt(string(rest), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read from redis: bad number %q", rest)
	}
	return n, nil
}

// Expect reads a simple-string reply and checks that it is status, such as
// OK or QUEUED.
func (c *Conn) Expect(status string) error {
	kind, rest, err := c.line()
	if err != nil {
		return err
	}
	if kind != '+' || string(rest) != status {
		return fmt.Errorf("read from redis: got %q, want +%s", append([]byte{kind}, rest...), status)
	}
	return nil
}

// ReadInt reads an integer reply.
func (c *Conn) ReadInt() (int64, error) { return c.number(':') }

// ReadArrayLen reads an array header: the count of elements that follow, or
// -1 for a nil array (EXEC after a watched key changed).
func (c *Conn) ReadArrayLen() (int, error) {
	n, err := c.number('*')
	return int(n), err
}

// ReadBulk reads a bulk-string reply; ok is false for a nil one.
func (c *Conn) ReadBulk() (s string, ok bool, err error) {
	n, err := c.number('$')
	if err != nil || n < 0 {
		return "", false, err
	}
	if n+2 <= int64(c.r.Size()) { // the usual case: no copy but the string
		b, err := c.r.Peek(int(n + 2))
		if err != nil {
			return "", false, fmt.Errorf("read from redis: %w", noEOF(err))
		}
		s = string(b[:n])
		_, err = c.r.Discard(int(n + 2))
		return s, true, err
	}
	if n > maxBulk {
		return "", false, fmt.Errorf("read from redis: bulk string of %d bytes", n)
	}
	// Grown as the bytes arrive: a length is no reason to allocate it all.
	var b strings.Builder
	if _, err := io.CopyN(&b, c.r, n); err != nil {
		return "", false, fmt.Errorf("read from redis: %w", noEOF(err))
	}
	if _, err := c.r.Discard(2); err != nil {
		return "", false, fmt.Errorf("read from redis: %w", noEOF(err))
	}
	return b.String(), true, nil
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
