package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// donthavePeer plays a peer that advertises lt_donthave (id 9 when ok) and
// reports every message it gets; closeOnAnnounce makes it hang up on the
// first have or bitfield.
func donthavePeer(advertise, closeOnAnnounce bool, got chan<- peer.Message) func(c *peertest.Conn) {
	return func(c *peertest.Conn) {
		if _, ok := c.Answer("-LT2080-000000000000"); !ok {
			return
		}
		m := map[string]any{"ut_pex": int64(1)}
		if advertise {
			m["lt_donthave"] = int64(9)
		}
		c.WriteExtHandshake(map[string]any{"m": m})
		fr := peer.FrameReader{R: c, Max: 1 << 20}
		for {
			msg, err := fr.Next()
			if err != nil {
				return
			}
			if msg.ID == peer.Extended && msg.Payload[0] == 0 {
				continue
			}
			got <- msg
			if closeOnAnnounce && (msg.ID == peer.Have || msg.ID == peer.Bitfield) {
				return
			}
		}
	}
}

func TestDontHavePeers(t *testing.T) {
	t.Run("sends have then lt_donthave on the peer's id", func(t *testing.T) {
		got := make(chan peer.Message, 10)
		addr := peertest.Listen(t, donthavePeer(true, false, got))
		code, stdout, stderr, _ := runBtext(t, "dont-have", testHash, addr, "5", "--json", "--linger", "100ms")
		if code != 0 {
			t.Fatalf("exit %d %s", code, stderr)
		}
		// No metadata offered: the piece count is unknown, so a have.
		want := []string{"have 5", "extended id 9 (4 bytes)"}
		for _, w := range want {
			if m := <-got; m.String() != w {
				t.Errorf("peer got %v, want %s", m, w)
			}
		}
		var rep dontHaveReport
		json.Unmarshal([]byte(stdout), &rep)
		if val(rep.Announce) != "have" || val(rep.ID) != 9 || len(rep.Sent) != 1 {
			t.Errorf("report %+v", rep)
		}
	})
	t.Run("the exact bytes of lt_donthave", func(t *testing.T) {
		got := make(chan peer.Message, 10)
		addr := peertest.Listen(t, donthavePeer(true, false, got))
		if code, _, stderr, _ := runBtext(t, "dont-have", testHash, addr, "258", "--no-announce", "--linger", "50ms"); code != 0 {
			t.Fatal(stderr)
		}
		m := <-got
		b, _ := m.AppendBinary(nil)
		if string(b) != "\x00\x00\x00\x06\x14\x09\x00\x00\x01\x02" {
			t.Errorf("sent %q", b)
		}
	})
	t.Run("peer without lt_donthave", func(t *testing.T) {
		addr := peertest.Listen(t, donthavePeer(false, false, make(chan peer.Message, 10)))
		code, _, stderr, _ := runBtext(t, "dont-have", testHash, addr, "1")
		if code != 4 || !strings.Contains(stderr, "lt_donthave: not supported by the peer (it offers ut_pex; --force --id N sends it anyway)") {
			t.Errorf("exit %d %q", code, stderr)
		}
	})
	t.Run("forced", func(t *testing.T) {
		got := make(chan peer.Message, 10)
		addr := peertest.Listen(t, donthavePeer(false, false, got))
		if code, _, stderr, _ := runBtext(t, "dont-have", testHash, addr, "1", "--force", "--id", "42", "--pieces", "8", "--linger", "50ms"); code != 0 {
			t.Fatal(stderr)
		}
		if m := <-got; m.ID != peer.Bitfield || string(m.Payload) != "\x40" {
			t.Errorf("announce %v %x", m, m.Payload)
		}
		if m := <-got; m.String() != "extended id 42 (4 bytes)" {
			t.Errorf("sent %v", m)
		}
	})
	t.Run("peer closes after the announce", func(t *testing.T) {
		addr := peertest.Listen(t, donthavePeer(true, true, make(chan peer.Message, 10)))
		code, stdout, stderr, took := runBtext(t, "dont-have", testHash, addr, "1", "--wait", "500ms")
		if code != 3 || !strings.Contains(stderr, "peer closed the connection after our announce") {
			t.Errorf("exit %d %q", code, stderr)
		}
		if !strings.Contains(stdout, "the peer closed the connection") {
			t.Errorf("not reported:\n%s", stdout)
		}
		if took > 3*time.Second {
			t.Errorf("took %v", took)
		}
	})
}

// TestWatchMalformed: a malformed lt_donthave or ut_pex from the peer is
// reported and the watch goes on.
func TestWatchMalformed(t *testing.T) {
	addr := peertest.Listen(t, func(c *peertest.Conn) {
		c.Answer("-XX0000-000000000000")
		c.WriteExtHandshake(map[string]any{"m": map[string]any{"lt_donthave": int64(3)}})
		c.WriteMessage(peer.Message{ID: peer.Have, Payload: []byte{0, 0, 0, 1}})
		c.WriteExtended(7, []byte{0, 0, 1})                    // lt_donthave, 3 bytes
		c.WriteExtended(1, []byte("d5:added5:abcdee"))         // ut_pex, bad length
		c.WriteExtended(7, []byte{0, 0, 0, 9})                 // never announced
		c.WriteExtended(7, []byte{0, 0, 0, 1})                 // applied
		c.WriteExtended(0, []byte("d1:md11:lt_donthavei0eee")) // disables it
		c.Drain()
	})
	code, stdout, stderr, _ := runBtext(t, "handshake", addr, "--info-hash", testHash, "--watch", "500ms")
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	for _, want := range []string{
		"have 1 [peer has 1 pieces]",
		"lt_donthave (malformed, ignored: lt_donthave payload: 3 bytes, want 4)",
		"ut_pex (malformed, ignored: added is 5 bytes, not a multiple of 6)",
		"lt_donthave 9 (ignored: piece 9 was never announced) [peer has 1 pieces]",
		"lt_donthave 1 (applied) [peer has 0 pieces]",
		"extended_handshake; m lt_donthave 3 -> 0",
		"watch ended: time",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in\n%s", want, stdout)
		}
	}
}
