// Package peertest runs scripted fake peers on 127.0.0.1 for tests: each
// accepted connection is handed to a function that plays a (good, odd or
// hostile) peer with the helpers below.
package peertest

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

// Listen starts a fake peer on 127.0.0.1 that runs play for every
// connection, and returns its address. Everything stops when the test ends.
func Listen(t testing.TB, play func(c *Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				stop := context.AfterFunc(ctx, func() { nc.Close() })
				defer stop()
				defer nc.Close()
				// No fake peer lives longer than this, whatever it plays.
				_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
				play(&Conn{Conn: nc, ctx: ctx})
			}()
		}
	}()
	return ln.Addr().String()
}

// Conn is the fake peer's side of a connection. Its helpers ignore errors:
// the side under test is what is being checked.
type Conn struct {
	net.Conn
	ctx context.Context
}

// ReadHandshake reads the 68-byte handshake of the side under test.
func (c *Conn) ReadHandshake() (peer.Handshake, bool) {
	buf := make([]byte, peer.HandshakeLen)
	if _, err := io.ReadFull(c, buf); err != nil {
		return peer.Handshake{}, false
	}
	var h peer.Handshake
	if h.UnmarshalBinary(buf) != nil {
		return peer.Handshake{}, false
	}
	return h, true
}

// WriteHandshake sends a handshake with the given reserved bytes and hash.
func (c *Conn) WriteHandshake(r peer.Reserved, hash peer.Hash, id string) {
	h := peer.Handshake{Reserved: r, InfoHash: hash}
	copy(h.PeerID[:], id)
	b, _ := h.AppendBinary(nil)
	c.Write(b)
}

// Extended is the reserved value with only the extension bit set.
var Extended = peer.Reserved{}.WithExtended()

// Answer reads the handshake and answers it for the same info hash with the
// extension bit set; it returns the handshake read.
func (c *Conn) Answer(id string) (peer.Handshake, bool) {
	h, ok := c.ReadHandshake()
	if ok {
		c.WriteHandshake(Extended, h.InfoHash, id)
	}
	return h, ok
}

// WriteMessage sends one message.
func (c *Conn) WriteMessage(m peer.Message) {
	b, _ := m.AppendBinary(nil)
	c.Write(b)
}

// WriteExtended sends an extension message with a raw payload.
func (c *Conn) WriteExtended(id uint8, payload []byte) {
	c.WriteMessage(peer.ExtendedMessage(id, payload))
}

// WriteExtHandshake sends an extended handshake built from d.
func (c *Conn) WriteExtHandshake(d map[string]any) {
	b, err := bencode.Encode(d)
	if err != nil {
		panic(err) // test data
	}
	c.WriteExtended(0, b)
}

// WriteLength sends a bare length prefix.
func (c *Conn) WriteLength(n uint32) {
	c.Write(binary.BigEndian.AppendUint32(nil, n))
}

// Drain reads and discards until the other side closes or the test ends.
func (c *Conn) Drain() { io.Copy(io.Discard, c) }

// Dribble writes b one byte per interval until done or the test ends.
func (c *Conn) Dribble(b []byte, interval time.Duration) {
	for _, x := range b {
		if _, err := c.Write([]byte{x}); err != nil {
			return
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Stall blocks until the test ends or the other side closes.
func (c *Conn) Stall() { c.Drain() }

// Serve runs btext's own serving side (metadata.Server) on 127.0.0.1 for
// the given info dictionaries, until the test ends.
func Serve(t testing.TB, cfg metadata.ServerConfig, infos ...[]byte) (string, *metadata.Server) {
	t.Helper()
	srv := NewServer(t, cfg, infos...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String(), srv
}

// NewServer makes a metadata.Server for cfg and the given info
// dictionaries (a random peer id if cfg has none), for a test that runs it
// on a listener of its own.
func NewServer(t testing.TB, cfg metadata.ServerConfig, infos ...[]byte) *metadata.Server {
	t.Helper()
	for _, info := range infos {
		tor, err := metainfo.ParseInfo(info)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Torrents = append(cfg.Torrents, tor)
	}
	if cfg.PeerID == (peer.PeerID{}) {
		cfg.PeerID = peer.RandomPeerID()
	}
	srv, err := metadata.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}
