package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/btext/btext/internal/metainfo"
)

// startServeBin starts the real binary's serve on listen and returns the
// address it listens on; it is stopped (SIGINT, exit 0 expected) when the
// test ends.
func startServeBin(t *testing.T, bin, listen string, torrents ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen", listen}, torrents...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		line <- sc.Text()
		for sc.Scan() {
		}
	}()
	var addr string
	select {
	case l := <-line:
		var ok bool
		if addr, ok = strings.CutPrefix(l, "listening on "); !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Skipf("serve --listen %s: %q %s", listen, l, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("serve did not listen within 10s")
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return addr
}

// readmeExamples are the command lines of README.md's "## Examples" block.
func readmeExamples(t *testing.T) []string {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## Examples\n")
	if !ok {
		t.Fatal("README.md has no ## Examples")
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	block, _, _ := strings.Cut(rest, "```")
	return exampleLines(block)
}

func exampleLines(block string) []string {
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "btext ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestExamples runs every example of README.md and of each command's
// --help as written, in order, in one directory per source (as a user
// pasting them would), against btext serve. Only the peer addresses change:
// 127.0.0.1:6881 and [::1]:51413 (or [::1]:6881) become the serves'.
func TestExamples(t *testing.T) {
	bin, err := exec.LookPath("btext")
	if err != nil {
		t.Fatal(err)
	}
	testdata, _ := filepath.Abs(filepath.Join("..", "..", "testdata"))
	demo := filepath.Join(testdata, "demo.torrent")
	addr4 := startServeBin(t, bin, "127.0.0.1:0", demo)
	addr6 := startServeBin(t, bin, "[::1]:0", demo)

	demoHash, _ := metainfo.ParseTarget("0c1cff1615a3bab426a5e1665f5f44f6a344e67f")
	tracker := exampleSources(t, addr4, *demoHash.V1)

	sources := map[string][]string{"README": readmeExamples(t)}
	root := newRootCmd(&app{skeletons: map[*cobra.Command]func() report{}})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Example != "" {
			sources[c.CommandPath()+" --help"] = exampleLines(c.Example)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	for name, lines := range sources {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.Symlink(testdata, filepath.Join(dir, "testdata")); err != nil {
				t.Fatal(err)
			}
			for _, l := range lines {
				line := strings.NewReplacer("127.0.0.1:6881", addr4, "[::1]:51413", addr6, "[::1]:6881", addr6, "127.0.0.1:6969", tracker).Replace(l)
				runExample(t, dir, line)
			}
		})
	}
}

// runExample runs one example line with sh. A serve example runs until it
// prints "listening on", then gets SIGINT and must exit 0.
func runExample(t *testing.T, dir, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", "exec "+line)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stderr = &stderr
	if !strings.HasPrefix(line, "btext serve ") {
		cmd.Stdout = &stdout
		err := cmd.Run()
		if err != nil {
			t.Errorf("%s: %v\nstdout: %s\nstderr: %s", line, err, stdout.String(), stderr.String())
		}
		return
	}
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "listening on ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Errorf("%s: no listening line; stderr %s", line, stderr.String())
		return
	}
	cmd.Process.Signal(os.Interrupt)
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("%s: after SIGINT: %v; stderr %s", line, err, stderr.String())
	}
}
