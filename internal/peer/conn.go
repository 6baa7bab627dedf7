package peer

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// Limits and timeouts. libtorrent caps a whole message at 1 MiB and gives a
// handshake 10 s (docs/protocol-notes.md, "Limits and timeouts"); a 16 KiB
// block plus headers or the bitfield of a torrent with 8 million pieces fits.
const (
	DefaultMaxMessageLen    = 1 << 20
	DefaultDialTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReadTimeout      = 60 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultReadBufferSize   = 4 << 10
)

// Config holds the limits and per-phase timeouts of a connection. Zero fields
// take the defaults above. The context of each call can only shorten them.
type Config struct {
	DialTimeout      time.Duration
	HandshakeTimeout time.Duration // reading the peer's BT handshake
	ReadTimeout      time.Duration // waiting for any one message
	WriteTimeout     time.Duration
	MaxMessageLen    uint32
	// ReadBufferSize is the size of the connection's read buffer
	// (DefaultReadBufferSize when 0). A server with a thousand peers that
	// each send small messages needs less than a client reading pieces.
	ReadBufferSize int
	// QuickAck sets TCP_QUICKACK before each read (Linux), so that a peer
	// whose Nagle waits for our delayed ACK is not slowed down: rtorrent
	// answers 161 metadata requests in 27 ms with it, 7.1 s without.
	QuickAck bool
	// LocalAddr, when set, is the IP address outgoing connections are made
	// from (any port).
	LocalAddr string
	// Encryption is the MSE policy (see Encryption); the extensions
	// session applies it before the BT handshake.
	Encryption Encryption
	Log        zerolog.Logger
}

func (c Config) withDefaults() Config {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxMessageLen == 0 {
		c.MaxMessageLen = DefaultMaxMessageLen
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = DefaultReadBufferSize
	}
	return c
}

// ErrClosedByPeer: the peer closed the connection (or reset it).
var ErrClosedByPeer = errors.New("peer closed the connection")

// ErrClosedBeforeAnswer: the peer closed the connection on our handshake
// without answering it. Most peers do this for a torrent they do not
// have; a peer that requires encryption does it to a plain handshake.
var ErrClosedBeforeAnswer = fmt.Errorf("%w before answering", ErrClosedByPeer)

// TimeoutError: a phase did not complete within its deadline.
type TimeoutError struct {
	Op    string
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: timed out after %v", e.Op, e.After.Round(time.Millisecond))
}
func (e *TimeoutError) Timeout() bool { return true }
func (e *TimeoutError) Unwrap() error { return os.ErrDeadlineExceeded }

// Conn is one peer connection. It is not safe for concurrent use: one
// goroutine owns it.
type Conn struct {
	nc net.Conn
	br *bufio.Reader
	w  io.Writer // nc, or an RC4 stream over it after MSE
	// inner is the buffer under br after MSE: it may hold bytes read
	// ahead during the encryption handshake.
	inner  *bufio.Reader
	crypto CryptoMethod
	cfg    Config
	log    zerolog.Logger
	m      machine
	remote Handshake
	fr     FrameReader
	wbuf   []byte
	q      writeQueue // messages for the next write (QueueExtended)
	pieces Pieces
	sock   sockOpts
}

// Pieces is what the peer has said it has (see Pieces).
func (c *Conn) Pieces() *Pieces { return &c.pieces }

// SplitAddr checks a peer address: host:port, [v6]:port or name:port.
func SplitAddr(addr string) (host string, port uint16, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("peer address %q: want host:port or [ipv6]:port", addr)
	}
	if h == "" {
		return "", 0, fmt.Errorf("peer address %q: empty host", addr)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("peer address %q: port must be 1-65535", addr)
	}
	return h, uint16(n), nil
}

// Dial connects to addr within cfg.DialTimeout.
func Dial(ctx context.Context, addr string, cfg Config) (*Conn, error) {
	cfg = cfg.withDefaults()
	if _, _, err := SplitAddr(addr); err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: cfg.DialTimeout}
	if cfg.LocalAddr != "" {
		ip := net.ParseIP(cfg.LocalAddr)
		if ip == nil {
			return nil, fmt.Errorf("local address %q is not an IP address", cfg.LocalAddr)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	start := time.Now()
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() == nil && isTimeout(err) {
			return nil, &TimeoutError{Op: "dial " + addr, After: time.Since(start)}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, context.Cause(ctx))
		}
		return nil, err // *net.OpError names the address and the cause
	}
	return NewConn(nc, cfg), nil
}

