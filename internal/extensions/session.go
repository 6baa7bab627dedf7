package extensions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/btext/btext/internal/peer"
)

// DefaultHandshakeTimeout bounds the wait for the peer's extended handshake
// after the BT handshake.
const DefaultHandshakeTimeout = 10 * time.Second

// maxEarly bounds how many messages received before the peer's extended
// handshake are kept for display; the rest are only counted.
const maxEarly = 64

// Options configure a session.
type Options struct {
	InfoHash peer.Hash
	PeerID   peer.PeerID
	Local    Local
	// HandshakeTimeout bounds the wait for the extended handshake.
	HandshakeTimeout time.Duration
	Peer             peer.Config
	// AnyHash accepts a peer that answers the BT handshake with another
	// info hash (see Session.AnsweredHash): a hybrid torrent's peer may
	// answer with its other hash, as libtorrent 2.0 does. Only for callers
	// that verify what they get against the hash they asked for.
	AnyHash bool
	// NoInitialPayload sends our BT handshake after the encryption
	// handshake instead of inside it, as its initial payload (IA): one
	// round trip more. For measurement, and for a peer that mishandles IA.
	NoInitialPayload bool
}

// Session is a peer connection past the handshakes.
type Session struct {
	Conn   *peer.Conn
	Remote peer.Handshake
	// Ext is the peer's latest extended handshake, nil until one arrives.
	Ext      *Handshake
	Registry Registry
	// Early are the messages the peer sent before its extended handshake
	// (at most maxEarly); Dropped counts those not kept.
	Early   []peer.Message
	Dropped int
}

