package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peertest"
)

// startServe runs btext's serving side in-process on 127.0.0.1.
func startServe(t *testing.T, infos ...[]byte) string {
	t.Helper()
	addr, _ := peertest.Serve(t, metadata.ServerConfig{Client: "btext test"}, infos...)
	return addr
}

// TestFetchFromServe: fetch-metadata against btext serve over both
// extensions, for one piece, a short last piece, an exact multiple of
// 16 KiB, and a few MiB.
func TestFetchFromServe(t *testing.T) {
	sizes := map[string]int{"one piece": 206, "short last piece": 40000, "multiple of 16384": 32768, "3 MiB": 3 << 20}
	for name, size := range sizes {
		for _, ext := range []string{"ut_metadata", "LT_metadata"} {
			t.Run(name+"/"+ext, func(t *testing.T) {
				t.Parallel()
				info := peertest.InfoOfSize(size)
				addr := startServe(t, info)
				dir := t.TempDir()
				out := filepath.Join(dir, "x.torrent")
				hash := peertest.HashOf(info)
				code, stdout, stderr, _ := runBtext(t, "fetch-metadata", hash.String(), addr, "--extension", ext, "-o", out, "--json")
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := metainfo.TorrentFile(info, nil)
				if !bytes.Equal(got, want) {
					t.Fatalf("written torrent differs (%d bytes, want %d)", len(got), len(want))
				}
				var rep fetchReport
				if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
					t.Fatal(err)
				}
				if val(rep.MetadataSize) != size || val(rep.InfoHash) != hash.String() || len(rep.Peers) != 1 || val(rep.Peers[0].Extension) != ext {
					t.Errorf("report %+v", rep)
				}
				entries, _ := os.ReadDir(dir)
				if len(entries) != 1 {
					t.Errorf("left in the output directory: %v", entries)
				}
			})
		}
	}
}

// TestFetchOutput: default name, --raw, -o -, trackers from the magnet,
// and no overwrite without --force.
func TestFetchOutput(t *testing.T) {
	info := peertest.InfoOfSize(5000)
	addr := startServe(t, info)
	hash := peertest.HashOf(info).String()
	dir := t.TempDir()
	t.Chdir(dir)

	magnet := "magnet:?xt=urn:btih:" + hash + "&dn=My+Name&tr=http%3A%2F%2Ft.example%2Fa&x.pe=" + addr
	if code, _, stderr, _ := runBtext(t, "fetch-metadata", magnet); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	got, err := os.ReadFile("My Name.torrent")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := metainfo.TorrentFile(info, []string{"http://t.example/a"})
	if !bytes.Equal(got, want) {
		t.Errorf("torrent with trackers:\n%q\nwant\n%q", got[:80], want[:80])
	}
	code, _, stderr, _ := runBtext(t, "fetch-metadata", magnet)
	if code != 2 || !strings.Contains(stderr, "exists (use --force") {
		t.Errorf("overwrite: exit %d %q", code, stderr)
	}
	if code, _, stderr, _ := runBtext(t, "fetch-metadata", magnet, "--force"); code != 0 {
		t.Errorf("--force: exit %d %q", code, stderr)
	}
	code, stdout, _, _ := runBtext(t, "fetch-metadata", hash, addr, "--raw", "-o", "-")
	if code != 0 || stdout != string(info) {
		t.Errorf("--raw -o -: exit %d, %d bytes", code, len(stdout))
	}
	// The .torrent to stdout: written in parts, the same bytes.
	code, stdout, _, _ = runBtext(t, "fetch-metadata", hash, addr, "-o", "-")
	if want, _ := metainfo.TorrentFile(info, nil); code != 0 || stdout != string(want) {
		t.Errorf("-o -: exit %d, %d bytes, want %d", code, len(stdout), len(want))
	}
	// The info dictionary's name, made safe, when there is no dn.
	if code, _, stderr, _ := runBtext(t, "fetch-metadata", hash, addr, "--raw"); code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	tor, _ := metainfo.ParseInfo(info)
	if _, err := os.Stat(tor.Name + ".info"); err != nil {
		t.Errorf("default raw name: %v", err)
	}
}

