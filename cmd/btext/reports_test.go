package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/peertest"
)

// TestFetchPeerOnce: a peer given twice, and again in the magnet's x.pe,
// is dialled once.
func TestFetchPeerOnce(t *testing.T) {
	info := peertest.InfoOfSize(3000)
	addr, srv := peertest.Serve(t, metadata.ServerConfig{Client: "btext test"}, info)
	hash := peertest.HashOf(info).String()
	magnet := "magnet:?xt=urn:btih:" + hash + "&x.pe=" + addr
	code, stdout, stderr, _ := runBtext(t, "fetch-metadata", magnet, addr, addr, "--json", "-o", filepath.Join(t.TempDir(), "x.torrent"), "--encryption", "off")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep fetchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if n := srv.Stats().Accepted; n != 1 || len(rep.Peers) != 1 {
		t.Errorf("%d connections, %d peers in the report; want 1 and 1", n, len(rep.Peers))
	}
}

// TestFetchFailureNamesEveryPeer: a failed fetch from several peers says
// what happened with each, in the error line and in --json.
func TestFetchFailureNamesEveryPeer(t *testing.T) {
	info := peertest.InfoOfSize(3000)
	hash := peertest.HashOf(info).String()
	closer := peertest.Listen(t, func(c *peertest.Conn) { c.ReadHandshake() })
	noMeta := peertest.Listen(t, func(c *peertest.Conn) {
		c.Answer("-XX0000-000000000000")
		c.WriteExtHandshake(map[string]any{"m": map[string]any{"ut_pex": int64(1)}})
		c.Drain()
	})
	code, stdout, stderr, _ := runBtext(t, "fetch-metadata", hash, "127.0.0.1:9", closer, noMeta, "--json", "--encryption", "off")
	want := "btext: no peer delivered the metadata: 127.0.0.1:9 refused, " + closer + " closed, " + noMeta + " lacks ut_metadata and LT_metadata\n"
	if code != exitProtocol || stderr != want {
		t.Errorf("exit %d, stderr\n%q\nwant exit 4 and\n%q", code, stderr, want)
	}
	var rep fetchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, p := range rep.Peers {
		outcomes = append(outcomes, p.Outcome)
		if p.Error == nil {
			t.Errorf("peer %s: no error in %s", p.Addr, stdout)
		}
	}
	if got := strings.Join(outcomes, ","); got != "refused,closed,lacks ut_metadata and LT_metadata" {
		t.Errorf("outcomes %s", got)
	}
	if rep.Error == nil || !strings.HasPrefix(*rep.Error, "no peer delivered the metadata: ") || rep.ExitCode != exitProtocol {
		t.Errorf("error %v, exit_code %d", val(rep.Error), rep.ExitCode)
	}
}

// TestFetchTextReport: "1 file", sizes in human units next to bytes, and
// no Go-internal "context deadline exceeded:" in a message.
func TestFetchTextReport(t *testing.T) {
	info := peertest.InfoOfSize(3000)
	addr := startServe(t, info)
	hash := peertest.HashOf(info).String()
	code, stdout, stderr, _ := runBtext(t, "fetch-metadata", hash, addr, "-o", filepath.Join(t.TempDir(), "x.torrent"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !regexp.MustCompile(`, 1 file, \d+ bytes \([0-9.]+ [KMG]?i?B\), \d+ pieces?, from `).MatchString(stdout) {
		t.Errorf("stdout %q", stdout)
	}
	staller := peertest.Listen(t, func(c *peertest.Conn) { c.ReadHandshake(); c.Stall() })
	code, _, stderr, _ = runBtext(t, "fetch-metadata", hash, staller, "--timeout", "300ms")
	if code != exitNetwork || strings.Contains(stderr, "context deadline exceeded") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
