package metadata

import (
	"bytes"
	"testing"
)

// TestUTFastPath: serve's fast request parser reads what UnmarshalBinary
// reads, or leaves the bytes to it; the fast answer is AppendBinary's bytes.
func TestUTFastPath(t *testing.T) {
	inputs := []string{
		"d8:msg_typei0e5:piecei0ee", "d8:msg_typei0e5:piecei7ee", "d8:msg_typei0e5:piecei123456789ee",
		"d8:msg_typei0e5:piecei1234567890ee", "d8:msg_typei0e5:piecei-1ee", "d8:msg_typei0e5:piecei01ee",
		"d8:msg_typei0e5:piecei-0ee", "d8:msg_typei0e5:pieceiee", "d8:msg_typei0e5:piecei3e", "d8:msg_typei0e5:piecei3eee",
		"d8:msg_typei0e5:piecei3ex", "d8:msg_typei1e5:piecei3ee", "d8:msg_typei0e5:piecei3e10:total_sizei5ee",
		"d5:piecei3e8:msg_typei0ee", "d8:msg_typei0e5:piecei3 ee", "",
	}
	for _, in := range inputs {
		piece, ok := parseUTRequest([]byte(in))
		var m UTMessage
		err := m.UnmarshalBinary([]byte(in))
		if ok && (err != nil || m.Type != UTRequest || m.Piece != piece) {
			t.Errorf("%q: fast path piece %d, UnmarshalBinary %+v %v", in, piece, m, err)
		}
		t.Logf("%q: fast %v", in, ok)
	}
	if _, ok := parseUTRequest([]byte("d8:msg_typei0e5:piecei42ee")); !ok {
		t.Error("the canonical request is not on the fast path")
	}
	for _, m := range []UTMessage{
		{Type: UTData, Piece: 0, TotalSize: 1},
		{Type: UTData, Piece: 160, TotalSize: 2_630_000, Data: []byte("xyz")},
		{Type: UTReject, Piece: 3, TotalSize: -1},
		{Type: UTData, Piece: 1 << 40, TotalSize: 1 << 50},
	} {
		want, err1 := m.AppendBinary([]byte("pre"))
		got, err2 := utAnswer(m).AppendBinary([]byte("pre"))
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%+v: %q, want %q (%v %v)", m, got, want, err1, err2)
		}
	}
}