func TestSafeFileName(t *testing.T) {
	tests := map[string]string{
		"ubuntu.iso":      "ubuntu.iso",
		"../../etc/x":     "_.._etc_x",
		"a/b\\c":          "a_b_c",
		"..":              "",
		"bad\xffname\x01": "bad_name_",
		"  ":              "",
	}
	for in, want := range tests {
		if got := safeFileName(in); got != want {
			t.Errorf("safeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func i64(n int64) *int64 { return &n }

// TestFetchManyPeers: one bad peer among good ones does not stop the fetch.
func TestFetchManyPeers(t *testing.T) {
	info := peertest.InfoOfSize(100000) // 7 pieces
	good := &peertest.Seeder{Info: info, UT: 3, PeerID: "-TR3000-goodgoodgood"}
	goodLT := &peertest.Seeder{Info: info, LT: 9}
	tests := []struct {
		name string
		bad  peertest.Seeder
	}{
		{"liar", peertest.Seeder{UT: 4, Corrupt: true}},
		{"staller", peertest.Seeder{UT: 4, Stall: true}},
		{"rejecter", peertest.Seeder{UT: 4, RejectAll: true}},
		{"short pieces", peertest.Seeder{UT: 4, Short: true}},
		{"wrong size", peertest.Seeder{UT: 4, MetadataSize: i64(99999)}},
		{"unknown msg_type", peertest.Seeder{UT: 4, Unknown: true}},
		{"slow", peertest.Seeder{UT: 4, Delay: 300 * time.Millisecond}},
		{"closes", peertest.Seeder{UT: 4, MetadataSize: i64(1 << 40)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bad := tt.bad
			bad.Info = info
			badAddr := peertest.Listen(t, bad.Play)
			goodAddr := peertest.Listen(t, good.Play)
			ltAddr := peertest.Listen(t, goodLT.Play)
			fetchOK(t, info, "20s", badAddr, goodAddr, ltAddr)
		})
	}
}

// TestFetchQueueingPeer: a peer that queues requests and pauses once for
// longer than the request timeout, then answers everything in order,
// repeats included, as Transmission does under load. The pause costs a
// timeout or two, not one per request in flight; late and repeated
// answers are taken or dropped, never called a protocol violation.
func TestFetchQueueingPeer(t *testing.T) {
	for _, ext := range []string{"ut_metadata", "LT_metadata"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			info := peertest.InfoOfSize(40 * metadata.PieceSize)
			s := &peertest.Seeder{Info: info, PeerID: "-TR3000-queuequeuequ", Delay: 20 * time.Millisecond, PauseAfter: 8, Pause: 3 * time.Second}
			if ext == "ut_metadata" {
				s.UT = 3
			} else {
				s.LT = 9
			}
			addr := peertest.Listen(t, s.Play)
			out := filepath.Join(t.TempDir(), "x.torrent")
			code, stdout, stderr, _ := runBtext(t, "fetch-metadata", peertest.HashOf(info).String(), addr, "-o", out, "--json", "--timeout", "60s")
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
			}
			var rep fetchReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatal(err)
			}
			p := rep.Peers[0]
			// One pause of 3 s against a timeout of at least 1 s that
			// doubles with each timeout in a row: at most two timeouts.
			if p.Timeouts > 2 || p.Requested > 40+p.Timeouts {
				t.Errorf("one pause cost %d timeouts and %d requests for 40 pieces", p.Timeouts, p.Requested)
			}
			t.Logf("%+v", p)
		})
	}
}

// TestFetchAfterHashFailure: after a copy fails the hash, the fetch goes
// on from one peer at a time, the one that has delivered most first; a
// peer that answers nothing is not waited on while another can deliver.
func TestFetchAfterHashFailure(t *testing.T) {
	info := peertest.InfoOfSize(100000) // 7 pieces
	liar := &peertest.Seeder{Info: info, UT: 3, Corrupt: true}
	staller := &peertest.Seeder{Info: info, UT: 3, Stall: true}
	good := &peertest.Seeder{Info: info, UT: 3, Delay: 5 * time.Millisecond}
	// The staller's first request times out after 5 s; within 15 s, it
	// must have handed the fetch on, or never have had it.
	fetchOK(t, info, "15s", peertest.Listen(t, liar.Play), peertest.Listen(t, staller.Play), peertest.Listen(t, good.Play))
}

// fetchOK runs fetch-metadata for info from addrs within timeout and
// checks that it wrote the right torrent.
func fetchOK(t *testing.T, info []byte, timeout string, addrs ...string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "x.torrent")
	args := append([]string{"fetch-metadata", peertest.HashOf(info).String(), "-o", out, "--json", "--timeout", timeout}, addrs...)
	code, stdout, stderr, took := runBtext(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	got, _ := os.ReadFile(out)
	want, _ := metainfo.TorrentFile(info, nil)
	if !bytes.Equal(got, want) {
		t.Fatal("wrong torrent written")
	}
	t.Logf("%v: %s", took.Round(time.Millisecond), stdout)
}
