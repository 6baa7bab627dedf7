package metainfo

import (
	"bytes"
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
	parts, err := TorrentFileParts(info, trackers, nodes...)
	if err != nil {
		return nil, err
	}
	return bytes.Join(parts, nil), nil
}

// TorrentFileParts is TorrentFile as the three parts the file is made of,
// in order: the keys before "info" (and "info"'s own key), info itself
// (the caller's slice, not a copy) and the keys after it. A caller that
// writes the file writes them in turn, so that a 2.6 MB info dictionary is
// not copied once more into the file's bytes.
func TorrentFileParts(info []byte, trackers []string, nodes ...netip.AddrPort) ([][]byte, error) {
	if _, err := bencode.Scan(info, bencode.Limits{}); err != nil {
		return nil, fmt.Errorf("key %q: raw value: %w", "info", err)
	}
	// BEP 3 sorts keys as raw bytes: announce, announce-list, info, nodes.
	before, after := map[string]any{}, map[string]any{}
	if len(trackers) > 0 {
		before["announce"] = trackers[0]
		tiers := make([]any, len(trackers))
		for i, tr := range trackers {
			tiers[i] = []any{tr}
		}
		before["announce-list"] = tiers
	}
	if len(nodes) > 0 {
		list := make([]any, len(nodes))
		for i, n := range nodes {
			list[i] = []any{n.Addr().String(), int64(n.Port())}
		}
		after["nodes"] = list
	}
	head, err := bencode.Encode(before) // d...e: its e makes way for info
	if err != nil {
		return nil, err
	}
	tail, err := bencode.Encode(after) // d...e: its d is head's
	if err != nil {
		return nil, err
	}
	head = append(head[:len(head)-1], "4:info"...)
	return [][]byte{head, info, tail[1:]}, nil
}
