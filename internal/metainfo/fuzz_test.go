package metainfo

import (
	"crypto/sha1"
	"crypto/sha256"
	"reflect"
	"testing"
)

// FuzzParseInfo: an info dictionary from a peer (hash-valid, so anything)
// never panics the parser, and ParseVerifiedInfo given its real hashes
// derives the same Torrent.
func FuzzParseInfo(f *testing.F) {
	f.Add([]byte("d6:lengthi1e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae"))
	f.Add([]byte("d9:file treed1:ad0:d6:lengthi5eeee12:meta versioni2e12:piece lengthi16384ee"))
	f.Add([]byte("d5:filesld6:lengthi1e4:pathl1:aeee4:name1:x6:pieces0:e"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tor, err := ParseInfo(b)
		if err == nil && (tor.Files < 0 || tor.Pieces < 0) {
			t.Fatalf("%+v", tor)
		}
		v1, v2 := Hash(sha1.Sum(b)), sha256.Sum256(b)
		got, gerr := ParseVerifiedInfo(b, Target{V1: &v1, V2: &v2})
		if (gerr == nil) != (err == nil) || err == nil && !reflect.DeepEqual(got, tor) {
			t.Fatalf("ParseVerifiedInfo %+v %v, ParseInfo %+v %v", got, gerr, tor, err)
		}
	})
}
