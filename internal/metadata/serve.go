package metadata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

// Serving defaults.
const (
	// DefaultIdleTimeout closes a connection that sends nothing, not even a
	// keep-alive (BEP 3 peers send one every two minutes).
	DefaultIdleTimeout = 3 * time.Minute
	// DefaultServeReqq is the reqq we advertise: how many metadata requests
	// a peer may have queued with us.
	DefaultServeReqq = 250
	// DefaultMaxPeers caps concurrent connections to serve: each costs a
	// goroutine, a file descriptor and about 40 KiB of buffers.
	DefaultMaxPeers = 2000
)

// ServerConfig configures a Server.
type ServerConfig struct {
	Torrents    []*metainfo.Torrent
	PeerID      peer.PeerID
	Client      string // "v" in our extended handshake
	Peer        peer.Config
	IdleTimeout time.Duration
	// ExtHandshakeTimeout bounds the wait for a peer's extended handshake.
	ExtHandshakeTimeout time.Duration
	// Drop, if set, announces every piece and then sends lt_donthave.
	Drop *DropPiece
	// MaxPeers caps concurrent connections (DefaultMaxPeers when 0); more
	// are closed at once.
	MaxPeers int
	Log      zerolog.Logger
}

// Server is btext as a peer: it answers handshakes for the torrents it was
// given and serves their metadata.
type Server struct {
	cfg    ServerConfig
	byHash map[peer.Hash]*metainfo.Torrent
	hashes extensions.Hashes // the same hashes, also as MSE names them

	active, accepted, refused, pieces, rejects atomic.Int64
}

// NewServer indexes the torrents by every hash a peer may use in its
// handshake: the SHA-1 info hash and, for v2 and hybrid torrents, the
// truncated SHA-256 one.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxPeers <= 0 {
		cfg.MaxPeers = DefaultMaxPeers
	}
	if cfg.Peer.ReadBufferSize <= 0 {
		cfg.Peer.ReadBufferSize = serveReadBuffer
	}
	s := &Server{cfg: cfg, byHash: make(map[peer.Hash]*metainfo.Torrent)}
	for _, t := range cfg.Torrents {
		var hashes []peer.Hash
		if t.HasV1 {
			hashes = append(hashes, peer.Hash(t.InfoHash))
		}
		if t.HasV2 {
			hashes = append(hashes, peer.Hash(t.V2Handshake()))
		}
		for _, h := range hashes {
			if !s.hashes.Add(h) {
				return nil, fmt.Errorf("torrent %s given twice", h)
			}
			s.byHash[h] = t
		}
	}
	return s, nil
}

// Serve accepts connections on ln until ctx is done, then closes ln, waits
// for the connections to end and returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	// Our extended handshake for each torrent, encoded once: only yourip
	// changes from one connection to the next.
	var port uint16
	if ta, ok := ln.Addr().(*net.TCPAddr); ok {
		port = uint16(ta.Port)
	}
	locals := make(map[peer.Hash]extensions.Local, len(s.byHash))
	for h, t := range s.byHash {
		l := s.localHandshake(t)
		l.Port = port
		locals[h] = l.Prepare()
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	backoff := time.Duration(0)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Out of file descriptors, or a connection aborted before it
			// was accepted: wait a little and go on, as net/http does.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) ||
				errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.cfg.Log.Warn().Err(err).Dur("retry_in", backoff).Msg("accept")
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(backoff):
				}
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 0
		if n := s.active.Add(1); n > int64(s.cfg.MaxPeers) {
			s.active.Add(-1)
			s.refused.Add(1)
			s.cfg.Log.Debug().Str("peer", nc.RemoteAddr().String()).Int("max_peers", s.cfg.MaxPeers).Msg("too many peers: connection refused")
			nc.Close()
			continue
		}
		s.accepted.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.active.Add(-1)
			s.handle(ctx, nc, locals)
		}()
	}
}

// Stats counts connections and what was served.
type Stats struct {
	Active   int64
	Accepted int64
	Refused  int64 // over the peer limit
	Pieces   int64 // metadata pieces and LT ranges served
	Rejects  int64 // metadata requests rejected
}

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{Active: s.active.Load(), Accepted: s.accepted.Load(), Refused: s.refused.Load(),
		Pieces: s.pieces.Load(), Rejects: s.rejects.Load()}
}

