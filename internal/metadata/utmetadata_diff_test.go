package metadata

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/extensions"
)

// unmarshalUTMap is UTMessage.UnmarshalBinary as it was before the
// in-place parser: the whole dictionary decoded through jackpal into a
// map[string]any. The parser must accept, decode and reject exactly as it
// does (TestUTMessageDifferential, FuzzUTMessage).
func unmarshalUTMap(m *UTMessage, p []byte) error {
	fail := func(format string, args ...any) error {
		return &extensions.PayloadError{Ext: extensions.UTMetadata, Reason: fmt.Sprintf(format, args...)}
	}
	if len(p) > MaxUTMessage {
		return fail("%d bytes, more than the %d a piece needs", len(p), MaxUTMessage)
	}
	v, n, err := bencode.DecodePrefix(p, utLimits)
	if err != nil {
		return fail("%v", err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return fail("not a dictionary")
	}
	typ, ok := d["msg_type"].(int64)
	if !ok {
		return fail("no integer msg_type")
	}
	*m = UTMessage{Type: typ, TotalSize: -1}
	if typ != UTRequest && typ != UTData && typ != UTReject {
		return nil
	}
	if m.Piece, ok = d["piece"].(int64); !ok {
		return fail("msg_type %d without an integer piece", typ)
	}
	if m.Piece < 0 {
		return fail("negative piece %d", m.Piece)
	}
	if ts, present := d["total_size"]; present {
		if m.TotalSize, ok = ts.(int64); !ok {
			return fail("total_size is not an integer")
		}
	}
	rest := p[n:]
	switch typ {
	case UTData:
		if m.TotalSize < 0 {
			return fail("data for piece %d without a valid total_size", m.Piece)
		}
		m.Data = rest
	default:
		if len(rest) > 0 {
			return fail("%d bytes after a msg_type %d dictionary", len(rest), typ)
		}
	}
	return nil
}

// sameAsMap decodes b both ways and reports any difference: acceptance,
// the error's text, and for a message decoded, every field (Data's
// presence too). After an error the fields mean nothing (the map decode
// left a total_size of the wrong type as 0, the parser leaves -1).
func sameAsMap(b []byte) error {
	var got, want UTMessage
	gerr, werr := got.UnmarshalBinary(b), unmarshalUTMap(&want, b)
	switch {
	case (gerr == nil) != (werr == nil):
		return fmt.Errorf("%q: parser %v, map decode %v", b, gerr, werr)
	case gerr != nil && gerr.Error() != werr.Error():
		return fmt.Errorf("%q: parser %q, map decode %q", b, gerr, werr)
	case gerr != nil:
		return nil
	case got.Type != want.Type || got.Piece != want.Piece || got.TotalSize != want.TotalSize ||
		(got.Data == nil) != (want.Data == nil) || !bytes.Equal(got.Data, want.Data):
		return fmt.Errorf("%q: parser %+v, map decode %+v", b, got, want)
	}
	return nil
}

// utDiffCases are headers real clients send and the odd ones the parser
// must treat as the map decode does: keys in any order, unknown keys with
// values of every type and nesting, extremes of int64, and malformed
// input of every kind Scan rejects.
var utDiffCases = []string{
	"d8:msg_typei1e5:piecei0e10:total_sizei3425eexyz",
	"d8:msg_typei0e5:piecei0ee",
	"d8:msg_typei2e5:piecei0ee",
	"d8:msg_typei2e5:piecei0e10:total_sizei1ee",
	"d8:msg_typei1e5:piecei158e10:total_sizei2600091ee" + strings.Repeat("x", 16384),
	// Any order, unknown keys, nested values.
	"d5:piecei3e8:msg_typei1e10:total_sizei99eeabc",
	"d10:total_sizei99e5:piecei3e8:msg_typei1eeabc",
	"d1:ai1e8:msg_typei1e1:zli1e4:spamd1:xi1eee5:piecei3e10:total_sizei99eeabc",
	"d8:msg_typei0e3:fooi1e5:piecei5e3:zzzd1:ald1:bi1eeeee",
	"d8:msg_typei0e5:piecei5e3:zzzd1:ald1:bld1:ci1eeeeeee", // deeper than utLimits
	"d4:infod6:lengthi1eee8:msg_typei1e5:piecei0e10:total_sizei1eeX",
	"d8:msg_typei7e3:fooi1ee",
	"d8:msg_typei7eextra",
	"d8:msg_typei-1e5:piecei0ee",
	"d8:msg_typei0e5:piecei0e10:total_sizei5ee", // a request with a size
	// Wrong types.
	"d8:msg_type1:15:piecei0ee",
	"d8:msg_typeli1ee5:piecei0ee",
	"d8:msg_typei0e5:piece1:0e",
	"d8:msg_typei1e5:piecedee10:total_sizei1eex",
	"d8:msg_typei1e5:piecei0e10:total_size1:xe",
	"d8:msg_typei1e5:piecei0e10:total_sizelee",
	"d8:msg_typei1e5:piecei0e10:total_sizei-1eex",
	"d8:msg_typei1e5:piecei0eexyz",
	"d8:msg_typei1e5:piecei0e10:total_sizei0ee",
	// Extremes of int64.
	"d8:msg_typei1e5:piecei9223372036854775807e10:total_sizei9223372036854775807eex",
	"d8:msg_typei-9223372036854775808e5:piecei0ee",
	"d8:msg_typei0e5:piecei-9223372036854775808ee",
	"d8:msg_typei0e5:piecei9223372036854775808ee",
	"d8:msg_typei0e5:piecei-9223372036854775809ee",
	// Malformed.
	"", "d", "de", "le", "i1e", "3:abc", "d8:msg_typei1e", "d8:msg_typei01e5:piecei0ee",
	"d8:msg_typei-0e5:piecei0ee", "d8:msg_typeie5:piecei0ee", "d8:msg_typei1x5:piecei0ee",
	"d8:msg_typei0e8:msg_typei1e5:piecei0ee", "d5:piecei0e8:msg_typei0e5:piecei1ee",
	"di1ei2ee", "d08:msg_typei0ee", "d8:msg_typei0e5:piece", "d99:msg_typei0ee",
	"d8:msg_type", "d8:msg_typei0e5:piecei0e", "xd8:msg_typei0ee",
	"d8:msg_typei0e5:piecei0eextra", "d8:msg_typei2e5:piecei0eeX",
	"d8:msg_typei0e5:piecei0e1:a" + strings.Repeat("l", 3) + strings.Repeat("e", 3) + "e",
	"d8:msg_typei0e5:piecei0e1:al" + strings.Repeat("i1e", 70) + "ee",
	"d8:msg_typei1e5:piecei0e10:total_sizei1ee" + strings.Repeat("x", MaxUTMessage),
}

// TestUTMessageDifferential: the in-place parser decodes and rejects
// every case as the map decode it replaced does, with the same error
// text; so does every strict prefix of each (a message cut short).
func TestUTMessageDifferential(t *testing.T) {
	for _, c := range utDiffCases {
		for i := range len(c) + 1 {
			if i < len(c) && i > 200 {
				continue // the 16 KiB pieces: their prefixes only change Data
			}
			if err := sameAsMap([]byte(c[:i])); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestUTMessageNoAllocs: decoding a data message's header allocates
// nothing (it runs once per piece received).
func TestUTMessageNoAllocs(t *testing.T) {
	b := []byte("d8:msg_typei1e5:piecei7e10:total_sizei2600091ee" + strings.Repeat("x", PieceSize))
	var m UTMessage
	if n := testing.AllocsPerRun(100, func() {
		if err := m.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per decode", n)
	}
}

// appendUTMap is UTMessage.AppendBinary as it was before it wrote the
// dictionary by hand: a map encoded by internal/bencode.
func appendUTMap(b []byte, m UTMessage) ([]byte, error) {
	d := map[string]any{"msg_type": m.Type, "piece": m.Piece}
	if m.TotalSize >= 0 && m.Type != UTRequest {
		d["total_size"] = m.TotalSize
	}
	b, err := bencode.Append(b, d)
	if err != nil {
		return nil, err
	}
	if m.Type == UTData {
		b = append(b, m.Data...)
	}
	return b, nil
}

// TestUTMessageAppendDifferential: the hand-written encoding is the map
// encoding's, byte for byte, for every type, piece and size, extremes
// and nonsense included, appended to a non-empty buffer.
func TestUTMessageAppendDifferential(t *testing.T) {
	ints := []int64{0, 1, 7, 158, 16384, 2600091, -1, -2, math.MaxInt64, math.MinInt64}
	for _, typ := range []int64{UTRequest, UTData, UTReject, 3, -1, math.MaxInt64} {
		for _, piece := range ints {
			for _, total := range ints {
				for _, data := range [][]byte{nil, {}, []byte("xyz")} {
					m := UTMessage{Type: typ, Piece: piece, TotalSize: total, Data: data}
					want, err := appendUTMap([]byte("pre"), m)
					if err != nil {
						t.Fatal(err)
					}
					got, err := m.AppendBinary([]byte("pre"))
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("%+v: %q %v, want %q", m, got, err, want)
					}
				}
			}
		}
	}
}
