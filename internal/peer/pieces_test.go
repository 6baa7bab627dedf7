package peer

import (
	"encoding/binary"
	"strings"
	"testing"
)

func have(i uint32) Message {
	return Message{ID: Have, Payload: binary.BigEndian.AppendUint32(nil, i)}
}

func TestPiecesReceipt(t *testing.T) {
	var p Pieces
	p.apply(Message{ID: Bitfield, Payload: []byte{0b1010_0000, 0b0000_0001}})
	p.SetCount(10) // 2 bytes; bit 15 is spare and must be dropped
	if !p.Has(0) || p.Has(1) || !p.Has(2) || p.Has(15) || p.NumHave() != 2 {
		t.Fatalf("bitfield: %08b %d", p.bits, p.NumHave())
	}
	p.apply(have(9))
	if !p.Has(9) || p.Seed() {
		t.Fatal("have 9")
	}
	if note := p.apply(have(10)); !strings.Contains(note, "out of range") {
		t.Errorf("have 10 of 10: %q", note)
	}
	// lt_donthave: clears the bit and cancels pending requests.
	p.requested(2)
	p.requested(2)
	if c, ign := p.DontHave(2); ign != "" || c != 2 || p.Has(2) || p.Pending(2) != 0 {
		t.Errorf("dont-have 2: cancelled %d ignored %q", c, ign)
	}
	// Ignored, never fatal: a piece never had, out of range, twice.
	for _, tt := range []struct {
		i    uint32
		want string
	}{{1, "never announced"}, {2, "never announced"}, {10, "out of range 0..9"}, {1 << 31, "out of range"}} {
		if _, ign := p.DontHave(tt.i); !strings.Contains(ign, tt.want) {
			t.Errorf("dont-have %d: %q, want %q", tt.i, ign, tt.want)
		}
	}
}

func TestPiecesSeed(t *testing.T) {
	var p Pieces
	p.apply(Message{ID: HaveAll})
	if !p.Seed() || !p.Has(12345) || p.Summary() != "all pieces" {
		t.Fatal("have_all")
	}
	if _, ign := p.DontHave(7); ign != "" || p.Has(7) || p.Seed() {
		t.Fatal("a seed that drops a piece is no longer a seed")
	}
	p.SetCount(20)
	if p.NumHave() != 19 || p.Summary() != "19 of 20 pieces" {
		t.Errorf("%d %q", p.NumHave(), p.Summary())
	}
	p.apply(have(7))
	if !p.Seed() {
		t.Error("have after dont-have")
	}
	p.apply(Message{ID: HaveNone})
	if p.Has(0) || p.NumHave() != 0 {
		t.Error("have_none")
	}
	// A full bitfield makes a seed once the count is known.
	var q Pieces
	q.SetCount(9)
	if note := q.apply(Message{ID: Bitfield, Payload: []byte{0xff}}); !strings.Contains(note, "ignored") {
		t.Errorf("short bitfield: %q", note)
	}
	q.apply(Message{ID: Bitfield, Payload: []byte{0xff, 0x80}})
	if !q.Seed() {
		t.Error("full bitfield")
	}
}

func TestPiecesChokeCancels(t *testing.T) {
	c, other := pipePair(t, Config{})
	go func() {
		buf := make([]byte, HandshakeLen)
		other.Read(buf)
		other.Write(hsBytes(Reserved{}, Hash{}))
		other.Write([]byte("\x00\x00\x00\x01\x00")) // choke
	}()
	if _, err := c.Handshake(t.Context(), Handshake{}); err != nil {
		t.Fatal(err)
	}
	req := Message{ID: Request, Payload: make([]byte, 12)}
	binary.BigEndian.PutUint32(req.Payload, 3)
	if err := c.WriteMessage(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if c.Pieces().Pending(3) != 1 {
		t.Fatal("request not counted")
	}
	if _, err := c.ReadMessage(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c.Pieces().Pending(3) != 0 {
		t.Error("choke did not cancel")
	}
}
