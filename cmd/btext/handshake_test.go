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

func goodExt(c *peertest.Conn) {
	c.WriteExtHandshake(map[string]any{"m": map[string]any{"ut_metadata": int64(3)}, "metadata_size": int64(206)})
}

// TestHandshakeBadPeers: each misbehaving peer ends in one stderr line that
// names the cause, the documented exit code, and within --timeout.
func TestHandshakeBadPeers(t *testing.T) {
	tests := []struct {
		name string
		play func(c *peertest.Conn)
		code int
		want string
	}{
		{"closes at once", func(c *peertest.Conn) {}, 3, "peer closed the connection"},
		{"closes after our handshake", func(c *peertest.Conn) { c.ReadHandshake() }, 3, "read handshake: peer closed the connection before answering"},
		{"stalls", func(c *peertest.Conn) { c.Stall() }, 3, "read handshake: timed out"},
		{"dribbles", func(c *peertest.Conn) {
			h, _ := c.ReadHandshake()
			b, _ := peer.Handshake{Reserved: peertest.Extended, InfoHash: h.InfoHash}.AppendBinary(nil)
			c.Dribble(b, 100*time.Millisecond)
		}, 3, "read handshake: timed out"},
		{"wrong protocol string", func(c *peertest.Conn) {
			c.ReadHandshake()
			c.Write([]byte("\x13BitTorrent protocoI"))
			c.Stall()
		}, 4, `protocol string "BitTorrent protocoI"`},
		{"pstrlen 0", func(c *peertest.Conn) { c.ReadHandshake(); c.Write(make([]byte, 68)); c.Stall() }, 4, "protocol string length 0"},
		{"pstrlen 255", func(c *peertest.Conn) { c.ReadHandshake(); c.Write(bytes.Repeat([]byte{255}, 68)); c.Stall() }, 4, "protocol string length 255"},
		{"other info hash", func(c *peertest.Conn) {
			c.ReadHandshake()
			c.WriteHandshake(peertest.Extended, peer.Hash{1, 2, 3}, "-XX0000-000000000000")
			c.Stall()
		}, 4, "peer answered for info hash 0102030000"},
		{"no extension bit", func(c *peertest.Conn) {
			h, _ := c.ReadHandshake()
			c.WriteHandshake(peer.Reserved{7: 0x05}, h.InfoHash, "-TR3000-000000000000")
			c.Stall()
		}, 4, "extension protocol (BEP 10): not supported by the peer"},
		{"length 0xFFFFFFFF", func(c *peertest.Conn) { c.Answer("-XX0000-000000000000"); c.WriteLength(0xFFFFFFFF); c.Stall() }, 4, "message length 4294967295 exceeds the limit of 1048576 bytes"},
		{"length 100 MB", func(c *peertest.Conn) { c.Answer("-XX0000-000000000000"); c.WriteLength(100 << 20); c.Stall() }, 4, "message length 104857600 exceeds"},
		{"extended handshake not bencode", func(c *peertest.Conn) {
			c.Answer("-XX0000-000000000000")
			c.WriteExtended(0, []byte("hello"))
			c.Stall()
		}, 4, "extended handshake is not a bencoded dictionary"},
		{"m is a list", func(c *peertest.Conn) {
			c.Answer("-XX0000-000000000000")
			c.WriteExtended(0, []byte("d1:mli1eee"))
			c.Stall()
		}, 4, "extended handshake's m is a list, not a dictionary"},
		{"99999999999-byte string", func(c *peertest.Conn) {
			c.Answer("-XX0000-000000000000")
			c.WriteExtended(0, []byte("d1:v99999999999:xe"))
			c.Stall()
		}, 4, "exceeds the"},
		{"deep nesting", func(c *peertest.Conn) {
			c.Answer("-XX0000-000000000000")
			c.WriteExtended(0, []byte("d1:x"+strings.Repeat("l", 100)+strings.Repeat("e", 101)))
			c.Stall()
		}, 4, "nesting deeper than"},
		{"extended message of length 1", func(c *peertest.Conn) {
			c.Answer("-XX0000-000000000000")
			c.WriteMessage(peer.Message{ID: peer.Extended})
			c.Stall()
		}, 4, "extended message without an extension id"},
		{"no extended handshake", func(c *peertest.Conn) { c.Answer("-XX0000-000000000000"); c.Stall() }, 3, "wait for extended handshake: read message: timed out"},
		{"endless keep-alives", func(c *peertest.Conn) {
			c.Answer("-XX0000-000000000000")
			for range 100 {
				c.WriteMessage(peer.Message{KeepAlive: true})
				time.Sleep(20 * time.Millisecond)
			}
		}, 3, "timed out"},
		{"closes after handshake", func(c *peertest.Conn) { c.Answer("-XX0000-000000000000") }, 3, "wait for extended handshake: read message: peer closed the connection"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := peertest.Listen(t, tt.play)
			code, stdout, stderr, took := runBtext(t, "handshake", addr, "--info-hash", testHash, "--timeout", "1s")
			if code != tt.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if !strings.HasPrefix(stderr, "btext: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q, want one line containing %q", stderr, tt.want)
			}
			if took > 3*time.Second {
				t.Errorf("took %v with --timeout 1s", took)
			}
			if tt.name == "no extension bit" && !strings.Contains(stdout, "client          Transmission 3.00") {
				t.Errorf("what the peer sent is not shown:\n%s", stdout)
			}
		})
	}
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
