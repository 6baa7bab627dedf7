package dht

import (
	"context"
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens a second, at most burst saved up.
// One bucket is shared by every lookup of a Client, so a batch of lookups
// sends no faster than a single one.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time // time.Now; tests drive a fake clock
}

func newBucket(rate int, now func() time.Time) *bucket {
	// A tenth of a second's worth of burst lets a lookup's first alpha
	// queries and the seeds go out at once without defeating the limit.
	burst := float64(max(1, rate/10))
	return &bucket{rate: float64(rate), burst: burst, tokens: burst, last: now(), now: now}
}

// take takes a token if one is there and returns 0, or returns how long
// to wait until one will be.
func (b *bucket) take() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.burst, b.tokens+el.Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// wait blocks until a token is taken or ctx ends.
func (b *bucket) wait(ctx context.Context) error {
	for {
		d := b.take()
		if d <= 0 {
			return nil
		}
		t := time.NewTimer(max(d, time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
