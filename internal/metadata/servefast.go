package metadata

import (
	"bytes"
	"strconv"
)

// Serve's fast path for the ut_metadata request and answer as every
// client writes them: a fetch of a small info dict costs serve little
// else, and the general bencode decoder and encoder (a map each way) were
// a tenth of its CPU time. Anything else takes the general path.

// utRequestPrefix is what a request's canonical bencoding starts with:
// d8:msg_typei0e5:piecei<N>ee.
var utRequestPrefix = []byte("d8:msg_typei0e5:piecei")

// parseUTRequest reads a ut_metadata request bencoded the canonical way,
// as UnmarshalBinary would read it; ok is false for anything else, which
// UnmarshalBinary then reads.
func parseUTRequest(p []byte) (piece int64, ok bool) {
	rest, found := bytes.CutPrefix(p, utRequestPrefix)
	if !found {
		return 0, false
	}
	digits, found := bytes.CutSuffix(rest, []byte("ee"))
	// 1 to 9 digits, no leading zero: no sign, no overflow, canonical.
	if !found || len(digits) == 0 || len(digits) > 9 || digits[0] == '0' && len(digits) > 1 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		piece = piece*10 + int64(c-'0')
	}
	return piece, true
}

// utAnswer is a ut_metadata answer whose data message (the usual one)
// is bencoded without a map: the same bytes as UTMessage.AppendBinary.
type utAnswer UTMessage

func (m utAnswer) AppendBinary(b []byte) ([]byte, error) {
	if m.Type != UTData || m.Piece < 0 || m.TotalSize < 0 {
		return UTMessage(m).AppendBinary(b)
	}
	b = append(b, "d8:msg_typei1e5:piecei"...)
	b = strconv.AppendInt(b, m.Piece, 10)
	b = append(b, "e10:total_sizei"...)
	b = strconv.AppendInt(b, m.TotalSize, 10)
	b = append(b, "ee"...)
	return append(b, m.Data...), nil
}
