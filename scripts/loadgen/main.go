// Command loadgen puts btext serve under load on 127.0.0.1 and reports how
// it holds: 1,000 concurrent metadata fetches (by default), slowloris
// connections that dribble their handshake, and peers that flood metadata
// requests, while a good peer keeps fetching and timing its fetches. It
// reports throughput, the good peer's latency, the server's peak RSS, and
// its goroutines and open files before and after the peers leave (a leak
// check). It exits 1 if the good peer failed or anything leaked.
//
// With -against ADDR it measures any seeder, btext serve or another
// client: -peers fetchers fetch from it one fetch after another for
// -duration; it reports fetches per second and the seeder's peak RSS
// (scripts/bench-serve-vs.sh). -write-torrent writes a torrent of zeros
// with sparse content for such a seeder.
//
// With -idle N it measures memory per connection instead: N peers each
// ask for one LT_metadata range of up to 1 MiB (1 MiB is the message cap),
// read it, and then stay connected without a word; serve's RSS is read
// once they are all idle.
//
//	go run ./scripts/loadgen -bin bin/btext
//	go run ./scripts/loadgen -bin bin/btext -idle 200 -size 8388608
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

type stats struct {
	Active     int64 `json:"active"`
	Accepted   int64 `json:"accepted"`
	Refused    int64 `json:"refused"`
	Pieces     int64 `json:"pieces"`
	Rejects    int64 `json:"rejects"`
	Goroutines int   `json:"goroutines"`
	FDs        int   `json:"fds"`
	RSS        int64 `json:"rss_kib"`
	PeakRSS    int64 `json:"peak_rss_kib"`
}

