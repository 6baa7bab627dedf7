package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// TestEncryptionDefaults: against a peer that requires encryption,
// fetch-metadata and dont-have work with default flags (prefer), while
// handshake keeps a plain handshake by default and so is closed on.
func TestEncryptionDefaults(t *testing.T) {
	info := peertest.InfoOfSize(40000)
	hash := peertest.HashOf(info).String()
	addr, _ := peertest.Serve(t, metadata.ServerConfig{Client: "btext test", Peer: peer.Config{Encryption: peer.EncryptionRequire}}, info)

	code, stdout, stderr, _ := runBtext(t, "fetch-metadata", hash, addr, "-o", t.TempDir()+"/x.torrent", "--json")
	var rep fetchReport
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil {
		t.Fatalf("fetch-metadata: exit %d: %s", code, stderr)
	}
	if val(rep.Peers[0].Encryption) != "rc4" {
		t.Errorf("fetch-metadata: encryption %q, want rc4", val(rep.Peers[0].Encryption))
	}

	code, stdout, stderr, _ = runBtext(t, "dont-have", hash, addr, "1", "--json", "--linger", "100ms")
	if code != 0 || !strings.Contains(stdout, `"sent":[1]`) {
		t.Errorf("dont-have: exit %d %s\n%s", code, stderr, stdout)
	}

	code, _, stderr, _ = runBtext(t, "handshake", addr, "--info-hash", hash, "--timeout", "5s")
	if code != 3 || !strings.Contains(stderr, "--encryption prefer") {
		t.Errorf("handshake: exit %d %q, want 3 with a hint", code, stderr)
	}
}
