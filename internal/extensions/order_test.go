package extensions

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/btext/btext/internal/peer"
)

// TestConnectWaitsForPeerHandshake: nothing follows our BT handshake
// until the peer's has come. aria2 1.36 aborts an incoming connection
// whose first read holds more than the 68-byte handshake, and bans the
// address; a peer without BEP 10 must not get an extension message
// (docs/protocol-notes.md, "Our extended handshake waits").
func TestConnectWaitsForPeerHandshake(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	early := make(chan int, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		buf := make([]byte, peer.HandshakeLen)
		var h peer.Handshake
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(nc, buf); err != nil || h.UnmarshalBinary(buf) != nil {
			early <- -1
			return
		}
		// Anything sent right behind the handshake arrives at once on
		// loopback: 300 ms is plenty to see it.
		_ = nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, _ := nc.Read(make([]byte, 1024))
		early <- n
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		b, _ := peer.Handshake{Reserved: peer.LocalReserved(), InfoHash: h.InfoHash}.AppendBinary(nil)
		b, _ = peer.ExtendedMessage(0, []byte("d1:md11:ut_metadatai3eee")).AppendBinary(b)
		nc.Write(b)
		io.Copy(io.Discard, nc)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Connect(ctx, ln.Addr().String(), Options{InfoHash: peer.Hash{3}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := <-early; n != 0 {
		t.Errorf("%d bytes followed our BT handshake before the peer's came, want none", n)
	}
	if s.Conn.State() != peer.StateExtended {
		t.Errorf("state %s, want extended", s.Conn.State())
	}
}
