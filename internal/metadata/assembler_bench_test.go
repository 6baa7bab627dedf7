package metadata

import (
	"bytes"
	"crypto/sha1"
	"testing"
	"time"

	"github.com/btext/btext/internal/metainfo"
)

// benchInfo is a 2.6 MB info dictionary (159 metadata pieces), the size
// class of issue 11's benchmarks.
func benchInfo() ([]byte, metainfo.Target) {
	zero := sha1.Sum(make([]byte, 16384))
	pieces := bytes.Repeat(zero[:], 130000)
	info := append([]byte("d6:lengthi2129920000e4:name9:zeros.bin12:piece lengthi16384e6:pieces2600000:"), pieces...)
	info = append(info, 'e')
	h := metainfo.Hash(sha1.Sum(info))
	return info, metainfo.Target{V1: &h}
}

// BenchmarkAssemble: every piece of a 2.6 MB info dict into an Assembler,
// in order, then the SHA-1 check, as one fetch does it (the hash
// dominates). "ns-after-last/op" is what is left on the fetch's critical
// path when the last piece arrives (that piece in, then Verify): the
// pieces before it were hashed as they came.
func BenchmarkAssemble(b *testing.B) {
	info, target := benchInfo()
	n := PieceCount(len(info))
	b.SetBytes(int64(len(info)))
	b.ReportAllocs()
	var last time.Duration
	for b.Loop() {
		a, err := NewAssembler(int64(len(info)), 16<<20, target)
		if err != nil {
			b.Fatal(err)
		}
		var start time.Time
		for i := range n {
			if i == n-1 {
				start = time.Now()
			}
			end := min((i+1)*PieceSize, len(info))
			if err := a.Put(i, info[i*PieceSize:end], 0); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := a.Verify(); err != nil {
			b.Fatal(err)
		}
		last += time.Since(start)
	}
	b.ReportMetric(float64(last.Nanoseconds())/float64(b.N), "ns-after-last/op")
}

// BenchmarkPut: one piece into the assembler, the per-piece path alone.
func BenchmarkPut(b *testing.B) {
	info, target := benchInfo()
	a, err := NewAssembler(int64(len(info)), 16<<20, target)
	if err != nil {
		b.Fatal(err)
	}
	piece := info[:PieceSize]
	b.SetBytes(PieceSize)
	b.ReportAllocs()
	for b.Loop() {
		a.Reset()
		if err := a.Put(0, piece, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUTMessage: a ut_metadata data message decoded (once per piece
// received) and a request encoded (once per piece asked for).
func BenchmarkUTMessage(b *testing.B) {
	data, err := UTMessage{Type: UTData, Piece: 7, TotalSize: 2600091, Data: bytes.Repeat([]byte{'x'}, PieceSize)}.AppendBinary(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode_data", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var m UTMessage
			if err := m.UnmarshalBinary(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode_request", func(b *testing.B) {
		buf := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			if buf, err = (UTMessage{Type: UTRequest, Piece: 7, TotalSize: -1}).AppendBinary(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
