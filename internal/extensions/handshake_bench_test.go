package extensions

import (
	"net/netip"
	"testing"
)

// libtorrent 2.0.8's extended handshake, as it sends it (once per peer).
var benchLibtorrentHS = []byte("d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei2600091e4:reqqi2000e1:v18:libtorrent/2.0.8.06:yourip4:\x7f\x00\x00\x01e")

func BenchmarkParse(b *testing.B) {
	b.SetBytes(int64(len(benchLibtorrentHS)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(benchLibtorrentHS); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode: btext's own handshake, as serve sends it (with
// metadata_size and yourip) and as fetch sends it.
func BenchmarkEncode(b *testing.B) {
	cases := []struct {
		name string
		l    Local
	}{
		{"serve", Local{Client: "btext 0.1.0", Reqq: 250, MetadataSize: 2600091, YourIP: netip.MustParseAddr("127.0.0.1")}},
		{"fetch", Local{Client: "btext 0.1.0", Reqq: 250}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(c.l.Encode()) == 0 {
					b.Fatal("empty handshake")
				}
			}
		})
	}
}
