package metadata

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/metainfo"
)

// FuzzScheduler feeds the scheduler event sequences decoded from the
// input, four bytes an event, with what peers send chosen by the input
// too (any piece index, total, length, offset, ids): it must never panic,
// and after every step its books must balance.
func FuzzScheduler(f *testing.F) {
	info := []byte("d1:x40000:" + strings.Repeat("y", 40000) + "e") // 3 pieces
	hash := metainfo.Hash(sha1.Sum(info))
	target := metainfo.Target{V1: &hash}
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3, 0, 1, 0, 3, 0, 2, 0})
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 3, 0, 0, 1, 9, 0, 0, 200, 9, 0, 0, 200, 4, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 2, 1, 2, 0, 5, 0, 0, 0, 3, 1, 1, 0, 10, 0, 0, 0, 5, 0, 3, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		s := NewScheduler(SchedulerConfig{Target: target, MaxSize: 1 << 20, MaxDialing: 2, MaxConns: 3})
		now := time.Unix(1000, 0)
		done := false
		for len(in) >= 4 {
			k, p, a, b := in[0], int(in[1]%6), int(in[2]), int(in[3])
			in = in[4:]
			now = now.Add(time.Duration(b) * 50 * time.Millisecond)
			ev := fuzzEvent(k, p, a, b, info)
			plan := s.Step(now, ev)
			if plan.Done {
				if done {
					t.Fatal("done twice")
				}
				done = true
				if plan.Err == nil && !bytes.Equal(plan.Info, info) {
					t.Fatal("done without the info or an error")
				}
			}
			for _, o := range plan.Orders {
				if !s.valid(o.Peer) {
					t.Fatalf("order for unknown peer %d", o.Peer)
				}
				for _, r := range o.Send {
					if r.LT && (r.Start < 0 || r.Size < 1 || r.Start+r.Size > 256) {
						t.Fatalf("bad LT request %+v", r)
					}
				}
			}
			if err := s.balanced(); err != nil {
				t.Fatalf("after %T%+v: %v", ev, ev, err)
			}
		}
	})
}

func fuzzEvent(k byte, p, a, b int, info []byte) Event {
	size := int64(len(info))
	piece := func(i int) []byte {
		if i < 0 || i >= PieceCount(len(info)) {
			return []byte("x")
		}
		return info[i*PieceSize : i*PieceSize+PieceLen(len(info), i)]
	}
	sizes := []*int64{&size, nil, new(int64(size + 1)), new(int64(-1)), new(int64(1 << 40)), new(int64(100))}
	switch k % 12 {
	case 0:
		return Discovered{Addr: PeerAddr{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(p)}), uint16(1+a%3))}}
	case 1:
		return SourceDone{}
	case 2:
		e := Connected{Peer: p, UT: uint8(a & 3), LT: uint8(a >> 2 & 3), MetadataSize: sizes[b%len(sizes)], Offered: []string{"x"}}
		copy(e.PeerID[:], []string{"-lt0D60-", "-LT2080-", "-TR3000-", "A2-1-36-", "-XX0000-"}[a%5])
		return e
	case 3:
		return Data{Peer: p, Piece: a%5 - 1, Total: size, Bytes: piece(a%5 - 1)}
	case 4:
		totals := []int64{size, size + 1, -1, 0, 1 << 40, 100}
		return Data{Peer: p, Piece: a%5 - 1, Total: totals[b%len(totals)], Bytes: piece(a % 3)[:b%2*10]}
	case 5:
		return Rejected{Peer: p, Piece: a%5 - 1}
	case 6:
		start, n := LTCover(a%3*PieceSize, a%3*PieceSize+PieceLen(len(info), a%3), len(info))
		first, last := LTRange(start, n, len(info))
		return LTDataEvent{Peer: p, Total: len(info), Offset: first, Bytes: info[first:last]}
	case 7:
		_, last := LTRange(0, 1, len(info))
		return LTDataEvent{Peer: p, Total: len(info) + b%2, Offset: a % 2, Bytes: info[:last]}
	case 8:
		return ExtChanged{Peer: p, UT: uint8(a & 3), LT: uint8(a >> 2 & 3)}
	case 9:
		return Tick{Peer: p}
	case 10:
		return Gone{Peer: p, Err: fmt.Errorf("gone %d", a)}
	}
	c := make([]byte, len(piece(a%3)))
	copy(c, piece(a%3))
	if len(c) > 1 {
		c[1] ^= 0xff
	}
	return Data{Peer: p, Piece: a % 3, Total: size, Bytes: c}
}

// balanced checks the scheduler's books: each piece's count of requests
// out is the number of open peers that have it out, and only open peers
// have anything out.
func (s *Scheduler) balanced() error {
	if s.done || s.asm == nil {
		return nil
	}
	want := make([]int, len(s.inflight))
	for _, p := range s.peers {
		for i := range p.inflight {
			if p.phase != open {
				return fmt.Errorf("peer %d (phase %d) has piece %d out", p.idx, p.phase, i)
			}
			if i == probe {
				continue
			}
			if p.size != s.asm.Size() {
				return fmt.Errorf("peer %d has piece %d of size %d out while fetching size %d", p.idx, i, p.size, s.asm.Size())
			}
			want[i]++
		}
	}
	for i, n := range s.inflight {
		if n != want[i] {
			return fmt.Errorf("piece %d: %d requests counted, %d out", i, n, want[i])
		}
		if n > 0 && s.asm.Have(i) {
			// Endgame duplicates may still be out for a piece in: fine.
			continue
		}
	}
	return nil
}