func (s *Server) handle(ctx context.Context, nc net.Conn, locals map[peer.Hash]extensions.Local) {
	// The server's context is watched once for the connection's whole
	// life: when it is done the socket is closed, which ends a read or a
	// write at once. The connection's reads and writes get a context that
	// cannot be cancelled, so that none of them registers with a context
	// (an allocation, a lock and a goroutine's wake-up each, eight or so
	// times a fetch). Each still has its deadline (peer.Config).
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	cctx := context.WithoutCancel(ctx)
	log := s.cfg.Log.With().Str("peer", nc.RemoteAddr().String()).Logger()
	// At debug level: every connection is logged at info when it ends,
	// and on its handshake.
	log.Debug().Msg("connection accepted")
	var p *servedPeer
	err := s.session(cctx, nc, locals, &log, &p)
	var uh *extensions.UnknownHashError
	level, msg := zerolog.InfoLevel, "connection closed"
	switch {
	case err == nil, ctx.Err() != nil:
	case errors.As(err, &uh):
		logHandshake(log.Info(), uh.Remote).Msg("handshake for an unknown info hash: closing")
		return
	case errors.Is(err, peer.ErrClosedByPeer):
		msg = "peer closed the connection"
	default:
		level = zerolog.WarnLevel
	}
	ev := log.WithLevel(level)
	if level == zerolog.WarnLevel {
		ev = ev.Err(err)
	}
	if p != nil {
		ev = ev.Int("requests", p.requests).Int("served", p.served).Int("refused", p.refused)
	}
	ev.Msg(msg)
}

func logHandshake(ev *zerolog.Event, h peer.Handshake) *zerolog.Event {
	return ev.Str("info_hash", h.InfoHash.String()).Str("peer_id", peer.EscapeBinary(h.PeerID[:])).
		Str("client", peer.ClientName(h.PeerID)).Str("reserved", h.Reserved.String())
}

// session serves one connection; *served is its state once the
// handshakes are done, for the caller's last log line.
func (s *Server) session(ctx context.Context, nc net.Conn, locals map[peer.Hash]extensions.Local, log *zerolog.Logger, served **servedPeer) error {
	sess, err := extensions.Accept(ctx, nc, extensions.AcceptOptions{
		PeerID:           s.cfg.PeerID,
		Hashes:           &s.hashes,
		Local:            func(h peer.Hash) extensions.Local { return locals[h] },
		HandshakeTimeout: s.cfg.ExtHandshakeTimeout,
		Peer:             s.cfg.Peer,
	})
	if sess == nil {
		return err
	}
	defer sess.Close()
	c := sess.Conn
	h := sess.Remote
	t := s.byHash[h.InfoHash]
	logHandshake(log.Info(), h).Msg("handshake")
	var batch []peer.Message
	switch {
	case err == nil:
		logExtHandshake(log, sess.Ext)
		batch = append(batch, sess.Early...)
	case errors.Is(err, extensions.ErrNotSupported):
		log.Info().Msg("peer does not support the extension protocol")
	default:
		return err
	}
	p := &servedPeer{Session: sess, t: t, log: log, srv: s}
	*served = p
	if t.Pieces > 0 {
		c.Pieces().SetCount(t.Pieces)
	}
	if d := s.cfg.Drop; d != nil && h.Reserved.Extended() {
		if err := p.announceAll(ctx); err != nil {
			return err
		}
		p.dropAt = time.Now().Add(d.After)
		p.drop = d
	}
	for {
		// Take every message that has already arrived as one batch: its
		// metadata requests are the ones queued with us, and those beyond
		// the reqq we advertised are rejected.
		for len(batch) < maxBatch && (len(batch) == 0 || c.MessageBuffered()) {
			msg, ok, err := p.read(ctx)
			if err != nil {
				return err
			}
			if !ok {
				break // the drop was due and is sent
			}
			batch = append(batch, msg)
		}
		// The answers to the batch are queued and go out together, in
		// one write: as fast as the peer asks, one system call for all.
		p.queued = 0
		for _, msg := range batch {
			if err := p.handle(ctx, msg); err != nil {
				return err
			}
		}
		if err := c.Flush(ctx); err != nil {
			return err
		}
		batch = batch[:0]
	}
}

