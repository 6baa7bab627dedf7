package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

const testHash = "0c1cff1615a3bab426a5e1665f5f44f6a344e67f"

// runBtext runs one command line in-process.
func runBtext(t *testing.T, args ...string) (code int, stdout, stderr string, took time.Duration) {
	t.Helper()
	var out, errb bytes.Buffer
	start := time.Now()
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String(), time.Since(start)
}

// TestHandshakeOddPeers: good-but-odd peers still succeed, and what they
// said is shown faithfully.
func TestHandshakeOddPeers(t *testing.T) {
	addr := peertest.Listen(t, func(c *peertest.Conn) {
		h, _ := c.ReadHandshake()
		c.WriteHandshake(peer.Reserved{5: 0x10, 7: 0x15}, h.InfoHash, "-LT2080-\xff\x00abcdefghij")
		c.WriteMessage(peer.Message{ID: peer.Unchoke})
		c.WriteMessage(peer.Message{KeepAlive: true})
		c.WriteMessage(peer.Message{ID: peer.Bitfield, Payload: []byte{0xf0}})
		c.WriteExtHandshake(map[string]any{
			"m":             map[string]any{"ut_metadata": int64(2), "ut_pex": int64(0), "x_big": int64(300), "a": int64(2)},
			"v":             "caf\xe9 client",
			"yourip":        "\x7f\x00\x00\x01",
			"ipv6":          "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01",
			"reqq":          int64(2000),
			"metadata_size": int64(206),
			"complete_ago":  int64(-1),
			"M":             "case",
		})
		c.Drain()
	})
	code, stdout, stderr, _ := runBtext(t, "handshake", addr, "--info-hash", testHash, "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	var res struct {
		Client   string
		Supports map[string]bool
		Ext      struct {
			M            map[string]int64
			V            string
			YourIP       string
			IPv6         string
			Reqq         int64
			MetadataSize int64 `json:"metadata_size"`
			Other        map[string]any
			Notes        []string
		} `json:"extended_handshake"`
		Extensions map[string]int
		Messages   []string
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if res.Client != "libtorrent 2.0.8.0" || !res.Supports["dht"] || !res.Supports["fast"] || !res.Supports["v2_upgrade"] {
		t.Errorf("client %q supports %v", res.Client, res.Supports)
	}
	if res.Ext.V != `caf\xe9 client` || res.Ext.YourIP != "127.0.0.1" || res.Ext.IPv6 != "::1" || res.Ext.Reqq != 2000 || res.Ext.MetadataSize != 206 {
		t.Errorf("fields %+v", res.Ext)
	}
	if res.Ext.M["ut_pex"] != 0 || res.Ext.M["x_big"] != 300 || res.Ext.Other["M"] != "case" || res.Ext.Other["complete_ago"] != float64(-1) {
		t.Errorf("m %v other %v", res.Ext.M, res.Ext.Other)
	}
	if len(res.Extensions) != 2 || res.Extensions["ut_metadata"] != 2 || res.Extensions["a"] != 2 {
		t.Errorf("extensions %v", res.Extensions)
	}
	notes := strings.Join(res.Ext.Notes, "; ")
	if !strings.Contains(notes, `m["x_big"] = 300 is outside 1..255: skipped`) || !strings.Contains(notes, `id 2 is shared by ["a" "ut_metadata"]`) {
		t.Errorf("notes %q", notes)
	}
	if strings.Join(res.Messages, ", ") != "unchoke (0 bytes), bitfield (1 bytes)" {
		t.Errorf("messages %q", res.Messages)
	}
}