// NewConn wraps an established connection (accepted, or dialled elsewhere).
func NewConn(nc net.Conn, cfg Config) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{
		nc:  nc,
		br:  bufio.NewReaderSize(nc, cfg.ReadBufferSize),
		w:   nc,
		cfg: cfg,
		log: cfg.Log.With().Str("peer", nc.RemoteAddr().String()).Logger(),
	}
	c.fr = FrameReader{R: c.br, Max: cfg.MaxMessageLen}
	return c
}

// MessageBuffered reports whether a whole message has already arrived
// (in our buffers or the kernel's) and can be read without waiting. It
// asks the kernel (FIONREAD) only when our buffers do not hold one.
func (c *Conn) MessageBuffered() bool {
	avail := c.br.Buffered()
	if c.inner != nil {
		avail += c.inner.Buffered()
	}
	return c.holdsFrame(avail) || c.holdsFrame(avail+c.sock.kernelPending(c.nc))
}

// frameBuffered reports whether the rest of a whole frame is in our read
// buffer, so that reading it does no I/O.
func (c *Conn) frameBuffered() bool { return c.holdsFrame(c.br.Buffered()) }

// holdsFrame reports whether avail bytes, unread and already arrived, hold
// the rest of the frame being read or, if none is, a whole next frame.
func (c *Conn) holdsFrame(avail int) bool {
	need, partial := c.fr.pending()
	if partial {
		return avail >= need
	}
	if avail < 4 {
		return false
	}
	hdr, err := c.br.Peek(4) // does not block: the bytes are there
	if err != nil {
		return false
	}
	n := binary.BigEndian.Uint32(hdr)
	return n <= c.cfg.MaxMessageLen && uint64(avail) >= 4+uint64(n)
}

// RandomPeerID returns an Azureus-style peer id "-BX0100-" and 12 random bytes.
func RandomPeerID() PeerID {
	var id PeerID
	copy(id[:], "-BX0100-")
	_, _ = rand.Read(id[8:])
	return id
}

func (c *Conn) State() State { return c.m.state }

// Violation is a protocol error the layers above found in what the peer
// sent, in the connection's real state.
func (c *Conn) Violation(format string, args ...any) *ProtocolError {
	return &ProtocolError{State: c.m.state, Reason: fmt.Sprintf(format, args...)}
}

// Fast reports whether the fast extension (BEP 6) is in use: both
// handshakes set its bit.
func (c *Conn) Fast() bool           { return c.m.fast() }
func (c *Conn) Remote() Handshake    { return c.remote }
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }
func (c *Conn) LocalAddr() net.Addr  { return c.nc.LocalAddr() }
func (c *Conn) Log() *zerolog.Logger { return &c.log }

// Close closes the connection.
func (c *Conn) Close() error {
	c.m.close()
	return c.nc.Close()
}

// Handshake does the outgoing side's BT handshake: send ours, read the
// peer's, and check that it answers for the same info hash.
func (c *Conn) Handshake(ctx context.Context, local Handshake) (Handshake, error) {
	if err := c.WriteHandshake(ctx, local); err != nil {
		return Handshake{}, err
	}
	h, err := c.ReadHandshake(ctx)
	if err != nil {
		return Handshake{}, err
	}
	if h.InfoHash != local.InfoHash {
		return h, c.Violation("peer answered for info hash %s, not %s", h.InfoHash, local.InfoHash)
	}
	return h, nil
}

// HandshakeAnyHash is Handshake without the info hash check: the caller
// looks at Remote().InfoHash itself.
func (c *Conn) HandshakeAnyHash(ctx context.Context, local Handshake) (Handshake, error) {
	if err := c.WriteHandshake(ctx, local); err != nil {
		return Handshake{}, err
	}
	return c.ReadHandshake(ctx)
}

// WriteHandshake sends our handshake.
func (c *Conn) WriteHandshake(ctx context.Context, h Handshake) error {
	if err := c.m.sendHandshake(h.Reserved); err != nil {
		return err
	}
	var buf [HandshakeLen]byte
	b, _ := h.AppendBinary(buf[:0])
	if e := c.log.Debug(); e.Enabled() { // the strings cost even when not logged
		e.Str("reserved", h.Reserved.String()).Str("info_hash", h.InfoHash.String()).Msg("send handshake")
	}
	return c.write(ctx, "send handshake", b)
}

