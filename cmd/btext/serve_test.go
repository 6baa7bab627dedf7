package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeLifecycle: SIGINT and SIGTERM stop serve gracefully: exit 0, a
// one-line summary on stdout, and an end record closing the JSON log.
func TestServeLifecycle(t *testing.T) {
	bin, err := exec.LookPath("btext")
	if err != nil {
		t.Fatal(err)
	}
	demo, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "demo.torrent"))
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "serve", demo, "--listen", "127.0.0.1:0", "--log-format", "json")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			sc := bufio.NewScanner(out)
			if !sc.Scan() {
				t.Fatalf("no listening line; stderr %s", stderr.String())
			}
			addr, ok := strings.CutPrefix(sc.Text(), "listening on ")
			if !ok {
				t.Fatalf("first line %q", sc.Text())
			}
			if code, _, stderr, _ := runBtext(t, "fetch-metadata", testHash, addr, "-o", filepath.Join(t.TempDir(), "x.torrent")); code != 0 {
				t.Fatalf("fetch: exit %d %s", code, stderr)
			}
			cmd.Process.Signal(sig)
			var rest []string
			for sc.Scan() {
				rest = append(rest, sc.Text())
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("serve did not stop within 10s of %v", sig)
			}
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit %d, want 0; stderr %s", code, stderr.String())
			}
			if len(rest) != 1 || rest[0] != "stopped: 1 connection, 1 metadata piece served" {
				t.Errorf("stdout after listening: %q", rest)
			}
			var end struct {
				Type, Reason, Level string
				Connections         int
				PiecesServed        int  `json:"pieces_served"`
				ExitCode            *int `json:"exit_code"`
			}
			last := lastLine(stderr.String())
			if err := json.Unmarshal([]byte(last), &end); err != nil || end.Type != "end" || end.Reason != "interrupted" ||
				end.Connections != 1 || end.PiecesServed != 1 || end.ExitCode == nil || *end.ExitCode != 0 {
				t.Errorf("last log line %q (%v)", last, err)
			}
		})
	}
}

// TestServeProcs: serve runs its Go code on one thread unless --procs
// says otherwise; the stats record says how many.
func TestServeProcs(t *testing.T) {
	bin, err := exec.LookPath("btext")
	if err != nil {
		t.Fatal(err)
	}
	demo, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "demo.torrent"))
	for _, tc := range []struct {
		flags []string
		want  int
	}{{nil, 1}, {[]string{"--procs", "2"}, 2}} {
		t.Run(strings.Join(append([]string{"procs"}, tc.flags...), " "), func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"serve", demo, "--listen", "127.0.0.1:0", "--log-format", "json"}, tc.flags...)...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			sc := bufio.NewScanner(out)
			if !sc.Scan() {
				t.Fatalf("no listening line; stderr %s", stderr.String())
			}
			cmd.Process.Signal(syscall.SIGINT)
			for sc.Scan() {
			}
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not stop within 10s of SIGINT")
			}
			var stats struct {
				Message string
				Procs   *int
			}
			for line := range strings.Lines(stderr.String()) {
				if json.Unmarshal([]byte(line), &stats) == nil && stats.Message == "stats" {
					break
				}
			}
			if stats.Message != "stats" || stats.Procs == nil || *stats.Procs != tc.want {
				t.Errorf("stats record %+v, want procs %d; stderr %s", stats, tc.want, stderr.String())
			}
		})
	}
}
