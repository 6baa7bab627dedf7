// Package relay is a TCP relay on loopback that delays each direction by
// half a round trip, for benchmarks and tests over an emulated slow link
// (this kernel has no tc netem, so the latency is made in user space). It
// is used by scripts/relay (the program `make bench` runs between fetcher
// and seeder) and by the round-trip benchmarks and tests of
// internal/extensions and internal/metadata.
//
// # What it emulates
//
// Each read is forwarded as one write, in order, RTT/2 after it was read,
// so the receiver sees the sender's chunking. The connect's round trip is
// emulated too (unless Options.NoConnectDelay): nothing the client sends
// reaches the target before 1.5 RTT after the relay accepted the client,
// the SYN/SYN-ACK round trip a real network would cost and then half a
// trip for the data. The target is dialled at once, from the client's own
// source address (127.x.y.z), so that a seeder which refuses an address
// that just disconnected (Transmission, rtorrent) sees distinct fetchers as
// distinct.
//
// Only data is delayed: TCP's ACKs are exchanged at once on each loopback
// hop, so ACK timing (Nagle, slow start) and bandwidth are not emulated.
//
// # Closing
//
// A half close (FIN) is passed on, as late as the data before it, and the
// other direction goes on; a connection ends when both directions have
// ended cleanly, when either fails (a reset, a write to a closed socket),
// when nothing has moved either way for Options.Idle, or on Close. Close
// ends every connection and waits for every goroutine the relay started.
//
// # Bounds
//
// Each direction of a connection holds at most Options.Window bytes read
// and not yet written (4 MiB by default, Linux's default largest send
// buffer, about what one TCP connection can have in flight), in at most
// 1024 chunks of at most 64 KiB; a sender faster than the delay line is
// then held back by TCP's own flow control, as a full link would hold it.
// Beyond that there is what the kernel buffers in the relay's sockets.
// Every connection runs five goroutines: one that dials and watches it,
// and a reader and a writer for each direction.
package relay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Defaults for the zero fields of Options.
const (
	DefaultListen = "127.0.0.1:0"
	DefaultIdle   = 5 * time.Minute
	DefaultWindow = 4 << 20
)

const (
	// readSize is the largest chunk read and forwarded at once.
	readSize = 64 << 10
	// queueChunks bounds the chunks one direction holds, whatever their size.
	queueChunks = 1024
	// dialTimeout bounds the dial of the target (on loopback it is refused
	// or accepted at once, unless the target's backlog is full).
	dialTimeout = 10 * time.Second
)

// Dir is a direction through the relay.
type Dir int

const (
	// ToTarget is from the client (who connected to the relay) to the target.
	ToTarget Dir = iota + 1
	// ToClient is back from the target to the client.
	ToClient
)

func (d Dir) String() string {
	switch d {
	case ToTarget:
		return "to-target"
	case ToClient:
		return "to-client"
	}
	return fmt.Sprintf("Dir(%d)", int(d))
}

// Event is one chunk of data passing through the relay, as Options.Observe
// sees it.
type Event struct {
	Dir Dir
	Len int // bytes, never 0
	// Sent is false when the relay has just read the chunk and true when
	// its delay has passed and it is about to be written.
	Sent bool
}

// Options tune a Relay; the zero value is what scripts/relay does.
type Options struct {
	// Listen is the address to listen on, loopback only (DefaultListen
	// when empty).
	Listen string
	// NoConnectDelay lets the client's first bytes through RTT/2 after
	// they are read, like all others, instead of holding them until 1.5
	// RTT after the connect: for a measure of the round trips after the
	// connect alone.
	NoConnectDelay bool
	// Idle ends a connection on which nothing was read or written, either
	// way, for this long (DefaultIdle when 0).
	Idle time.Duration
	// Window is the most bytes one direction of a connection holds, read
	// and not yet written (DefaultWindow when 0).
	Window int
	// Observe, when set, is called for every chunk as it is read (before
	// it is queued, so calls for one direction come in read order) and as
	// it is sent. It is called from the relay's goroutines, concurrently
	// for the two directions and for different connections, and holds up
	// the direction it is called for: it must be quick and safe for
	// concurrent use. Tests count round trips with it.
	Observe func(Event)
	// Log gets a line for each target that could not be dialled and each
	// failed accept (the zero Logger logs nothing).
	Log zerolog.Logger
}

