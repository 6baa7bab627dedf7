// Package interop starts the real counterparts that btext's interop tests
// talk to (trackers, DHT networks), through the project's own scripts under
// scripts/, and stops them when the test ends. It is for tests only.
//
// Interop tests run when BTEXT_INTEROP is "require" (or "1"): make test sets
// it when the installers work, and .ci/run always does. Otherwise Require
// skips the test.
package interop

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/btext/btext/internal/metainfo"
)

// Require skips the test unless interop tests are asked for.
func Require(t testing.TB) {
	t.Helper()
	switch os.Getenv("BTEXT_INTEROP") {
	case "require", "1":
	default:
		t.Skip("interop tests need real counterparts: BTEXT_INTEROP=require (make test sets it when the installers work)")
	}
}

// Script is the absolute path of scripts/NAME in this repository.
func Script(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", name)
}

var installTrackers = sync.OnceValues(func() ([]byte, error) {
	return exec.Command(Script("install-trackers.sh")).CombinedOutput()
})

// StartTracker starts a real tracker ("opentracker" or
// "bittorrent-tracker") on loopback with scripts/start-tracker.sh, which
// returns once an announce is accepted, and returns its announce URLs.
// opentracker accepts only the hashes given (its whitelist).
func StartTracker(t testing.TB, kind string, hashes ...metainfo.Hash) []string {
	t.Helper()
	if out, err := installTrackers(); err != nil {
		t.Fatalf("install-trackers.sh: %v: %s", err, out)
	}
	work := t.TempDir()
	args := []string{kind, work}
	for _, h := range hashes {
		args = append(args, h.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Script("start-tracker.sh"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if pid, perr := os.ReadFile(filepath.Join(work, "pid")); perr == nil {
		if n, aerr := strconv.Atoi(strings.TrimSpace(string(pid))); aerr == nil {
			t.Cleanup(func() { StopProcess(t, n) })
		}
	}
	if err != nil {
		t.Fatalf("start %s: %v: %s", kind, err, stderr.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(work, "log"))
			t.Logf("%s log:\n%s", kind, log)
		}
	})
	urls := strings.Fields(string(out))
	t.Logf("%s at %v", kind, urls)
	return urls
}

// StopProcess ends a process a test started: SIGTERM, then SIGKILL after
// 5 s.
func StopProcess(t testing.TB, pid int) {
	syscall.Kill(pid, syscall.SIGTERM)
	for range 50 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	t.Logf("process %d killed after 5 s", pid)
}