// read reads the next message; while a --drop-piece is pending it wakes up
// when the drop is due, sends it and returns ok false.
func (p *servedPeer) read(ctx context.Context) (msg peer.Message, ok bool, err error) {
	if p.drop == nil {
		msg, err := p.Conn.ReadMessage(ctx)
		return msg, err == nil, err
	}
	rctx, cancel := context.WithDeadline(ctx, p.dropAt)
	msg, err = p.Conn.ReadMessage(rctx)
	cancel()
	var te *peer.TimeoutError
	if err != nil && errors.As(err, &te) && ctx.Err() == nil && !time.Now().Before(p.dropAt) {
		return peer.Message{}, false, p.sendDrop(ctx)
	}
	return msg, err == nil, err
}

// DropPiece makes serve tell each peer that advertises lt_donthave that it
// no longer has Piece, After the handshakes (btext serve --drop-piece).
type DropPiece struct {
	Piece uint32
	After time.Duration
}

// announceAll sends a bitfield with every piece: BEP 54 receivers ignore a
// dont-have for a piece never announced.
func (p *servedPeer) announceAll(ctx context.Context) error {
	n := p.t.Pieces
	bits := make([]byte, (n+7)/8)
	for i := range n {
		bits[i/8] |= 0x80 >> (i % 8)
	}
	p.log.Info().Int("pieces", n).Msg("announced every piece (bitfield)")
	return p.Conn.WriteMessage(ctx, peer.Message{ID: peer.Bitfield, Payload: bits})
}

func (p *servedPeer) sendDrop(ctx context.Context) error {
	d := p.drop
	p.drop = nil
	id, ok := p.Registry.ID(extensions.LTDontHave)
	if !ok {
		p.log.Info().Uint32("piece", d.Piece).Msg("peer does not advertise lt_donthave: no dont-have sent")
		return nil
	}
	b, _ := extensions.DontHave{Piece: d.Piece}.AppendBinary(nil)
	p.log.Info().Uint32("piece", d.Piece).Uint8("id", id).Msg("sent lt_donthave")
	return p.Conn.WriteMessage(ctx, peer.ExtendedMessage(id, b))
}

// serveReadBuffer is a served connection's read buffer: peers send serve
// handshakes and requests of 30 bytes or so, and with a thousand peers
// the default 4 KiB each was the largest part of serve's heap. Requests
// beyond it wait in the kernel, where MessageBuffered still sees them.
const serveReadBuffer = 1 << 10

// maxBatch bounds how many buffered messages are taken at once.
const maxBatch = 2 * DefaultServeReqq

// servedPeer is the serving side's state for one connection.
type servedPeer struct {
	*extensions.Session
	t      *metainfo.Torrent
	log    *zerolog.Logger
	drop   *DropPiece // pending --drop-piece
	dropAt time.Time
	srv    *Server
	queued int
	// requests counts the metadata requests received, served and
	// refused those answered.
	requests, served, refused int
	head                      []byte // scratch for an answer's head
}

// handle logs a message, decoded (have and lt_donthave with their piece),
// applies it to the connection's state and answers metadata requests.
func (p *servedPeer) handle(ctx context.Context, msg peer.Message) error {
	e, err := p.Handle(msg)
	if err != nil {
		return err
	}
	request := !msg.KeepAlive && msg.ID == peer.Extended &&
		(msg.Payload[0] == extensions.LocalUTMetadata || msg.Payload[0] == extensions.LocalLTMetadata)
	// A metadata request is logged at debug level, with its answer (see
	// answer): a fetch sends them by the hundred, and at info level the
	// log lines cost serve more than the answers. The connection's last
	// line counts them.
	level := zerolog.InfoLevel
	if request {
		level = zerolog.DebugLevel
		p.requests++
	}
	if ev := p.log.WithLevel(level); ev.Enabled() {
		ev = ev.Str("msg", e.String())
		if e.Piece != nil {
			ev = ev.Uint32("piece", *e.Piece)
		}
		ev.Msg("recv " + e.Type)
	}
	if msg.KeepAlive || msg.ID != peer.Extended {
		return nil
	}
	switch msg.Payload[0] {
	case 0:
		logExtHandshake(p.log, p.Ext)
	case extensions.LocalUTMetadata:
		return p.serveUT(ctx, msg.Payload[1:])
	case extensions.LocalLTMetadata:
		return p.serveLT(ctx, msg.Payload[1:])
	}
	return nil
}

