package extensions

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/peer"
)

func TestRegistry(t *testing.T) {
	var r Registry
	notes := r.Apply(map[string]any{"ut_metadata": int64(3), "ut_pex": int64(1), "x_big": int64(300), "x_neg": int64(-1), "x_str": "2"})
	want := []string{
		`m["x_big"] = 300 is outside 1..255: skipped`,
		`m["x_neg"] = -1 is outside 1..255: skipped`,
		`m["x_str"] is a string, not an integer: skipped`,
	}
	if !reflect.DeepEqual(notes, want) {
		t.Errorf("notes = %q", notes)
	}
	if got := r.Names(); !reflect.DeepEqual(got, map[string]uint8{"ut_metadata": 3, "ut_pex": 1}) {
		t.Errorf("names = %v", got)
	}
	// Additive: only what is present changes; 0 disables.
	if notes := r.Apply(map[string]any{"ut_pex": int64(0), "lt_donthave": int64(7)}); len(notes) != 0 {
		t.Errorf("notes %q", notes)
	}
	if got := r.Names(); !reflect.DeepEqual(got, map[string]uint8{"ut_metadata": 3, "lt_donthave": 7}) {
		t.Errorf("after update names = %v", got)
	}
	if _, ok := r.ID("ut_pex"); ok {
		t.Error("ut_pex still enabled")
	}
	notes = r.Apply(map[string]any{"LT_metadata": int64(3)})
	if len(notes) != 1 || !strings.Contains(notes[0], `id 3 is shared by ["LT_metadata" "ut_metadata"]`) {
		t.Errorf("duplicate notes = %q", notes)
	}
}

func TestParse(t *testing.T) {
	payload := "d1:md11:LT_metadatai1e6:ut_pexi2e3:badi300ee1:pi6881e1:v12:uTorrent 1.2" +
		"6:yourip4:\x7f\x00\x00\x014:reqqi2000e13:metadata_sizei31235e1:ei1e4:ipv616:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" +
		"4:ipv43:abce"
	h, err := Parse([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.M, map[string]int64{"LT_metadata": 1, "ut_pex": 2, "bad": 300}) {
		t.Errorf("m = %v", h.M)
	}
	if *h.P != 6881 || *h.V != "uTorrent 1.2" || *h.Reqq != 2000 || *h.MetadataSize != 31235 {
		t.Errorf("fields %v %v %v %v", *h.P, *h.V, *h.Reqq, *h.MetadataSize)
	}
	if Addr(h.YourIP) != "127.0.0.1" || Addr(h.IPv6) != "::1" || h.IPv4 != nil {
		t.Errorf("addresses %q %q %q", h.YourIP, h.IPv6, h.IPv4)
	}
	if h.Other["e"] != int64(1) || h.Other["ipv4"] != "abc" {
		t.Errorf("other = %v", h.Other)
	}
	if len(h.Notes) != 1 || !strings.Contains(h.Notes[0], "ipv4 is 3 bytes") {
		t.Errorf("notes = %q", h.Notes)
	}
	// Case-sensitive keys: "M" is not "m".
	h, err = Parse([]byte("d1:Md11:ut_metadatai2eee"))
	if err != nil || len(h.M) != 0 || h.Other["M"] == nil {
		t.Errorf("M parsed as m: %v %v", h, err)
	}
	for _, bad := range []string{"not bencode", "li1ee", "d1:mli1eee", "d1:m3:abce", "d1:md1:ai1e", "d1:md1:ai1eee1:x"} {
		_, err := Parse([]byte(bad))
		var pe *PayloadError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) err = %v, want PayloadError", bad, err)
		}
	}
}

func TestLocalEncode(t *testing.T) {
	b := Local{Client: "btext 1", Port: 6881, Reqq: 250, MetadataSize: 206, YourIP: netip.MustParseAddr("127.0.0.1")}.Encode()
	want := "d1:md11:LT_metadatai14e11:lt_donthavei7e11:ut_metadatai2ee13:metadata_sizei206e1:pi6881e4:reqqi250e1:v7:btext 16:yourip4:\x7f\x00\x00\x01e"
	if string(b) != want {
		t.Errorf("got  %q\nwant %q", b, want)
	}
	if string(Local{}.Encode()) != "d1:md11:LT_metadatai14e11:lt_donthavei7e11:ut_metadatai2eee" {
		t.Errorf("minimal: %q", Local{}.Encode())
	}
}

// TestLocalPrepare: a handshake prepared once encodes as it does unprepared,
// whatever YourIP (none, IPv4, IPv4-mapped, IPv6) is set after.
func TestLocalPrepare(t *testing.T) {
	for _, l := range []Local{
		{Client: "btext 1", Port: 6881, Reqq: 250, MetadataSize: 206},
		{},
		{Client: "x", M: map[string]int{"ut_metadata": 3, "zz_last": 9}},
	} {
		p := l.Prepare()
		for _, ip := range []string{"", "127.0.0.1", "::ffff:10.0.0.1", "2001:db8::1"} {
			if ip != "" {
				l.YourIP, p.YourIP = netip.MustParseAddr(ip), netip.MustParseAddr(ip)
			}
			if got, want := p.Encode(), l.Encode(); string(got) != string(want) {
				t.Errorf("%+v yourip %q: prepared %q, want %q", l, ip, got, want)
			}
		}
	}
}

// FuzzParse: never panics; what parses has its m applied without panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("d1:md11:LT_metadatai1e6:ut_pexi2ee1:pi6881e1:v12:uTorrent 1.2e"))
	f.Add([]byte("d1:md11:ut_metadatai300ee6:yourip4:abcde"))
	f.Add([]byte("d1:mle"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b)
		if err != nil {
			return
		}
		var r Registry
		r.Apply(h.rawM)
		for name, id := range r.Names() {
			if id == 0 || h.M[name] != int64(id) {
				t.Fatalf("registry %s=%d, m %d", name, id, h.M[name])
			}
		}
	})
}

// TestConnect runs a whole session against a scripted peer on loopback.
func TestConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var hash peer.Hash
	hash[0] = 9
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.ReadFull(c, make([]byte, peer.HandshakeLen))
		hs, _ := peer.Handshake{Reserved: peer.Reserved{5: 0x10, 7: 0x05}, InfoHash: hash}.AppendBinary(nil)
		c.Write(hs)
		ext, _ := bencode.Encode(map[string]any{"m": map[string]any{"ut_metadata": int64(2)}, "metadata_size": int64(5)})
		unchoke, _ := peer.Message{ID: peer.Unchoke}.AppendBinary(nil)
		c.Write(unchoke)
		m, _ := peer.ExtendedMessage(0, ext).AppendBinary(nil)
		c.Write(m)
		// Read our extended handshake and check that it is one.
		var hdr [6]byte
		io.ReadFull(c, hdr[:])
		if hdr[4] != 20 || hdr[5] != 0 {
			t.Errorf("first message from us: %x", hdr)
		}
		io.Copy(io.Discard, c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Connect(ctx, ln.Addr().String(), Options{InfoHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if id, ok := s.Registry.ID(UTMetadata); !ok || id != 2 {
		t.Errorf("ut_metadata id %d %v", id, ok)
	}
	if *s.Ext.MetadataSize != 5 || len(s.Early) != 1 || s.Early[0].ID != peer.Unchoke {
		t.Errorf("ext %+v early %v", s.Ext, s.Early)
	}
	if s.Conn.State() != peer.StateExtended {
		t.Errorf("state %v", s.Conn.State())
	}
}
