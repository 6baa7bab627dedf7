package metainfo

import (
	"crypto/sha1"
	"crypto/sha256"
	"reflect"
	"strings"
	"testing"
)

// TestParseInfoPadFiles: BEP 47 pad files (attr containing "p") are not
// counted as content; other attributes (x, h, l) are.
func TestParseInfoPadFiles(t *testing.T) {
	pieces := strings.Repeat("\x00", 20*2)
	info := "d5:filesl" +
		"d6:lengthi100e4:pathl1:aee" +
		"d4:attr1:p6:lengthi16284e4:pathl4:.pad5:16284ee" +
		"d4:attr1:x6:lengthi50e4:pathl1:bee" +
		"d4:attr2:hp6:lengthi16334e4:pathl4:.pad5:16334ee" +
		"e4:name1:x12:piece lengthi16384e6:pieces40:" + pieces + "e"
	tor, err := ParseInfo([]byte(info))
	if err != nil {
		t.Fatal(err)
	}
	if tor.Files != 2 || tor.TotalLength != 150 {
		t.Errorf("files %d, total length %d; want 2 files, 150 bytes (pad files left out)", tor.Files, tor.TotalLength)
	}
}

// TestParseVerifiedInfo: given the hashes a verification checked, it
// derives the Torrent ParseInfo does, for v1, hybrid and v2 dictionaries
// and targets naming either hash, both or none.
func TestParseVerifiedInfo(t *testing.T) {
	pieces := strings.Repeat("\x01", 20)
	tree := "9:file treed1:xd0:d6:lengthi5e11:pieces root32:" + strings.Repeat("\x02", 32) + "eee"
	infos := map[string]string{
		"v1":     "d6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:" + pieces + "e",
		"hybrid": "d" + tree + "6:lengthi5e12:meta versioni2e4:name1:x12:piece lengthi16384e6:pieces20:" + pieces + "e",
		"v2":     "d" + tree + "12:meta versioni2e4:name1:x12:piece lengthi16384ee",
	}
	for name, s := range infos {
		info := []byte(s)
		want, err := ParseInfo(info)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		v1, v2 := Hash(sha1.Sum(info)), sha256.Sum256(info)
		for _, target := range []Target{{}, {V1: &v1}, {V2: &v2}, {V1: &v1, V2: &v2}} {
			if err := VerifyInfo(info, target); err != nil && (target.V1 != nil || target.V2 != nil) {
				t.Fatalf("%s: %v", name, err)
			}
			got, err := ParseVerifiedInfo(info, target)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s, target v1 %v v2 %v:\ngot  %+v %v\nwant %+v", name, target.V1 != nil, target.V2 != nil, got, err, want)
			}
		}
	}
}

// BenchmarkParseInfo: a fetched 2.6 MB info dictionary parsed for its
// report, hashing it again (ParseInfo) or taking the verified hash.
func BenchmarkParseInfo(b *testing.B) {
	zero := sha1.Sum(make([]byte, 16384))
	info := []byte("d6:lengthi2129920000e4:name9:zeros.bin12:piece lengthi16384e6:pieces2600000:" + strings.Repeat(string(zero[:]), 130000) + "e")
	h := Hash(sha1.Sum(info))
	b.Run("ParseInfo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseInfo(info); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ParseVerifiedInfo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ParseVerifiedInfo(info, Target{V1: &h}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
