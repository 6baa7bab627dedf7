package peertest

import (
	"crypto/sha1"
	"fmt"
	"strconv"
	"strings"

	"github.com/btext/btext/internal/peer"
)

// InfoOfSize returns a valid single-file info dictionary of exactly size
// bytes (at least 100): a "pieces" string of deterministic hashes sized to
// fit, padded with the name.
func InfoOfSize(size int) []byte {
	if size < 100 {
		panic(fmt.Sprintf("InfoOfSize(%d): too small", size))
	}
	build := func(pieces, nameLen int) string {
		var p strings.Builder
		for i := range pieces {
			sum := sha1.Sum([]byte(strconv.Itoa(i)))
			p.Write(sum[:])
		}
		ps := p.String()
		name := strings.Repeat("n", nameLen)
		return "d6:lengthi" + strconv.Itoa(pieces*16384) + "e4:name" + strconv.Itoa(nameLen) + ":" + name +
			"12:piece lengthi16384e6:pieces" + strconv.Itoa(len(ps)) + ":" + ps + "e"
	}
	// The length is a function of pieces and nameLen alone: find them by
	// arithmetic, then build once.
	length := func(pieces, nameLen int) int {
		return len("d6:lengthi"+strconv.Itoa(pieces*16384)+"e4:name"+strconv.Itoa(nameLen)+":") + nameLen +
			len("12:piece lengthi16384e6:pieces"+strconv.Itoa(pieces*20)+":") + pieces*20 + 1
	}
	for pieces := max(1, (size-100)/20); pieces >= 1; pieces-- {
		for nameLen := 1; nameLen < 100; nameLen++ {
			if length(pieces, nameLen) == size {
				return []byte(build(pieces, nameLen))
			}
		}
	}
	panic(fmt.Sprintf("InfoOfSize(%d): no fit", size))
}

// HashOf is the v1 info hash of info.
func HashOf(info []byte) peer.Hash { return sha1.Sum(info) }
