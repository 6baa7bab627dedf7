package metainfo

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated files under testdata/")

// TestDemoTorrent checks that testdata/demo.torrent (and its private twin,
// testdata/private.torrent) is the torrent of the files in testdata/demo
// (go test -run TestDemoTorrent -update rewrites them).
func TestDemoTorrent(t *testing.T) {
	checkTorrent(t, "demo.torrent", false)
	checkTorrent(t, "private.torrent", true)
}

func checkTorrent(t *testing.T, file string, private bool) {
	dir := filepath.Join("..", "..", "testdata")
	var files []File
	for _, name := range []string{"hello.txt", "lines.txt"} {
		b, err := os.ReadFile(filepath.Join(dir, "demo", name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Path: []string{name}, Data: b})
	}
	info, err := BuildInfo("demo", files, 16384, private)
	if err != nil {
		t.Fatal(err)
	}
	want, err := TorrentFile(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, file)
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
	if tor.Name != "demo" || tor.Pieces != 4 || tor.Private != private || !bytes.Equal(tor.Info, info) {
		t.Errorf("loaded %q with %d pieces", tor.Name, tor.Pieces)
	}
}
