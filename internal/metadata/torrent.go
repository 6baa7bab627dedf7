package metadata

import (
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/peer"
)

// DefaultMaxSize is the largest info dictionary btext accepts by default.
// Legitimate ones reach about 4.2 MB; libtorrent accepts up to 30 MiB.
const DefaultMaxSize = 32 << 20

// ErrInvalidTorrent: a .torrent file that cannot be used.
var ErrInvalidTorrent = errors.New("invalid torrent")

// Torrent is what btext knows of a torrent: its info dictionary, byte for
// byte, and what is derived from it.
type Torrent struct {
	Info     []byte    // the bencoded info dictionary as found
	InfoHash peer.Hash // SHA-1 of Info (v1 and hybrid torrents)
	// InfoHashV2 is SHA-256 of Info for a v2 or hybrid torrent (meta
	// version 2); zero otherwise.
	InfoHashV2 [32]byte
	HasV1      bool // "pieces" present
	HasV2      bool // "meta version" 2
	Name       string
	Private    bool
	// PieceLength and Pieces describe the content (v1 pieces count, or 0).
	PieceLength int64
	Pieces      int
	// Files and TotalLength describe the content.
	Files       int
	TotalLength int64
}

// V2Handshake returns the 20-byte hash a v2 swarm is joined with.
func (t *Torrent) V2Handshake() (h peer.Hash) {
	copy(h[:], t.InfoHashV2[:20])
	return h
}

// ParseInfo checks an info dictionary and derives a Torrent from it.
func ParseInfo(info []byte) (*Torrent, error) {
	d, err := bencode.DecodeDict(info, bencode.Limits{})
	if err != nil {
		return nil, fmt.Errorf("%w: info dictionary: %v", ErrInvalidTorrent, err)
	}
	t := &Torrent{Info: info, InfoHash: sha1.Sum(info)}
	if n, ok := d["name"].(string); ok {
		t.Name = n
	}
	if p, ok := d["private"].(int64); ok && p == 1 {
		t.Private = true
	}
	if pl, ok := d["piece length"].(int64); ok {
		t.PieceLength = pl
	}
	if ps, ok := d["pieces"].(string); ok {
		if len(ps)%20 != 0 {
			return nil, fmt.Errorf("%w: pieces is %d bytes, not a multiple of 20", ErrInvalidTorrent, len(ps))
		}
		t.HasV1, t.Pieces = true, len(ps)/20
	}
	if l, ok := d["length"].(int64); ok {
		t.Files, t.TotalLength = 1, l
	} else if files, ok := d["files"].([]any); ok {
		for _, f := range files {
			if fd, ok := f.(map[string]any); ok {
				l, _ := fd["length"].(int64)
				t.Files++
				t.TotalLength += l
			}
		}
	} else if tree, ok := d["file tree"].(map[string]any); ok {
		var pieces int64
		t.Files, t.TotalLength, pieces = walkFileTree(tree, t.PieceLength, 0)
		if !t.HasV1 {
			t.Pieces = int(pieces)
		}
	}
	if mv, ok := d["meta version"].(int64); ok && mv == 2 {
		t.HasV2, t.InfoHashV2 = true, sha256.Sum256(info)
	}
	if !t.HasV1 && !t.HasV2 {
		return nil, fmt.Errorf("%w: info dictionary has neither pieces (v1) nor meta version 2 (v2)", ErrInvalidTorrent)
	}
	return t, nil
}

// LoadFile reads a .torrent file of at most maxSize bytes.
func LoadFile(path string, maxSize int64) (*Torrent, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxSize {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrInvalidTorrent, path, maxSize)
	}
	info, err := bencode.DictSpan(b, "info", bencode.Limits{})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidTorrent, path, err)
	}
	t, err := ParseInfo(info)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// walkFileTree counts the files of a v2 "file tree", their length and
// their pieces (each v2 file starts a piece). A file is a dictionary with
// an empty key holding its attributes.
func walkFileTree(tree map[string]any, pieceLength int64, depth int) (files int, length, pieces int64) {
	if depth > 64 {
		return 0, 0, 0
	}
	for k, v := range tree {
		sub, ok := v.(map[string]any)
		if !ok {
			continue
		}
		if k == "" {
			l, _ := sub["length"].(int64)
			files++
			length += l
			if pieceLength > 0 && l > 0 {
				pieces += (l + pieceLength - 1) / pieceLength
			}
			continue
		}
		f, l, p := walkFileTree(sub, pieceLength, depth+1)
		files += f
		length += l
		pieces += p
	}
	return files, length, pieces
}
