package peer

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
)

// maxPieces bounds a piece index when the piece count is unknown: a
// bitfield of the largest message we accept.
const maxPieces = DefaultMaxMessageLen * 8

// maxFastSet bounds the suggest_piece and allowed_fast pieces kept per
// peer (BEP 6). A peer needs only a handful: libtorrent's allowed fast set
// is 5 pieces by default, and BEP 6's example uses 7 to 10. Beyond the
// bound, the oldest suggestion is forgotten and a further allowed_fast is
// ignored with a note, so a peer cannot grow our state without limit.
const maxFastSet = 64

// Pieces is what a peer has said it has, from bitfield, have, have_all and
// have_none, less what it has since said it dropped with lt_donthave
// (BEP 54); with the fast extension (BEP 6) also the pieces it suggests and
// those it allows us to request while choked. It counts our outstanding
// block requests per piece, so that a dropped piece's requests, and a
// reject_request, count as answered. Messages that make no sense (an index
// out of range, a bitfield of the wrong length, a reject for a block never
// requested) are ignored and reported, never fatal.
type Pieces struct {
	count     int // the torrent's piece count, 0 while unknown
	all       bool
	bits      []byte
	dropped   map[uint32]bool // with all: pieces dropped since have_all
	pending   map[uint32]int
	suggested []uint32        // suggest_piece, oldest first, no repeats
	allowed   map[uint32]bool // allowed_fast
}

// SetCount gives the torrent's piece count once it is known (from the
// metadata); a bitfield already received is checked against it.
func (p *Pieces) SetCount(n int) (note string) {
	p.count = n
	want := (n + 7) / 8
	if len(p.bits) > want {
		note = fmt.Sprintf("bitfield of %d bytes for %d pieces: extra bits dropped", len(p.bits), n)
		p.bits = p.bits[:want]
	}
	if n%8 != 0 && len(p.bits) == want {
		p.bits[want-1] &= 0xff << (8 - n%8)
	}
	return note
}

func (p *Pieces) inRange(i uint32) bool {
	if p.count > 0 {
		return int64(i) < int64(p.count)
	}
	return i < maxPieces
}

// Has reports whether the peer has piece i.
func (p *Pieces) Has(i uint32) bool {
	if !p.inRange(i) {
		return false
	}
	if p.all {
		return !p.dropped[i]
	}
	return int(i/8) < len(p.bits) && p.bits[i/8]&(0x80>>(i%8)) != 0
}

// Seed reports whether the peer has every piece, as far as is known.
func (p *Pieces) Seed() bool {
	if p.all {
		return len(p.dropped) == 0
	}
	return p.count > 0 && p.NumHave() == p.count
}

// NumHave counts the pieces the peer has (with have_all and an unknown
// count: -1).
func (p *Pieces) NumHave() int {
	if p.all {
		if p.count == 0 {
			return -1
		}
		return p.count - len(p.dropped)
	}
	n := 0
	for _, b := range p.bits {
		n += bits.OnesCount8(b)
	}
	return n
}

