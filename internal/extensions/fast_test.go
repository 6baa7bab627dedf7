package extensions

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/peer"
)

// fastPeer listens on loopback and plays a peer that answers with the given
// reserved bytes, sends an extended handshake, then msgs.
func fastPeer(t *testing.T, r peer.Reserved, msgs ...peer.Message) (addr string, gotReserved <-chan peer.Reserved) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan peer.Reserved, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, peer.HandshakeLen)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		var h peer.Handshake
		_ = h.UnmarshalBinary(buf)
		got <- h.Reserved
		hs, _ := peer.Handshake{Reserved: r}.AppendBinary(nil)
		c.Write(hs)
		w := func(m peer.Message) { b, _ := m.AppendBinary(nil); c.Write(b) }
		w(peer.ExtendedMessage(0, []byte("d1:md11:ut_metadatai3eee")))
		for _, m := range msgs {
			w(m)
		}
		io.Copy(io.Discard, c)
	}()
	return ln.Addr().String(), got
}

func TestConnectAdvertisesFast(t *testing.T) {
	u32 := func(i byte) []byte { return []byte{0, 0, 0, i} }
	addr, got := fastPeer(t, peer.LocalReserved(),
		peer.Message{ID: peer.HaveAll},
		peer.Message{ID: peer.Suggest, Payload: u32(4)},
		peer.Message{ID: peer.AllowedFast, Payload: u32(2)},
		peer.Message{ID: peer.Reject, Payload: append(u32(1), 0, 0, 0x40, 0, 0, 0, 0x40, 0)},
		peer.Message{ID: peer.HaveNone},
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Connect(ctx, addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r := <-got; !r.Fast() || !r.Extended() {
		t.Fatalf("our reserved bytes %s lack fast or extended", r)
	}
	if !s.Conn.Fast() {
		t.Fatal("fast not negotiated")
	}
	var events []string
	err = s.Watch(ctx, 300*time.Millisecond, func(e Event) error {
		events = append(events, e.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"have_all [peer has all pieces]",
		"suggest_piece 4 [peer has all pieces]",
		"allowed_fast 2 (1 pieces allowed while choked) [peer has all pieces]",
		"reject_request 1 begin 16384 length 16384",
		"have_none [peer has 0 pieces]",
	}
	if strings.Join(events, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(want, "\n"))
	}
}

// A peer that did not set the fast bit and sends have_all breaks the
// protocol, though we set ours.
func TestFastWithoutNegotiation(t *testing.T) {
	addr, _ := fastPeer(t, peer.Reserved{}.WithExtended(), peer.Message{ID: peer.HaveAll})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Connect(ctx, addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Conn.Fast() {
		t.Fatal("fast negotiated with a peer that did not set the bit")
	}
	err = s.Watch(ctx, 2*time.Second, func(Event) error { return nil })
	var pe *peer.ProtocolError
	if !errors.As(err, &pe) || pe.ID != peer.HaveAll || !strings.Contains(err.Error(), "fast extension was not negotiated") {
		t.Fatalf("err = %v, want a ProtocolError for have_all", err)
	}
}
