package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/interop"
	"github.com/btext/btext/internal/metainfo"
)

// TestInteropTrackerFetch: a libtorrent seeder announces to a real tracker;
// a bare magnet with only that tracker (--no-dht) is enough for
// fetch-metadata, over UDP and over HTTP, and the .torrent written names
// the tracker that answered.
func TestInteropTrackerFetch(t *testing.T) {
	interop.Require(t)
	demo, parent, tor := demoContent(t)
	for _, kind := range []string{"opentracker", "bittorrent-tracker"} {
		t.Run(kind, func(t *testing.T) {
			urls := interop.StartTracker(t, kind, tor.InfoHash)
			httpURL, udpURL := pickURL(t, urls, "http"), pickURL(t, urls, "udp")
			// --multi-per-ip: libtorrent refuses a second peer from 127.0.0.1 while it
			// holds the address of our readiness announces.
			addr, _ := startPeerWith(t, "libtorrent", demo, parent, "--tracker", udpURL, "--tracker", httpURL, "--multi-per-ip")
			waitAnnounced(t, httpURL, tor.InfoHash, addr)
			for _, u := range []string{udpURL, httpURL} {
				magnet := "magnet:?xt=urn:btih:" + tor.InfoHash.String() + "&tr=" + url.QueryEscape(u)
				rep, file := fetchMagnet(t, magnet, "--no-dht")
				d := rep.Discovery
				if d == nil || len(d.Trackers) != 1 || val(d.Trackers[0].Peers) < 1 || d.DHT != nil {
					t.Fatalf("%s: discovery %+v", u, d)
				}
				if !slices.ContainsFunc(rep.Peers, func(p peerReport) bool { return p.Addr == addr && p.Source == u && p.Outcome == "delivered" }) {
					t.Errorf("%s: no peer %s from the tracker delivered: %+v", u, addr, rep.Peers)
				}
				if got := announceOf(t, file); got != u {
					t.Errorf("%s: the .torrent announces %q", u, got)
				}
				t.Logf("%s: first peer after %.1f ms, metadata after %.1f ms", u, val(d.FirstPeerMS), val(d.MetadataMS))
			}
		})
	}
}

// pickURL is the first of urls with the scheme.
func pickURL(t *testing.T, urls []string, scheme string) string {
	t.Helper()
	for _, u := range urls {
		if strings.HasPrefix(u, scheme+"://") {
			return u
		}
	}
	t.Fatalf("no %s URL in %v", scheme, urls)
	return ""
}

// waitAnnounced waits until the tracker lists addr for the hash: the
// seeder's announce has arrived. Readiness is a real announce, bounded in
// count and time.
func waitAnnounced(t *testing.T, tracker string, h metainfo.Hash, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; time.Now().Before(deadline) && i < 300; i++ {
		code, stdout, stderr, _ := runBtext(t, "tracker", "announce", tracker, h.String(), "--json", "--timeout", "5s")
		var rep announceReport
		if code == 0 && json.Unmarshal([]byte(stdout), &rep) == nil && slices.Contains(rep.Peers, addr) {
			return
		} else if code != 0 {
			t.Logf("announce: exit %d %s", code, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never listed the seeder %s", tracker, addr)
}

// fetchMagnet runs fetch-metadata on a magnet, checks that libtorrent
// loads what it wrote, and returns the report and the file.
func fetchMagnet(t *testing.T, magnet string, args ...string) (fetchReport, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "got.torrent")
	code, stdout, stderr, took := runBtext(t, append([]string{"fetch-metadata", magnet, "-o", out, "--json", "--timeout", "60s"}, args...)...)
	t.Logf("btext fetch-metadata %s %v (%v):\n%s", magnet, args, took.Round(time.Millisecond), stdout)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep fetchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if v1, _ := ltInfo(t, out); v1 != val(rep.InfoHash) {
		t.Errorf("libtorrent loads %s as %s, want %s", out, v1, val(rep.InfoHash))
	}
	return rep, out
}

// torrentDict is a .torrent file, decoded.
func torrentDict(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := bencode.DecodeDict(b, bencode.Limits{MaxDepth: 64, MaxValues: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// announceOf is a .torrent's announce URL.
func announceOf(t *testing.T, path string) string {
	s, _ := torrentDict(t, path)["announce"].(string)
	return s
}

// TestInteropDHT: a loopback DHT of libtorrent nodes, one seeding and
// announcing; from one bootstrap node btext finds the seeder (dht
// get-peers, peers --handshake), fetches the metadata through the DHT
// alone, pings a node, and finds the hash in a node's BEP 51 sample.
func TestInteropDHT(t *testing.T) {
	interop.Require(t)
	net := interop.StartDHT(t, "dht-net.py")
	boot := net.Nodes[0]
	magnet := "magnet:?xt=urn:btih:" + net.InfoHash

	rep, file := fetchMagnet(t, magnet, "--dht-bootstrap", boot)
	d := rep.Discovery
	if d == nil || d.DHT == nil || d.DHT.Peers < 1 || len(d.Trackers) != 0 {
		t.Fatalf("discovery %+v", d)
	}
	if !slices.ContainsFunc(rep.Peers, func(p peerReport) bool { return p.Addr == net.Seeder && p.Source == "dht" && p.Outcome == "delivered" }) {
		t.Errorf("the seeder %s did not deliver through the DHT: %+v", net.Seeder, rep.Peers)
	}
	if nodes := nodesOf(t, file); len(nodes) == 0 {
		t.Errorf("the .torrent names no DHT node")
	}
	t.Logf("dht: %d queries, %d answers; first peer after %.1f ms, metadata after %.1f ms",
		d.DHT.Queries, d.DHT.Responses, val(d.FirstPeerMS), val(d.MetadataMS))

	code, stdout, stderr, _ := runBtext(t, "peers", net.InfoHash, "--dht-bootstrap", boot, "--handshake", "--json", "--timeout", "30s")
	if code != 0 || !strings.Contains(stdout, `"addr":"`+net.Seeder+`","source":"dht","handshake":{"client":"libtorrent 2.0.8.0"`) {
		t.Errorf("peers --handshake: exit %d %s\n%s", code, stderr, stdout)
	}

	code, stdout, stderr, _ = runBtext(t, "dht", "get-peers", net.InfoHash, "--dht-bootstrap", boot, "-v", "--timeout", "30s")
	if code != 0 || !strings.Contains(stdout, net.Seeder+"  dht") || !strings.Contains(stderr, "reply") {
		t.Errorf("dht get-peers -v: exit %d\n%s\n%s", code, stdout, stderr)
	}

	code, stdout, stderr, _ = runBtext(t, "dht", "ping", boot, "--json")
	if code != 0 || !strings.Contains(stdout, `"id":"`) {
		t.Errorf("dht ping: exit %d %s %s", code, stdout, stderr)
	}

	found := false
	for _, n := range net.Nodes {
		code, stdout, stderr, _ = runBtext(t, "dht", "sample", n, "--json", "--timeout", "10s")
		if code != 0 {
			t.Errorf("dht sample %s: exit %d %s", n, code, stderr)
			continue
		}
		if strings.Contains(stdout, net.InfoHash) {
			found = true
			t.Logf("dht sample %s: %s", n, strings.TrimSpace(stdout))
			break
		}
	}
	if !found {
		t.Errorf("no node's sample_infohashes lists %s", net.InfoHash)
	}
}

// nodesOf is a .torrent's BEP 5 "nodes" list.
func nodesOf(t *testing.T, path string) []any {
	nodes, _ := torrentDict(t, path)["nodes"].([]any)
	return nodes
}