// ReadHandshake reads the peer's handshake. The protocol string is checked
// as soon as it arrives, before waiting for the rest.
func (c *Conn) ReadHandshake(ctx context.Context) (Handshake, error) {
	const op = "read handshake"
	var buf [HandshakeLen]byte
	stop, start := c.deadline(ctx, c.cfg.HandshakeTimeout)
	defer stop()
	if _, err := io.ReadFull(c.br, buf[:1+len(Protocol)]); err != nil {
		return Handshake{}, c.ioErr(ctx, op, err, start)
	}
	if err := checkProtocol(buf[:1+len(Protocol)]); err != nil {
		return Handshake{}, err
	}
	if _, err := io.ReadFull(c.br, buf[1+len(Protocol):]); err != nil {
		return Handshake{}, c.ioErr(ctx, op, err, start)
	}
	var h Handshake
	if err := h.UnmarshalBinary(buf[:]); err != nil {
		return Handshake{}, err
	}
	if err := c.m.receiveHandshake(h.Reserved); err != nil {
		return Handshake{}, err
	}
	c.remote = h
	if e := c.log.Debug(); e.Enabled() { // the strings cost even when not logged
		e.Str("reserved", h.Reserved.String()).Str("peer_id", h.PeerID.String()).Msg("got handshake")
	}
	return h, nil
}

// ReadMessage reads one message within cfg.ReadTimeout (or the context's
// deadline, if sooner). A length above cfg.MaxMessageLen is refused before
// anything is allocated. The payload is the caller's own.
func (c *Conn) ReadMessage(ctx context.Context) (Message, error) {
	return c.read(ctx, false)
}

// ReadPooled is ReadMessage with a frame of up to PooledFrameLen bytes
// read into a pooled buffer (see FrameReader.NextPooled), for a caller
// that is done with the payload soon, such as a fetch copying each piece
// into its assembler. The payload is the caller's until it calls
// msg.Release; then the next read of any connection may overwrite it.
func (c *Conn) ReadPooled(ctx context.Context) (Message, error) {
	return c.read(ctx, true)
}

func (c *Conn) read(ctx context.Context, pooled bool) (Message, error) {
	const op = "read message"
	var start time.Time
	// A whole frame already in our buffer is read without I/O: no
	// deadline to set, which costs a timer and a context registration per
	// message (serve reads the requests that arrived together this way).
	if ctx.Err() != nil || !c.frameBuffered() {
		var stop func()
		stop, start = c.deadline(ctx, c.cfg.ReadTimeout)
		defer stop()
		if c.cfg.QuickAck {
			c.sock.quickAck(c.nc)
		}
	}
	msg, err := c.fr.next(pooled)
	if err != nil {
		var le *LengthError
		if errors.As(err, &le) {
			return Message{}, &ProtocolError{State: c.m.state, Reason: le.Error()}
		}
		return Message{}, c.ioErr(ctx, op, err, start)
	}
	if e := c.log.Trace(); e.Enabled() {
		e.Stringer("msg", msg).Msg("recv")
	}
	if err := c.m.receive(msg); err != nil {
		msg.Release()
		return Message{}, err
	}
	c.track(msg) // copies what it keeps (a bitfield)
	return msg, nil
}

// track updates the peer's pieces and our pending requests.
func (c *Conn) track(msg Message) {
	if msg.KeepAlive {
		return
	}
	switch msg.ID {
	case Have, Bitfield, HaveAll, HaveNone, Suggest, AllowedFast, Reject:
		if note := c.pieces.apply(msg); note != "" {
			c.log.Warn().Str("msg", msg.String()).Msg(note)
		}
	case Piece:
		c.pieces.answered(binary.BigEndian.Uint32(msg.Payload))
	case Choke:
		if !c.Fast() {
			clear(c.pieces.pending) // without the fast extension a choke cancels every request
		}
	}
}

// WriteMessage sends one message within cfg.WriteTimeout.
func (c *Conn) WriteMessage(ctx context.Context, msg Message) error {
	return c.WriteMessages(ctx, msg)
}

// maxKeptWriteBuf bounds the write buffer a connection keeps between
// writes: a larger one, grown for a large message, is dropped after the
// write, so that an idle connection holds no more than this.
const maxKeptWriteBuf = 64 << 10

// minSeparatePayload is the payload size from which a message's payload
// goes out as its own buffer in a vectored write (writev), not copied into
// the write buffer.
const minSeparatePayload = 1 << 10

