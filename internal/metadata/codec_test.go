package metadata

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

func TestUTMessageBytes(t *testing.T) {
	tests := []struct {
		m    UTMessage
		want string
	}{
		// BEP 9's examples (the reject with msg_type 2: the BEP's 1 is an erratum).
		{UTMessage{Type: UTRequest, Piece: 0, TotalSize: -1}, "d8:msg_typei0e5:piecei0ee"},
		{UTMessage{Type: UTData, Piece: 0, TotalSize: 3425, Data: []byte("xyz")}, "d8:msg_typei1e5:piecei0e10:total_sizei3425eexyz"},
		{UTMessage{Type: UTReject, Piece: 0, TotalSize: -1}, "d8:msg_typei2e5:piecei0ee"},
	}
	for _, tt := range tests {
		b, err := tt.m.AppendBinary(nil)
		if err != nil || string(b) != tt.want {
			t.Errorf("%+v: %q %v", tt.m, b, err)
		}
		var back UTMessage
		if err := back.UnmarshalBinary(b); err != nil || back.Type != tt.m.Type || back.Piece != tt.m.Piece || !bytes.Equal(back.Data, tt.m.Data) {
			t.Errorf("round trip %q: %+v %v", b, back, err)
		}
		for n := 1; n < len(b)-len(tt.m.Data); n++ {
			if back.UnmarshalBinary(b[:n]) == nil {
				t.Errorf("prefix %q decoded", b[:n])
			}
		}
	}
}

