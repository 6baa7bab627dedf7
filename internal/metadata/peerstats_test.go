package metadata_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// TestPeerStatsErr: PeerStats.Err is the error each peer was left for,
// of its type, whether the scheduler decided it (a copy that fails the
// hash, a bad size) or the worker reported it (Gone); Error is its text.
func TestPeerStatsErr(t *testing.T) {
	h := peertest.HashOf(info)
	s := metadata.NewScheduler(metadata.SchedulerConfig{Target: metainfo.Target{V1: (*metainfo.Hash)(&h)}})
	now := time.Unix(1000, 0)
	timeout := fmt.Errorf("wait for extended handshake: %w", &peer.TimeoutError{Op: "read message", After: time.Second})
	for _, ev := range []metadata.Event{
		found(0), found(1), found(2), metadata.SourceDone{},
		ut(0), corrupt(0, 0), corrupt(0, 1), corrupt(0, 2), corrupt(0, 3), corrupt(0, 4),
		claims(1, 0),
		metadata.Gone{Peer: 2, Err: timeout},
	} {
		s.Step(now, ev)
	}
	stats := s.PeerStats()
	if len(stats) != 3 {
		t.Fatalf("%d peers' stats, want 3", len(stats))
	}
	for i, r := range []struct {
		is   error
		as   func(error) bool
		text string
	}{
		{is: metainfo.ErrHashMismatch},
		{is: metadata.ErrSize},
		{as: func(err error) bool { return errors.As(err, new(*peer.TimeoutError)) }, text: timeout.Error()},
	} {
		st := stats[i]
		err := st.Err()
		switch {
		case err == nil:
			t.Errorf("peer %d: Err nil, Error %q", i, st.Error)
			continue
		case r.is != nil && !errors.Is(err, r.is):
			t.Errorf("peer %d: Err %v is not %v", i, err, r.is)
		case r.as != nil && !r.as(err):
			t.Errorf("peer %d: Err %v (%T) is not of its type", i, err, err)
		}
		if st.Error != err.Error() || r.text != "" && st.Error != r.text {
			t.Errorf("peer %d: Error %q, Err %q", i, st.Error, err)
		}
	}
}
