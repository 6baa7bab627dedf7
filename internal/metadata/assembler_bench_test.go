package metadata

import (
	"bytes"
	"crypto/sha1"
	"testing"

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
// then the SHA-1 check, as one fetch does it (the hash dominates).
func BenchmarkAssemble(b *testing.B) {
	info, target := benchInfo()
	n := PieceCount(len(info))
	b.SetBytes(int64(len(info)))
	b.ReportAllocs()
	for b.Loop() {
		a, err := NewAssembler(int64(len(info)), 16<<20)
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			end := min((i+1)*PieceSize, len(info))
			if err := a.Put(i, info[i*PieceSize:end], 0); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := a.Verify(target); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPut: one piece into the assembler, the per-piece path alone.
func BenchmarkPut(b *testing.B) {
	info, _ := benchInfo()
	a, err := NewAssembler(int64(len(info)), 16<<20)
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