// serveUT answers a ut_metadata request with the piece, or a reject (see
// answer). A malformed message is logged and ignored.
func (p *servedPeer) serveUT(ctx context.Context, payload []byte) error {
	var m UTMessage
	if piece, ok := parseUTRequest(payload); ok {
		m = UTMessage{Type: UTRequest, Piece: piece, TotalSize: -1}
	} else if err := m.UnmarshalBinary(payload); err != nil {
		p.log.Warn().Err(err).Msg("ignored")
		return nil
	}
	if m.Type != UTRequest {
		p.log.Info().Int64("msg_type", m.Type).Int64("piece", m.Piece).Msg("ut_metadata message ignored")
		return nil
	}
	size := len(p.t.Info)
	r := serveRequest{ext: extensions.UTMetadata, refused: "ut_metadata reject", served: "ut_metadata piece", piece: m.Piece}
	if n := PieceCount(size); m.Piece >= int64(n) {
		r.outOfRange = fmt.Sprintf("piece out of range 0..%d", n-1)
	}
	id, refuse, ok := p.answer(&r)
	if !ok {
		return nil
	}
	a, data := utAnswer{Type: UTReject, Piece: m.Piece, TotalSize: -1}, []byte(nil)
	if !refuse {
		i := int(m.Piece)
		a = utAnswer{Type: UTData, Piece: m.Piece, TotalSize: int64(size)}
		data = p.t.Info[i*PieceSize : i*PieceSize+PieceLen(size, i)]
	}
	head, err := a.AppendBinary(p.head[:0])
	if err != nil {
		return err
	}
	return p.queueAnswer(ctx, id, head, data)
}

// serveLT answers an LT_metadata request with the byte range of its 256ths
// (see LTRange), or "don't have" (see answer); a range too long for one
// message counts as out of range.
func (p *servedPeer) serveLT(ctx context.Context, payload []byte) error {
	var m LTMessage
	if err := m.UnmarshalBinary(payload); err != nil {
		p.log.Warn().Err(err).Msg("ignored")
		return nil
	}
	if m.Type != LTRequest {
		p.log.Info().Uint8("type", m.Type).Msg("LT_metadata message ignored")
		return nil
	}
	first, last := LTRange(m.Start, m.Size, len(p.t.Info))
	r := serveRequest{ext: extensions.LTMetadata, refused: "LT_metadata don't have", served: "LT_metadata data",
		lt: true, start: m.Start, size: m.Size, offset: first, len: last - first}
	if last-first > maxLTReply {
		r.outOfRange = fmt.Sprintf("range of %d bytes is longer than %d", last-first, maxLTReply)
	}
	id, refuse, ok := p.answer(&r)
	if !ok {
		return nil
	}
	a, data := LTMessage{Type: LTDontHave}, []byte(nil)
	if !refuse {
		a, data = LTMessage{Type: LTData, Total: int32(len(p.t.Info)), Offset: int32(first)}, p.t.Info[first:last]
	}
	head, err := a.AppendBinary(p.head[:0])
	if err != nil {
		return err
	}
	return p.queueAnswer(ctx, id, head, data)
}

// serveRequest is what the answer policy needs to know of one metadata
// request. Its fields for the log line are plain values, not a closure:
// a closure would cost an allocation a request.
type serveRequest struct {
	ext             string // the extension's name, for the peer's id
	outOfRange      string // why the range cannot be served, or ""
	refused, served string // log messages
	lt              bool   // LT_metadata: start, size, offset and len; else piece
	piece           int64
	start, size     int
	offset, len     int
}

func (r *serveRequest) fields(e *zerolog.Event) *zerolog.Event {
	if r.lt {
		return e.Int("start", r.start).Int("size", r.size).Int("offset", r.offset).Int("len", r.len)
	}
	return e.Int64("piece", r.piece)
}

