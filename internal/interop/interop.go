// Package interop starts the real counterparts that btext's interop tests
// talk to (trackers, DHT networks), through the project's own scripts under
// scripts/, and stops them when the test ends. It is for tests only.
//
// Interop tests run when BTEXT_INTEROP is "require" (or "1"): make test sets
// it when the installers work, and .ci/run always does. Otherwise Require
// skips the test.
package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
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

// DHTNet is what scripts/dht-net.py (libtorrent nodes) and
// scripts/dht-js.mjs (bittorrent-dht nodes) print when their network is
// ready: one node has announced a torrent and a real get_peers sees it.
type DHTNet struct {
	Nodes    []string `json:"nodes"`
	Nodes6   []string `json:"nodes6"`
	Silenced []string `json:"silenced"`
	InfoHash string   `json:"info_hash"`
	Seeder   string   `json:"seeder"` // dht-net.py: the seeder's BT address
	Peer     string   `json:"peer"`   // dht-js.mjs: the announced peer
	ReadyMS  int      `json:"ready_ms"`
}

// Hash is the announced info hash.
func (n *DHTNet) Hash(t testing.TB) metainfo.Hash {
	t.Helper()
	b, err := hex.DecodeString(n.InfoHash)
	if err != nil || len(b) != 20 {
		t.Fatalf("info hash %q", n.InfoHash)
	}
	return metainfo.Hash(b)
}

// StartDHT runs a DHT network script (dht-net.py or dht-js.mjs) with args
// (--nodes N, --silence K, --v6), waits for its ready line and stops it
// at cleanup by closing its stdin.
func StartDHT(t testing.TB, name string, args ...string) *DHTNet {
	t.Helper()
	if out, err := exec.Command(Script("install-dht.sh")).CombinedOutput(); err != nil {
		t.Fatalf("scripts/install-dht.sh: %v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	prog := "node"
	if filepath.Ext(name) == ".py" {
		prog = "/usr/bin/python3"
	}
	cmd := exec.CommandContext(ctx, prog, append([]string{Script(name)}, args...)...)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cancel() // kills it
			<-done
		}
		cancel()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, stderr.String())
		}
	})
	line := make(chan []byte, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		if sc.Scan() {
			line <- slices.Clone(sc.Bytes())
		}
		close(line)
		io.Copy(io.Discard, stdout)
	}()
	var b []byte
	select {
	case b = <-line:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s: not ready in 2 minutes\n%s", name, stderr.String())
	}
	if b == nil {
		t.Fatalf("%s exited before it was ready\n%s", name, stderr.String())
	}
	var n DHTNet
	if err := json.Unmarshal(b, &n); err != nil {
		t.Fatalf("%s: ready line %q: %v", name, b, err)
	}
	t.Logf("%s ready: %d nodes (%d silenced), hash %s, in %d ms", name, len(n.Nodes), len(n.Silenced), n.InfoHash, n.ReadyMS)
	return &n
}

// lockedBuffer is a bytes.Buffer a process writes while a test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
