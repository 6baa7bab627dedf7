package peer

import (
	"bytes"
	"testing"
)

// The frame reader on the per-piece path of a metadata fetch: a
// ut_metadata data message (extended, a 40-byte dictionary and 16 KiB of
// metadata) and, for the per-message overhead alone, a have.
func BenchmarkReadFrame(b *testing.B) {
	piece := append([]byte("d8:msg_typei1e5:piecei7e10:total_sizei2600000ee"), bytes.Repeat([]byte{'x'}, 16384)...)
	cases := []struct {
		name string
		msg  Message
	}{
		{"ut_metadata_piece", ExtendedMessage(2, piece)},
		{"have", Message{ID: Have, Payload: []byte{0, 0, 0, 7}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) { benchFrames(b, c.msg, false) })
		b.Run(c.name+"/pooled", func(b *testing.B) { benchFrames(b, c.msg, true) })
	}
}

// benchFrames reads msg over and over, with Next or with NextPooled and
// Release (the fetch's way: each piece copied out, then released).
func benchFrames(b *testing.B, msg Message, pooled bool) {
	// 64 messages back to back, as a socket read delivers them.
	one, err := msg.AppendBinary(nil)
	if err != nil {
		b.Fatal(err)
	}
	stream := bytes.Repeat(one, 64)
	r := bytes.NewReader(stream)
	f := FrameReader{R: r, Max: 1 << 20}
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	for b.Loop() {
		if r.Len() == 0 {
			r.Reset(stream)
		}
		if !pooled {
			if _, err := f.Next(); err != nil {
				b.Fatal(err)
			}
			continue
		}
		m, err := f.NextPooled()
		if err != nil {
			b.Fatal(err)
		}
		m.Release()
	}
}

// BenchmarkAppendMessage: framing one ut_metadata request, as sent per piece.
func BenchmarkAppendMessage(b *testing.B) {
	msg := ExtendedMessage(2, []byte("d8:msg_typei0e5:piecei7ee"))
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = msg.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
