package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/btext/btext/internal/peertest"
)

// TestStdoutFull: a result that cannot be written (stdout is /dev/full) is
// a failure, exit 1, with one line saying so; not exit 0 with nothing.
func TestStdoutFull(t *testing.T) {
	bin, err := exec.LookPath("btext") // put on PATH by testscript.RunMain
	if err != nil {
		t.Fatal(err)
	}
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	info := peertest.InfoOfSize(3000)
	addr := startServe(t, info)
	hash := peertest.HashOf(info).String()
	for _, args := range [][]string{
		{"handshake", addr, "--info-hash", hash},
		{"handshake", addr, "--info-hash", hash, "--json"},
		{"fetch-metadata", hash, addr, "-o", "-"},
		{"fetch-metadata", hash, addr, "-o", os.DevNull, "--json"},
		{"--help"},
	} {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = full, &stderr
		cmd.Run()
		code := cmd.ProcessState.ExitCode()
		line := stderr.String()
		if code != exitOther || strings.Count(line, "\n") != 1 || !strings.Contains(line, "write stdout: ") || !strings.Contains(line, "no space left on device") {
			t.Errorf("btext %s > /dev/full: exit %d, stderr %q; want exit 1 and one line", strings.Join(args, " "), code, line)
		}
	}
}
