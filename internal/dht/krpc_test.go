package dht

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/btext/btext/internal/bencode"
)

// The examples of BEP 5, "KRPC Protocol", byte for byte, plus "ro" (BEP
// 43), which this client adds to every query.
func TestAppendQueryBEP5(t *testing.T) {
	tests := []struct {
		name, method string
		args         map[string]any
		want         string
	}{
		{"ping", "ping", map[string]any{"id": "abcdefghij0123456789"},
			"d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe"},
		{"find_node", "find_node", map[string]any{"id": "abcdefghij0123456789", "target": "mnopqrstuvwxyz123456"},
			"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node2:roi1e1:t2:aa1:y1:qe"},
		{"get_peers", "get_peers", map[string]any{"id": "abcdefghij0123456789", "info_hash": "mnopqrstuvwxyz123456"},
			"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers2:roi1e1:t2:aa1:y1:qe"},
		// BEP 32: want lists the families whose nodes we can use.
		{"get_peers want", "get_peers", map[string]any{"id": "abcdefghij0123456789", "info_hash": "mnopqrstuvwxyz123456", "want": []any{"n4", "n6"}},
			"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:wantl2:n42:n6ee1:q9:get_peers2:roi1e1:t2:aa1:y1:qe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendQuery(nil, "aa", tt.method, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			m, err := parseMessage(got)
			if err != nil {
				t.Fatalf("parse own query: %v", err)
			}
			if m.Y != 'q' || m.Q != tt.method || !m.ReadOnly || m.T != "aa" || string(m.ID[:]) != "abcdefghij0123456789" {
				t.Errorf("parsed back as %+v", m)
			}
		})
	}
}

