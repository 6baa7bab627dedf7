package metainfo

import (
	"crypto/sha1"
	"fmt"
	"net/netip"

	"github.com/btext/btext/internal/bencode"
)

// File is one file of a torrent being built: its path inside the torrent
// and its content.
type File struct {
	Path []string
	Data []byte
}

// BuildInfo makes a v1 info dictionary for files under name (one file with
// an empty path makes a single-file torrent named name). Tests and the test
// data use it; it is not a general torrent creator.
func BuildInfo(name string, files []File, pieceLength int, private bool) ([]byte, error) {
	if pieceLength <= 0 || pieceLength%16384 != 0 {
		return nil, fmt.Errorf("piece length %d is not a positive multiple of 16 KiB", pieceLength)
	}
	var all []byte
	for _, f := range files {
		all = append(all, f.Data...)
	}
	var pieces []byte
	for off := 0; off < len(all); off += pieceLength {
		sum := sha1.Sum(all[off:min(off+pieceLength, len(all))])
		pieces = append(pieces, sum[:]...)
	}
	info := map[string]any{
		"name":         name,
		"piece length": int64(pieceLength),
		"pieces":       pieces,
	}
	if private {
		info["private"] = int64(1)
	}
	if len(files) == 1 && len(files[0].Path) == 0 {
		info["length"] = int64(len(files[0].Data))
	} else {
		var list []any
		for _, f := range files {
			path := make([]any, len(f.Path))
			for i, p := range f.Path {
				path[i] = p
			}
			list = append(list, map[string]any{"length": int64(len(f.Data)), "path": path})
		}
		info["files"] = list
	}
	return bencode.Encode(info)
}

// TorrentFile wraps an info dictionary in a .torrent file, kept byte for
// byte, with optional trackers (announce, and each in a tier of its own in
// announce-list) and DHT nodes (BEP 5 "nodes": [host, port] pairs).
func TorrentFile(info []byte, trackers []string, nodes ...netip.AddrPort) ([]byte, error) {
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