// Relay relays every connection to its listening address to one target.
type Relay struct {
	ln     net.Listener
	to     netip.AddrPort
	half   time.Duration // RTT/2, the delay of each direction
	opts   Options
	ctx    context.Context // done on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the relay started
	once   sync.Once
	err    error // of closing the listener
}

// Start listens on loopback (Options.Listen) and relays every connection
// it accepts to the target to (a loopback IP and port), each direction
// delayed by rtt/2, until Close.
func Start(to string, rtt time.Duration, opts Options) (*Relay, error) {
	target, err := loopback(to)
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if _, err := loopback(opts.Listen); err != nil {
		return nil, fmt.Errorf("listen address: %w", err)
	}
	if rtt < 0 {
		return nil, fmt.Errorf("round trip %v is negative", rtt)
	}
	if opts.Idle <= 0 {
		opts.Idle = DefaultIdle
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{ln: ln, to: target, half: rtt / 2, opts: opts, ctx: ctx, cancel: cancel}
	r.wg.Go(r.serve)
	return r, nil
}

// Addr is the address the relay listens on, host:port.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Close stops accepting, ends every relayed connection at once (what is
// still held in the delay line is dropped) and returns when every
// goroutine of the relay has ended. It may be called more than once.
func (r *Relay) Close() error {
	r.once.Do(func() {
		r.cancel()
		r.err = r.ln.Close()
	})
	r.wg.Wait()
	return r.err
}

// loopback parses addr as a loopback IP and a port.
func loopback(addr string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not an IP and port: %w", addr, err)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("%q is not a loopback address", addr)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

func (r *Relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			// Out of file descriptors, say: try again shortly.
			r.opts.Log.Warn().Err(err).Msg("relay accept")
			select {
			case <-time.After(100 * time.Millisecond):
				continue
			case <-r.ctx.Done():
				return
			}
		}
		r.wg.Go(func() { r.relay(c.(*net.TCPConn)) })
	}
}

// conn is one relayed connection.
type conn struct {
	r    *Relay
	ctx  context.Context // done when the connection ends
	last atomic.Int64    // unix nanoseconds of the last byte read or written
}

func (r *Relay) relay(client *net.TCPConn) {
	accepted := time.Now()
	defer client.Close()
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()

	d := net.Dialer{Timeout: dialTimeout}
	src := client.RemoteAddr().(*net.TCPAddr)
	if ip, ok := netip.AddrFromSlice(src.IP); ok && ip.Unmap().Is4() == r.to.Addr().Is4() {
		d.LocalAddr = &net.TCPAddr{IP: src.IP}
	}
	nc, err := d.DialContext(ctx, "tcp", r.to.String())
	if err != nil {
		// The client sees a close, as it would see a refused connect.
		if ctx.Err() == nil {
			r.opts.Log.Warn().Err(err).Str("from", src.IP.String()).Msg("relay dial")
		}
		return
	}
	target := nc.(*net.TCPConn)
	defer target.Close()

	c := &conn{r: r, ctx: ctx}
	c.touch()
	notBefore := time.Time{}
	if !r.opts.NoConnectDelay {
		notBefore = accepted.Add(3 * r.half)
	}
	ended := make(chan bool, 2)
	c.pipe(target, client, ToTarget, notBefore, ended)
	c.pipe(client, target, ToClient, time.Time{}, ended)
	// Closing the sockets unblocks reads and writes; cancelling, the
	// waits on the delay lines.
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			client.Close()
			target.Close()
		}
	}
	done := ctx.Done()
	for n := 0; n < 2; {
		select {
		case ok := <-ended:
			n++
			if !ok {
				stop() // a reset, a failed write or idle: end both directions
			}
		case <-done:
			done = nil
			stop()
		}
	}
}

