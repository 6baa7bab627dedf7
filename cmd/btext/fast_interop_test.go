package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/btext/btext/internal/interop"
)

// TestInteropFast: each real client, seeding, watched by btext, which sets
// the fast bit (BEP 6). A client that sets it too says it is a seed with
// have_all; one that does not sends a bitfield and no fast message. Either
// way the watch ends by time, with no protocol error. Seen here: libtorrent
// 2.0.8 have_all then unchoke; Transmission 3.00 have_all; aria2 1.36
// have_all and an allowed_fast per piece; rtorrent 0.9.8 no fast bit, a
// bitfield.
func TestInteropFast(t *testing.T) {
	interop.Require(t)
	torrent, parent, tor := demoContent(t)
	for _, client := range []string{"libtorrent", "transmission", "aria2", "rtorrent"} {
		t.Run(client, func(t *testing.T) {
			t.Parallel()
			addr := startPeer(t, client, torrent, parent)
			code, stdout, stderr, _ := runBtext(t, "handshake", addr, "--info-hash", tor.InfoHash.String(), "--json", "--watch", "3s", "--timeout", "20s")
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
			}
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			var res interopResult
			if err := json.Unmarshal([]byte(lines[0]), &res); err != nil {
				t.Fatal(err)
			}
			fast := res.Supports["fast"]
			var seen []string
			fastMsgs := map[string]bool{"have_all": true, "have_none": true, "suggest_piece": true, "allowed_fast": true, "reject_request": true}
			var sawFast bool
			var end string
			for _, l := range lines[1:] {
				var e struct {
					Type   string `json:"type"`
					Pieces string `json:"pieces"`
					Reason string `json:"reason"`
				}
				if err := json.Unmarshal([]byte(l), &e); err != nil {
					t.Fatalf("%q: %v", l, err)
				}
				seen = append(seen, e.Type+" "+e.Pieces)
				sawFast = sawFast || fastMsgs[e.Type]
				if e.Type == "end" {
					end = e.Reason
				}
			}
			t.Logf("%s: fast bit %v; in 3 s it sent: %s", res.Client, fast, strings.Join(seen, ", "))
			switch {
			case end != "time":
				t.Errorf("watch ended: %q", end)
			case fast && !strings.Contains(strings.Join(seen, ","), "have_all all pieces"):
				t.Errorf("a seed with the fast bit sent no have_all")
			case !fast && sawFast:
				t.Errorf("fast messages without the fast bit")
			}
		})
	}
}
