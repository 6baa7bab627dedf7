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

// serveProc is a `btext serve testdata/demo.torrent --log-format json`
// process, started by startServeProc and past its "listening on" line.
type serveProc struct {
	cmd    *exec.Cmd
	out    *bufio.Scanner
	stderr bytes.Buffer
	addr   string
}

func startServeProc(t *testing.T, flags ...string) *serveProc {
	t.Helper()
	bin, err := exec.LookPath("btext")
	if err != nil {
		t.Fatal(err)
	}
	demo, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "demo.torrent"))
	p := &serveProc{}
	p.cmd = exec.Command(bin, append([]string{"serve", demo, "--listen", "127.0.0.1:0", "--log-format", "json"}, flags...)...)
	p.cmd.Stderr = &p.stderr
	out, _ := p.cmd.StdoutPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill() })
	p.out = bufio.NewScanner(out)
	if !p.out.Scan() {
		t.Fatalf("no listening line; stderr %s", p.stderr.String())
	}
	addr, ok := strings.CutPrefix(p.out.Text(), "listening on ")
	if !ok {
		t.Fatalf("first line %q", p.out.Text())
	}
	p.addr = addr
	return p
}

// stop sends sig, waits up to 10 s for serve to end, and returns what it
// printed on stdout after its listening line.
func (p *serveProc) stop(t *testing.T, sig syscall.Signal) []string {
	t.Helper()
	p.cmd.Process.Signal(sig)
	var rest []string
	for p.out.Scan() {
		rest = append(rest, p.out.Text())
	}
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop within 10s of %v", sig)
	}
	return rest
}

// TestServeLifecycle: SIGINT and SIGTERM stop serve gracefully: exit 0, a
// one-line summary on stdout, and an end record closing the JSON log.
func TestServeLifecycle(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startServeProc(t)
			if code, _, stderr, _ := runBtext(t, "fetch-metadata", testHash, p.addr, "-o", filepath.Join(t.TempDir(), "x.torrent")); code != 0 {
				t.Fatalf("fetch: exit %d %s", code, stderr)
			}
			rest := p.stop(t, sig)
			if code := p.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit %d, want 0; stderr %s", code, p.stderr.String())
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
			last := lastLine(p.stderr.String())
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
	for _, tc := range []struct {
		flags []string
		want  int
	}{{nil, 1}, {[]string{"--procs", "2"}, 2}} {
		t.Run(strings.Join(append([]string{"procs"}, tc.flags...), " "), func(t *testing.T) {
			p := startServeProc(t, tc.flags...)
			p.stop(t, syscall.SIGINT)
			var stats struct {
				Message string
				Procs   *int
			}
			for line := range strings.Lines(p.stderr.String()) {
				if json.Unmarshal([]byte(line), &stats) == nil && stats.Message == "stats" {
					break
				}
			}
			if stats.Message != "stats" || stats.Procs == nil || *stats.Procs != tc.want {
				t.Errorf("stats record %+v, want procs %d; stderr %s", stats, tc.want, p.stderr.String())
			}
		})
	}
}
