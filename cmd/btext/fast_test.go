package main

import (
	"strings"
	"testing"

	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// TestWatchFast: btext sets the fast bit (BEP 6); with a peer that sets it
// too, --watch shows have_all and the other fast messages.
func TestWatchFast(t *testing.T) {
	reserved := make(chan peer.Reserved, 2)
	addr := peertest.Listen(t, func(c *peertest.Conn) {
		h, ok := c.ReadHandshake()
		if !ok {
			return
		}
		reserved <- h.Reserved
		c.WriteHandshake(peer.LocalReserved(), h.InfoHash, "-XX0000-000000000000")
		c.WriteExtHandshake(map[string]any{"m": map[string]any{"ut_metadata": int64(2)}})
		c.WriteMessage(peer.Message{ID: peer.HaveAll})
		c.WriteMessage(peer.Message{ID: peer.AllowedFast, Payload: []byte{0, 0, 0, 3}})
		c.WriteMessage(peer.Message{ID: peer.Suggest, Payload: []byte{0, 0, 0, 1}})
		c.Drain()
	})
	code, stdout, stderr, _ := runBtext(t, "handshake", addr, "--info-hash", testHash, "--watch", "300ms")
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	if r := <-reserved; !r.Fast() {
		t.Errorf("btext's reserved bytes %s lack the fast bit", r)
	}
	for _, want := range []string{
		"reserved        0000000000100004 extension_protocol fast",
		"s have_all [peer has all pieces]",
		"s allowed_fast 3 (1 pieces allowed while choked) [peer has all pieces]",
		"s suggest_piece 1 [peer has all pieces]",
		"watch ended: time",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q in\n%s", want, stdout)
		}
	}
	code, stdout, stderr, _ = runBtext(t, "handshake", addr, "--info-hash", testHash, "--watch", "300ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	if !strings.Contains(stdout, `"type":"have_all","pieces":"all pieces","len":0}`) {
		t.Errorf("no have_all event in\n%s", stdout)
	}
}
