package metadata_test

import (
	"net"
	"sync"
	"testing"
	"time"
)

// relay is a TCP relay on loopback that emulates a link with a round trip
// of 2*delay (tc netem is missing from this kernel, so the latency is made
// in user space): every chunk is held for delay before it is passed on,
// each direction in order, and a new connection is held for a round trip
// before anything is read from it, as a TCP connect over the link would
// take. Bandwidth is not limited, and TCP's slow start over the emulated
// link is not emulated either: what it measures is the round trips a
// protocol waits for.
//
// It counts flights back towards the connecting side: chunks back that
// leave the relay within delay of each other are one flight, the answers
// to one round of asking.
type relay struct {
	addr  string
	delay time.Duration

	mu       sync.Mutex
	lastBack time.Time // when the last chunk back was released
	flights  int
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
			deadline := time.Now().Add(60 * time.Second) // no relayed connection outlives this
			a.SetDeadline(deadline)
			b.SetDeadline(deadline)
			connected := time.Now().Add(2 * delay) // the SYN, SYN-ACK round trip
			wg.Go(func() { r.pipe(a, b, false, connected) })
			wg.Go(func() { r.pipe(b, a, true, connected) })
		}
	})
	return r
}

// reset starts counting flights afresh.
func (r *relay) reset() {
	r.mu.Lock()
	r.lastBack, r.flights = time.Time{}, 0
	r.mu.Unlock()
}

// count is the flights back since the last reset.
func (r *relay) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flights
}

// pipe copies from src to dst, each chunk delayed, nothing read before
// connected; when either side ends both are closed.
func (r *relay) pipe(src, dst net.Conn, back bool, connected time.Time) {
	type chunk struct {
		at time.Time
		b  []byte
	}
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		time.Sleep(time.Until(connected))
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(r.delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.at))
		if back {
			r.mu.Lock()
			now := time.Now()
			if now.Sub(r.lastBack) >= r.delay {
				r.flights++
			}
			r.lastBack = now
			r.mu.Unlock()
		}
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	src.Close()
	dst.Close()
	for range q { // let the reader end
	}
}
