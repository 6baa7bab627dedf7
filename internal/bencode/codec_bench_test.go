package bencode

import (
	"bytes"
	"crypto/sha1"
	"testing"
)

// Inputs of the sizes btext meets: a ut_metadata data header (once per
// piece), libtorrent 2.0's extended handshake (once per peer) and a 2.6 MB
// info dictionary (130,000 piece hashes: once per fetch, for its name and
// file list).
var (
	benchUTHeader = []byte("d8:msg_typei1e5:piecei7e10:total_sizei2600000ee")
	benchExtHS    = []byte("d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei2600091e4:reqqi2000e1:v18:libtorrent/2.0.8.06:yourip4:\x7f\x00\x00\x01e")
)

func benchInfo() []byte {
	zero := sha1.Sum(make([]byte, 16384))
	pieces := bytes.Repeat(zero[:], 130000)
	b, err := Encode(map[string]any{"length": int64(130000 * 16384), "name": "zeros.bin", "piece length": int64(16384), "pieces": pieces})
	if err != nil {
		panic(err)
	}
	return b
}

func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name string
		in   []byte
	}{
		{"ut_metadata_header", benchUTHeader},
		{"extended_handshake", benchExtHS},
		{"info_2.6MB", benchInfo()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecodePrefix(c.in, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScan: validation alone, which every decode pays first.
func BenchmarkScan(b *testing.B) {
	info := benchInfo()
	for _, c := range []struct {
		name string
		in   []byte
	}{{"ut_metadata_header", benchUTHeader}, {"info_2.6MB", info}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Scan(c.in, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	cases := []struct {
		name string
		v    any
	}{
		{"ut_metadata_request", map[string]any{"msg_type": int64(0), "piece": int64(7)}},
		{"extended_handshake", map[string]any{
			"m":             map[string]any{"ut_metadata": int64(2), "LT_metadata": int64(3), "lt_donthave": int64(7)},
			"v":             "btext 0.1.0",
			"reqq":          int64(250),
			"metadata_size": int64(2600091),
			"yourip":        "\x7f\x00\x00\x01",
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = Append(buf[:0], c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
