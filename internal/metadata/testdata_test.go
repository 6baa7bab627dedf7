package metadata

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated files under testdata/")

// TestDemoTorrent checks that testdata/demo.torrent is the torrent of the
// files in testdata/demo (go test -run TestDemoTorrent -update rewrites it).
func TestDemoTorrent(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata")
	var files []File
	for _, name := range []string{"hello.txt", "lines.txt"} {
		b, err := os.ReadFile(filepath.Join(dir, "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Path: []string{name}, Data: b})
	}
	info, err := BuildInfo("demo", files, 16384, false)
	if err != nil {
		t.Fatal(err)
	}
	want, err := TorrentFile(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "demo.torrent")
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./internal/metadata -run TestDemoTorrent -update", path)
	}
	tor, err := LoadFile(path, DefaultMaxSize)
	if err != nil {
		t.Fatal(err)
	}
	if tor.Name != "demo" || tor.Pieces != 4 || !bytes.Equal(tor.Info, info) {
		t.Errorf("loaded %q with %d pieces", tor.Name, tor.Pieces)
	}
}
