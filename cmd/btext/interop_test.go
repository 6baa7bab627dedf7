package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/interop"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peertest"
)

// Interop tests run btext against real clients that nobody here wrote,
// started on 127.0.0.1 by scripts/start-peer.sh (DHT, LSD, UPnP/NAT-PMP and
// trackers off); interop.Require skips them unless BTEXT_INTEROP=require.

// startPeer starts a real client seeding the torrent whose content lies in
// parent, waits for it to answer a real handshake and returns its address.
func startPeer(t *testing.T, client, torrent, parent string) string {
	t.Helper()
	addr, _ := startPeerWith(t, client, torrent, parent)
	return addr
}

// startPeerWith is startPeer with extra arguments for the client's start
// script (after "--"); it also returns the peer's work directory.
func startPeerWith(t *testing.T, client, torrent, parent string, extra ...string) (addr, work string) {
	t.Helper()
	return startPeerEnv(t, nil, client, torrent, parent, extra...)
}

// startPeerEnv is startPeerWith with extra environment for the start
// script (PROBE_MSE=1 for a client that requires encryption).
func startPeerEnv(t *testing.T, env []string, client, torrent, parent string, extra ...string) (addr, work string) {
	t.Helper()
	work = t.TempDir()
	script, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "start-peer.sh"))
	stop, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "stop-peer.sh"))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	args := []string{client, torrent, parent, work}
	if len(extra) > 0 {
		args = append(append(args, "--"), extra...)
	}
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
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
	// Registered after stop, so it runs first; the work directory (a
	// TempDir) is removed only after both.
	t.Cleanup(func() {
		if t.Failed() {
			logSeederTail(t, client, work)
		}
	})
	addr = strings.TrimSpace(string(out))
	t.Logf("%s seeding on %s", client, addr)
	return addr, work
}

// seederLogs are the logs start-peer.sh leaves in the work directory, by
// client: what the seeder said is the first thing to read when an interop
// test fails, and the directory is gone once the test ends.
var seederLogs = map[string][]string{
	"libtorrent":   {"libtorrent.log", "libtorrent.out"},
	"transmission": {"transmission.log"}, // with handshake.c's own lines (TR_DEBUG_FD)
	"aria2":        {"aria2-debug.log"},
	"rtorrent":     {"rtorrent.log"},
}

// seederNoise marks the lines of Transmission's debug log that would fill
// the tail: bandwidth and announcer pulses a few times a second, and
// peer-io.c's socket chatter. Why a connection ended is in handshake.c's,
// peer-msgs.c's and peer-mgr.c's lines.
var seederNoise = []string{"(bandwidth.c:", "(announcer.c:", "(peer-io.c:", "reconnect interval for"}

// logSeederTail logs the last lines of the seeder's logs in work.
func logSeederTail(t *testing.T, client, work string) {
	const keep = 60
	for _, name := range seederLogs[client] {
		b, err := os.ReadFile(filepath.Join(work, name))
		if err != nil {
			t.Logf("%s log: %v", client, err)
			continue
		}
		var lines []string
	line:
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			for _, n := range seederNoise {
				if strings.Contains(l, n) {
					continue line
				}
			}
			lines = append(lines, l)
		}
		lines = lines[max(0, len(lines)-keep):]
		t.Logf("tail of %s's %s:\n%s", client, name, strings.Join(lines, "\n"))
	}
}

