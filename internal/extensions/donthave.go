package extensions

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/btext/btext/internal/peer"
)

// DontHave is the lt_donthave payload (BEP 54): the sender no longer has
// Piece. On the wire: <len=6><20><the receiver's lt_donthave id><u32 piece>.
type DontHave struct{ Piece uint32 }

// AppendBinary appends the 4-byte payload.
func (m DontHave) AppendBinary(b []byte) ([]byte, error) {
	return binary.BigEndian.AppendUint32(b, m.Piece), nil
}

// UnmarshalBinary decodes exactly 4 bytes.
func (m *DontHave) UnmarshalBinary(p []byte) error {
	if len(p) != 4 {
		return &PayloadError{Ext: LTDontHave, Reason: fmt.Sprintf("%d bytes, want 4", len(p))}
	}
	m.Piece = binary.BigEndian.Uint32(p)
	return nil
}

// Retraction is what SendDontHave does: the pieces to retract, how to
// announce them first, and how long to watch the peer afterwards.
type Retraction struct {
	Pieces []uint32
	// ID is the peer's lt_donthave id (or a forced one).
	ID uint8
	// Count is the torrent's piece count: the pieces are announced in a
	// bitfield when it is known, else with one have each.
	Count int
	// NoAnnounce sends the dont-haves bare. A receiver ignores a
	// dont-have for a piece it never saw announced (BEP 54; libtorrent
	// does exactly that), so this is for testing receivers.
	NoAnnounce bool
	// Wait is how long to watch the peer after the announce (a peer that
	// takes offence closes then); Linger how long after the dont-haves.
	Wait, Linger time.Duration
}

// RetractionResult is what happened.
type RetractionResult struct {
	Announce  string   // "bitfield", "have" or "none"
	Announced []uint32 // the pieces announced
	Sent      []uint32 // the pieces retracted
	// After is what the peer sent meanwhile (at most MaxRetractionEvents);
	// Closed whether it closed the connection, WatchErr how the watch
	// ended otherwise.
	After    []Event
	Closed   bool
	WatchErr error
}

// MaxRetractionEvents bounds what a retraction keeps of the peer's
// messages.
const MaxRetractionEvents = 1000

// SendDontHave runs the lt_donthave sequence: announce the pieces, watch,
// send one lt_donthave each in a single write, and watch the peer for the
// linger time. The result is filled in as far as the sequence got.
func (s *Session) SendDontHave(ctx context.Context, r Retraction, res *RetractionResult) error {
	res.Announce = "none"
	if !r.NoAnnounce {
		var msgs []peer.Message
		if r.Count > 0 {
			bits := make([]byte, (r.Count+7)/8)
			for _, p := range r.Pieces {
				bits[p/8] |= 0x80 >> (p % 8)
			}
			msgs = append(msgs, peer.Message{ID: peer.Bitfield, Payload: bits})
			res.Announce = "bitfield"
		} else {
			for _, p := range r.Pieces {
				msgs = append(msgs, peer.Message{ID: peer.Have, Payload: binary.BigEndian.AppendUint32(nil, p)})
			}
			res.Announce = "have"
		}
		if err := s.Conn.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("announce: %w", err)
		}
		res.Announced = r.Pieces
		// A peer that takes offence closes now: find out before going on.
		if err := s.watchInto(ctx, r.Wait, res); res.Closed {
			return fmt.Errorf("peer closed the connection after our announce: %w", err)
		} else if err != nil {
			return fmt.Errorf("after our announce: %w", err)
		}
	}
	var msgs []peer.Message
	for _, p := range r.Pieces {
		b, _ := DontHave{Piece: p}.AppendBinary(nil)
		msgs = append(msgs, peer.ExtendedMessage(r.ID, b))
	}
	if err := s.Conn.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("send lt_donthave: %w", err)
	}
	res.Sent = r.Pieces
	err := s.watchInto(ctx, r.Linger, res)
	switch {
	case res.Closed && res.Announce != "none":
		return fmt.Errorf("peer closed the connection after our lt_donthave: %w", err)
	case err != nil && !res.Closed:
		return fmt.Errorf("after our lt_donthave: %w", err)
	}
	return nil
}

// watchInto records what the peer sends for d.
func (s *Session) watchInto(ctx context.Context, d time.Duration, res *RetractionResult) error {
	err := s.Watch(ctx, d, func(e Event) error {
		if len(res.After) < MaxRetractionEvents {
			res.After = append(res.After, e)
		}
		return nil
	})
	if err != nil {
		res.WatchErr = err
		res.Closed = errors.Is(err, peer.ErrClosedByPeer)
	}
	return err
}
