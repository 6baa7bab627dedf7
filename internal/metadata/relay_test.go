package metadata_test

import (
	"sync"
	"testing"
	"time"

	"github.com/btext/btext/internal/relay"
)

// newRelay relays to target over an emulated link with a round trip of
// rtt, the TCP connect's included (see internal/relay: each chunk is held
// for rtt/2, each direction in order; bandwidth and TCP's slow start over
// the link are not emulated, so what it measures is the round trips a
// protocol waits for). It counts flights back into f when f is not nil.
func newRelay(t testing.TB, target string, rtt time.Duration, f *flightCounter) *relay.Relay {
	t.Helper()
	var opts relay.Options
	if f != nil {
		f.gap = rtt / 2
		opts.Observe = f.observe
	}
	r, err := relay.Start(target, rtt, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// flightCounter counts flights back towards the connecting side: chunks back
// that leave the relay within half a round trip of each other are one
// flight, the answers to one round of asking.
type flightCounter struct {
	gap time.Duration

	mu       sync.Mutex
	lastBack time.Time // when the last chunk back was released
	count    int
}

func (f *flightCounter) observe(e relay.Event) {
	if e.Dir != relay.ToClient || !e.Sent {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if now.Sub(f.lastBack) >= f.gap {
		f.count++
	}
	f.lastBack = now
}

// reset starts counting flights afresh.
func (f *flightCounter) reset() {
	f.mu.Lock()
	f.lastBack, f.count = time.Time{}, 0
	f.mu.Unlock()
}

// n is the flights back since the last reset.
func (f *flightCounter) n() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}
