package metadata

import (
	"strings"
	"time"

	"github.com/btext/btext/internal/peer"
)

// Requests in flight per peer. Real clients differ (docs/protocol-notes.md,
// "How real clients serve metadata"): libtorrent answers a request at once
// while its send buffer holds less than ten pieces and otherwise queues it
// for its next one-second tick; rtorrent handles exactly one and drops the
// connection (and refuses the address for minutes) when sent two;
// Transmission queues 64 and rejects the rest; aria2 and btext's own serve
// take everything at once. reqq is no guide (rtorrent says 2048).
//
// So the window is TCP's, with the peer's queue in place of the network's
// (docs/fetch-engine.md, "The window"):
//   - slow start: it starts at what the client is known to answer at once
//     (2 for a client not known) and grows by one per answer, doubling per
//     round trip, up to its cap;
//   - pacing: a window above what the client answers at once sends at most
//     burst requests within one gap, so that a burst never lands on a peer
//     still sending the answers to the one before (libtorrent queues per
//     arrival, not per depth). The window grows that far only while a
//     round trip is longer than the gap (below that, the window as it is
//     already asks faster than pacing would let it), and goes back when a
//     faster answer shows the round trip is shorter after all;
//   - the cap starts at the least of reqq, what the client is known to
//     take, and DefaultMaxWindow, and is learnt: an answer much slower than
//     the fastest one waited in the peer's queue, and a request overtaken
//     by one sent after it was put aside (the scheduler asks it again);
//     either way the cap drops below the depth at which that request was
//     sent (never under one burst) and the gap doubles;
//   - rtorrent's one is hard: it never grows, never learns.
const (
	DefaultMaxWindow = 16
	initialWindow    = 2
	// maxBurst is the most requests in one gap to a client not known to
	// take more: libtorrent answers ten at once.
	maxBurst = 8
	// queueSlack is how much slower than twice the fastest answer an
	// answer must be to count as queued: more than a busy machine's
	// scheduling jitter, less than libtorrent's one-second tick.
	queueSlack = 50 * time.Millisecond
	// initialGap is the pause between two bursts: long enough for a busy
	// peer to have written out the answers to the burst before (measured
	// with libtorrent through scripts/relay on a loaded machine: 2.5 ms
	// stalled now and then, 5 ms did not); it doubles, up to maxGap, each
	// time an answer queued.
	initialGap = 5 * time.Millisecond
	maxGap     = 40 * time.Millisecond
)

// clientWindow is what is known of each client, by peer id prefix: the
// window to start with, the most in flight and the most in one gap.
var clientWindow = []struct {
	prefix            string
	start, max, burst int
}{
	{"-lt", 1, 1, 1},      // rtorrent (libTorrent by rakshasa): one, ever
	{"-LT", 8, 64, 5},     // libtorrent (rasterbar): ten per arrival; two bursts may land as one
	{"-TR", 2, 32, 32},    // Transmission: queues 64, rejects beyond; ~2 pieces/s whatever the window
	{"A2-", 8, 64, 64},    // aria2
	{"-BX", 64, 256, 256}, // btext serve: answers a batch in one write
}

// window is the number of requests a peer may have in flight, and how
// many of them may go out within one gap.
type window struct {
	size, max int
	// limit is the learnt cap (at most max); floor the least it learns.
	limit, floor int
	// burst is the most requests sent within one gap once the window is
	// above unpaced, the window the client is known to answer at once.
	burst, unpaced int
	gap            time.Duration
	// hard: the size is fixed (rtorrent).
	hard bool
	// fastest is the quickest answer seen, from request to answer: the
	// round trip plus the peer's least work.
	fastest time.Duration
}

func newWindow(id peer.PeerID, reqq *int64) window {
	start, maxw, burst := initialWindow, DefaultMaxWindow, maxBurst
	for _, c := range clientWindow {
		if strings.HasPrefix(string(id[:]), c.prefix) {
			start, maxw, burst = c.start, c.max, c.burst
			break
		}
	}
	if reqq != nil && *reqq > 0 && *reqq < int64(maxw) {
		maxw = int(*reqq)
	}
	start = min(start, maxw)
	// The cap is never learnt below one burst of a client not known
	// (Transmission queues everything and sends four pieces a tick: a
	// window under four would halve its pace).
	floor := min(max(start, maxBurst), maxw)
	return window{size: start, max: maxw, limit: maxw, floor: floor, burst: min(burst, maxw),
		unpaced: min(max(start, burst), maxw), gap: initialGap, hard: maxw == 1}
}

// answered grows the window by one (slow start: doubling per round trip)
// up to the learnt cap; past what the client answers at once only while a
// round trip is longer than the gap between bursts.
func (w *window) answered() {
	if w.size >= w.limit || w.size >= w.unpaced && !w.long() {
		return
	}
	w.size++
}

// long reports whether the fastest answer took longer than the gap: only
// then can a window paced a burst per gap ask faster than one that is not.
func (w *window) long() bool { return w.fastest >= w.gap }

// paced reports whether requests must be spread over gaps: the window
// holds more than the client answers at once.
func (w *window) paced() bool { return w.size > w.unpaced }

// observe learns from an answer that took latency, to a request sent
// when depth requests were in flight (itself included). An answer much
// slower than the fastest waited in the peer's queue: the peer does not
// answer depth at once.
// It reports whether the answer queued.
func (w *window) observe(latency time.Duration, depth int) bool {
	if w.hard || latency <= 0 {
		return false
	}
	if w.fastest == 0 || latency < w.fastest {
		w.fastest = latency
		w.shortened()
		return false
	}
	if latency <= 2*w.fastest+queueSlack {
		return false
	}
	w.queued(depth)
	return true
}

// shortened takes the window back to what the client answers at once when
// a round trip turns out shorter than the gap (the first answer may be
// slow on a busy machine, and the window grown on it).
func (w *window) shortened() {
	if !w.long() {
		w.size = min(w.size, w.unpaced)
	}
}

// queued hears that a request sent with depth in flight waited in the
// peer's queue: the cap drops below depth (never under the floor), the
// window with it, and, if the cap did drop, the gap between bursts
// doubles (once per cut, not once per request of a burst put aside).
func (w *window) queued(depth int) {
	if w.hard {
		return
	}
	if c := max(w.floor, depth-1); c < w.limit {
		w.limit = c
		w.gap = min(2*w.gap, maxGap)
		w.shortened()
	}
	w.size = min(w.size, w.limit)
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
