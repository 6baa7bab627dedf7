package metadata_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peertest"
)

// The window (slow start, pacing, the learnt cap, rtorrent's one) as event
// sequences through the scheduler: one peer, a 2.6 MB-like dictionary of
// 161 pieces, times in microseconds; no sockets, no clock.

var bigInfo = peertest.InfoOfSize(160*metadata.PieceSize + 1000)

// wstep is one moment of a window test: at us, the peer answers the
// answer oldest requests it has out (one event each) after the skip oldest,
// or, with tick, its deadline fires. The checks: how many requests the plans of this moment
// sent, how many are out after it, and the deadline of the peer's last
// order in µs (-1: no check; 0: none).
type wstep struct {
	us       int
	answer   int
	skip     int
	tick     bool
	sent     int
	out      int
	deadline int
	// done: the metadata is verified in this step.
	done bool
}

func TestWindowEvents(t *testing.T) {
	reqq := func(n int64) *int64 { return &n }
	tests := []struct {
		name, id string
		reqq     *int64
		steps    []wstep
		// info is bigInfo unless set.
		info []byte
	}{
		{"libtorrent over 50 ms: slow start doubles per round trip, bursts of 5 paced 5 ms apart", "-LT2080-", reqq(2000), []wstep{
			// No round trip known yet: the eight it answers at once go
			// in one write.
			{us: 0, sent: 8, out: 8, deadline: 5_000_000},
			// Eight answers grow the window to 16: five requests go at
			// once, the rest five at a time, a gap apart.
			{us: 50_000, answer: 8, sent: 5, out: 5, deadline: 55_000},
			{us: 55_000, tick: true, sent: 5, out: 10, deadline: 60_000},
			{us: 60_000, tick: true, sent: 5, out: 15, deadline: 65_000},
			{us: 65_000, tick: true, sent: 1, out: 16, deadline: 1_050_000},
			// Sixteen answers: the window is 32.
			{us: 100_000, answer: 16, sent: 5, out: 5, deadline: 105_000},
			{us: 105_000, tick: true, sent: 5, out: 10, deadline: 110_000},
			{us: 110_000, tick: true, sent: 5, out: 15, deadline: 115_000},
		}, nil},
		{"libtorrent on loopback: a round trip shorter than the gap keeps the window at eight, not paced", "-LT2080-", reqq(2000), []wstep{
			{us: 0, sent: 8, out: 8, deadline: -1},
			{us: 200, answer: 8, sent: 8, out: 8, deadline: -1},
			{us: 400, answer: 8, sent: 8, out: 8, deadline: -1},
			{us: 600, answer: 4, sent: 4, out: 8, deadline: -1},
		}, nil},
		{"libtorrent on a busy loopback: a slow first answer grows the window, a fast one takes it back to eight", "-LT2080-", reqq(2000), []wstep{
			{us: 0, sent: 8, out: 8, deadline: -1},
			// 6 ms: longer than the gap, so the window grows and is
			// paced: five requests in this gap.
			{us: 6_000, answer: 1, sent: 2, out: 9, deadline: -1},
			{us: 6_100, answer: 7, sent: 3, out: 5, deadline: 11_000},
			// The two sent at 6 ms come back in 0.3 ms: the round trip
			// is short after all, the window is 8 again, not paced.
			{us: 6_300, answer: 2, sent: 5, out: 8, deadline: -1},
			{us: 6_500, answer: 8, sent: 8, out: 8, deadline: -1},
		}, nil},
		{"libtorrent's one-second tick: requests overtaken are given back, the cap is learnt below their depth", "-LT2080-", reqq(2000), []wstep{
			{us: 0, sent: 8, out: 8, deadline: -1},
			{us: 50_000, answer: 8, sent: 5, out: 5, deadline: 55_000},
			{us: 55_000, tick: true, sent: 5, out: 10, deadline: -1},
			{us: 60_000, tick: true, sent: 5, out: 15, deadline: -1},
			{us: 65_000, tick: true, sent: 1, out: 16, deadline: -1},
			// The burst sent at 50 ms (depths 8 to 10) waits for the
			// peer's tick; the one sent at 55 ms is answered. The five
			// overtaken are given back and cap the window at 8 (not
			// under one burst): with 6 out, two more are asked. The cut
			// doubled the gap.
			{us: 100_000, skip: 5, answer: 5, sent: 2, out: 13, deadline: -1},
			// The tick: the five come late and are taken; the window
			// stays at 8, all of it out.
			{us: 1_000_000, answer: 5, sent: 0, out: 8, deadline: -1},
			// Eight is what libtorrent answers at once: not paced.
			{us: 1_050_000, answer: 1, sent: 1, out: 8, deadline: -1},
			{us: 1_060_000, answer: 6, sent: 6, out: 8, deadline: -1},
		}, nil},
		{"btext serve over 50 ms: 64, then the 97 left in the next round trip, no pacing", "-BX0100-", reqq(250), []wstep{
			{us: 0, sent: 64, out: 64, deadline: -1},
			{us: 50_000, answer: 64, sent: 97, out: 97, deadline: -1},
		}, nil},
		{"rtorrent: never two in flight, whatever reqq says, however fast it answers", "-lt0D80-", reqq(2048), []wstep{
			{us: 0, sent: 1, out: 1, deadline: 5_000_000},
			{us: 50_000, answer: 1, sent: 1, out: 1, deadline: -1},
			{us: 100_000, answer: 1, sent: 1, out: 1, deadline: -1},
			{us: 100_100, answer: 1, sent: 1, out: 1, deadline: -1},
			// A slow answer teaches it nothing, and no pacing delays it.
			{us: 2_000_000, answer: 1, sent: 1, out: 1, deadline: -1},
			{us: 2_000_050, answer: 1, sent: 1, out: 1, deadline: -1},
		}, nil},
		{"rtorrent: a request that timed out still counts, so it never holds two", "-lt0D80-", reqq(2048), []wstep{
			{us: 0, sent: 1, out: 1, deadline: 5_000_000},
			// The timeout sends nothing: rtorrent may still be answering.
			{us: 5_000_000, tick: true, sent: 0, out: 1, deadline: -1},
			// Its late answer frees the one place.
			{us: 5_500_000, answer: 1, sent: 1, out: 1, deadline: -1},
		}, nil},
		{"an answer to a piece asked again proves nothing overtaken (Karn's rule)", "-LT2080-", reqq(2000), []wstep{
			{us: 0, sent: 8, out: 8, deadline: -1},
			{us: 50_000, answer: 1, sent: 2, out: 9, deadline: -1},
			{us: 51_000, answer: 1, sent: 2, out: 10, deadline: -1},
			{us: 100_000, answer: 6, sent: 0, out: 4, deadline: -1},
			// Pieces 8 and 9 (sent at 50 ms) are overtaken by 10 (sent
			// at 51 ms): given back and, nothing else being left, asked
			// again.
			{us: 101_000, skip: 2, answer: 1, sent: 2, out: 5, deadline: -1},
			// The first requests for 8 and 9 are answered at the tick.
			// The answers may be to the first requests: piece 11, sent
			// before the second ones, is not taken as overtaken.
			{us: 1_000_000, answer: 1, sent: 0, out: 4, deadline: -1},
			{us: 1_000_010, answer: 1, sent: 0, out: 3, deadline: -1},
			{us: 1_000_020, answer: 1, sent: 0, out: 2, deadline: -1, done: true},
		}, peertest.InfoOfSize(11*metadata.PieceSize + 500)},
		{"a client not known with reqq 1: one at a time too", "-XX0000-", reqq(1), []wstep{
			{us: 0, sent: 1, out: 1, deadline: -1},
			{us: 50_000, answer: 1, sent: 1, out: 1, deadline: -1},
			{us: 100_000, answer: 1, sent: 1, out: 1, deadline: -1},
		}, nil},
		{"a client not known: slow start from 2 to one burst, then past it only over a long round trip", "-XX0000-", nil, []wstep{
			{us: 0, sent: 2, out: 2, deadline: -1},
			{us: 20_000, answer: 2, sent: 4, out: 4, deadline: -1},
			{us: 40_000, answer: 4, sent: 8, out: 8, deadline: -1},
			// 16 is the cap of a client not known: 8 now, 8 a gap later.
			{us: 60_000, answer: 8, sent: 8, out: 8, deadline: 65_000},
			{us: 65_000, tick: true, sent: 8, out: 16, deadline: -1},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := tt.info
			if info == nil {
				info = bigInfo
			}
			hash := peertest.HashOf(info)
			s := metadata.NewScheduler(metadata.SchedulerConfig{Target: metainfo.Target{V1: (*metainfo.Hash)(&hash)}})
			t0 := time.Unix(1000, 0)
			var out []int // pieces asked and not answered, oldest first
			var sent int
			var deadline time.Time
			var done bool
			take := func(p metadata.Plan) {
				if p.Done && p.Err != nil {
					t.Fatalf("done: %v", p.Err)
				}
				done = done || p.Done
				for _, o := range p.Orders {
					if o.Close {
						t.Fatalf("closed: %v", o.Err)
					}
					for _, r := range o.Send {
						out = append(out, r.Piece)
					}
					sent += len(o.Send)
					deadline = o.Deadline
				}
			}
			take(s.Step(t0, metadata.Discovered{Addr: addr(0)}))
			take(s.Step(t0, metadata.SourceDone{}))
			c := metadata.Connected{Peer: 0, UT: 3, MetadataSize: sizeOf(int64(len(info))), Reqq: tt.reqq}
			copy(c.PeerID[:], tt.id)
			for n, st := range tt.steps {
				at := t0.Add(time.Duration(st.us) * time.Microsecond)
				sent = 0
				switch {
				case n == 0:
					take(s.Step(at, c))
				case st.tick:
					take(s.Step(at, metadata.Tick{Peer: 0}))
				}
				for range st.answer {
					if len(out) <= st.skip {
						t.Fatalf("step %d: nothing out to answer", n)
					}
					i := out[st.skip]
					out = append(out[:st.skip], out[st.skip+1:]...)
					take(s.Step(at, metadata.Data{Peer: 0, Piece: i, Total: int64(len(info)), Bytes: pieceOf(info, i)}))
				}
				where := fmt.Sprintf("step %d (%d µs)", n, st.us)
				if done != st.done {
					t.Errorf("%s: done %v, want %v", where, done, st.done)
				}
				if sent != st.sent || len(out) != st.out {
					t.Errorf("%s: sent %d, %d out; want %d, %d", where, sent, len(out), st.sent, st.out)
				}
				want := time.Time{}
				if st.deadline > 0 {
					want = t0.Add(time.Duration(st.deadline) * time.Microsecond)
				}
				if st.deadline >= 0 && !deadline.Equal(want) {
					t.Errorf("%s: deadline %v, want %v", where, deadline.Sub(t0), want.Sub(t0))
				}
			}
		})
	}
}
