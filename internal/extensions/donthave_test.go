package extensions

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/peer"
)

func TestDontHaveBytes(t *testing.T) {
	// BEP 54: <len=6><20><id><u32 piece>; the payload is the 4 bytes.
	b, _ := DontHave{Piece: 0x01020304}.AppendBinary(nil)
	if string(b) != "\x01\x02\x03\x04" {
		t.Fatalf("payload %q", b)
	}
	msg, _ := peer.ExtendedMessage(7, b).AppendBinary(nil)
	if string(msg) != "\x00\x00\x00\x06\x14\x07\x01\x02\x03\x04" {
		t.Fatalf("message %q", msg)
	}
	var m DontHave
	if err := m.UnmarshalBinary(b); err != nil || m.Piece != 0x01020304 {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"", "\x01", "\x01\x02\x03", "\x01\x02\x03\x04\x05"} {
		var pe *PayloadError
		if err := m.UnmarshalBinary([]byte(bad)); !errors.As(err, &pe) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzDontHave(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x07"))
	f.Add([]byte("\x00\x00\x07"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m DontHave
		if m.UnmarshalBinary(b) != nil {
			return
		}
		enc, _ := m.AppendBinary(nil)
		if !bytes.Equal(enc, b) {
			t.Fatalf("round trip %q -> %q", b, enc)
		}
	})
}

func TestParsePex(t *testing.T) {
	p := []byte("d5:added12:\x7f\x00\x00\x01\x1a\xe1\x7f\x00\x00\x02\x00\x507:added.f2:\x00\x006:added618:" +
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe17:dropped6:\x0a\x00\x00\x01\x00\x01e")
	added, dropped, err := parsePex(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(added, " ") != "127.0.0.1:6881 127.0.0.2:80 [::1]:6881" || strings.Join(dropped, " ") != "10.0.0.1:1" {
		t.Errorf("added %v dropped %v", added, dropped)
	}
	if _, _, err := parsePex([]byte("d5:added5:abcdee")); err == nil {
		t.Error("5-byte added accepted")
	}
}

// TestHandleEvents: a scripted peer announces pieces, drops one (twice,
// and one it never had, and a malformed one), re-sends its extended
// handshake; the session applies and reports each.
func TestHandleEvents(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.ReadFull(c, make([]byte, peer.HandshakeLen))
		hs, _ := peer.Handshake{Reserved: peer.Reserved{}.WithExtended()}.AppendBinary(nil)
		c.Write(hs)
		w := func(m peer.Message) { b, _ := m.AppendBinary(nil); c.Write(b) }
		w(peer.ExtendedMessage(0, []byte("d1:md11:lt_donthavei9e6:ut_pexi1ee4:reqqi250ee")))
		w(peer.Message{ID: peer.Bitfield, Payload: []byte{0xe0}})
		w(peer.ExtendedMessage(LocalDontHave, []byte{0, 0, 0, 1}))
		w(peer.ExtendedMessage(LocalDontHave, []byte{0, 0, 0, 1}))
		w(peer.ExtendedMessage(LocalDontHave, []byte{0, 0, 1}))
		w(peer.ExtendedMessage(0, []byte("d1:md6:ut_pexi0ee4:reqqi500ee")))
		w(peer.ExtendedMessage(LocalUploadOnly, []byte{1}))
		io.Copy(io.Discard, c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Connect(ctx, ln.Addr().String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []string{
		"bitfield [peer has 3 pieces]",
		"lt_donthave 1 (applied) [peer has 2 pieces]",
		"lt_donthave 1 (ignored: piece 1 was never announced) [peer has 2 pieces]",
		"lt_donthave (malformed, ignored: lt_donthave payload: 3 bytes, want 4)",
		"extended_handshake; m ut_pex 1 -> 0; reqq 250 -> 500",
		"upload_only true",
	}
	for _, w := range want {
		msg, err := s.Conn.ReadMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Handle(msg)
		if err != nil || e.String() != w {
			t.Errorf("got %q %v\nwant %q", e.String(), err, w)
		}
	}
	if _, ok := s.Registry.ID(UTPex); ok {
		t.Error("ut_pex still enabled after 0")
	}
	if id, _ := s.Registry.ID(LTDontHave); id != 9 {
		t.Errorf("lt_donthave %d: a later handshake that leaves it out must keep it", id)
	}
	if s.Ext.M[LTDontHave] != 9 {
		t.Errorf("m after the additive update: %v", s.Ext.M)
	}
}