// demoContent copies testdata/demo to a temporary directory, so that the
// clients never write next to the committed files.
func demoContent(t *testing.T) (torrent, parent string, tor *metainfo.Torrent) {
	t.Helper()
	src := filepath.Join("..", "..", "testdata")
	parent = t.TempDir()
	if err := os.CopyFS(filepath.Join(parent, "demo"), os.DirFS(filepath.Join(src, "demo"))); err != nil {
		t.Fatal(err)
	}
	torrent, _ = filepath.Abs(filepath.Join(src, "demo.torrent"))
	tor, err := metainfo.LoadFile(torrent, metainfo.DefaultMaxSize)
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
	interop.Require(t)
	torrent, parent, tor := demoContent(t)
	tests := []struct {
		client     string
		wantClient string
		wantM      map[string]int64 // entries that must be present with these ids
		wantReqq   int64
	}{
		// docs/protocol-notes.md: libtorrent 2.0 advertises ut_pex 1, ut_metadata 2,
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

// bigTorrent writes a torrent whose info dictionary is about 2.6 MB (159
// metadata pieces: the size class docs/protocol-notes.md describes) over a sparse 2 GiB
// file of zeros, so that real clients can seed it without disk use.
func bigTorrent(t *testing.T) (torrent, parent string, info []byte) {
	t.Helper()
	const pieces = 130000
	zero := sha1.Sum(make([]byte, 16384))
	info, err := bencode.Encode(map[string]any{
		"length":       int64(pieces) * 16384,
		"name":         "big.bin",
		"piece length": int64(16384),
		"pieces":       bytes.Repeat(zero[:], pieces),
	})
	if err != nil {
		t.Fatal(err)
	}
	parent = t.TempDir()
	f, err := os.Create(filepath.Join(parent, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(pieces) * 16384); err != nil {
		t.Fatal(err)
	}
	f.Close()
	file, _ := metainfo.TorrentFile(info, nil)
	torrent = filepath.Join(t.TempDir(), "big.torrent")
	if err := os.WriteFile(torrent, file, 0o644); err != nil {
		t.Fatal(err)
	}
	return torrent, parent, info
}

// ltInfo loads a .torrent with libtorrent and returns its v1 and v2 hashes.
func ltInfo(t *testing.T, path string) (v1, v2 string) {
	t.Helper()
	script, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "lt-torrent-info.py"))
	out, err := exec.Command(script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("libtorrent cannot load %s: %v %s", path, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("lt-torrent-info: %q", out)
	}
	return f[0], f[1]
}

// fetchFrom runs btext fetch-metadata and checks the written file with
// libtorrent and, when asked, transmission-show.
func fetchFrom(t *testing.T, hash, addr string, info []byte, args ...string) fetchReport {
	t.Helper()
	out := filepath.Join(t.TempDir(), "got.torrent")
	code, stdout, stderr, took := runBtext(t, append([]string{"fetch-metadata", hash, addr, "-o", out, "--json", "--timeout", "300s"}, args...)...)
	t.Logf("btext fetch-metadata %s %s --json (%v):\n%s", hash, addr, took.Round(time.Millisecond), stdout)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep fetchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if info != nil {
		want, _ := metainfo.TorrentFile(info, nil)
		if !bytes.Equal(got, want) {
			t.Errorf("the written torrent is not the info dictionary byte for byte")
		}
	}
	v1, v2 := ltInfo(t, out)
	if v1 != hash && v2 != hash && !strings.HasSuffix(hash, v2) {
		t.Errorf("libtorrent loads %s as %s / %s", out, v1, v2)
	}
	return rep
}

// TestInteropFetch: btext fetch-metadata against every real client, on the
// small demo torrent and the 2.6 MB-class one.
func TestInteropFetch(t *testing.T) {
	interop.Require(t)
	demo, demoParent, demoTor := demoContent(t)
	big, bigParent, bigInfo := bigTorrent(t)
	bigHash := fmt.Sprintf("%x", sha1.Sum(bigInfo))
	for _, client := range []string{"libtorrent", "transmission", "aria2", "rtorrent"} {
		t.Run(client, func(t *testing.T) {
			t.Parallel()
			t.Run("demo", func(t *testing.T) {
				addr := startPeer(t, client, demo, demoParent)
				rep := fetchFrom(t, demoTor.InfoHash.String(), addr, demoTor.Info)
				if val(rep.MetadataSize) != len(demoTor.Info) || val(rep.Peers[0].Extension) != "ut_metadata" {
					t.Errorf("report %+v", rep)
				}
				// Plaintext too: there our BT handshake is the first
				// read of the peer's, and aria2 bans an address that
				// sends anything more before it has answered
				// (docs/protocol-notes.md, "Our extended handshake
				// waits"). From another address: Transmission refuses
				// one that has just disconnected.
				rep = fetchFrom(t, demoTor.InfoHash.String(), addr, demoTor.Info, "--encryption", "off", "--bind", "127.0.0.5")
				if val(rep.MetadataSize) != len(demoTor.Info) || val(rep.Peers[0].Encryption) != "none" {
					t.Errorf("--encryption off: report %+v", rep)
				}
			})
			t.Run("2.6MB", func(t *testing.T) {
				addr := startPeer(t, client, big, bigParent)
				rep := fetchFrom(t, bigHash, addr, bigInfo)
				if val(rep.MetadataSize) != len(bigInfo) || rep.Peers[0].Received < 159 {
					t.Errorf("report %+v", rep)
				}
				t.Logf("%s: %d bytes of metadata in %.0f ms", client, val(rep.MetadataSize), val(rep.ElapsedMS))
			})
		})
	}
	// transmission-show reads what btext wrote, too.
	t.Run("transmission-show", func(t *testing.T) {
		addr := startServe(t, demoTor.Info)
		out := filepath.Join(t.TempDir(), "x.torrent")
		if code, _, stderr, _ := runBtext(t, "fetch-metadata", demoTor.InfoHash.String(), addr, "-o", out); code != 0 {
			t.Fatal(stderr)
		}
		show, err := exec.Command("transmission-show", out).CombinedOutput()
		if err != nil || !strings.Contains(string(show), "Hash: "+demoTor.InfoHash.String()) {
			t.Errorf("transmission-show: %v\n%s", err, show)
		}
	})
}

// TestInteropFetchSwarm: one fetch from the four real clients at once,
// with a peer that corrupts every piece and one that never answers among
// them (first, so that they are dialled and heard first): whatever those
// two do, the verified metadata is written, byte for byte.
func TestInteropFetchSwarm(t *testing.T) {
	interop.Require(t)
	big, bigParent, bigInfo := bigTorrent(t)
	hash := fmt.Sprintf("%x", sha1.Sum(bigInfo))
	liar := &peertest.Seeder{Info: bigInfo, UT: 3, Corrupt: true}
	staller := &peertest.Seeder{Info: bigInfo, UT: 3, Stall: true}
	addrs := []string{peertest.Listen(t, liar.Play), peertest.Listen(t, staller.Play)}
	for _, client := range []string{"libtorrent", "transmission", "aria2", "rtorrent"} {
		addrs = append(addrs, startPeer(t, client, big, bigParent))
	}
	rep := fetchFrom(t, hash, addrs[0], bigInfo, addrs[1:]...)
	if len(rep.Peers) != len(addrs) {
		t.Fatalf("%d peers in the report, want %d", len(rep.Peers), len(addrs))
	}
	for _, p := range rep.Peers {
		t.Logf("%-22s %-18s requested %3d received %3d rejected %d timeouts %d %s", p.Addr, val(p.Client), p.Requested, p.Received, p.Rejected, p.Timeouts, val(p.Error))
	}
	t.Logf("%d bytes of metadata from a swarm of %d in %.0f ms", val(rep.MetadataSize), len(addrs), val(rep.ElapsedMS))
}

// TestInteropEncryption: each real client set to require message stream
// encryption closes on btext's plain handshake, and answers btext over MSE
// (RC4), for the handshake and for fetch-metadata.
func TestInteropEncryption(t *testing.T) {
	interop.Require(t)
	demo, demoParent, demoTor := demoContent(t)
	hash := demoTor.InfoHash.String()
	// rtorrent's -o cannot carry a comma: its setting goes in a file.
	rc := filepath.Join(t.TempDir(), "encryption.rc")
	if err := os.WriteFile(rc, []byte("protocol.encryption.set = allow_incoming,require,require_RC4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		client string
		extra  []string
	}{
		{"libtorrent", []string{"--encryption", "forced"}},
		{"transmission", []string{"--encryption-required"}},
		{"aria2", []string{"--bt-require-crypto=true", "--bt-min-crypto-level=arc4"}},
		{"rtorrent", []string{"-o", "import=" + rc}},
	} {
		t.Run(tt.client, func(t *testing.T) {
			t.Parallel()
			addr, _ := startPeerEnv(t, []string{"PROBE_MSE=1"}, tt.client, demo, demoParent, tt.extra...)
			// Transmission refuses an address that has just disconnected:
			// each connection comes from its own.
			code, _, stderr, _ := runBtext(t, "handshake", addr, "--info-hash", hash, "--bind", "127.0.0.2", "--timeout", "20s")
			if code != 3 || !strings.Contains(stderr, "peer closed the connection") {
				t.Errorf("plain handshake: exit %d, %q; want 3, closed by the peer", code, stderr)
			}
			code, stdout, stderr, _ := runBtext(t, "handshake", addr, "--info-hash", hash, "--encryption", "require", "--json", "--bind", "127.0.0.3", "--timeout", "20s")
			var res interopResult
			if code != 0 || json.Unmarshal([]byte(stdout), &res) != nil || res.Ext == nil || res.Ext.MetadataSize == nil || *res.Ext.MetadataSize != int64(len(demoTor.Info)) {
				t.Fatalf("handshake --encryption require: exit %d %s\n%s", code, stderr, stdout)
			}
			t.Logf("over MSE: %s, m %v", res.Client, res.Ext.M)
			rep := fetchFrom(t, hash, addr, demoTor.Info, "--bind", "127.0.0.4") // the default is --encryption prefer
			t.Logf("fetch-metadata (default --encryption prefer): %d bytes in %.0f ms", val(rep.MetadataSize), val(rep.ElapsedMS))
		})
	}
}

// TestInteropV2: v2-only and hybrid torrents made and seeded by libtorrent.
func TestInteropV2(t *testing.T) {
	interop.Require(t)
	parent := t.TempDir()
	content := filepath.Join(parent, "v2content")
	os.MkdirAll(content, 0o755)
	for i := range 3 {
		os.WriteFile(filepath.Join(content, fmt.Sprintf("f%d.bin", i)), bytes.Repeat([]byte{byte(i + 1)}, 20000+i*7000), 0o644)
	}
	mk, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "lt-make-torrent.py"))
	for _, kind := range []string{"v2", "hybrid"} {
		t.Run(kind, func(t *testing.T) {
			torrent := filepath.Join(t.TempDir(), kind+".torrent")
			out, err := exec.Command(mk, "--kind", kind, "--content", content, "--out", torrent).CombinedOutput()
			if err != nil {
				t.Fatalf("%v %s", err, out)
			}
			f := strings.Fields(string(out)) // v1 v2 size
			v1, v2 := f[0], f[1]
			addr := startPeer(t, "libtorrent", torrent, parent)
			rep := fetchFrom(t, v2, addr, nil)
			if val(rep.InfoHashV2) != v2 {
				t.Errorf("v2 hash %s, want %s", val(rep.InfoHashV2), v2)
			}
			// The content: 3 files, 20000+27000+34000 bytes; a hybrid's
			// pad files (BEP 47) are not counted.
			if val(rep.Files) != 3 || val(rep.TotalLength) != 81000 {
				t.Errorf("%d files, %d bytes; want 3 files, 81000 bytes", val(rep.Files), val(rep.TotalLength))
			}
			rep = fetchFrom(t, "1220"+v2, addr, nil)
			if kind == "hybrid" {
				rep = fetchFrom(t, v1, addr, nil)
				if val(rep.InfoHash) != v1 || val(rep.InfoHashV2) != v2 {
					t.Errorf("hybrid from v1: %+v", rep)
				}
				magnet := "magnet:?xt=urn:btih:" + v1 + "&xt=urn:btmh:1220" + v2
				fetchFrom(t, magnet, addr, nil)
			}
		})
	}
}

// TestInteropLibtorrentFetchesFromServe: libtorrent gets the metadata from
// btext serve, by magnet and connect_peer.
func TestInteropLibtorrentFetchesFromServe(t *testing.T) {
	interop.Require(t)
	script, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "lt-fetch-from.py"))
	for _, size := range []int{206, 40000, 3 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			info := peertest.InfoOfSize(size)
			addr := startServe(t, info)
			hash := peertest.HashOf(info).String()
			start := time.Now()
			out, err := exec.Command(script, "magnet:?xt=urn:btih:"+hash, addr, "--timeout", "60").CombinedOutput()
			t.Logf("lt-fetch-from (%v): %s", time.Since(start).Round(time.Millisecond), out)
			if err != nil {
				t.Fatal(err)
			}
			f := strings.Fields(string(out))
			if len(f) < 2 || f[len(f)-3] != hash || f[len(f)-2] != fmt.Sprint(size) {
				t.Errorf("libtorrent got %q, want %s %d", out, hash, size)
			}
		})
	}
}

