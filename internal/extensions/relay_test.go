package extensions

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/relay"
)

// flightCounter counts the flights back towards the connecting side through a
// relay.Relay: a chunk back that the relay reads after one from the
// connecting side starts a new flight, and each is a round trip the
// connecting side waited for. (Its own flights cannot be counted as
// surely: its last write may still be on its way through the relay when
// it has what it waited for.)
type flightCounter struct {
	mu    sync.Mutex
	last  relay.Dir // of the last chunk read, 0 for none
	count int
}

func (f *flightCounter) observe(e relay.Event) {
	if e.Sent {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e.Dir == relay.ToClient && f.last != relay.ToClient {
		f.count++
	}
	f.last = e.Dir
}

func (f *flightCounter) reset() {
	f.mu.Lock()
	f.last, f.count = 0, 0
	f.mu.Unlock()
}

func (f *flightCounter) n() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// newRelay relays to target with a round trip of rtt, from the connect on:
// these tests count the round trips of the handshakes, not the TCP
// connect's.
func newRelay(t testing.TB, target string, rtt time.Duration, f *flightCounter) *relay.Relay {
	t.Helper()
	opts := relay.Options{NoConnectDelay: true}
	if f != nil {
		opts.Observe = f.observe
	}
	r, err := relay.Start(target, rtt, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// servedByAccept runs Accept, with encryption preferred, for every
// connection to the returned address.
func servedByAccept(t testing.TB, hash peer.Hash) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hashes Hashes
	hashes.Add(hash)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				s, err := Accept(ctx, nc, AcceptOptions{Hashes: &hashes, Peer: peer.Config{Encryption: peer.EncryptionPrefer},
					Local: func(peer.Hash) Local { return Local{M: LocalM()} }})
				if err == nil {
					_, _ = s.Conn.ReadMessage(ctx) // until the other side closes
					s.Close()
				}
			})
		}
	})
	return ln.Addr().String()
}

// TestInitialPayloadRoundTrips: with the BT handshake inside MSE's step 3,
// Connect with encryption waits for one round trip fewer: 2 (Yb; step 4
// with the peer's BT and extended handshakes right behind it) instead of 3
// (Yb; step 4; the peer's handshakes).
func TestInitialPayloadRoundTrips(t *testing.T) {
	hash := peer.Hash{9}
	var f flightCounter
	r := newRelay(t, servedByAccept(t, hash), 40*time.Millisecond, &f)
	flights := map[bool]int{}
	for _, noIA := range []bool{true, false} {
		f.reset()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := Connect(ctx, r.Addr(), Options{InfoHash: hash, NoInitialPayload: noIA,
			Peer: peer.Config{Encryption: peer.EncryptionPrefer}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		flights[noIA] = f.n()
		if s.Conn.Crypto() != peer.CryptoRC4 || s.Ext == nil {
			t.Errorf("crypto %v, extended handshake %v", s.Conn.Crypto(), s.Ext)
		}
		s.Close()
	}
	t.Logf("round trips: %d with the handshake after MSE, %d with it as IA", flights[true], flights[false])
	if flights[true] != 3 || flights[false] != 2 {
		t.Errorf("round trips %d without IA, %d with; want 3 and 2", flights[true], flights[false])
	}
}

// BenchmarkConnectMSE: Connect with encryption preferred over a relay that
// adds 25 ms each way (a 50 ms round trip), the handshake sent after MSE
// or as its initial payload.
func BenchmarkConnectMSE(b *testing.B) {
	hash := peer.Hash{9}
	r := newRelay(b, servedByAccept(b, hash), 50*time.Millisecond, nil)
	for _, bc := range []struct {
		name string
		noIA bool
	}{{"after", true}, {"IA", false}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				s, err := Connect(ctx, r.Addr(), Options{InfoHash: hash, NoInitialPayload: bc.noIA,
					Peer: peer.Config{Encryption: peer.EncryptionPrefer}})
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}
