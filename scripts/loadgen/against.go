package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

// writeTorrent writes dir/zeros.torrent, a single-file torrent of pieces
// 16 KiB pieces of zeros, and its content dir/content/zeros.bin as a
// sparse file, so that any client can seed it without disk use. It prints
// "TORRENT INFOHASH CONTENT_PARENT METADATA_SIZE".
func writeTorrent(dir string, pieces int) error {
	if pieces < 1 || pieces > 1<<20 {
		return fmt.Errorf("-pieces %d: want 1 to %d", pieces, 1<<20)
	}
	zero := sha1.Sum(make([]byte, 16384))
	info, err := bencode.Encode(map[string]any{
		"length":       int64(pieces) * 16384,
		"name":         "zeros.bin",
		"piece length": int64(16384),
		"pieces":       bytes.Repeat(zero[:], pieces),
	})
	if err != nil {
		return err
	}
	parent := filepath.Join(dir, "content")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(parent, "zeros.bin"))
	if err != nil {
		return err
	}
	if err := f.Truncate(int64(pieces) * 16384); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	file, err := metainfo.TorrentFile(info, nil)
	if err != nil {
		return err
	}
	torrent := filepath.Join(dir, "zeros.torrent")
	if err := os.WriteFile(torrent, file, 0o644); err != nil {
		return err
	}
	fmt.Printf("%s %x %s %d\n", torrent, sha1.Sum(info), parent, len(info))
	return nil
}

// runAgainst has conc fetchers fetch the metadata of hash from the seeder
// at addr (btext serve or any other client), one fetch after another,
// for d; then it waits for the fetches under way and reports the fetches
// completed within d per second, the seeder's CPU time (user and system)
// per fetch, the most RSS it had during the load (sampled every 20 ms), and
// the peak RSS (VmHWM) of the seeder's process pid, before the load and
// after. Its last line is for scripts:
//
//	result fetches=N failed=N fetches_per_s=R cpu_ms_per_fetch=C load_rss_kib=K peak_rss_kib=K peak_rss_before_kib=K
func runAgainst(addr, hashHex string, pid, conc int, d, limit time.Duration) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("-against %q: %w", addr, err)
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Errorf("-against %s: loopback addresses only", addr)
	}
	raw, err := hex.DecodeString(hashHex)
	if err != nil || len(raw) != 20 {
		return fmt.Errorf("-hash %q: want 40 hex digits", hashHex)
	}
	hash := metainfo.Hash(raw)
	hwm0 := procHWM(pid)
	if pid <= 0 || hwm0 == 0 {
		return fmt.Errorf("-pid %d: no such process to measure", pid)
	}
	raiseFileLimit()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var done, late, failed atomic.Int64
	var failMu sync.Mutex
	failures := map[string]int{}
	cpu0 := procCPU(pid)
	start := time.Now()
	end := start.Add(d)
	// The seeder's RSS, sampled during the load: VmHWM also holds what
	// it took before (libtorrent's check of the content at start).
	var maxRSS atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for time.Now().Before(end) && ctx.Err() == nil {
			if r := procStatusKiB(pid, "VmRSS:"); r > maxRSS.Load() {
				maxRSS.Store(r)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for time.Now().Before(end) && ctx.Err() == nil {
				fctx, c := context.WithTimeout(ctx, 60*time.Second)
				// A peer id of its own for each: libtorrent drops a
				// connection whose peer id it already has connected.
				_, err := metadata.Fetch(fctx, metadata.FetchConfig{Target: metainfo.Target{V1: &hash},
					Peers: metadata.PeerList("arg", ap), Session: extensions.Options{PeerID: peer.RandomPeerID()}})
				c()
				switch {
				case err != nil:
					failed.Add(1)
					failMu.Lock()
					if len(failures) < 5 {
						failures[err.Error()]++
					}
					failMu.Unlock()
				case time.Now().Before(end):
					done.Add(1)
				default:
					late.Add(1)
				}
			}
		})
	}
	wg.Wait()
	<-sampled
	elapsed := time.Since(start)
	hwm := procHWM(pid)
	cpuMS := float64((procCPU(pid) - cpu0).Microseconds()) / 1000
	perFetch := cpuMS / float64(max(1, done.Load()+late.Load()))
	// Fetches completed within the window, per second of it.
	rate := float64(done.Load()) / d.Seconds()
	fmt.Printf("%s (pid %d), %d concurrent fetchers for %v: %d fetches ok (%d more after), %d failed, in %v: %.0f fetches/s; seeder CPU %.2f s (%.2f ms a fetch); RSS during the load up to %d KiB; peak RSS %d KiB (%d KiB before the load)\n",
		addr, pid, conc, d, done.Load(), late.Load(), failed.Load(), elapsed.Round(time.Millisecond), rate,
		cpuMS/1000, perFetch, maxRSS.Load(), hwm, hwm0)
	for e, n := range failures {
		fmt.Printf("  failure (%d+): %s\n", n, e)
	}
	fmt.Printf("result fetches=%d failed=%d fetches_per_s=%.0f cpu_ms_per_fetch=%.2f load_rss_kib=%d peak_rss_kib=%d peak_rss_before_kib=%d\n",
		done.Load(), failed.Load(), rate, perFetch, maxRSS.Load(), hwm, hwm0)
	return nil
}

// procCPU is the user and system time the process has used (clock ticks
// of 10 ms, as Linux reports them to user space).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// from after it. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// procStatusKiB reads one "Key: N kB" line of /proc/PID/status.
func procStatusKiB(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
