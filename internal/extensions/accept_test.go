package extensions

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/peer"
)

// acceptAll listens on loopback and runs Accept on every connection (at
// most 4); each result comes back on the channel.
type accepted struct {
	s   *Session
	err error
}

func acceptAll(t *testing.T, opt AcceptOptions) (string, <-chan accepted) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out := make(chan accepted, 4)
	go func() {
		for range 4 {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s, err := Accept(ctx, nc, opt)
			cancel()
			if s != nil {
				t.Cleanup(func() { s.Close() })
			}
			out <- accepted{s, err}
		}
	}()
	return ln.Addr().String(), out
}

// TestAcceptEncryption: both sides' MSE policies, as Connect and Accept
// apply them, in every combination.
func TestAcceptEncryption(t *testing.T) {
	hash := peer.Hash{1, 2, 3}
	var hashes Hashes
	hashes.Add(hash)
	encs := []peer.Encryption{peer.EncryptionOff, peer.EncryptionPrefer, peer.EncryptionRequire}
	for _, server := range encs {
		for _, client := range encs {
			t.Run("serve "+server.String()+"/connect "+client.String(), func(t *testing.T) {
				addr, done := acceptAll(t, AcceptOptions{
					Hashes: &hashes,
					Local:  func(h peer.Hash) Local { return Local{Client: "test", M: LocalM()} },
					Peer:   peer.Config{Encryption: server},
				})
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s, err := Connect(ctx, addr, Options{InfoHash: hash, Peer: peer.Config{Encryption: client}})
				if s != nil {
					defer s.Close()
				}
				// Which pairs meet, and how: a connecting prefer falls
				// back to a plain connection when serve (off) closes on
				// MSE.
				want := map[[2]peer.Encryption]string{
					{peer.EncryptionOff, peer.EncryptionOff}:         "none",
					{peer.EncryptionOff, peer.EncryptionPrefer}:      "none",
					{peer.EncryptionPrefer, peer.EncryptionOff}:      "none",
					{peer.EncryptionPrefer, peer.EncryptionPrefer}:   "rc4",
					{peer.EncryptionPrefer, peer.EncryptionRequire}:  "rc4",
					{peer.EncryptionRequire, peer.EncryptionPrefer}:  "rc4",
					{peer.EncryptionRequire, peer.EncryptionRequire}: "rc4",
				}[[2]peer.Encryption{server, client}]
				if want == "" {
					if err == nil {
						t.Fatalf("connected, want a failure")
					}
					if got := <-done; got.err == nil {
						t.Errorf("Accept succeeded, Connect: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				got := <-done
				for got.s == nil { // a first try that fell back
					got = <-done
				}
				if got.err != nil {
					t.Fatalf("accept: %v", got.err)
				}
				if m := s.Conn.Crypto(); (want == "none") != (m == 0) || want == "rc4" && m != peer.CryptoRC4 {
					t.Errorf("crypto %v, want %s", m, want)
				}
				if got.s.Remote.InfoHash != hash || !got.s.Conn.Fast() || got.s.Ext == nil {
					t.Errorf("accepted session: %+v", got.s.Remote)
				}
				if s.Ext.P == nil || *s.Ext.P == 0 {
					t.Error("Accept did not fill in p")
				}
			})
		}
	}
}

func TestAcceptUnknownAndPlain(t *testing.T) {
	var hashes Hashes
	hashes.Add(peer.Hash{1})
	if hashes.Add(peer.Hash{1}) {
		t.Error("a hash added twice")
	}
	addr, done := acceptAll(t, AcceptOptions{Hashes: &hashes})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Connect(ctx, addr, Options{InfoHash: peer.Hash{2}})
	if !errors.Is(err, peer.ErrClosedByPeer) {
		t.Errorf("connect for an unknown hash: %v", err)
	}
	var uh *UnknownHashError
	if got := <-done; got.s != nil || !errors.As(got.err, &uh) || uh.Remote.InfoHash != (peer.Hash{2}) {
		t.Errorf("accept: %v", got.err)
	}

	// A peer without the extension bit: the session comes back, open,
	// with ErrNotSupported.
	addr, done = acceptAll(t, AcceptOptions{Hashes: &hashes})
	c, err := peer.Dial(ctx, addr, peer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Handshake(ctx, peer.Handshake{InfoHash: peer.Hash{1}}); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.s == nil || !errors.Is(got.err, ErrNotSupported) || !strings.Contains(got.err.Error(), "lack bit 0x10") {
		t.Fatalf("accept: %v", got.err)
	}
	if got.s.Conn.State() != peer.StateOpen {
		t.Errorf("state %v", got.s.Conn.State())
	}
}

// TestAcceptExtHandshakeTimeout: with a context that cannot be cancelled
// (btext serve's), the wait for the peer's extended handshake still ends
// at HandshakeTimeout, with a timeout error; a context's own earlier
// deadline ends it sooner.
func TestAcceptExtHandshakeTimeout(t *testing.T) {
	var hashes Hashes
	hashes.Add(peer.Hash{1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		timeout time.Duration
	}{
		{"no cancel", func() (context.Context, context.CancelFunc) {
			return context.WithoutCancel(context.Background()), func() {}
		}, 200 * time.Millisecond},
		{"no cancel, the context's deadline sooner", func() (context.Context, context.CancelFunc) {
			return deadlineCtx{context.WithoutCancel(context.Background()), time.Now().Add(200 * time.Millisecond)}, func() {}
		}, time.Hour}, // the context's deadline ends the wait
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() {
				nc, err := ln.Accept()
				if err != nil {
					done <- err
					return
				}
				s, err := Accept(ctx, nc, AcceptOptions{Hashes: &hashes, HandshakeTimeout: tc.timeout})
				if s != nil {
					s.Close()
				}
				done <- err
			}()
			dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer dcancel()
			c, err := peer.Dial(dctx, ln.Addr().String(), peer.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// The BT handshake with the extension bit, then silence.
			if _, err := c.Handshake(dctx, peer.Handshake{Reserved: peer.LocalReserved(), InfoHash: peer.Hash{1}}); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				var te *peer.TimeoutError
				if !errors.As(err, &te) || !strings.Contains(err.Error(), "wait for extended handshake") {
					t.Errorf("accept: %v, want a timeout waiting for the extended handshake", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("accept still waits for the extended handshake after 10 s")
			}
		})
	}
}
