package metadata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/btext/btext/internal/extensions"
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
)

// ServerConfig configures a Server.
type ServerConfig struct {
	Torrents    []*Torrent
	PeerID      peer.PeerID
	Client      string // "v" in our extended handshake
	Peer        peer.Config
	IdleTimeout time.Duration
	// ExtHandshakeTimeout bounds the wait for a peer's extended handshake.
	ExtHandshakeTimeout time.Duration
	Log                 zerolog.Logger
}

// Server is btext as a peer: it answers handshakes for the torrents it was
// given and serves their metadata.
type Server struct {
	cfg    ServerConfig
	byHash map[peer.Hash]*Torrent
}

// NewServer indexes the torrents by every hash a peer may use in its
// handshake: the SHA-1 info hash and, for v2 and hybrid torrents, the
// truncated SHA-256 one.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	s := &Server{cfg: cfg, byHash: make(map[peer.Hash]*Torrent)}
	for _, t := range cfg.Torrents {
		var hashes []peer.Hash
		if t.HasV1 {
			hashes = append(hashes, t.InfoHash)
		}
		if t.HasV2 {
			hashes = append(hashes, t.V2Handshake())
		}
		for _, h := range hashes {
			if _, dup := s.byHash[h]; dup {
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
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(ctx, nc)
		}()
	}
}

func (s *Server) handle(ctx context.Context, nc net.Conn) {
	c := peer.NewConn(nc, s.cfg.Peer)
	defer c.Close()
	log := c.Log()
	log.Info().Msg("connection accepted")
	err := s.session(ctx, c)
	switch {
	case err == nil, ctx.Err() != nil:
		log.Info().Msg("connection closed")
	case errors.Is(err, peer.ErrClosedByPeer):
		log.Info().Msg("peer closed the connection")
	default:
		log.Warn().Err(err).Msg("connection closed")
	}
}

func (s *Server) session(ctx context.Context, c *peer.Conn) error {
	log := c.Log()
	h, err := c.ReadHandshake(ctx)
	if err != nil {
		return err
	}
	t, ok := s.byHash[h.InfoHash]
	ev := log.Info().Str("info_hash", h.InfoHash.String()).Str("peer_id", peer.EscapeBinary(h.PeerID[:])).
		Str("client", peer.ClientName(h.PeerID)).Str("reserved", h.Reserved.String())
	if !ok {
		ev.Msg("handshake for an unknown info hash: closing")
		return nil
	}
	ev.Msg("handshake")
	reply := peer.Handshake{Reserved: peer.Reserved{}.WithExtended(), InfoHash: h.InfoHash, PeerID: s.cfg.PeerID}
	if err := c.WriteHandshake(ctx, reply); err != nil {
		return err
	}
	sess := &extensions.Session{Conn: c, Remote: h}
	if h.Reserved.Extended() {
		if err := sess.Exchange(ctx, extensions.Options{Local: s.localHandshake(t, c), HandshakeTimeout: s.cfg.ExtHandshakeTimeout}); err != nil {
			return err
		}
		for _, m := range sess.Early {
			s.logMessage(log, m)
		}
		logExtHandshake(log, sess.Ext)
	} else {
		log.Info().Msg("peer does not support the extension protocol")
	}
	for {
		msg, err := c.ReadMessage(ctx)
		if err != nil {
			return err
		}
		s.logMessage(log, msg)
		if msg.ID == peer.Extended && !msg.KeepAlive && msg.Payload[0] == 0 {
			if _, err := sess.Receive(msg); err != nil {
				return err
			}
			logExtHandshake(log, sess.Ext)
		}
	}
}

// localHandshake is the extended handshake we send for t. A private
// torrent's metadata is not offered, as libtorrent and Transmission do.
func (s *Server) localHandshake(t *Torrent, c *peer.Conn) extensions.Local {
	l := extensions.Local{
		Client: s.cfg.Client,
		Reqq:   DefaultServeReqq,
		YourIP: extensions.AddrOf(c.RemoteAddr()),
		M:      extensions.LocalM(),
	}
	if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
		l.Port = uint16(ta.Port)
	}
	if t.Private {
		delete(l.M, extensions.UTMetadata)
		delete(l.M, extensions.LTMetadata)
	} else {
		l.MetadataSize = int64(len(t.Info))
	}
	return l
}

func (s *Server) logMessage(log *zerolog.Logger, msg peer.Message) {
	ev := log.Info()
	if msg.KeepAlive {
		ev.Str("msg", "keep-alive").Msg("recv")
		return
	}
	ev = ev.Stringer("msg", msg).Int("len", len(msg.Payload)+1)
	if msg.ID == peer.Extended && len(msg.Payload) > 0 {
		name := "handshake"
		if id := msg.Payload[0]; id != 0 {
			name = extensions.LocalName(id)
			if name == "" {
				name = fmt.Sprintf("unknown extension id %d", id)
			}
		}
		ev = ev.Str("ext", name)
	}
	ev.Msg("recv")
}

func logExtHandshake(log *zerolog.Logger, h *extensions.Handshake) {
	ev := log.Info().Interface("m", h.M)
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
