package extensions

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/btext/btext/internal/peer"
)

// relay is a TCP relay on loopback that holds every chunk for delay before
// passing it on, each direction in order (tc netem is not available here,
// so latency is emulated in user space). It counts flights back: a chunk
// towards the connecting side that follows one from it starts a new
// flight, and each is a round trip the connecting side waited for. (Its
// own flights cannot be counted as surely: its last write may still be on
// its way through the relay when it has what it waited for.)
type relay struct {
	addr  string
	delay time.Duration

	mu      sync.Mutex
	last    int // direction of the last chunk: 0 none, 1 to the target, 2 back
	flights int // flights back towards the connecting side
}

func newRelay(t testing.TB, target string, delay time.Duration) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: ln.Addr().String(), delay: delay}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			a, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				a.Close()
				continue
			}
			deadline := time.Now().Add(30 * time.Second) // no relayed connection outlives this
			a.SetDeadline(deadline)
			b.SetDeadline(deadline)
			wg.Go(func() { r.pipe(a, b, 1) })
			wg.Go(func() { r.pipe(b, a, 2) })
		}
	})
	return r
}

func (r *relay) reset() {
	r.mu.Lock()
	r.last, r.flights = 0, 0
	r.mu.Unlock()
}

func (r *relay) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flights
}

// pipe copies from src to dst, each chunk delayed; when either side ends
// both are closed.
func (r *relay) pipe(src, dst net.Conn, dir int) {
	type chunk struct {
		at time.Time
		b  []byte
	}
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				r.mu.Lock()
				if dir == 2 && r.last != 2 {
					r.flights++
				}
				r.last = dir
				r.mu.Unlock()
				q <- chunk{time.Now().Add(r.delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	src.Close()
	dst.Close()
	for range q { // let the reader end
	}
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
	r := newRelay(t, servedByAccept(t, hash), 20*time.Millisecond)
	flights := map[bool]int{}
	for _, noIA := range []bool{true, false} {
		r.reset()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s, err := Connect(ctx, r.addr, Options{InfoHash: hash, NoInitialPayload: noIA,
			Peer: peer.Config{Encryption: peer.EncryptionPrefer}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		flights[noIA] = r.count()
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
	r := newRelay(b, servedByAccept(b, hash), 25*time.Millisecond)
	for _, bc := range []struct {
		name string
		noIA bool
	}{{"after", true}, {"IA", false}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				s, err := Connect(ctx, r.addr, Options{InfoHash: hash, NoInitialPayload: bc.noIA,
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