// apply takes a have, bitfield, have_all, have_none, suggest_piece,
// allowed_fast or reject_request from the peer. The state machine has
// already checked the payload length and that fast was negotiated.
func (p *Pieces) apply(msg Message) (note string) {
	switch msg.ID {
	case Suggest:
		i := binary.BigEndian.Uint32(msg.Payload)
		if !p.inRange(i) {
			return fmt.Sprintf("suggest_piece %d: out of range, ignored", i)
		}
		if slices.Contains(p.suggested, i) {
			return ""
		}
		if len(p.suggested) == maxFastSet {
			p.suggested = append(p.suggested[:0], p.suggested[1:]...)
		}
		p.suggested = append(p.suggested, i)
	case AllowedFast:
		i := binary.BigEndian.Uint32(msg.Payload)
		switch {
		case !p.inRange(i):
			return fmt.Sprintf("allowed_fast %d: out of range, ignored", i)
		case p.allowed[i]:
		case len(p.allowed) == maxFastSet:
			return fmt.Sprintf("allowed_fast %d: more than %d allowed pieces, ignored", i, maxFastSet)
		default:
			if p.allowed == nil {
				p.allowed = map[uint32]bool{}
			}
			p.allowed[i] = true
		}
	case Reject:
		// Under BEP 6 every request gets exactly one answer, a piece or a
		// reject; a reject for a block we never asked for is the peer's
		// mistake, not worth the connection.
		if i := binary.BigEndian.Uint32(msg.Payload); !p.answered(i) {
			return fmt.Sprintf("reject_request for piece %d, which we never requested: ignored", i)
		}
	case HaveAll:
		p.all, p.bits, p.dropped = true, nil, nil
	case HaveNone:
		p.all, p.bits, p.dropped = false, nil, nil
	case Bitfield:
		if p.count > 0 && len(msg.Payload) != (p.count+7)/8 {
			return fmt.Sprintf("bitfield of %d bytes for %d pieces: ignored", len(msg.Payload), p.count)
		}
		p.all, p.dropped = false, nil
		p.bits = append(p.bits[:0], msg.Payload...)
		if p.count > 0 {
			p.SetCount(p.count)
		}
	case Have:
		i := binary.BigEndian.Uint32(msg.Payload)
		if !p.inRange(i) {
			return fmt.Sprintf("have %d: out of range, ignored", i)
		}
		if p.all {
			delete(p.dropped, i)
			return ""
		}
		if need := int(i/8) + 1; need > len(p.bits) {
			p.bits = append(p.bits, make([]byte, need-len(p.bits))...)
		}
		p.bits[i/8] |= 0x80 >> (i % 8)
	}
	return ""
}

// DontHave applies an lt_donthave for piece i as BEP 54 says: the piece is
// cleared, the peer stops counting as a seed, and our pending requests for
// the piece count as cancelled (their number is returned). An index out of
// range or a piece the peer never had is ignored, with the reason.
func (p *Pieces) DontHave(i uint32) (cancelled int, ignored string) {
	switch {
	case !p.inRange(i):
		if p.count > 0 {
			return 0, fmt.Sprintf("piece %d out of range 0..%d", i, p.count-1)
		}
		return 0, fmt.Sprintf("piece %d out of range", i)
	case !p.Has(i):
		return 0, fmt.Sprintf("piece %d was never announced", i)
	}
	if p.all {
		if p.dropped == nil {
			p.dropped = map[uint32]bool{}
		}
		p.dropped[i] = true
	} else {
		p.bits[i/8] &^= 0x80 >> (i % 8)
	}
	cancelled = p.pending[i]
	delete(p.pending, i)
	return cancelled, ""
}

// requested and answered keep our block requests per piece.
func (p *Pieces) requested(i uint32) {
	if p.pending == nil {
		p.pending = map[uint32]int{}
	}
	p.pending[i]++
}

// answered counts one answer (piece or reject) for piece i; it reports
// whether a request was pending.
func (p *Pieces) answered(i uint32) bool {
	switch n := p.pending[i]; {
	case n == 0:
		return false
	case n > 1:
		p.pending[i]--
	default:
		delete(p.pending, i)
	}
	return true
}

// Pending is the number of our block requests for piece i not yet answered.
func (p *Pieces) Pending(i uint32) int { return p.pending[i] }

// AllowedFast reports whether the peer allowed us to request piece i while
// it chokes us (BEP 6 allowed_fast).
func (p *Pieces) AllowedFast(i uint32) bool { return p.allowed[i] }

// NumAllowedFast is the number of pieces the peer allowed while choked.
func (p *Pieces) NumAllowedFast() int { return len(p.allowed) }

// Suggested returns the pieces the peer suggested (BEP 6 suggest_piece),
// oldest first.
func (p *Pieces) Suggested() []uint32 { return slices.Clone(p.suggested) }

// Summary describes the peer's pieces in a few words.
func (p *Pieces) Summary() string {
	switch n := p.NumHave(); {
	case p.all && len(p.dropped) == 0:
		return "all pieces"
	case n < 0:
		return fmt.Sprintf("all pieces but %d", len(p.dropped))
	case p.count > 0:
		return fmt.Sprintf("%d of %d pieces", n, p.count)
	default:
		return fmt.Sprintf("%d pieces", n)
	}
}
