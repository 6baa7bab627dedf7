package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// TestEncryptionPolicies: every --encryption of the connecting side against
// every policy of serve: what is negotiated, the fallback of prefer to a
// plain connection, and the refusals.
func TestEncryptionPolicies(t *testing.T) {
	info := peertest.InfoOfSize(206)
	hash := peertest.HashOf(info).String()
	tests := []struct {
		serve, client peer.Encryption
		code          int
		want          string // the handshake's "encryption"
	}{
		{peer.EncryptionPrefer, peer.EncryptionOff, 0, "none"},
		{peer.EncryptionPrefer, peer.EncryptionPrefer, 0, "rc4"},
		{peer.EncryptionPrefer, peer.EncryptionRequire, 0, "rc4"},
		{peer.EncryptionOff, peer.EncryptionOff, 0, "none"},
		{peer.EncryptionOff, peer.EncryptionPrefer, 0, "none"}, // closed on MSE, then plain
		{peer.EncryptionOff, peer.EncryptionRequire, 3, ""},
		{peer.EncryptionRequire, peer.EncryptionOff, 3, ""},
		{peer.EncryptionRequire, peer.EncryptionPrefer, 0, "rc4"},
		{peer.EncryptionRequire, peer.EncryptionRequire, 0, "rc4"},
	}
	for _, tt := range tests {
		t.Run("serve "+tt.serve.String()+"/client "+tt.client.String(), func(t *testing.T) {
			t.Parallel()
			addr, _ := peertest.Serve(t, metadata.ServerConfig{Client: "btext test", Peer: peer.Config{Encryption: tt.serve}}, info)
			code, stdout, stderr, _ := runBtext(t, "handshake", addr, "--info-hash", hash, "--encryption", tt.client.String(), "--json", "--timeout", "5s")
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			if code != 0 {
				if !strings.Contains(stderr, "peer closed the connection") {
					t.Errorf("stderr %q", stderr)
				}
				return
			}
			var res struct {
				Encryption string `json:"encryption"`
			}
			if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.Encryption != tt.want {
				t.Errorf("encryption %q, want %q (%v)", res.Encryption, tt.want, err)
			}
			code, stdout, stderr, _ = runBtext(t, "fetch-metadata", hash, addr, "--encryption", tt.client.String(), "-o", t.TempDir()+"/x.torrent", "--json")
			var rep fetchReport
			if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil {
				t.Fatalf("fetch-metadata: exit %d: %s", code, stderr)
			}
			if got := val(rep.Peers[0].Encryption); got != tt.want {
				t.Errorf("fetch-metadata: encryption %q, want %q", got, tt.want)
			}
		})
	}
	// A user's typo is a usage error.
	if code, _, stderr, _ := runBtext(t, "handshake", "127.0.0.1:1", "--encryption", "maybe"); code != 2 || !strings.Contains(stderr, "want off, prefer or require") {
		t.Errorf("--encryption maybe: exit %d %q", code, stderr)
	}
}
