package metadata

import (
	"strings"
	"time"

	"github.com/btext/btext/internal/peer"
)

// Requests in flight per peer. Real clients differ (docs/protocol-notes.md,
// "How real clients serve metadata"): libtorrent answers ~10 at full speed
// and throttles beyond; rtorrent handles exactly one and drops the
// connection (and refuses the address for minutes) when sent two;
// Transmission queues 64 and rejects the rest; aria2 takes everything at
// once. reqq is no guide (rtorrent says 2048), so the cap is the least of
// reqq, what is known of the client, and DefaultMaxWindow. The scheduler
// keeps one window and one rto per peer.
const (
	DefaultMaxWindow = 16
	initialWindow    = 2
)

// clientWindow is the most requests in flight known to work per client,
// by peer id prefix.
var clientWindow = []struct {
	prefix string
	max    int
}{
	{"-lt", 1},  // rtorrent (libTorrent by rakshasa)
	{"-LT", 8},  // libtorrent (rasterbar)
	{"-TR", 32}, // Transmission
	{"A2-", 64}, // aria2
}

// window is the number of requests a peer may have in flight: it starts
// small, grows by one with each answer (doubling per round trip), halves
// on a timeout and never exceeds max.
type window struct {
	size, max int
}

func newWindow(id peer.PeerID, reqq *int64) window {
	maxw := DefaultMaxWindow
	for _, c := range clientWindow {
		if strings.HasPrefix(string(id[:]), c.prefix) {
			maxw = c.max
			break
		}
	}
	if reqq != nil && *reqq > 0 && *reqq < int64(maxw) {
		maxw = int(*reqq)
	}
	return window{size: min(initialWindow, maxw), max: maxw}
}

func (w *window) answered() {
	if w.size < w.max {
		w.size++
	}
}

func (w *window) timedOut() { w.size = max(1, w.size/2) }

// rto estimates how long to wait for an answer before asking again, as
// TCP does (RFC 6298): the smoothed round trip plus four times its
// variation, within [minRTO, maxRTO]. Peers answer in bursts (Transmission
// sends four pieces every two seconds), so the variation matters as much
// as the mean. Transmission sends its first piece 2.5-3 s after the
// request, so the first estimate is generous. Each timeout in a row
// doubles the wait (RFC 6298, 5.5), up to maxRTO; an answer ends the
// backoff.
type rto struct {
	srtt, rttvar time.Duration
	backoff      uint
}

const (
	initialRTO = 5 * time.Second
	minRTO     = 1 * time.Second
	maxRTO     = 10 * time.Second
)

func (r *rto) sample(d time.Duration) {
	r.backoff = 0
	if r.srtt == 0 {
		r.srtt, r.rttvar = max(d, time.Microsecond), d/2
		return
	}
	diff := r.srtt - d
	if diff < 0 {
		diff = -diff
	}
	r.rttvar = (3*r.rttvar + diff) / 4
	r.srtt = (7*r.srtt + d) / 8
}

// timedOut backs the timer off.
func (r *rto) timedOut() {
	if r.backoff < 8 {
		r.backoff++
	}
}

// answered ends the backoff: the peer is answering again.
func (r *rto) answered() { r.backoff = 0 }

func (r *rto) timeout() time.Duration {
	d := initialRTO
	if r.srtt != 0 {
		d = min(max(r.srtt+4*r.rttvar, minRTO), maxRTO)
	}
	return min(d<<r.backoff, max(d, maxRTO))
}