func TestParseReplyBEP5(t *testing.T) {
	id := func(s string) NodeID { return NodeID([]byte(s)) }
	tests := []struct {
		name string
		in   string
		want message
	}{
		{"ping reply", "d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
			message{T: "aa", Y: 'r', ID: id("mnopqrstuvwxyz123456"), HasID: true}},
		{"get_peers values", "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
			message{T: "aa", Y: 'r', ID: id("abcdefghij0123456789"), HasID: true, Token: "aoeusnth",
				Values: []netip.AddrPort{
					netip.MustParseAddrPort("97.120.106.101:11893"),  // "axje.u"
					netip.MustParseAddrPort("105.100.104.116:28269"), // "idhtnm"
				}}},
		// BEP 5's example "nodes" is a placeholder of 9 bytes: not a
		// multiple of 26, so it is dropped with a note, not a crash.
		{"get_peers nodes placeholder", "d1:rd2:id20:abcdefghij01234567895:nodes9:def456...5:token8:aoeusnthe1:t2:aa1:y1:re",
			message{T: "aa", Y: 'r', ID: id("abcdefghij0123456789"), HasID: true, Token: "aoeusnth",
				Notes: []string{"nodes of 9 bytes (not a multiple of 26)"}}},
		{"error", "d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
			message{T: "aa", Y: 'e', Err: &Error{Code: 201, Msg: "A Generic Error Ocurred"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMessage([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseCompactNodes(t *testing.T) {
	n4 := "AAAAAAAAAAAAAAAAAAAA" + "\x7f\x00\x00\x02\x1a\xe1"
	n6 := "BBBBBBBBBBBBBBBBBBBB" + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe2"
	v6 := "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x50"
	b := encodeMsg(t, map[string]any{"t": "xy", "y": "r", "ip": "\x7f\x00\x00\x01\x00\x01",
		"r": map[string]any{"id": strings.Repeat("i", 20), "nodes": n4 + n4[:25] /* 51 bytes */, "nodes6": n6,
			"values": []any{v6, "12345", int64(3)}}})
	m, err := parseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	wantNodes := []Node{{ID: NodeID([]byte(n6[:20])), Addr: netip.MustParseAddrPort("[::1]:6882")}}
	if !reflect.DeepEqual(m.Nodes, wantNodes) {
		t.Errorf("nodes %v, want %v (the 51-byte nodes list is dropped)", m.Nodes, wantNodes)
	}
	if want := []netip.AddrPort{netip.MustParseAddrPort("[::1]:80")}; !reflect.DeepEqual(m.Values, want) {
		t.Errorf("values %v, want %v", m.Values, want)
	}
	if m.IP != netip.MustParseAddrPort("127.0.0.1:1") {
		t.Errorf("ip %v", m.IP)
	}
	if len(m.Notes) != 3 {
		t.Errorf("notes %q, want 3 (nodes length, a 5-byte value, an integer value)", m.Notes)
	}
}

func TestParseMalformed(t *testing.T) {
	for _, in := range []string{
		"", "garbage", "le", "i1e", "d1:t2:aae", "d1:y1:re",
		"d1:t2:aa1:y1:re",                                   // no "r"
		"d1:rd2:id3:abce1:t2:aa1:y1:re",                     // id not 20 bytes
		"d1:eli201ee1:t2:aa1:y1:ee",                         // error without a message
		"d1:t2:aa1:y1:xe",                                   // unknown type
		"d1:t2:aa1:y1:q1:q4:pinge",                          // query without arguments
		"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:rexx", // trailing bytes
		strings.Repeat("l", 100) + strings.Repeat("e", 100), // too deep
	} {
		if m, err := parseMessage([]byte(in)); err == nil {
			t.Errorf("parseMessage(%q) = %+v, want an error", in, m)
		} else if !errors.Is(err, ErrMalformed) {
			t.Errorf("parseMessage(%q): %v, want ErrMalformed", in, err)
		}
	}
}

// No strict prefix of a valid reply parses.
func TestParsePrefixes(t *testing.T) {
	full := "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re"
	for i := range len(full) {
		if _, err := parseMessage([]byte(full[:i])); err == nil {
			t.Errorf("prefix of %d bytes parsed", i)
		}
	}
}

func TestNodeIDDistance(t *testing.T) {
	var a, b NodeID
	if a.commonBits(b) != 160 {
		t.Error("equal ids share 160 bits")
	}
	b[0] = 0x80
	if a.commonBits(b) != 0 {
		t.Error("first bit differs: 0 common bits")
	}
	b[0], b[2] = 0, 0x10
	if got := a.commonBits(b); got != 19 {
		t.Errorf("commonBits = %d, want 19", got)
	}
	if d := a.xor(b); d != b {
		t.Errorf("xor with zero = %v", d)
	}
}

func encodeMsg(t testing.TB, v map[string]any) []byte {
	t.Helper()
	b, err := bencode.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encodeReply is the inverse of parseMessage for replies, used by the fake
// nodes and the fuzz round trip.
func encodeReply(m *message) ([]byte, error) {
	r := map[string]any{"id": string(m.ID[:])}
	var n4, n6 []byte
	for _, n := range m.Nodes {
		if n.Addr.Addr().Is4() {
			n4 = appendCompactAddr(append(n4, n.ID[:]...), n.Addr)
		} else {
			n6 = appendCompactAddr(append(n6, n.ID[:]...), n.Addr)
		}
	}
	if n4 != nil {
		r["nodes"] = string(n4)
	}
	if n6 != nil {
		r["nodes6"] = string(n6)
	}
	if m.Values != nil {
		var vs []any
		for _, v := range m.Values {
			vs = append(vs, string(appendCompactAddr(nil, v)))
		}
		r["values"] = vs
	}
	if m.Token != "" {
		r["token"] = m.Token
	}
	if m.HasSamp {
		var s []byte
		for _, h := range m.Samples {
			s = append(s, h[:]...)
		}
		r["samples"] = string(s)
		r["interval"] = m.Interval
		r["num"] = m.Num
	}
	d := map[string]any{"t": m.T, "y": "r", "r": r}
	if m.IP.IsValid() {
		d["ip"] = string(appendCompactAddr(nil, m.IP))
	}
	return bencode.Encode(d)
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
		"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
		"d1:rd2:id20:abcdefghij01234567895:nodes9:def456...5:token8:aoeusnthe1:t2:aa1:y1:re",
		"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
		"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:wantl2:n42:n6ee1:q9:get_peers2:roi1e1:t2:aa1:y1:qe",
		"d1:rd2:id20:abcdefghij01234567898:intervali21e5:nodes26:ABCDEFGHIJKLMNOPQRST\x7f\x00\x00\x01\x1a\xe13:numi5e7:samples20:01234567890123456789e1:t2:aa1:y1:re",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			if m != nil {
				t.Fatal("a message and an error")
			}
			return
		}
		if m.Y != 'r' || m.SampBad {
			return
		}
		// What parses re-encodes canonically and parses to the same reply.
		out, err := encodeReply(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := parseMessage(out)
		if err != nil {
			t.Fatalf("re-encoded reply does not parse: %v\n%q", err, out)
		}
		m.Notes, m2.Notes = nil, nil
		if len(m.Values) == 0 {
			m.Values, m2.Values = nil, nil
		}
		if !m.HasSamp {
			m.Interval, m.Num = 0, 0
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip\n got %+v\nwant %+v", m2, m)
		}
	})
}