// Connect dials addr, does the BT handshake, and, if the peer set the
// extension bit, exchanges extended handshakes. When the peer did not set
// the bit the session is returned along with an error wrapping
// ErrNotSupported, so that what the peer did say can be shown.
func Connect(ctx context.Context, addr string, opt Options) (*Session, error) {
	local := peer.Handshake{Reserved: peer.LocalReserved(), InfoHash: opt.InfoHash, PeerID: opt.PeerID}
	c, sent, err := dial(ctx, addr, opt, local)
	if err != nil {
		return nil, err
	}
	s := &Session{Conn: c}
	if !sent {
		err = c.WriteHandshake(ctx, local)
	}
	if err == nil {
		s.Remote, err = c.ReadHandshake(ctx)
	}
	if err == nil && !opt.AnyHash && s.Remote.InfoHash != opt.InfoHash {
		err = c.Violation("peer answered for info hash %s, not %s", s.Remote.InfoHash, opt.InfoHash)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	if !s.Remote.Reserved.Extended() {
		return s, fmt.Errorf("extension protocol (BEP 10): %w: reserved bytes %s lack bit 0x10 in byte 5", ErrNotSupported, s.Remote.Reserved)
	}
	if opt.Local.YourIP == (netip.Addr{}) {
		opt.Local.YourIP = AddrOf(c.RemoteAddr())
	}
	if err := s.Exchange(ctx, opt); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// mseRedials bounds the new connections made when an MSE secret comes out
// with a leading zero byte (1 in 256 each; see peer.ErrMSERedial), and
// mseRedialWait spaces them: Transmission closes a new connection from an
// address that disconnected less than ~0.6 s before.
const (
	mseRedials    = 3
	mseRedialWait = time.Second
)

// dial connects and applies the MSE policy: with prefer, a peer that
// closes on the encryption handshake is dialled again for a plain one. It
// reports whether our BT handshake already went out, as MSE's initial
// payload.
func dial(ctx context.Context, addr string, opt Options, local peer.Handshake) (c *peer.Conn, sent bool, err error) {
	c, err = peer.Dial(ctx, addr, opt.Peer)
	if err != nil || opt.Peer.Encryption == peer.EncryptionOff {
		return c, false, err
	}
	offer := opt.Peer.Encryption.Offer()
	for redial := 0; ; redial++ {
		if opt.NoInitialPayload {
			_, err = c.Obfuscate(ctx, opt.InfoHash, offer)
		} else {
			_, err = c.ObfuscateHandshake(ctx, local, offer)
		}
		if err == nil {
			return c, !opt.NoInitialPayload, nil
		}
		c.Close()
		if !errors.Is(err, peer.ErrMSERedial) || redial == mseRedials {
			break
		}
		c.Log().Debug().Msg("MSE secret with a leading zero byte: connecting again with a new key")
		select {
		case <-ctx.Done():
			return nil, false, context.Cause(ctx)
		case <-time.After(mseRedialWait):
		}
		if c, err = peer.Dial(ctx, addr, opt.Peer); err != nil {
			return nil, false, err
		}
	}
	if opt.Peer.Encryption != peer.EncryptionPrefer || !errors.Is(err, peer.ErrClosedByPeer) {
		return nil, false, err
	}
	c.Log().Info().Err(err).Msg("the peer closed on the encryption handshake: connecting again without")
	c, err = peer.Dial(ctx, addr, opt.Peer)
	return c, false, err
}

// Exchange sends our extended handshake and reads messages until the
// peer's arrives, within opt.HandshakeTimeout. Ours goes first, right after
// the BT handshake: libtorrent drops a peer whose first extension message is
// anything else.
func (s *Session) Exchange(ctx context.Context, opt Options) error {
	if err := s.Conn.WriteMessage(ctx, peer.ExtendedMessage(0, opt.Local.Encode())); err != nil {
		return fmt.Errorf("send extended handshake: %w", err)
	}
	d := opt.HandshakeTimeout
	if d <= 0 {
		d = DefaultHandshakeTimeout
	}
	if ctx.Done() == nil {
		// Nothing can cancel ctx (btext serve's): the deadline is all
		// there is, and the socket's deadline enforces it. A
		// context.WithTimeout would cost serve a timer and a watch of it
		// on every connection.
		ctx = deadlineCtx{ctx, time.Now().Add(d)}
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	for s.Ext == nil {
		msg, err := s.Conn.ReadMessage(ctx)
		if err != nil {
			return fmt.Errorf("wait for extended handshake: %w", err)
		}
		if msg.ID == peer.Extended && !msg.KeepAlive && msg.Payload[0] == 0 {
			if _, err := s.Receive(msg); err != nil {
				return err
			}
			continue
		}
		if msg.KeepAlive {
			continue
		}
		if len(s.Early) < maxEarly {
			s.Early = append(s.Early, msg)
		} else {
			s.Dropped++
		}
	}
	return nil
}

// deadlineCtx is a context that cannot be cancelled with a deadline: the
// sooner of its parent's and its own. peer.Conn sets its socket deadline
// from it; its Done is nil, so nothing watches it.
type deadlineCtx struct {
	context.Context
	d time.Time
}

func (c deadlineCtx) Deadline() (time.Time, bool) {
	if pd, ok := c.Context.Deadline(); ok && pd.Before(c.d) {
		return pd, true
	}
	return c.d, true
}

// Receive handles an extended handshake (the first or a later one): the
// registry is updated additively and Ext replaced. It reports the notes of
// the registry update. Other messages are not its business.
func (s *Session) Receive(msg peer.Message) (notes []string, err error) {
	h, err := Parse(msg.Payload[1:])
	if err != nil {
		return nil, err
	}
	if prev := s.Ext; prev != nil {
		h.Changes = diff(prev, h)
		// m is additive: names the new handshake leaves out keep their ids.
		for name, id := range prev.M {
			if _, ok := h.M[name]; !ok {
				h.M[name] = id
			}
		}
	}
	notes = s.Registry.Apply(h.rawM)
	h.Notes = append(h.Notes, notes...)
	s.Ext = h
	log := s.Conn.Log()
	for _, n := range h.Notes {
		log.Debug().Str("note", n).Msg("extended handshake")
	}
	return h.Notes, nil
}

// Close closes the connection.
func (s *Session) Close() error { return s.Conn.Close() }

// AddrOf returns the IP address of a TCP address (invalid if it is not one).
func AddrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