// WriteMessages sends messages in one write, so that they travel together
// (a window of requests in one packet). Large payloads are not copied: they
// go out as they are, in one vectored write with the rest.
func (c *Conn) WriteMessages(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	b := c.wbuf[:0]
	var bufs net.Buffers
	mark := 0 // b[mark:] is not yet in bufs
	for _, msg := range msgs {
		if err := c.m.send(msg); err != nil {
			return err
		}
		if len(msg.Payload) >= minSeparatePayload {
			var err error
			if b, err = appendHeader(b, msg.ID, len(msg.Payload)); err != nil {
				return err
			}
			bufs = append(bufs, b[mark:], msg.Payload)
			mark = len(b)
		} else {
			b, _ = msg.AppendBinary(b)
		}
		if msg.ID == Request && len(msg.Payload) == 12 {
			c.pieces.requested(binary.BigEndian.Uint32(msg.Payload))
		}
		if e := c.log.Trace(); e.Enabled() {
			e.Stringer("msg", msg).Msg("send")
		}
	}
	if mark < len(b) {
		bufs = append(bufs, b[mark:])
	}
	err := c.writeBuffers(ctx, "send "+msgs[0].ID.String(), bufs)
	c.keep(b)
	return err
}

// WriteExtended sends the extension message <20><id><head><body> without
// copying body: for a large answer (an LT_metadata range, a ut_metadata
// piece) that is a slice of something kept anyway.
func (c *Conn) WriteExtended(ctx context.Context, id uint8, head, body []byte) error {
	// The state machine looks at the extension id and the first byte after.
	if err := c.m.send(Message{ID: Extended, Payload: []byte{id}}); err != nil {
		return err
	}
	b, err := appendHeader(c.wbuf[:0], Extended, 1+len(head)+len(body))
	if err != nil {
		return err
	}
	b = append(append(b, id), head...)
	if e := c.log.Trace(); e.Enabled() {
		e.Uint8("ext", id).Int("len", len(head)+len(body)).Msg("send extended")
	}
	err = c.writeBuffers(ctx, "send extended", net.Buffers{b, body})
	c.keep(b)
	return err
}

// appendHeader appends a message's length prefix and id.
func appendHeader(b []byte, id MessageID, payloadLen int) ([]byte, error) {
	if uint64(payloadLen)+1 > 1<<32-1 {
		return nil, fmt.Errorf("message payload of %d bytes is too long", payloadLen)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(payloadLen+1))
	return append(b, byte(id)), nil
}

// keep keeps the write buffer for the next write, unless it grew too big.
func (c *Conn) keep(b []byte) {
	if cap(b) > maxKeptWriteBuf {
		c.wbuf = nil
	} else {
		c.wbuf = b[:0]
	}
}

func (c *Conn) write(ctx context.Context, op string, b []byte) error {
	return c.writeBuffers(ctx, op, net.Buffers{b})
}

// writeBuffers writes bufs in order: with writev on a plain connection,
// through the RC4 stream's bounded buffer on an encrypted one.
// Queued messages go first, in the same write.
func (c *Conn) writeBuffers(ctx context.Context, op string, bufs net.Buffers) error {
	if c.q.n > 0 {
		bufs = c.q.take(bufs)
		defer c.q.reset()
	}
	stop, start := c.deadline(ctx, c.cfg.WriteTimeout)
	defer stop()
	var err error
	if rw, ok := c.w.(*rc4Writer); ok {
		err = rw.writeBuffers(bufs)
	} else {
		_, err = bufs.WriteTo(c.w)
	}
	if err != nil {
		return c.ioErr(ctx, op, err, start)
	}
	return nil
}

// deadline sets the socket deadline to the sooner of now+d and the context's
// deadline, and arranges for cancellation to interrupt the operation.
func (c *Conn) deadline(ctx context.Context, d time.Duration) (stop func(), start time.Time) {
	start = time.Now()
	dl := start.Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	_ = c.nc.SetDeadline(dl)
	if ctx.Done() == nil {
		// Nothing can cancel ctx (a server that closes the socket
		// itself on shutdown): the deadline is all there is to set.
		return func() {}, start
	}
	// Set the deadline first, then watch the context: if it is already done
	// the AfterFunc runs at once and the past deadline wins.
	fired := make(chan struct{})
	cancel := context.AfterFunc(ctx, func() {
		_ = c.nc.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		// If the AfterFunc has started, wait for it: otherwise its past
		// deadline could land on the next operation's fresh one.
		if !cancel() {
			<-fired
		}
	}, start
}

// ioErr turns a socket error into one that names its cause.
func (c *Conn) ioErr(ctx context.Context, op string, err error, start time.Time) error {
	switch {
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, context.Cause(ctx))
	case isTimeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &TimeoutError{Op: op, After: time.Since(start)}
	case errors.Is(err, io.EOF) && op == "read handshake":
		return fmt.Errorf("%s: %w (most peers do this for a torrent they do not have)", op, ErrClosedBeforeAnswer)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isReset(err):
		return fmt.Errorf("%s: %w", op, ErrClosedByPeer)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
