package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/btext/btext/internal/peertest"
)

// TestInterrupt: Ctrl-C during a handshake ends btext at once with exit 130
// and one line on stderr.
func TestInterrupt(t *testing.T) {
	bin, err := exec.LookPath("btext") // put on PATH by testscript.RunMain
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan struct{}, 1)
	addr := peertest.Listen(t, func(c *peertest.Conn) {
		c.ReadHandshake()
		waiting <- struct{}{}
		c.Stall()
	})
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "handshake", addr, "--info-hash", testHash, "--timeout", "60s")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("btext never sent its handshake")
	}
	start := time.Now()
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatal("btext did not stop within 10s of SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit code %d, want 130; stderr %q", code, stderr.String())
	}
	if s := stderr.String(); strings.Count(s, "\n") != 1 || !strings.Contains(s, "interrupt signal received") {
		t.Errorf("stderr %q", s)
	}
	t.Logf("stopped %v after SIGINT: %s", time.Since(start).Round(time.Millisecond), stderr.String())
}
