package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/metadata"
)

// Interop tests run btext against real clients that nobody here wrote,
// started on 127.0.0.1 by scripts/start-peer.sh (DHT, LSD, UPnP/NAT-PMP and
// trackers off). They run when BTEXT_INTEROP is "require" (make test sets it
// when scripts/install-peers.sh succeeds; .ci/run always does) and are
// skipped otherwise.
func interop(t *testing.T) {
	t.Helper()
	switch os.Getenv("BTEXT_INTEROP") {
	case "require", "1":
	default:
		t.Skip("interop tests need real peers: BTEXT_INTEROP=require (make test sets it when scripts/install-peers.sh works)")
	}
}

// startPeer starts a real client seeding the torrent whose content lies in
// parent, waits for it to answer a real handshake and returns its address.
func startPeer(t *testing.T, client, torrent, parent string) string {
	t.Helper()
	work := t.TempDir()
	script, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "start-peer.sh"))
	stop, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "stop-peer.sh"))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, script, client, torrent, parent, work).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("start %s: %v\n%s", client, err, stderr)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(stop, work).CombinedOutput(); err != nil {
			t.Logf("stop %s: %v %s", client, err, out)
		}
	})
	addr := strings.TrimSpace(string(out))
	t.Logf("%s seeding on %s", client, addr)
	return addr
}

// demoContent copies testdata/demo to a temporary directory, so that the
// clients never write next to the committed files.
func demoContent(t *testing.T) (torrent, parent string, tor *metadata.Torrent) {
	t.Helper()
	src := filepath.Join("..", "..", "testdata")
	parent = t.TempDir()
	if err := os.CopyFS(filepath.Join(parent, "demo"), os.DirFS(filepath.Join(src, "demo"))); err != nil {
		t.Fatal(err)
	}
	torrent, _ = filepath.Abs(filepath.Join(src, "demo.torrent"))
	tor, err := metadata.LoadFile(torrent, metadata.DefaultMaxSize)
	if err != nil {
		t.Fatal(err)
	}
	return torrent, parent, tor
}

type interopResult struct {
	Client   string          `json:"client"`
	Supports map[string]bool `json:"supports"`
	Ext      *struct {
		M            map[string]int64 `json:"m"`
		V            *string          `json:"v"`
		YourIP       *string          `json:"yourip"`
		Reqq         *int64           `json:"reqq"`
		MetadataSize *int64           `json:"metadata_size"`
		Notes        []string         `json:"notes"`
	} `json:"extended_handshake"`
	Extensions map[string]int `json:"extensions"`
}

func TestInteropHandshake(t *testing.T) {
	interop(t)
	torrent, parent, tor := demoContent(t)
	tests := []struct {
		client     string
		wantClient string
		wantM      map[string]int64 // entries that must be present with these ids
		wantReqq   int64
	}{
		// NOTES.md: libtorrent 2.0 advertises ut_pex 1, ut_metadata 2,
		// upload_only 3, ut_holepunch 4, lt_donthave 7, share_mode 8; reqq 2000.
		{"libtorrent", "libtorrent 2.0.8.0", map[string]int64{"ut_metadata": 2, "lt_donthave": 7, "upload_only": 3, "ut_holepunch": 4}, 2000},
		// Transmission 3.00: ut_metadata 3, reqq 512.
		{"transmission", "Transmission 3.00", map[string]int64{"ut_metadata": 3}, 512},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			addr := startPeer(t, tt.client, torrent, parent)
			code, stdout, stderr, took := runBtext(t, "handshake", addr, "--info-hash", tor.InfoHash.String(), "--json", "--timeout", "20s")
			t.Logf("btext handshake %s --json (%v):\n%s", addr, took.Round(time.Millisecond), stdout)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var res interopResult
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatal(err)
			}
			if res.Client != tt.wantClient || !res.Supports["extension_protocol"] {
				t.Errorf("client %q supports %v", res.Client, res.Supports)
			}
			if res.Ext == nil {
				t.Fatal("no extended handshake")
			}
			for name, id := range tt.wantM {
				if res.Ext.M[name] != id {
					t.Errorf("m[%s] = %d, want %d (m = %v)", name, res.Ext.M[name], id, res.Ext.M)
				}
			}
			if res.Ext.MetadataSize == nil || *res.Ext.MetadataSize != int64(len(tor.Info)) {
				t.Errorf("metadata_size %v, want the info dict's length %d", res.Ext.MetadataSize, len(tor.Info))
			}
			if res.Ext.Reqq == nil || *res.Ext.Reqq != tt.wantReqq {
				t.Errorf("reqq %v, want %d", res.Ext.Reqq, tt.wantReqq)
			}
			if res.Extensions["ut_metadata"] != int(tt.wantM["ut_metadata"]) {
				t.Errorf("registry %v", res.Extensions)
			}
		})
	}
}