func TestUTMessageErrors(t *testing.T) {
	bad := map[string]string{
		"":                             "unexpected end",
		"le":                           "not a dictionary",
		"d5:piecei0ee":                 "no integer msg_type",
		"d8:msg_typei0ee":              "without an integer piece",
		"d8:msg_typei0e5:piecei-1ee":   "negative piece",
		"d8:msg_typei1e5:piecei0eexyz": "without a valid total_size",
		"d8:msg_typei1e5:piecei0e10:total_size1:xe": "total_size is not an integer",
		"d8:msg_typei0e5:piecei0eextra":             "bytes after a msg_type 0",
		"d8:msg_typei2e5:piecei0eeX":                "bytes after a msg_type 2",
	}
	for in, want := range bad {
		var m UTMessage
		err := m.UnmarshalBinary([]byte(in))
		var pe *extensions.PayloadError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	var m UTMessage
	if err := m.UnmarshalBinary([]byte("d8:msg_typei7e3:fooi1ee")); err != nil || m.Type != 7 {
		t.Errorf("unknown msg_type must decode to be ignored: %+v %v", m, err)
	}
	if err := m.UnmarshalBinary(make([]byte, MaxUTMessage+1)); err == nil {
		t.Error("oversized message accepted")
	}
}

func TestLTMessageBytes(t *testing.T) {
	tests := []struct {
		m    LTMessage
		want string
	}{
		{LTMessage{Type: LTRequest, Start: 0, Size: 256}, "\x00\x00\xff"},
		{LTMessage{Type: LTRequest, Start: 64, Size: 64}, "\x00\x40\x3f"},
		{LTMessage{Type: LTData, Total: 300, Offset: 2, Data: []byte("ab")}, "\x01\x00\x00\x01\x2c\x00\x00\x00\x02ab"},
		{LTMessage{Type: LTDontHave}, "\x02"},
	}
	for _, tt := range tests {
		b, err := tt.m.AppendBinary(nil)
		if err != nil || string(b) != tt.want {
			t.Errorf("%+v: %q %v", tt.m, b, err)
		}
		var back LTMessage
		if err := back.UnmarshalBinary(b); err != nil {
			t.Errorf("%q: %v", b, err)
		}
	}
	bad := map[string]string{
		"":                                       "empty",
		"\x00\x00":                               "request of 2 bytes",
		"\x00\x00\x00\x00":                       "request of 4 bytes",
		"\x00\xff\x01":                           "exceeds 256",
		"\x01\x00\x00":                           "data message of 3 bytes",
		"\x01\xff\xff\xff\xff\x00\x00\x00\x00":   "total size -1",
		"\x01\x00\x00\x00\x00\x00\x00\x00\x00":   "total size 0",
		"\x01\x00\x00\x00\x10\xff\xff\xff\xff":   "offset -1",
		"\x01\x00\x00\x00\x02\x00\x00\x00\x01ab": "outside the total",
		"\x02x":                                  "don't-have of 2 bytes",
	}
	for in, want := range bad {
		var m LTMessage
		if err := m.UnmarshalBinary([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
	if _, err := (LTMessage{Type: LTRequest, Start: 200, Size: 57}).AppendBinary(nil); err == nil {
		t.Error("request past 256 encoded")
	}
}

func TestLTRange(t *testing.T) {
	// docs/protocol-notes.md, "LT_metadata": first = ceil(start*T/256), last = ceil((start+size)*T/256).
	tests := []struct{ start, size, total, first, last int }{
		{0, 256, 1000, 0, 1000},
		{0, 64, 1000, 0, 250},
		{64, 64, 1000, 250, 500},
		{1, 1, 1000, 4, 8},      // ceil(3.90625)=4, ceil(7.8125)=8
		{0, 1, 206, 0, 1},       // ceil(0.8)=1
		{255, 1, 206, 206, 206}, // ceil(205.19)=206: empty
		{0, 256, 1<<31 - 1, 0, 1<<31 - 1},
	}
	for _, tt := range tests {
		f, l := LTRange(tt.start, tt.size, tt.total)
		if f != tt.first || l != tt.last {
			t.Errorf("LTRange(%d,%d,%d) = %d,%d want %d,%d", tt.start, tt.size, tt.total, f, l, tt.first, tt.last)
		}
	}
	// The 256 one-256th ranges tile the whole.
	for _, total := range []int{1, 206, 255, 256, 257, 16384, 2_600_000} {
		prev := 0
		for s := range 256 {
			f, l := LTRange(s, 1, total)
			if f != prev || l < f {
				t.Fatalf("total %d: range %d is %d-%d after %d", total, s, f, l, prev)
			}
			prev = l
		}
		if prev != total {
			t.Fatalf("total %d: tiles end at %d", total, prev)
		}
	}
}

func TestLTCover(t *testing.T) {
	for _, total := range []int{1, 206, 16384, 16385, 50000, 2_600_000, 32 << 20} {
		for i := range PieceCount(total) {
			off, end := i*PieceSize, i*PieceSize+PieceLen(total, i)
			s, n := LTCover(off, end, total)
			f, l := LTRange(s, n, total)
			if s < 0 || n < 1 || s+n > 256 || f > off || l < end {
				t.Fatalf("total %d piece %d: cover %d+%d = %d-%d does not cover %d-%d", total, i, s, n, f, l, off, end)
			}
		}
	}
}

func TestPieceLen(t *testing.T) {
	tests := []struct{ size, count, last int }{
		{1, 1, 1}, {16384, 1, 16384}, {16385, 2, 1}, {32768, 2, 16384}, {50000, 4, 50000 - 3*16384},
	}
	for _, tt := range tests {
		if n := PieceCount(tt.size); n != tt.count || PieceLen(tt.size, n-1) != tt.last {
			t.Errorf("size %d: %d pieces, last %d", tt.size, n, PieceLen(tt.size, n-1))
		}
	}
}

// TestAssemblerHashesInOrder: each piece that extends the run of pieces
// in from the start is hashed when it comes, not at the end.
func TestAssemblerHashesInOrder(t *testing.T) {
	info := []byte("d4:name40000:" + strings.Repeat("n", 40000) + "12:piece lengthi16384e6:pieces20:" + strings.Repeat("x", 20) + "e")
	v1 := metainfo.Hash(sha1.Sum(info))
	v2 := sha256.Sum256(info)
	a, err := NewAssembler(int64(len(info)), metainfo.DefaultMaxSize, metainfo.Target{V1: &v1, V2: &v2})
	if err != nil {
		t.Fatal(err)
	}
	piece := func(i int) []byte { return info[i*PieceSize : i*PieceSize+PieceLen(len(info), i)] }
	for _, step := range []struct{ put, hashed int }{{1, 0}, {0, 2}, {2, 3}} {
		if err := a.Put(step.put, piece(step.put), 0); err != nil {
			t.Fatal(err)
		}
		if a.hashed != step.hashed {
			t.Fatalf("after piece %d: %d pieces hashed, want %d", step.put, a.hashed, step.hashed)
		}
	}
	if got, err := a.Verify(); err != nil || !bytes.Equal(got, info) {
		t.Fatalf("verify (v1 and v2): %v", err)
	}
}

func TestAssembler(t *testing.T) {
	// Three pieces, the last one short.
	info := []byte("d4:name40000:" + strings.Repeat("n", 40000) + "12:piece lengthi16384e6:pieces20:" + strings.Repeat("x", 20) + "e")
	hash := peer.Hash(sha1.Sum(info))
	target := metainfo.Target{V1: (*metainfo.Hash)(&hash)}
	if _, err := NewAssembler(0, 100, target); !errors.Is(err, ErrSize) {
		t.Error("size 0")
	}
	if _, err := NewAssembler(-5, 100, target); !errors.Is(err, ErrSize) {
		t.Error("negative size")
	}
	if _, err := NewAssembler(1<<40, metainfo.DefaultMaxSize, target); !errors.Is(err, ErrSize) {
		t.Error("2^40")
	}
	a, err := NewAssembler(int64(len(info)), metainfo.DefaultMaxSize, target)
	if err != nil {
		t.Fatal(err)
	}
	if a.Pieces() != 3 {
		t.Fatalf("%d pieces", a.Pieces())
	}
	piece := func(i int) []byte { return info[i*PieceSize : i*PieceSize+PieceLen(len(info), i)] }
	if err := a.Put(3, []byte("x"), 1); err == nil {
		t.Error("out of range piece accepted")
	}
	if err := a.Put(0, piece(0)[:100], 1); err == nil {
		t.Error("short piece accepted")
	}
	if err := a.Put(2, append(piece(2), 'x'), 1); err == nil {
		t.Error("long last piece accepted")
	}
	for _, i := range []int{2, 0, 1} {
		if err := a.Put(i, piece(i), i); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.Verify()
	if err != nil || !bytes.Equal(got, info) {
		t.Fatalf("verify: %v", err)
	}

	// A wrong piece fails the hash; sources name the suppliers.
	a, _ = NewAssembler(int64(len(info)), metainfo.DefaultMaxSize, target)
	bad := bytes.Clone(piece(1))
	bad[0] ^= 1
	a.Put(0, piece(0), 7)
	a.Put(1, bad, 8)
	a.Put(2, piece(2), 7)
	if _, err := a.Verify(); !errors.Is(err, metainfo.ErrHashMismatch) {
		t.Fatalf("err %v", err)
	}
	if s := a.Sources(); len(s) != 2 || s[0] != 7 || s[1] != 8 {
		t.Errorf("sources %v", s)
	}
	a.Reset()
	if a.Done() || len(a.Missing()) != 3 {
		t.Error("reset")
	}
	// After a reset the hash starts over: the good copy verifies.
	for _, i := range []int{1, 2, 0} {
		a.Put(i, piece(i), 9)
	}
	if got, err := a.Verify(); err != nil || !bytes.Equal(got, info) {
		t.Errorf("verify after reset: %v", err)
	}

	// Hash-valid but not a dictionary.
	notDict := []byte("4:spam")
	h2 := peer.Hash(sha1.Sum(notDict))
	if err := metainfo.VerifyInfo(notDict, metainfo.Target{V1: (*metainfo.Hash)(&h2)}); !errors.Is(err, metainfo.ErrInvalidMetadata) {
		t.Errorf("non-dict: %v", err)
	}
}

func TestWindow(t *testing.T) {
	id := func(s string) (p peer.PeerID) { copy(p[:], s); return p }
	reqq := func(n int64) *int64 { return &n }
	tests := []struct {
		id        string
		reqq      *int64
		start, mx int
		// grown: the window after 100 answers with no round trip known
		// (past one burst it grows only over a long round trip).
		grown int
	}{
		{"-lt0D80-", reqq(2048), 1, 1, 1}, // rtorrent: one at a time, whatever reqq says
		{"-LT2080-", reqq(2000), 8, 64, 8},
		{"-TR3000-", reqq(512), 2, 32, 32},
		{"A2-1-36-", nil, 8, 64, 64},
		{"-BX0100-", reqq(250), 64, 250, 164},
		{"-XX0000-", nil, 2, DefaultMaxWindow, 8},
		{"-XX0000-", reqq(3), 2, 3, 3},
		{"-XX0000-", reqq(1), 1, 1, 1},
	}
	for _, tt := range tests {
		w := newWindow(id(tt.id), tt.reqq)
		if w.size != tt.start || w.max != tt.mx {
			t.Errorf("%s: window %d max %d, want %d %d", tt.id, w.size, w.max, tt.start, tt.mx)
		}
		for range 100 {
			w.answered()
		}
		if w.size != tt.grown {
			t.Errorf("%s: grew to %d", tt.id, w.size)
		}
		w.timedOut()
		if w.size != max(1, tt.grown/2) {
			t.Errorf("%s: after timeout %d", tt.id, w.size)
		}
	}
	var r rto
	if r.timeout() != initialRTO {
		t.Error("initial rto")
	}
	r.sample(10 * time.Millisecond)
	if r.timeout() != minRTO {
		t.Errorf("rto %v", r.timeout())
	}
	// Bursts: four answers every two seconds keep the estimate above the gap.
	for range 10 {
		r.sample(2 * time.Second)
		r.sample(time.Millisecond)
		r.sample(time.Millisecond)
		r.sample(time.Millisecond)
	}
	if r.timeout() <= 2*time.Second {
		t.Errorf("rto %v under bursts two seconds apart", r.timeout())
	}
	// Timeouts in a row double the wait up to maxRTO; an answer ends it.
	r = rto{}
	r.sample(time.Second)
	base := r.timeout()
	for k := range 6 {
		r.timedOut()
		if want := min(base<<(k+1), maxRTO); r.timeout() != want {
			t.Errorf("backoff from %v, timeout %d: %v, want %v", base, k+1, r.timeout(), want)
		}
	}
	r.answered()
	if r.timeout() != base {
		t.Errorf("after an answer: %v, want %v", r.timeout(), base)
	}
}

// FuzzUTMessage: decoding never panics, agrees with the map decode it
// replaced (sameAsMap), and what decodes re-encodes, as the map encoding
// did, to a message that decodes the same.
func FuzzUTMessage(f *testing.F) {
	for _, c := range utDiffCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := sameAsMap(b); err != nil {
			t.Fatal(err)
		}
		var m UTMessage
		if m.UnmarshalBinary(b) != nil || m.Type > 2 {
			return
		}
		enc, err := m.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := appendUTMap(nil, m); !bytes.Equal(enc, want) {
			t.Fatalf("%+v encoded %q, the map encoding %q", m, enc, want)
		}
		var back UTMessage
		if err := back.UnmarshalBinary(enc); err != nil || back.Type != m.Type || back.Piece != m.Piece || !bytes.Equal(back.Data, m.Data) {
			t.Fatalf("round trip %q -> %q: %v", b, enc, err)
		}
	})
}

func FuzzLTMessage(f *testing.F) {
	f.Add([]byte("\x00\x40\x3f"))
	f.Add([]byte("\x01\x00\x00\x01\x2c\x00\x00\x00\x02ab"))
	f.Add([]byte("\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m LTMessage
		if m.UnmarshalBinary(b) != nil || m.Type > 2 {
			return
		}
		enc, err := m.AppendBinary(nil)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("round trip %q -> %q: %v", b, enc, err)
		}
	})
}
