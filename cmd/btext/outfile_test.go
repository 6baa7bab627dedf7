package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peertest"
)

// TestOutputFiles: what -o does to what is already there (issue 8,
// section 1). Not parallel: it sets the process's umask.
func TestOutputFiles(t *testing.T) {
	info := peertest.InfoOfSize(3000)
	addr := startServe(t, info)
	hash := peertest.HashOf(info).String()
	want, _ := metainfo.TorrentFile(info, nil)
	dir := t.TempDir()
	fetch := func(t *testing.T, args ...string) (int, string) {
		t.Helper()
		code, _, stderr, _ := runBtext(t, append([]string{"fetch-metadata", hash, addr}, args...)...)
		return code, stderr
	}

	t.Run("umask", func(t *testing.T) {
		old := syscall.Umask(0o027)
		defer syscall.Umask(old)
		for _, force := range []bool{false, true} { // a new file, then one replaced
			p := filepath.Join(dir, "mode.torrent")
			args := []string{"-o", p}
			if force {
				args = append(args, "--force")
			}
			if code, stderr := fetch(t, args...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o640 {
				t.Errorf("force=%v: mode %v, want 0640 (0666 &^ umask 027)", force, got)
			}
		}
	})

	t.Run("fifo", func(t *testing.T) {
		for _, force := range []bool{false, true} {
			p := filepath.Join(dir, "fifo")
			os.Remove(p)
			if err := syscall.Mkfifo(p, 0o600); err != nil {
				t.Fatal(err)
			}
			got := make(chan []byte, 1)
			go func() {
				f, err := os.Open(p) // blocks until btext opens it for writing
				if err != nil {
					got <- nil
					return
				}
				b, _ := io.ReadAll(f)
				f.Close()
				got <- b
			}()
			args := []string{"-o", p}
			if force {
				args = append(args, "--force")
			}
			code, stderr := fetch(t, args...)
			if code != 0 {
				// Unblock the reader.
				if f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				<-got
				t.Fatalf("force=%v: exit %d: %s", force, code, stderr)
			}
			if b := <-got; string(b) != string(want) {
				t.Errorf("force=%v: the reader got %d bytes, want %d", force, len(b), len(want))
			}
			if fi, err := os.Lstat(p); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
				t.Errorf("force=%v: the FIFO was replaced: %v %v", force, fi.Mode(), err)
			}
		}
	})

	t.Run("symlink", func(t *testing.T) {
		target := filepath.Join(dir, "target.torrent")
		link := filepath.Join(dir, "link.torrent")
		os.WriteFile(target, []byte("old"), 0o600)
		if err := os.Symlink("target.torrent", link); err != nil {
			t.Fatal(err)
		}
		if code, stderr := fetch(t, "-o", link); code != 2 || !strings.Contains(stderr, "exists") {
			t.Errorf("without --force: exit %d %q", code, stderr)
		}
		if code, stderr := fetch(t, "-o", link, "--force"); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the link was replaced: %v", err)
		}
		if b, _ := os.ReadFile(target); string(b) != string(want) {
			t.Errorf("the link's target holds %q", b)
		}
	})

	t.Run("dangling symlink", func(t *testing.T) {
		link := filepath.Join(dir, "dangling.torrent")
		if err := os.Symlink("new.torrent", link); err != nil {
			t.Fatal(err)
		}
		if code, stderr := fetch(t, "-o", link); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "new.torrent")); string(b) != string(want) {
			t.Errorf("the link's target holds %d bytes", len(b))
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the link was replaced: %v", err)
		}
	})

	t.Run("dev null", func(t *testing.T) {
		if code, stderr := fetch(t, "-o", os.DevNull); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if fi, err := os.Stat(os.DevNull); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("%s is no longer a character device: %v", os.DevNull, err)
		}
	})
}

// TestSyncBeforeRename: the temporary file is fsynced only when it is
// renamed over a regular file (through a symlink too), whose old content
// a power cut could otherwise take with it.
func TestSyncBeforeRename(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.torrent")
	if err := os.WriteFile(old, []byte("d4:infod4:name1:xee"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(old, filepath.Join(dir, "link.torrent")); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"new.torrent":  false,
		"old.torrent":  true,
		"link.torrent": true,
		os.DevNull:     false,
	} {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, name)
		}
		target, err := resolveOutput(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := syncBeforeRename(target); got != want {
			t.Errorf("%s: sync %v, want %v", name, got, want)
		}
	}
}