// TestInteropDontHave: btext dont-have against libtorrent, checked from
// libtorrent's side: its get_peer_info() shows the btext connection's
// pieces set after the announce and cleared after the lt_donthave.
func TestInteropDontHave(t *testing.T) {
	interop.Require(t)
	torrent, parent, tor := demoContent(t)
	addr, work := startPeerWith(t, "libtorrent", torrent, parent, "--report-peers")
	code, stdout, stderr, _ := runBtext(t, "dont-have", tor.InfoHash.String(), addr, "1", "2", "--wait", "1s", "--linger", "1s", "--json")
	t.Logf("btext dont-have --json: %s", stdout)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep dontHaveReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if val(rep.Announce) != "bitfield" || val(rep.ID) != 7 || val(rep.PieceCount) != tor.Pieces {
		t.Errorf("report %+v", rep)
	}
	// libtorrent's view, reported by peer-libtorrent.py --report-peers as
	// "peer ADDR CLIENT pieces=0110". Wait (bounded) for both states.
	want := []string{"pieces=0110", "pieces=0000"}
	deadline := time.Now().Add(10 * time.Second)
	var lines []string
	for time.Now().Before(deadline) {
		out, _ := os.ReadFile(filepath.Join(work, "libtorrent.out"))
		lines = nil
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "btext") && strings.Contains(l, "pieces=") {
				lines = append(lines, l)
			}
		}
		if len(lines) >= 2 && strings.HasSuffix(lines[len(lines)-2], want[0]) && strings.HasSuffix(lines[len(lines)-1], want[1]) {
			t.Logf("libtorrent saw:\n%s", strings.Join(lines, "\n"))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("libtorrent's view of btext's pieces: %q, want ... %v", lines, want)
}