// answer is serve's one answer policy for ut_metadata and LT_metadata: a
// request is refused when the torrent is private (libtorrent and
// Transmission do not serve those), when its range is out of range, or
// when it is beyond the reqq we advertised among the requests that arrived
// together; otherwise the data goes out. It counts and logs the decision
// and returns the peer's id for the extension. A peer that did not
// advertise the extension cannot be answered at all (ok false).
func (p *servedPeer) answer(r *serveRequest) (id uint8, refuse, ok bool) {
	id, ok = p.Registry.ID(r.ext)
	if !ok {
		p.log.Warn().Msg(r.ext + " request from a peer that did not advertise " + r.ext + ": cannot answer")
		return 0, false, false
	}
	p.queued++
	reason := r.outOfRange
	switch {
	case p.t.Private:
		reason = "private torrent"
	case reason != "":
	case p.queued > DefaultServeReqq:
		reason = fmt.Sprintf("more than %d requests queued", DefaultServeReqq)
	}
	if reason != "" {
		p.srv.rejects.Add(1)
		p.refused++
		r.fields(p.log.Info()).Str("reason", reason).Msg(r.refused)
	} else {
		p.srv.pieces.Add(1)
		p.served++
		if ev := p.log.Debug(); ev.Enabled() {
			r.fields(ev).Msg(r.served)
		}
	}
	return id, reason != "", true
}

// queueAnswer queues an answer: the message without its data (head,
// copied), then the data itself, a slice of the info dict, which goes out
// without a copy (up to 1 MiB for LT_metadata; 200 such answers once cost
// serve 300 MiB).
func (p *servedPeer) queueAnswer(ctx context.Context, id uint8, head, data []byte) error {
	p.head = head
	// A write is bounded in time (peer.Config.WriteTimeout): a queue that
	// would outgrow maxQueuedWrite goes out first, so that no write is
	// longer than one LT_metadata answer was on its own.
	if q := p.Conn.Queued(); q > 0 && q+len(head)+len(data) > maxQueuedWrite {
		if err := p.Conn.Flush(ctx); err != nil {
			return err
		}
	}
	return p.Conn.QueueExtended(id, head, data)
}

// maxQueuedWrite bounds the answers queued for one write.
const maxQueuedWrite = 1 << 20

// maxLTReply keeps an LT_metadata answer within the 1 MiB message cap
// that libtorrent and btext apply.
const maxLTReply = peer.DefaultMaxMessageLen - 16

// localHandshake is the extended handshake we send for t. A private
// torrent's metadata is not offered, as libtorrent and Transmission do.
// Accept fills in yourip and p from the connection.
func (s *Server) localHandshake(t *metainfo.Torrent) extensions.Local {
	l := extensions.Local{
		Client: s.cfg.Client,
		Reqq:   DefaultServeReqq,
		M:      extensions.LocalM(),
	}
	if t.Private {
		delete(l.M, extensions.UTMetadata)
		delete(l.M, extensions.LTMetadata)
	} else {
		l.MetadataSize = int64(len(t.Info))
	}
	return l
}

func logExtHandshake(log *zerolog.Logger, h *extensions.Handshake) {
	ev := logM(log.Info(), h.M)
	if h.V != nil {
		ev = ev.Str("v", peer.Escape(*h.V))
	}
	if h.MetadataSize != nil {
		ev = ev.Int64("metadata_size", *h.MetadataSize)
	}
	if len(h.Notes) > 0 {
		ev = ev.Strs("notes", h.Notes)
	}
	ev.Msg("extended handshake")
}

// logM adds the field m as Interface would (encoding/json, keys sorted)
// without encoding/json's reflection, which cost serve a fiftieth of its
// CPU: when every key is printable ASCII that both write alike.
func logM(ev *zerolog.Event, m map[string]int64) *zerolog.Event {
	if !ev.Enabled() {
		return ev
	}
	if m == nil {
		return ev.Interface("m", m)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		for i := range len(k) {
			if c := k[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return ev.Interface("m", m)
			}
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	d := zerolog.Dict()
	for _, k := range keys {
		d = d.Int64(k, m[k])
	}
	return ev.Dict("m", d)
}
