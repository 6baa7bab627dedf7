package main

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// makeTorrents writes the test torrents: the committed demo torrent (206 B
// info dict) and single files of zeros with 2,250 and 130,000 pieces of 16
// KiB (45 KB and 2.6 MB info dicts; sparse files, so that the seeders need
// no disk, only the time to hash them).
func makeTorrents(c config) ([]torrentFile, error) {
	dir := filepath.Join(c.work, "torrents")
	var out []torrentFile
	for _, sz := range c.sizes {
		parent := filepath.Join(dir, sz.Name)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, err
		}
		tf := torrentFile{size: sz, parent: parent, path: filepath.Join(dir, sz.Name+".torrent")}
		var info []byte
		if sz.Pieces == 0 {
			file, err := os.ReadFile(filepath.Join(c.root, "testdata", "demo.torrent"))
			if err != nil {
				return nil, err
			}
			if info, err = infoOf(file); err != nil {
				return nil, fmt.Errorf("testdata/demo.torrent: %w", err)
			}
			if err := os.CopyFS(filepath.Join(parent, "demo"), os.DirFS(filepath.Join(c.root, "testdata", "demo"))); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, err
			}
			if err := os.WriteFile(tf.path, file, 0o644); err != nil {
				return nil, err
			}
		} else {
			name := "zeros-" + sz.Name + ".bin"
			length := int64(sz.Pieces) * pieceLen
			zero := sha1.Sum(make([]byte, pieceLen))
			pieces := strings.Repeat(string(zero[:]), sz.Pieces)
			// Keys in sorted order, as bencode requires.
			info = fmt.Appendf(nil, "d6:lengthi%de4:name%d:%s12:piece lengthi%de6:pieces%d:%se",
				length, len(name), name, pieceLen, len(pieces), pieces)
			f, err := os.Create(filepath.Join(parent, name))
			if err != nil {
				return nil, err
			}
			err = f.Truncate(length)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
			file := append(append([]byte("d4:info"), info...), 'e')
			if err := os.WriteFile(tf.path, file, 0o644); err != nil {
				return nil, err
			}
		}
		h := sha1.Sum(info)
		tf.ih, tf.infoBytes = hex.EncodeToString(h[:]), len(info)
		out = append(out, tf)
	}
	return out, nil
}

// infoOf returns the raw info dict of a .torrent whose last top-level key
// is "info" (the demo torrent's only key).
func infoOf(file []byte) ([]byte, error) {
	i := strings.Index(string(file), "4:infod")
	if i < 0 || file[len(file)-1] != 'e' {
		return nil, errors.New("no info dict")
	}
	info := file[i+6 : len(file)-1]
	if info[len(info)-1] != 'e' {
		return nil, errors.New("info dict is not last")
	}
	return info, nil
}
