package metainfo

import (
	"bytes"
	"crypto/sha1"
	"net/netip"
	"testing"

	"github.com/btext/btext/internal/bencode"
)

// TestTorrentFileNodes: trackers go in announce and announce-list, DHT
// nodes in BEP 5's "nodes" list of [host, port] pairs; keys sorted.
func TestTorrentFileNodes(t *testing.T) {
	info := []byte("d4:name1:xe")
	got, err := TorrentFile(info, []string{"udp://t:1"}, netip.MustParseAddrPort("127.0.0.2:6881"), netip.MustParseAddrPort("[::1]:7"))
	if err != nil {
		t.Fatal(err)
	}
	want := "d8:announce9:udp://t:113:announce-listll9:udp://t:1ee4:infod4:name1:xe5:nodesll9:127.0.0.2i6881eel3:::1i7eeee"
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, _ := TorrentFile(info, nil); string(got) != "d4:infod4:name1:xee" {
		t.Errorf("bare: %s", got)
	}
}

// torrentFileMap is TorrentFile as it was built before TorrentFileParts:
// one map encoded whole, the info dictionary as a Raw value.
func torrentFileMap(info []byte, trackers []string, nodes ...netip.AddrPort) ([]byte, error) {
	d := map[string]any{"info": bencode.Raw(info)}
	if len(nodes) > 0 {
		list := make([]any, len(nodes))
		for i, n := range nodes {
			list[i] = []any{n.Addr().String(), int64(n.Port())}
		}
		d["nodes"] = list
	}
	if len(trackers) > 0 {
		d["announce"] = trackers[0]
		tiers := make([]any, len(trackers))
		for i, tr := range trackers {
			tiers[i] = []any{tr}
		}
		d["announce-list"] = tiers
	}
	return bencode.Encode(d)
}

// TestTorrentFileParts: the parts, joined, are the bytes the whole-map
// encoding made, with and without trackers and nodes; the middle part is
// the caller's info, not a copy; an invalid info is refused as before.
func TestTorrentFileParts(t *testing.T) {
	infos := [][]byte{[]byte("d4:name1:xe"), testInfo(t)}
	trackers := [][]string{nil, {"udp://t:1"}, {"http://a.example/announce", "udp://[::1]:6969", "udp://b:2/x?y=z"}}
	nodes := [][]netip.AddrPort{nil, {netip.MustParseAddrPort("127.0.0.2:6881")},
		{netip.MustParseAddrPort("[::1]:7"), netip.MustParseAddrPort("10.0.0.1:65535"), netip.MustParseAddrPort("[fe80::1]:1")}}
	for _, info := range infos {
		for _, tr := range trackers {
			for _, nd := range nodes {
				want, err := torrentFileMap(info, tr, nd...)
				if err != nil {
					t.Fatal(err)
				}
				parts, err := TorrentFileParts(info, tr, nd...)
				if err != nil {
					t.Fatal(err)
				}
				if got := bytes.Join(parts, nil); !bytes.Equal(got, want) {
					t.Errorf("trackers %v nodes %v:\ngot  %.200q\nwant %.200q", tr, nd, got, want)
				}
				if len(parts) != 3 || &parts[1][0] != &info[0] || len(parts[1]) != len(info) {
					t.Errorf("trackers %v nodes %v: the info part is not the caller's slice", tr, nd)
				}
				if got, _ := TorrentFile(info, tr, nd...); !bytes.Equal(got, want) {
					t.Errorf("TorrentFile with trackers %v nodes %v differs", tr, nd)
				}
			}
		}
	}
	for _, bad := range []string{"", "d4:name", "x"} {
		_, werr := torrentFileMap([]byte(bad), nil)
		_, err := TorrentFileParts([]byte(bad), nil)
		if err == nil || werr == nil || err.Error() != werr.Error() {
			t.Errorf("info %q: %v, want %v", bad, err, werr)
		}
	}
}

// testInfo is a real info dictionary of a few hundred bytes.
func testInfo(t *testing.T) []byte {
	t.Helper()
	info, err := BuildInfo("dir", []File{{Path: []string{"a"}, Data: []byte("hello")}, {Path: []string{"b", "c"}, Data: make([]byte, 40000)}}, 16384, false)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// BenchmarkTorrentFile: a 2.6 MB info dictionary wrapped in a .torrent
// with a tracker and a DHT node: encoded as one map (appending 2.6 MB
// grows the buffer several times), whole (one copy of the info) and in
// parts (none).
func BenchmarkTorrentFile(b *testing.B) {
	zero := sha1.Sum(make([]byte, 16384))
	info, err := bencode.Encode(map[string]any{"length": int64(130000 * 16384), "name": "zeros.bin", "piece length": int64(16384), "pieces": bytes.Repeat(zero[:], 130000)})
	if err != nil {
		b.Fatal(err)
	}
	trackers := []string{"udp://127.0.0.1:6969/announce"}
	node := netip.MustParseAddrPort("127.0.0.2:6881")
	b.Run("map", func(b *testing.B) { // as TorrentFile was built before TorrentFileParts
		b.ReportAllocs()
		for b.Loop() {
			if _, err := torrentFileMap(info, trackers, node); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := TorrentFile(info, trackers, node); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parts", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := TorrentFileParts(info, trackers, node); err != nil {
				b.Fatal(err)
			}
		}
	})
}