func (c *conn) touch() { c.last.Store(time.Now().UnixNano()) }

// idleDeadline is when the connection is idle if nothing moves before.
func (c *conn) idleDeadline() time.Time { return time.Unix(0, c.last.Load()).Add(c.r.opts.Idle) }

// stillBusy says whether err is a deadline that passed while the other
// direction kept the connection busy: then the wait goes on.
func (c *conn) stillBusy(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(c.idleDeadline())
}

type chunk struct {
	due  time.Time
	data []byte
	eof  bool // the sender closed its side
}

// line is one direction's delay line: the chunks read and not yet written.
type line struct {
	q      chan chunk
	room   chan struct{} // a token when bytes went down
	mu     sync.Mutex
	queued int // bytes in q and in the writer's hands
}

// free waits until the line has room and returns how much, or 0 when
// the connection ended.
func (l *line) free(ctx context.Context, window int) int {
	for {
		l.mu.Lock()
		free := window - l.queued
		l.mu.Unlock()
		if free > 0 {
			return free
		}
		select {
		case <-l.room:
		case <-ctx.Done():
			return 0
		}
	}
}

func (l *line) add(n int) {
	l.mu.Lock()
	l.queued += n
	l.mu.Unlock()
	if n < 0 {
		select {
		case l.room <- struct{}{}:
		default:
		}
	}
}

// pipe starts copying src to dst, each read delayed by RTT/2 and not
// released before notBefore. It sends on ended once, true when src ended
// cleanly and everything read has been written and dst half closed, false
// when either side failed or the connection ended.
func (c *conn) pipe(dst, src *net.TCPConn, dir Dir, notBefore time.Time, ended chan<- bool) {
	l := &line{q: make(chan chunk, queueChunks), room: make(chan struct{}, 1)}
	c.r.wg.Go(func() { c.read(l, src, dir, notBefore) })
	c.r.wg.Go(func() { ended <- c.write(l, dst, dir) })
}

func (c *conn) due(notBefore time.Time) time.Time {
	due := time.Now().Add(c.r.half)
	if due.Before(notBefore) {
		return notBefore
	}
	return due
}

func (c *conn) read(l *line, src *net.TCPConn, dir Dir, notBefore time.Time) {
	defer close(l.q)
	buf := make([]byte, readSize)
	for {
		free := l.free(c.ctx, c.r.opts.Window)
		if free == 0 {
			return
		}
		src.SetReadDeadline(c.idleDeadline())
		n, err := src.Read(buf[:min(free, len(buf))])
		if n > 0 {
			c.touch()
			if c.r.opts.Observe != nil {
				c.r.opts.Observe(Event{Dir: dir, Len: n})
			}
			l.add(n)
			select {
			case l.q <- chunk{due: c.due(notBefore), data: bytes.Clone(buf[:n])}:
			case <-c.ctx.Done():
				return
			}
		}
		switch {
		case err == nil || c.stillBusy(err):
		case errors.Is(err, io.EOF):
			select {
			case l.q <- chunk{due: c.due(notBefore), eof: true}:
			case <-c.ctx.Done():
			}
			return
		default:
			return // the writer sees q closed without an EOF: a failure
		}
	}
}

func (c *conn) write(l *line, dst *net.TCPConn, dir Dir) bool {
	t := time.NewTimer(0)
	defer t.Stop()
	for ch := range l.q {
		t.Reset(time.Until(ch.due))
		select {
		case <-t.C:
		case <-c.ctx.Done():
			return false
		}
		if ch.eof {
			return dst.CloseWrite() == nil
		}
		if c.r.opts.Observe != nil {
			c.r.opts.Observe(Event{Dir: dir, Len: len(ch.data), Sent: true})
		}
		for b := ch.data; len(b) > 0; {
			dst.SetWriteDeadline(c.idleDeadline())
			n, err := dst.Write(b)
			b = b[n:]
			if n > 0 {
				c.touch()
			}
			if err != nil && !c.stillBusy(err) {
				return false
			}
		}
		l.add(-len(ch.data))
	}
	return false // the reader failed: a reset, idle, or the connection ended
}
