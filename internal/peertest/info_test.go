package peertest

import (
	"testing"

	"github.com/btext/btext/internal/metainfo"
)

func TestInfoOfSize(t *testing.T) {
	for _, n := range []int{100, 206, 16384, 16385, 40000, 32768, 3 << 20} {
		info := InfoOfSize(n)
		if len(info) != n {
			t.Fatalf("InfoOfSize(%d) is %d bytes", n, len(info))
		}
		if _, err := metainfo.ParseInfo(info); err != nil {
			t.Fatalf("InfoOfSize(%d): %v", n, err)
		}
	}
}
