package bencode

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"i0e", int64(0)},
		{"i-42e", int64(-42)},
		{"i9223372036854775807e", int64(9223372036854775807)},
		{"0:", ""},
		{"4:spam", "spam"},
		{"3:\xff\x00\xfe", "\xff\x00\xfe"},
		{"le", []any{}},
		{"l4:spami7ee", []any{"spam", int64(7)}},
		{"de", map[string]any{}},
		{"d1:md11:ut_metadatai2eee", map[string]any{"m": map[string]any{"ut_metadata": int64(2)}}},
		// Keys are case sensitive: both survive.
		{"d1:Mi1e1:mi2ee", map[string]any{"M": int64(1), "m": int64(2)}},
		// Unsorted keys are tolerated.
		{"d1:bi1e1:ai2ee", map[string]any{"a": int64(2), "b": int64(1)}},
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in), Limits{})
		if err != nil {
			t.Errorf("Decode(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Decode(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		in, reason string
	}{
		{"", "unexpected end"},
		{"i", "unterminated integer"},
		{"ie", "invalid integer"},
		{"i-0e", "invalid integer"},
		{"i03e", "invalid integer"},
		{"i+3e", "invalid integer"},
		{"i1.5e", "invalid integer"},
		{"i9223372036854775808e", "out of range"},
		{"5:abc", "exceeds"},
		{"99999999999:x", "string length 99999999999 exceeds"},
		{"03:abc", "leading zero"},
		{"3abc", "not followed by ':'"},
		{"l", "unterminated list"},
		{"d", "unterminated dictionary"},
		{"di1ei2ee", "key is not a string"},
		{"d1:ai1e1:ai2ee", "duplicate dictionary key"},
		{"d1:bi1e1:ai2e1:bi3ee", "duplicate dictionary key"},
		{"d1:ae", "unexpected byte 'e'"},
		{"x", "unexpected byte"},
		{strings.Repeat("l", 65) + strings.Repeat("e", 65), "nesting deeper than 64"},
	}
	for _, tt := range tests {
		_, err := Decode([]byte(tt.in), Limits{})
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("Decode(%q) error = %v, want SyntaxError containing %q", tt.in, err, tt.reason)
		}
	}
	if _, err := Decode([]byte("i1ei2e"), Limits{}); !errors.Is(err, ErrTrailingData) {
		t.Errorf("trailing data: got %v", err)
	}
	if _, err := Decode([]byte("l"+strings.Repeat("i1e", 11)+"e"), Limits{MaxValues: 10}); err == nil {
		t.Error("MaxValues not enforced")
	}
}

func TestDecodePrefix(t *testing.T) {
	in := []byte("d8:msg_typei1e5:piecei0e10:total_sizei3ee\x01\x02\x03")
	v, n, err := DecodePrefix(in, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(in)-3 {
		t.Errorf("n = %d, want %d", n, len(in)-3)
	}
	if d := v.(map[string]any); d["total_size"] != int64(3) {
		t.Errorf("total_size = %v", d["total_size"])
	}
}

func TestEncode(t *testing.T) {
	v := map[string]any{
		"v":    "btext",
		"m":    map[string]int{"ut_metadata": 2, "lt_donthave": 7, "LT_metadata": 14},
		"reqq": 250,
		"l":    []any{"a", int64(-1), Raw("de")},
	}
	got, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	want := "d1:ll1:ai-1edee1:md11:LT_metadatai14e11:lt_donthavei7e11:ut_metadatai2ee4:reqqi250e1:v5:btexte"
	if string(got) != want {
		t.Errorf("Encode = %s\nwant     %s", got, want)
	}
	if _, err := Encode(Raw("d")); err == nil {
		t.Error("invalid Raw accepted")
	}
	if _, err := Encode(3.5); err == nil {
		t.Error("float accepted")
	}
}

func TestDictSpan(t *testing.T) {
	in := []byte("d8:announce3:url4:infod4:name1:x6:lengthi1ee5:zzzzzi0ee")
	span, err := DictSpan(in, "info", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if string(span) != "d4:name1:x6:lengthi1ee" {
		t.Errorf("span = %q", span)
	}
	if _, err := DictSpan(in, "nope", Limits{}); err == nil {
		t.Error("missing key found")
	}
}

// FuzzDecode: decoding never panics, anything that decodes re-encodes to a
// value that decodes to the same thing and encodes the same again, and no
// strict prefix of a value decodes.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"d1:md11:ut_metadatai2e6:ut_pexi1ee1:pi6881e1:v12:uTorrent 1.2e",
		"d8:msg_typei1e5:piecei0e10:total_sizei3ee",
		"l" + strings.Repeat("l", 70),
		"99999999999:",
		"d1:bi1e1:ai2ee",
		"i-0e",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, err := DecodePrefix(b, Limits{MaxDepth: 16, MaxValues: 1000})
		if err != nil {
			return
		}
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		v2, err := Decode(enc, Limits{MaxDepth: 16, MaxValues: 1000})
		if err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip: %v %#v %#v", err, v, v2)
		}
		if enc2, _ := Encode(v2); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: %q then %q", enc, enc2)
		}
		if n > 1 {
			if _, err := Decode(b[:n-1], Limits{}); err == nil {
				t.Fatalf("strict prefix %q decoded", b[:n-1])
			}
		}
	})
}

func TestEntries(t *testing.T) {
	es, err := DictEntries([]byte("d1:ai1e1:bl1:xe1:cd1:di2eee"), Limits{})
	if err != nil || len(es) != 3 || es[0].Key != "a" || string(es[1].Value) != "l1:xe" || string(es[2].Value) != "d1:di2ee" {
		t.Fatalf("%v %v", es, err)
	}
	if i, ok := es[0].Value.Int(); !ok || i != 1 {
		t.Error("Int")
	}
	if _, ok := es[1].Value.String(); ok {
		t.Error("a list is not a string")
	}
	items, err := ListItems(es[1].Value, Limits{})
	if err != nil || len(items) != 1 {
		t.Fatal(err)
	}
	if s, ok := items[0].String(); !ok || s != "x" {
		t.Error("String")
	}
	for _, bad := range []string{"", "le", "d1:ai1e", "d1:ai1eex"} {
		if _, err := DictEntries([]byte(bad), Limits{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRawBytes: a byte string's content without a copy, and nothing that
// is not exactly one byte string.
func TestRawBytes(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"3:abc", "abc", true},
		{"0:", "", true},
		{"10:0123456789", "0123456789", true},
		{"03:abc", "", false},
		{"3:ab", "", false},
		{"3:abcd", "", false},
		{"i3e", "", false},
		{":abc", "", false},
		{"-1:", "", false},
		{"99999999999999999999:x", "", false},
		{"", "", false},
	} {
		b, ok := Raw(c.in).Bytes()
		if ok != c.ok || string(b) != c.want {
			t.Errorf("Raw(%q).Bytes() = %q, %v; want %q, %v", c.in, b, ok, c.want, c.ok)
		}
		if s, ok2 := Raw(c.in).String(); ok2 != c.ok || s != c.want {
			t.Errorf("Raw(%q).String() = %q, %v", c.in, s, ok2)
		}
	}
}
