package extensions

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/btext/btext/internal/peer"
)

// Hashes is the set of info hashes an answering side serves, indexed both
// by the hash a BT handshake names and by HASH("req2", hash), the form in
// which an MSE initiator names it without sending it. The zero value is
// empty and ready.
type Hashes struct {
	set    map[peer.Hash]bool
	byReq2 map[[20]byte]peer.Hash
}

// Add adds h; it reports false if h was already there.
func (hs *Hashes) Add(h peer.Hash) bool {
	if hs.set == nil {
		hs.set, hs.byReq2 = make(map[peer.Hash]bool), make(map[[20]byte]peer.Hash)
	}
	if hs.set[h] {
		return false
	}
	hs.set[h] = true
	hs.byReq2[peer.MSEReq2(h)] = h
	return true
}

// Has reports whether h is served.
func (hs *Hashes) Has(h peer.Hash) bool { return hs.set[h] }

func (hs *Hashes) byMSE(req2 [20]byte) (peer.Hash, bool) {
	h, ok := hs.byReq2[req2]
	return h, ok
}

// AcceptOptions configure the answering side of a session.
type AcceptOptions struct {
	PeerID peer.PeerID
	// Hashes are the info hashes we answer for.
	Hashes *Hashes
	// Local builds our extended handshake for the info hash the peer
	// asked for; YourIP and Port are filled in from the connection when
	// left zero.
	Local func(peer.Hash) Local
	// HandshakeTimeout bounds the wait for the extended handshake.
	HandshakeTimeout time.Duration
	// Peer.Encryption is the answering side's MSE policy: off answers
	// plain connections only, prefer both, require MSE with RC4 only.
	Peer peer.Config
}

// UnknownHashError: the peer asked for an info hash we do not serve. Every
// real client closes such a connection without answering, and so do we.
type UnknownHashError struct{ Remote peer.Handshake }

func (e *UnknownHashError) Error() string {
	return fmt.Sprintf("handshake for info hash %s, which we do not serve", e.Remote.InfoHash)
}

// Accept runs the answering side of a session on an accepted connection:
// the MSE policy, the peer's BT handshake (closed, with an
// *UnknownHashError, if it names a hash not in opt.Hashes), our answer with
// the extension and fast bits, and the exchange of extended handshakes.
// When the peer did not set the extension bit the session is returned
// along with an error wrapping ErrNotSupported, as Connect does; the
// connection stays open and plain BT messages can follow. On any other
// error the connection is closed.
func Accept(ctx context.Context, nc net.Conn, opt AcceptOptions) (*Session, error) {
	c := peer.NewConn(nc, opt.Peer)
	s, err := accept(ctx, c, opt)
	if err != nil && s == nil {
		c.Close()
	}
	return s, err
}

func accept(ctx context.Context, c *peer.Conn, opt AcceptOptions) (*Session, error) {
	if err := acceptMSE(ctx, c, opt); err != nil {
		return nil, err
	}
	h, err := c.ReadHandshake(ctx)
	if err != nil {
		return nil, err
	}
	if opt.Hashes == nil || !opt.Hashes.Has(h.InfoHash) {
		return nil, &UnknownHashError{Remote: h}
	}
	reply := peer.Handshake{Reserved: peer.LocalReserved(), InfoHash: h.InfoHash, PeerID: opt.PeerID}
	if err := c.WriteHandshake(ctx, reply); err != nil {
		return nil, err
	}
	s := &Session{Conn: c, Remote: h}
	if !h.Reserved.Extended() {
		return s, fmt.Errorf("extension protocol (BEP 10): %w: reserved bytes %s lack bit 0x10 in byte 5", ErrNotSupported, h.Reserved)
	}
	var local Local
	if opt.Local != nil {
		local = opt.Local(h.InfoHash)
	}
	if !local.YourIP.IsValid() {
		local.YourIP = AddrOf(c.RemoteAddr())
	}
	if ta, ok := c.LocalAddr().(*net.TCPAddr); ok && local.Port == 0 {
		local.Port = uint16(ta.Port)
	}
	if err := s.Exchange(ctx, Options{Local: local, HandshakeTimeout: opt.HandshakeTimeout}); err != nil {
		return nil, err
	}
	return s, nil
}

// acceptMSE answers an MSE handshake when the connection opens with one and
// the policy allows it; a plain connection goes on unless encryption is
// required. With encryption off nothing is read here: ReadHandshake then
// says what else came.
func acceptMSE(ctx context.Context, c *peer.Conn, opt AcceptOptions) error {
	enc := opt.Peer.Encryption
	if enc == peer.EncryptionOff {
		return nil
	}
	plain, err := c.IsPlainHandshake(ctx)
	switch {
	case err != nil:
		return err
	case plain && enc == peer.EncryptionRequire:
		return fmt.Errorf("plain BT handshake refused: encryption (MSE) is required")
	case plain:
		return nil
	}
	allow := peer.CryptoRC4 | peer.CryptoPlain
	if enc == peer.EncryptionRequire {
		allow = peer.CryptoRC4
	}
	find := func([20]byte) (peer.Hash, bool) { return peer.Hash{}, false }
	if opt.Hashes != nil {
		find = opt.Hashes.byMSE
	}
	m, _, err := c.AcceptObfuscated(ctx, find, allow)
	if err != nil {
		return err
	}
	c.Log().Info().Stringer("method", m).Msg("encryption handshake")
	return nil
}
