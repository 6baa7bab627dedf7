package metainfo

import (
	"net/netip"
	"testing"
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