func main() {
	bin := flag.String("bin", "bin/btext", "the btext binary")
	conc := flag.Int("peers", 1000, "concurrent fetching peers")
	total := flag.Int("fetches", 20000, "metadata fetches in all")
	slow := flag.Int("slowloris", 200, "slowloris connections")
	flood := flag.Int("flood", 20, "request-flooding connections")
	size := flag.Int("size", 100000, "info dictionary size in bytes")
	limit := flag.Duration("limit", 5*time.Minute, "give up after this long")
	idle := flag.Int("idle", 0, "instead: this many peers each take one LT_metadata reply of up to 1 MiB, then stay idle (memory per connection)")
	idleEnc := flag.String("idle-encryption", "off", "with -idle: the peers' --encryption (off, prefer, require)")
	against := flag.String("against", "", "instead: fetch from the seeder at this loopback address (any client), -peers at a time for -duration, and report fetches/s and the peak RSS of -pid")
	hash := flag.String("hash", "", "with -against: the info hash (hex)")
	pid := flag.Int("pid", 0, "with -against: the seeder's process, whose peak RSS (VmHWM) is reported")
	dur := flag.Duration("duration", 10*time.Second, "with -against: how long to go on starting fetches")
	writeDir := flag.String("write-torrent", "", "instead: write DIR/zeros.torrent of -pieces 16 KiB pieces of zeros and its sparse content, for any client to seed")
	pieces := flag.Int("pieces", 5000, "with -write-torrent: content pieces (20 bytes of info dict each)")
	flag.Parse()
	var err error
	switch {
	case *writeDir != "":
		err = writeTorrent(*writeDir, *pieces)
	case *against != "":
		err = runAgainst(*against, *hash, *pid, *conc, *dur, *limit)
	case *idle > 0:
		err = runIdle(*bin, *idle, *size, *idleEnc, *limit)
	default:
		err = run(*bin, *conc, *total, *slow, *flood, *size, *limit)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(bin string, conc, total, slow, flood, size int, limit time.Duration) error {
	raiseFileLimit()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()

	dir, err := os.MkdirTemp("", "loadgen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	info := peertest.InfoOfSize(size)
	hash := peertest.HashOf(info)
	file, _ := metainfo.TorrentFile(info, nil)
	torrent := filepath.Join(dir, "load.torrent")
	if err := os.WriteFile(torrent, file, 0o644); err != nil {
		return err
	}

	// Default --max-peers; a handshake must complete within 5 s, so the
	// slowloris connections are cut off while the load goes on.
	cmd := exec.Command(bin, "serve", torrent, "--listen", "127.0.0.1:0", "--log-level", "info",
		"--stats-interval", "250ms", "--timeout", "5s")
	srv, err := startServe(ctx, cmd)
	if err != nil {
		return err
	}
	defer srv.stop()
	addr, waitStats := srv.addr, srv.waitStats
	base := waitStats(func(s *stats) bool { return true })
	fmt.Printf("serve %s pid %d: %d-byte info dict (%d pieces); at rest: %d goroutines, %d fds, %d KiB RSS\n",
		addr, srv.cmd.Process.Pid, size, metadata.PieceCount(size), base.Goroutines, base.FDs, base.RSS)

	var wg sync.WaitGroup
	loadCtx, stopLoad := context.WithCancel(ctx)
	// Slowloris: a byte of handshake a second, for as long as they are let.
	var slowClosed atomic.Int64
	for range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			hs, _ := peer.Handshake{Reserved: peer.Reserved{}.WithExtended(), InfoHash: hash}.AppendBinary(nil)
			for _, b := range hs {
				if _, err := c.Write([]byte{b}); err != nil {
					slowClosed.Add(1)
					return
				}
				select {
				case <-loadCtx.Done():
					return
				case <-time.After(time.Second):
				}
			}
		}()
	}
	// Flooders: 1,000 requests at a time, answers read.
	var floodSent, floodAnswered atomic.Int64
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := extensions.Connect(loadCtx, addr, extensions.Options{InfoHash: hash})
			if err != nil {
				return
			}
			defer s.Close()
			id, _ := s.Registry.ID(extensions.UTMetadata)
			var burst []peer.Message
			for i := range 1000 {
				p, _ := metadata.UTMessage{Type: metadata.UTRequest, Piece: int64(i % metadata.PieceCount(size)), TotalSize: -1}.AppendBinary(nil)
				burst = append(burst, peer.ExtendedMessage(id, p))
			}
			for loadCtx.Err() == nil {
				if err := s.Conn.WriteMessages(loadCtx, burst...); err != nil {
					return
				}
				floodSent.Add(int64(len(burst)))
				for range burst {
					if _, err := s.Conn.ReadMessage(loadCtx); err != nil {
						return
					}
					floodAnswered.Add(1)
				}
			}
		}()
	}
	// The good peer: one fetch after another, timed.
	var goodLat []time.Duration
	var goodFail []string
	var goodMu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for loadCtx.Err() == nil {
			start := time.Now()
			fctx, c := context.WithTimeout(loadCtx, 10*time.Second)
			_, err := metadata.Fetch(fctx, metadata.FetchConfig{Target: metainfo.Target{V1: (*metainfo.Hash)(&hash)}, Peers: metadata.PeerList("arg", netip.MustParseAddrPort(addr))})
			c()
			goodMu.Lock()
			if err != nil && loadCtx.Err() == nil {
				goodFail = append(goodFail, err.Error())
			} else if err == nil {
				goodLat = append(goodLat, time.Since(start))
			}
			goodMu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
	}()

	// The load: conc fetchers sharing total fetches.
	var done, failed atomic.Int64
	var failMu sync.Mutex
	var failures []string
	var next atomic.Int64
	start := time.Now()
	var fw sync.WaitGroup
	for range conc {
		fw.Add(1)
		go func() {
			defer fw.Done()
			for next.Add(1) <= int64(total) && ctx.Err() == nil {
				fctx, c := context.WithTimeout(ctx, 60*time.Second)
				_, err := metadata.Fetch(fctx, metadata.FetchConfig{Target: metainfo.Target{V1: (*metainfo.Hash)(&hash)}, Peers: metadata.PeerList("arg", netip.MustParseAddrPort(addr))})
				c()
				if err != nil {
					failed.Add(1)
					failMu.Lock()
					if len(failures) < 3 {
						failures = append(failures, err.Error())
					}
					failMu.Unlock()
				} else {
					done.Add(1)
				}
			}
		}()
	}
	peak := &stats{}
	go func() {
		for loadCtx.Err() == nil {
			if s := srv.last.Load(); s != nil && s.Active > peak.Active {
				peak = s
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	fw.Wait()
	elapsed := time.Since(start)
	stopLoad()
	wg.Wait()

	after := waitStats(func(s *stats) bool { return s.Active == 0 })
	time.Sleep(600 * time.Millisecond) // two more stats lines: goroutines settle
	after = srv.last.Load()
	hwm := procHWM(srv.cmd.Process.Pid)

	goodMu.Lock()
	slices.Sort(goodLat)
	fmt.Printf("fetches: %d ok, %d failed in %v: %.0f fetches/s, %.1f MB/s of metadata\n",
		done.Load(), failed.Load(), elapsed.Round(time.Millisecond), float64(done.Load())/elapsed.Seconds(),
		float64(done.Load())*float64(size)/elapsed.Seconds()/1e6)
	fmt.Printf("peak: %d peers at once, %d goroutines, %d fds; peak RSS %d KiB\n", peak.Active, peak.Goroutines, peak.FDs, hwm)
	fmt.Printf("slowloris: %d connections, %d cut off by serve\n", slow, slowClosed.Load())
	fmt.Printf("flood: %d requests sent, %d answered (pieces or rejects)\n", floodSent.Load(), floodAnswered.Load())
	if len(goodLat) > 0 {
		fmt.Printf("good peer: %d fetches, %d failed; latency median %v, max %v\n", len(goodLat), len(goodFail),
			goodLat[len(goodLat)/2].Round(time.Millisecond), goodLat[len(goodLat)-1].Round(time.Millisecond))
	}
	fmt.Printf("after the peers left: %d active, %d goroutines (at rest %d), %d fds (at rest %d), %d KiB RSS; served %d pieces, %d rejects, %d refused\n",
		after.Active, after.Goroutines, base.Goroutines, after.FDs, base.FDs, after.RSS, after.Pieces, after.Rejects, after.Refused)
	var problems []string
	if len(goodFail) > 0 || len(goodLat) == 0 {
		problems = append(problems, fmt.Sprintf("the good peer failed %d times: %v", len(goodFail), goodFail[:min(3, len(goodFail))]))
	}
	if after.Active != 0 || after.Goroutines > base.Goroutines+5 || after.FDs > base.FDs+5 {
		problems = append(problems, "leak: connections, goroutines or files left after the peers left")
	}
	if failed.Load() > 0 {
		problems = append(problems, fmt.Sprintf("%d fetches failed: %q", failed.Load(), failures))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	fmt.Println("loadgen: ok")
	return nil
}

// readStats follows serve's console log for its "stats" lines.
func readStats(r interface{ Read([]byte) (int, error) }, last *atomic.Pointer[stats]) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if !strings.Contains(l, " INF stats ") {
			continue
		}
		s := &stats{}
		fields := map[string]*int64{"active": &s.Active, "accepted": &s.Accepted, "refused": &s.Refused,
			"pieces": &s.Pieces, "rejects": &s.Rejects, "rss_kib": &s.RSS, "peak_rss_kib": &s.PeakRSS}
		for _, f := range strings.Fields(l) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "goroutines":
				s.Goroutines = int(n)
			case "fds":
				s.FDs = int(n)
			default:
				if p, ok := fields[k]; ok {
					*p = n
				}
			}
		}
		last.Store(s)
	}
}

func procHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// served is a btext serve that loadgen started.
type served struct {
	cmd  *exec.Cmd
	addr string
	last atomic.Pointer[stats]
	ctx  context.Context
}

// startServe starts cmd (a btext serve with --stats-interval), waits for
// its "listening on" line and follows its stats log.
func startServe(ctx context.Context, cmd *exec.Cmd) (*served, error) {
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &served{cmd: cmd, ctx: ctx}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("serve did not start: %v", err)
	}
	s.addr = strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	go readStats(errp, &s.last)
	return s, nil
}

func (s *served) stop() { s.cmd.Process.Signal(os.Interrupt); s.cmd.Wait() }

// waitStats waits for a stats line that satisfies cond (or for ctx).
func (s *served) waitStats(cond func(*stats) bool) *stats {
	for s.ctx.Err() == nil {
		if st := s.last.Load(); st != nil && cond(st) {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s.last.Load()
}

// raiseFileLimit makes room for every connection, ours and those of a
// server started from here (it inherits the limit): the soft limit on open
// files goes up to the hard one, at most 65536.
func raiseFileLimit() {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < rl.Max {
		rl.Cur = min(rl.Max, 65536)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}
