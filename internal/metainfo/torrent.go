package metainfo

import (
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/btext/btext/internal/bencode"
)

// DefaultMaxSize is the largest info dictionary btext accepts by default.
// Legitimate ones reach about 4.2 MB; libtorrent accepts up to 30 MiB.
const DefaultMaxSize = 32 << 20

// ErrInvalidTorrent: a .torrent file that cannot be used.
var ErrInvalidTorrent = errors.New("invalid torrent")

// Torrent is what btext knows of a torrent: its info dictionary, byte for
// byte, and what is derived from it.
type Torrent struct {
	Info     []byte // the bencoded info dictionary as found
	InfoHash Hash   // SHA-1 of Info (v1 and hybrid torrents)
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
func (t *Torrent) V2Handshake() (h Hash) {
	copy(h[:], t.InfoHashV2[:20])
	return h
}

// ParseInfo checks an info dictionary and derives a Torrent from it. The
// dictionary may come from a peer and be many MiB: it is read key by key,
// never decoded into one tree.
func ParseInfo(info []byte) (*Torrent, error) { return parseInfo(info, Target{}) }

// ParseVerifiedInfo is ParseInfo for an info dictionary that
// VerifyInfo(info, known) has accepted, as a fetch's result has: the
// hashes known holds are taken as the Torrent's rather than computed
// again (a 2.6 MB dictionary's SHA-1 costs about 1.8 ms, its SHA-256 more);
// those it lacks are computed as ParseInfo does. Given a dictionary that
// was not verified against known, the Torrent's hashes would be known's,
// not the dictionary's: only the fetch's own result may come here.
func ParseVerifiedInfo(info []byte, known Target) (*Torrent, error) {
	return parseInfo(info, known)
}

func parseInfo(info []byte, known Target) (*Torrent, error) {
	entries, err := bencode.DictEntries(info, infoLimits)
	if err != nil {
		return nil, fmt.Errorf("%w: info dictionary: %v", ErrInvalidTorrent, err)
	}
	t := &Torrent{Info: info}
	if known.V1 != nil {
		t.InfoHash = *known.V1
	} else {
		t.InfoHash = sha1.Sum(info)
	}
	var files, tree bencode.Raw
	for _, e := range entries {
		switch e.Key {
		case "name":
			t.Name, _ = e.Value.String()
		case "private":
			p, _ := e.Value.Int()
			t.Private = p == 1
		case "piece length":
			t.PieceLength, _ = e.Value.Int()
		case "pieces":
			ps, ok := e.Value.Bytes()
			if !ok || len(ps)%20 != 0 {
				return nil, fmt.Errorf("%w: pieces is not a string of 20-byte hashes", ErrInvalidTorrent)
			}
			t.HasV1, t.Pieces = true, len(ps)/20
		case "length":
			t.TotalLength, _ = e.Value.Int()
			t.Files = 1
		case "files":
			files = e.Value
		case "file tree":
			tree = e.Value
		case "meta version":
			if mv, _ := e.Value.Int(); mv == 2 {
				t.HasV2 = true
				if known.V2 != nil {
					t.InfoHashV2 = *known.V2
				} else {
					t.InfoHashV2 = sha256.Sum256(info)
				}
			}
		}
	}
	if files != nil && t.Files == 0 {
		items, _ := bencode.ListItems(files, infoLimits)
		for _, it := range items {
			fe, err := bencode.DictEntries(it, infoLimits)
			if err != nil {
				continue
			}
			var l int64
			pad := false
			for _, e := range fe {
				switch e.Key {
				case "length":
					l, _ = e.Value.Int()
				case "attr":
					a, _ := e.Value.String()
					pad = strings.ContainsRune(a, 'p')
				}
			}
			// A pad file (BEP 47, attr "p": hybrid torrents align each
			// file to a piece with them) is not content.
			if !pad {
				t.Files++
				t.TotalLength += l
			}
		}
	} else if tree != nil && t.Files == 0 {
		var pieces int64
		t.Files, t.TotalLength, pieces = walkFileTree(tree, t.PieceLength, 0)
		if !t.HasV1 {
			t.Pieces = int(pieces)
		}
	}
	if !t.HasV1 && !t.HasV2 {
		return nil, fmt.Errorf("%w: info dictionary has neither pieces (v1) nor meta version 2 (v2)", ErrInvalidTorrent)
	}
	return t, nil
}

// infoLimits bound an info dictionary: tens of thousands of files are
// legitimate, so the value count is large, but nothing is built from them.
var infoLimits = bencode.Limits{MaxDepth: 64, MaxValues: 16 << 20}

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
func walkFileTree(tree bencode.Raw, pieceLength int64, depth int) (files int, length, pieces int64) {
	entries, err := bencode.DictEntries(tree, infoLimits)
	if err != nil || depth > 64 {
		return 0, 0, 0
	}
	for _, e := range entries {
		if len(e.Value) == 0 || e.Value[0] != 'd' {
			continue
		}
		if e.Key == "" {
			attrs, _ := bencode.DictEntries(e.Value, infoLimits)
			for _, a := range attrs {
				if a.Key == "length" {
					l, _ := a.Value.Int()
					files++
					length += l
					if pieceLength > 0 && l > 0 {
						pieces += (l + pieceLength - 1) / pieceLength
					}
				}
			}
			continue
		}
		f, l, p := walkFileTree(e.Value, pieceLength, depth+1)
		files += f
		length += l
		pieces += p
	}
	return files, length, pieces
}
