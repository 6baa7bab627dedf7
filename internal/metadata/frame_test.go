package metadata_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peertest"
)

// TestSchedulerCopiesPieces: the bytes of a Data or LTDataEvent are the
// scheduler's only during Step (the fetch loop then releases the pooled
// frame they lie in, and another read overwrites it): every piece is
// scribbled over as soon as Step returns, and the metadata must still
// verify.
func TestSchedulerCopiesPieces(t *testing.T) {
	hash := peertest.HashOf(info)
	s := metadata.NewScheduler(metadata.SchedulerConfig{Target: metainfo.Target{V1: (*metainfo.Hash)(&hash)}})
	now := time.Unix(1000, 0)
	var asked []metadata.Request
	step := func(ev metadata.Event) metadata.Plan {
		now = now.Add(time.Millisecond)
		p := s.Step(now, ev)
		for _, o := range p.Orders {
			asked = append(asked, o.Send...)
		}
		return p
	}
	scribble := func(b []byte) {
		for i := range b {
			b[i] = 0xa5
		}
	}
	step(found(0))
	step(found(1))
	step(metadata.SourceDone{})
	step(ut(0))
	step(lt(1, true))
	for range 100 {
		if len(asked) == 0 {
			t.Fatal("nothing asked and not done")
		}
		r := asked[0]
		asked = asked[1:]
		var ev metadata.Event
		var b []byte
		if r.LT {
			first, last := metadata.LTRange(r.Start, r.Size, len(info))
			b = bytes.Clone(info[first:last])
			ev = metadata.LTDataEvent{Peer: 1, Total: len(info), Offset: first, Bytes: b}
		} else {
			b = bytes.Clone(pieceOf(info, r.Piece))
			ev = metadata.Data{Peer: 0, Piece: r.Piece, Total: size, Bytes: b}
		}
		p := step(ev)
		scribble(b)
		if p.Done {
			if p.Err != nil || !bytes.Equal(p.Info, info) {
				t.Fatalf("done with %d bytes, err %v", len(p.Info), p.Err)
			}
			for _, st := range s.PeerStats() {
				if st.Received == 0 || st.Error != "" {
					t.Errorf("peer %s: %d received, error %q", st.Addr, st.Received, st.Error)
				}
			}
			return
		}
	}
	t.Fatal("not done after 100 answers")
}
