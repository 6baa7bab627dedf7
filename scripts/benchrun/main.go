// Command benchrun measures metadata fetches on 127.0.0.1, side by side:
// btext fetch-metadata, libtorrent's own fetcher (scripts/lt-fetch-from.py:
// a magnet plus connect_peer) and aria2c --bt-metadata-only (which finds the
// seeder through a stub HTTP tracker served here), each from real seeders
// (libtorrent, rtorrent, aria2, Transmission, started by
// scripts/start-peer.sh) and from btext serve, for info dicts of about
// 200 B, 45 KB and 2.6 MB, on loopback and through scripts/relay (an
// emulated round trip). Each run is a whole process: wall time from exec to
// exit, peak RSS from wait4's rusage. It prints tables of medians and
// writes results.json, results.csv and chart.dat/chart.gp (for gnuplot) to
// -out. scripts/bench.sh installs what it needs and runs it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const pieceLen = 16384

// A size class of test torrent. Pieces 0 means the committed demo torrent.
type size struct {
	Name   string `json:"name"`
	Pieces int    `json:"-"`
}

var allSizes = []size{{"200B", 0}, {"45KB", 2250}, {"2.6MB", 130000}}

var allSeeders = []string{"btext-serve", "libtorrent", "rtorrent", "aria2", "transmission"}

var allFetchers = []string{"btext", "libtorrent", "aria2c"}

type config struct {
	root, bin, relay, work, out string
	quick                       bool
	seeders, fetchers           []string
	sizes                       []size
	rtts                        []time.Duration
	runs, slowRuns, ariaRuns    int
}

func main() {
	var c config
	var seeders, fetchers, sizes, rtts string
	flag.StringVar(&c.root, "root", ".", "the repository (scripts/ and testdata/ are read from it)")
	flag.StringVar(&c.bin, "bin", "bin/btext", "the btext binary")
	flag.StringVar(&c.relay, "relay", "bin/relay", "the relay binary (scripts/relay)")
	flag.StringVar(&c.work, "work", "", "scratch directory (torrents, seeders' state); required")
	flag.StringVar(&c.out, "out", "bench/out", "where results.json, results.csv and chart.* go")
	flag.BoolVar(&c.quick, "quick", false, "fewer runs, seeders, sizes and round trips: a try-out")
	flag.StringVar(&seeders, "seeders", "", "comma-separated seeders (default all: "+strings.Join(allSeeders, ",")+")")
	flag.StringVar(&fetchers, "fetchers", "", "comma-separated fetchers (default all: "+strings.Join(allFetchers, ",")+")")
	flag.StringVar(&sizes, "sizes", "", "comma-separated sizes (default all: 200B,45KB,2.6MB)")
	flag.StringVar(&rtts, "rtts", "", "comma-separated round trips to emulate (default 0,25ms,50ms)")
	flag.IntVar(&c.runs, "runs", 0, "runs of btext per case (default 5; quick 2)")
	flag.IntVar(&c.slowRuns, "other-runs", 0, "runs of libtorrent's fetcher per case, and of any case whose first run takes over 3 s (default 3; quick 1)")
	flag.IntVar(&c.ariaRuns, "aria2-runs", 0, "runs of aria2c per case, which takes 3 s or more and varies little (default 2; quick 1)")
	from := flag.String("from", "", "measure nothing: write the tables, CSV and chart files again from this results.json")
	flag.Parse()
	if *from != "" {
		if err := rewrite(*from, c.out); err != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
			os.Exit(1)
		}
		return
	}
	if err := c.fill(seeders, fetchers, sizes, rtts); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func (c *config) fill(seeders, fetchers, sizes, rtts string) error {
	if c.work == "" {
		return errors.New("-work is required")
	}
	list := func(s string, all, quick []string) ([]string, error) {
		if s == "" {
			if c.quick {
				return quick, nil
			}
			return all, nil
		}
		var out []string
		for _, v := range strings.Split(s, ",") {
			if !slices.Contains(all, v) {
				return nil, fmt.Errorf("unknown %q (want some of %s)", v, strings.Join(all, ","))
			}
			out = append(out, v)
		}
		return out, nil
	}
	var err error
	if c.seeders, err = list(seeders, allSeeders, []string{"btext-serve", "libtorrent"}); err != nil {
		return fmt.Errorf("-seeders: %w", err)
	}
	if c.fetchers, err = list(fetchers, allFetchers, allFetchers); err != nil {
		return fmt.Errorf("-fetchers: %w", err)
	}
	var names []string
	for _, s := range allSizes {
		names = append(names, s.Name)
	}
	sz, err := list(sizes, names, []string{"200B", "2.6MB"})
	if err != nil {
		return fmt.Errorf("-sizes: %w", err)
	}
	for _, s := range allSizes {
		if slices.Contains(sz, s.Name) {
			c.sizes = append(c.sizes, s)
		}
	}
	if rtts == "" {
		rtts = "0,25ms,50ms"
		if c.quick {
			rtts = "0,50ms"
		}
	}
	for _, v := range strings.Split(rtts, ",") {
		if v == "0" {
			c.rtts = append(c.rtts, 0)
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 2*time.Second {
			return fmt.Errorf("-rtts: %q: want 0 or a duration up to 2s", v)
		}
		c.rtts = append(c.rtts, d)
	}
	if c.runs == 0 {
		c.runs = 5
		if c.quick {
			c.runs = 2
		}
	}
	if c.slowRuns == 0 {
		c.slowRuns = 3
		if c.quick {
			c.slowRuns = 1
		}
	}
	if c.ariaRuns == 0 {
		c.ariaRuns = 2
		if c.quick {
			c.ariaRuns = 1
		}
	}
	if c.runs < 1 || c.slowRuns < 1 || c.ariaRuns < 1 {
		return errors.New("-runs, -other-runs and -aria2-runs must be positive")
	}
	return nil
}

// runsFor is how many runs a case gets, or 0 and why it is skipped; the
// skips keep a full run within about 15 minutes.
func (c *config) runsFor(fetcher, seeder string, sz size, rtt time.Duration) (int, string) {
	longest := slices.Max(c.rtts)
	if seeder == "transmission" {
		// Transmission serves about two metadata pieces a second and
		// waits 2.5-3 s before the first, so its 2.6 MB torrent (159
		// pieces) costs about 80 s a fetch.
		if sz.Name == "2.6MB" {
			if fetcher == "btext" && rtt == 0 {
				return 1, ""
			}
			return 0, "Transmission serves ~2 pieces/s: its 2.6 MB takes ~80 s a fetch (btext once, on loopback only)"
		}
		if rtt > 0 && (sz.Name != "200B" || rtt != longest) {
			return 0, "Transmission's own delays (seconds) dominate: over the relay only its 200 B torrent at the longest round trip"
		}
		if fetcher == "aria2c" {
			return c.ariaRuns, ""
		}
		return c.slowRuns, ""
	}
	switch fetcher {
	case "aria2c":
		if rtt > 0 && rtt != longest {
			return 0, "aria2c's own waits (~3 s) dominate: loopback and the longest round trip only"
		}
		return c.ariaRuns, ""
	case "libtorrent":
		return c.slowRuns, ""
	}
	return c.runs, ""
}

// Sample is one whole-process run.
type Sample struct {
	Fetcher   string  `json:"fetcher"`
	Seeder    string  `json:"seeder"`
	Size      string  `json:"size"`
	InfoBytes int     `json:"info_bytes"`
	RTTms     int     `json:"rtt_ms"`
	Run       int     `json:"run"`
	WallMS    float64 `json:"wall_ms"`
	ElapsedMS float64 `json:"elapsed_ms,omitempty"` // btext's own, from --json
	PeakKiB   int64   `json:"peak_rss_kib"`
	Error     string  `json:"error,omitempty"`
}

// Case is the summary of one fetcher/seeder/size/round trip.
type Case struct {
	Fetcher    string  `json:"fetcher"`
	Seeder     string  `json:"seeder"`
	Size       string  `json:"size"`
	InfoBytes  int     `json:"info_bytes"`
	RTTms      int     `json:"rtt_ms"`
	Runs       int     `json:"runs"`
	OK         int     `json:"ok"`
	MedianMS   float64 `json:"median_wall_ms"`
	MinMS      float64 `json:"min_wall_ms"`
	MaxMS      float64 `json:"max_wall_ms"`
	MedElapsed float64 `json:"median_elapsed_ms,omitempty"`
	PeakKiB    int64   `json:"peak_rss_kib"`
	RatioBtext float64 `json:"ratio_to_btext,omitempty"`
	SkipReason string  `json:"skipped,omitempty"`
	FirstError string  `json:"first_error,omitempty"`
}

// Results is results.json.
type Results struct {
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  Machine   `json:"machine"`
	Versions []string  `json:"versions"`
	Quick    bool      `json:"quick"`
	Startup  Startup   `json:"startup"`
	Cases    []Case    `json:"cases"`
	Samples  []Sample  `json:"samples"`
}

// Startup compares btext --version with the tiny fetch from btext serve.
type Startup struct {
	Runs            int     `json:"runs"`
	VersionMedianMS float64 `json:"version_median_ms"`
	VersionPeakKiB  int64   `json:"version_peak_rss_kib"`
	TinyMedianMS    float64 `json:"tiny_fetch_median_ms"`
	// TrueMedianMS is /usr/bin/time /bin/true: the measuring overhead
	// included in every wall time.
	TrueMedianMS float64 `json:"true_median_ms"`
	Ratio        float64 `json:"tiny_fetch_over_version"`
}

// Machine is what the numbers were measured on.
type Machine struct {
	CPU      string `json:"cpu"`
	NProc    int    `json:"nproc"`
	MemTotal string `json:"mem_total"`
	LoadAvg  string `json:"loadavg_start"`
	LoadEnd  string `json:"loadavg_end"`
	// Load1 is the 1-minute load average sampled every 15 s during the run.
	Load1  []float64 `json:"load1_samples"`
	Kernel string    `json:"kernel"`
}

type torrentFile struct {
	size             size
	path, parent, ih string
	infoBytes        int
}

func run(ctx context.Context, c config) error {
	start := time.Now()
	res := &Results{Started: start.UTC(), Quick: c.quick, Machine: machine()}
	res.Versions = versions(c)
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loads := make(chan []float64, 1)
	go func() { loads <- sampleLoad(loadCtx) }()
	torrents, err := makeTorrents(c)
	if err != nil {
		return fmt.Errorf("make torrents: %w", err)
	}
	tr, err := startTracker()
	if err != nil {
		return err
	}
	defer tr.Close()
	b := &bench{c: c, tracker: tr.Addr().String(), scratch: filepath.Join(c.work, "fetch"), failed: map[string]bool{}}
	if err := os.MkdirAll(b.scratch, 0o755); err != nil {
		return err
	}

	for _, tf := range torrents {
		for _, seeder := range c.seeders {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := b.seed(ctx, seeder, tf, res); err != nil {
				return err
			}
		}
	}
	res.Machine.LoadEnd = loadavg()
	stopLoad()
	res.Machine.Load1 = <-loads
	res.Seconds = time.Since(start).Seconds()
	ratios(res.Cases)
	if err := write(c.out, res); err != nil {
		return err
	}
	report(os.Stdout, res)
	return nil
}

type bench struct {
	c       config
	tracker string
	scratch string
	nextIP  int
	// failed holds the fetcher/seeder/size cases that failed: they are not
	// tried again over a longer round trip (each failure costs a timeout).
	failed map[string]bool
}

// sourceIP gives every run its own loopback source address: Transmission
// closes a connection from an address that just disconnected, and rtorrent
// refuses an address for minutes after two requests in flight (which
// libtorrent's fetcher sends).
func (b *bench) sourceIP() string {
	n := b.nextIP
	b.nextIP++
	return fmt.Sprintf("127.1.%d.%d", (n/250)%250, n%250+1)
}

// seed starts one seeder for tf, measures every fetcher through every round
// trip against it, and stops it.
func (b *bench) seed(ctx context.Context, seeder string, tf torrentFile, res *Results) error {
	fmt.Fprintf(os.Stderr, "== %s seeding %s (%d B info dict)\n", seeder, tf.size.Name, tf.infoBytes)
	t0 := time.Now()
	addr, stop, err := b.startSeeder(ctx, seeder, tf)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// One seeder that does not start costs its row, not the run.
		fmt.Fprintf(os.Stderr, "benchrun: %s did not start for %s: %v\n", seeder, tf.size.Name, err)
		for _, rtt := range b.c.rtts {
			for _, f := range b.c.fetchers {
				res.Cases = append(res.Cases, Case{Fetcher: f, Seeder: seeder, Size: tf.size.Name, InfoBytes: tf.infoBytes,
					RTTms: int(rtt.Milliseconds()), Runs: 1, FirstError: "seeder did not start: " + err.Error()})
			}
		}
		return nil
	}
	defer stop()
	fmt.Fprintf(os.Stderr, "   ready at %s in %.1f s\n", addr, time.Since(t0).Seconds())
	for _, rtt := range b.c.rtts {
		target := addr
		stopRelay := func() {}
		if rtt > 0 {
			target, stopRelay, err = b.startRelay(ctx, addr, rtt)
			if err != nil {
				return err
			}
		}
		cases := make([]*Case, len(b.c.fetchers))
		runs := make([]int, len(b.c.fetchers))
		maxRuns := 0
		for i, f := range b.c.fetchers {
			n, why := b.c.runsFor(f, seeder, tf.size, rtt)
			if b.failed[f+"/"+seeder+"/"+tf.size.Name] {
				n, why = 0, "failed with a shorter round trip: not tried again"
			}
			cases[i] = &Case{Fetcher: f, Seeder: seeder, Size: tf.size.Name, InfoBytes: tf.infoBytes, RTTms: int(rtt.Milliseconds()), Runs: n, SkipReason: why}
			runs[i] = n
			maxRuns = max(maxRuns, n)
		}
		var samples [][]Sample = make([][]Sample, len(cases))
		// Round robin over the fetchers, so that a busy moment of the
		// shared machine does not fall on one fetcher's runs only.
		for r := 0; r < maxRuns; r++ {
			for i, f := range b.c.fetchers {
				if r >= runs[i] {
					continue
				}
				if err := ctx.Err(); err != nil {
					stopRelay()
					return err
				}
				s := b.fetch(ctx, f, target, tf)
				s.Seeder, s.Size, s.InfoBytes, s.RTTms, s.Run = seeder, tf.size.Name, tf.infoBytes, int(rtt.Milliseconds()), r+1
				samples[i] = append(samples[i], s)
				res.Samples = append(res.Samples, s)
				status := "ok"
				if r == 0 && s.WallMS > 3000 && runs[i] > b.c.slowRuns {
					// A slow case gets fewer runs, to keep the whole
					// within about 15 minutes.
					runs[i], cases[i].Runs = b.c.slowRuns, b.c.slowRuns
				}
				if s.Error != "" {
					status = "FAILED: " + s.Error
					// One failure is enough: the rest of the case would
					// mostly wait for timeouts.
					runs[i] = r + 1
					cases[i].Runs = r + 1
					b.failed[f+"/"+seeder+"/"+tf.size.Name] = true
				}
				fmt.Fprintf(os.Stderr, "   rtt %3d ms  %-10s run %d  %8.1f ms  %6.1f MiB  %s\n", s.RTTms, f, r+1, s.WallMS, float64(s.PeakKiB)/1024, status)
			}
		}
		stopRelay()
		for i, cs := range cases {
			summarize(cs, samples[i])
			res.Cases = append(res.Cases, *cs)
		}
	}
	if seeder == "btext-serve" && tf.size.Name == "200B" && slices.Contains(b.c.fetchers, "btext") {
		res.Startup = b.startup(ctx, addr, tf)
	}
	return nil
}

func summarize(cs *Case, samples []Sample) {
	var wall, elapsed []float64
	for _, s := range samples {
		if s.Error != "" {
			if cs.FirstError == "" {
				cs.FirstError = s.Error
			}
			continue
		}
		cs.OK++
		wall = append(wall, s.WallMS)
		if s.ElapsedMS > 0 {
			elapsed = append(elapsed, s.ElapsedMS)
		}
		cs.PeakKiB = max(cs.PeakKiB, s.PeakKiB)
	}
	if len(wall) == 0 {
		return
	}
	cs.MedianMS = median(wall)
	cs.MinMS, cs.MaxMS = slices.Min(wall), slices.Max(wall)
	if len(elapsed) > 0 {
		cs.MedElapsed = median(elapsed)
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratios sets each case's median over btext's for the same seeder, size
// and round trip.
func ratios(cases []Case) {
	for i := range cases {
		c := &cases[i]
		for _, o := range cases {
			if o.Fetcher == "btext" && o.Seeder == c.Seeder && o.Size == c.Size && o.RTTms == c.RTTms && o.OK > 0 && c.OK > 0 {
				c.RatioBtext = c.MedianMS / o.MedianMS
			}
		}
	}
}

// ---------------------------------------------------------------- seeders

func (b *bench) startSeeder(ctx context.Context, seeder string, tf torrentFile) (string, func(), error) {
	if seeder == "btext-serve" {
		return b.startServe(ctx, tf)
	}
	work := filepath.Join(b.c.work, "peers", seeder+"-"+tf.size.Name)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", nil, err
	}
	script := filepath.Join(b.c.root, "scripts", "start-peer.sh")
	cmd := exec.CommandContext(ctx, script, seeder, tf.path, tf.parent, work)
	// Hash-checking 2 GiB of (sparse) zeros takes a while on a busy machine.
	cmd.Env = append(os.Environ(), "START_PEER_TIMEOUT=240")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", nil, fmt.Errorf("start-peer.sh: %w", err)
	}
	addr := strings.TrimSpace(string(out))
	stop := func() {
		c := exec.Command(filepath.Join(b.c.root, "scripts", "stop-peer.sh"), work)
		c.Stderr = os.Stderr
		if err := c.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "benchrun: stop %s: %v\n", seeder, err)
		}
	}
	return addr, stop, nil
}

// startServe runs btext serve on a free port and reads the port from its
// "listening on" line.
func (b *bench) startServe(ctx context.Context, tf torrentFile) (string, func(), error) {
	cmd := exec.Command(b.c.bin, "serve", tf.path, "--listen", "127.0.0.1:0", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	addr, err := startListening(ctx, cmd)
	if err != nil {
		return "", nil, fmt.Errorf("btext serve: %w", err)
	}
	return addr, func() { stopProcess(cmd) }, nil
}

func (b *bench) startRelay(ctx context.Context, to string, rtt time.Duration) (string, func(), error) {
	cmd := exec.Command(b.c.relay, "-to", to, "-rtt", rtt.String())
	cmd.Stderr = os.Stderr
	addr, err := startListening(ctx, cmd)
	if err != nil {
		return "", nil, fmt.Errorf("relay: %w", err)
	}
	return addr, func() { stopProcess(cmd) }, nil
}

// startListening starts cmd and waits (10 s at most) for "listening on
// ADDR" on its stdout.
func startListening(ctx context.Context, cmd *exec.Cmd) (string, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				got <- strings.TrimSpace(a)
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case a := <-got:
		return a, nil
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	stopProcess(cmd)
	return "", errors.New("no \"listening on\" line within 10 s")
}

func stopProcess(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// ---------------------------------------------------------------- tracker

// startTracker serves a stub HTTP tracker for aria2c, which ignores x.pe:
// an announce to /PEER/announce gets PEER (a loopback host:port) back,
// compact, and nothing else.
func startTracker() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tracker: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{peer}/announce", func(w http.ResponseWriter, r *http.Request) {
		ap, err := net.ResolveTCPAddr("tcp", r.PathValue("peer"))
		if err != nil || !ap.IP.IsLoopback() || ap.IP.To4() == nil {
			http.Error(w, "bad peer", http.StatusBadRequest)
			return
		}
		compact := append(append(make([]byte, 0, 6), ap.IP.To4()...), byte(ap.Port>>8), byte(ap.Port))
		fmt.Fprintf(w, "d8:intervali1800e5:peers%d:%se", len(compact), string(compact))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return ln, nil
}

// ---------------------------------------------------------------- fetchers

// fetch runs one fetcher once against addr and checks what it got.
func (b *bench) fetch(ctx context.Context, fetcher, addr string, tf torrentFile) Sample {
	s := Sample{Fetcher: fetcher}
	dir, err := os.MkdirTemp(b.scratch, fetcher+"-")
	if err != nil {
		s.Error = err.Error()
		return s
	}
	defer os.RemoveAll(dir)
	src := b.sourceIP()
	var args []string
	var check func(stdout []byte) error
	// btext fetches Transmission's 2.6 MB (~80 s); the others never do.
	timeout := 40 * time.Second
	switch fetcher {
	case "btext":
		out := filepath.Join(dir, "got.torrent")
		timeout = 150 * time.Second
		args = []string{b.c.bin, "fetch-metadata", tf.ih, addr, "-o", out, "--json", "--timeout", "140s", "--bind", src}
		check = func(stdout []byte) error {
			var rep struct {
				MetadataSize int     `json:"metadata_size"`
				ElapsedMS    float64 `json:"elapsed_ms"`
				InfoHash     string  `json:"info_hash"`
			}
			if err := json.Unmarshal(stdout, &rep); err != nil {
				return fmt.Errorf("--json output: %w", err)
			}
			if rep.MetadataSize != tf.infoBytes || rep.InfoHash != tf.ih {
				return fmt.Errorf("got %s, %d bytes", rep.InfoHash, rep.MetadataSize)
			}
			if st, err := os.Stat(out); err != nil || st.Size() < int64(tf.infoBytes) {
				return fmt.Errorf("output file missing or short")
			}
			s.ElapsedMS = rep.ElapsedMS
			return nil
		}
	case "libtorrent":
		args = []string{"/usr/bin/python3", filepath.Join(b.c.root, "scripts", "lt-fetch-from.py"),
			"magnet:?xt=urn:btih:" + tf.ih, addr, "--timeout", "30", "--bind", src, "--tcp"}
		check = func(stdout []byte) error {
			f := strings.Fields(string(stdout))
			if len(f) < 2 || f[0] != tf.ih || f[1] != strconv.Itoa(tf.infoBytes) {
				return fmt.Errorf("got %q", stdout)
			}
			return nil
		}
	case "aria2c":
		magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&tr=http://%s/%s/announce", tf.ih, b.tracker, addr)
		args = []string{"aria2c", "--no-conf=true", "--enable-rpc=false", "--dir=" + dir,
			"--bt-metadata-only=true", "--bt-save-metadata=true", "--interface=" + src, "--disable-ipv6=true",
			"--listen-port=" + strconv.Itoa(freePort(src)), "--enable-dht=false", "--enable-dht6=false",
			"--dht-file-path=" + filepath.Join(dir, "dht.dat"), "--bt-enable-lpd=false", "--enable-peer-exchange=false",
			"--summary-interval=0", "--console-log-level=warn", "--show-console-readout=false",
			"--bt-stop-timeout=30", "--save-session=", magnet}
		check = func([]byte) error {
			st, err := os.Stat(filepath.Join(dir, tf.ih+".torrent"))
			if err != nil || st.Size() < int64(tf.infoBytes) {
				return fmt.Errorf("no %s.torrent saved", tf.ih)
			}
			return nil
		}
	}
	m, err := measure(ctx, dir, timeout, args...)
	s.WallMS, s.PeakKiB = m.wallMS, m.peakKiB
	if err != nil {
		s.Error = err.Error()
		return s
	}
	if err := check(m.stdout); err != nil {
		s.Error = err.Error()
	}
	return s
}

type measured struct {
	stdout  []byte
	wallMS  float64
	peakKiB int64
}

// measure runs args under GNU time for its peak RSS: wait4's own rusage
// is no use here, because Linux carries a process's maxrss across exec and
// Go starts children with vfork, so every child would report at least
// benchrun's own RSS. GNU time forks from a small process. The wall time
// is measured here, around time's fork and exec (about a millisecond).
func measure(ctx context.Context, dir string, timeout time.Duration, args ...string) (measured, error) {
	var m measured
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rssFile := filepath.Join(dir, "maxrss")
	cmd := exec.CommandContext(ctx, "/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile}, args...)...)
	// Kill the whole group on a timeout, not only time(1).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout bytes.Buffer
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err := cmd.Run()
	m.wallMS = float64(time.Since(t0).Microseconds()) / 1000
	m.stdout = stdout.Bytes()
	if b, rerr := os.ReadFile(rssFile); rerr == nil {
		// The last line: time writes "Command exited with non-zero
		// status N" before it on failure.
		f := strings.Fields(string(b))
		if len(f) > 0 {
			m.peakKiB, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return m, fmt.Errorf("killed after %v: %s", timeout, lastLine(stderr.String()))
		}
		return m, fmt.Errorf("%v: %s", err, lastLine(stderr.String()))
	}
	return m, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// freePort picks a free TCP port on ip for aria2c to listen on.
func freePort(ip string) int {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 6881
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startup times btext --version and the tiny fetch from btext serve on
// loopback, alternately (issue 11: keep the tiny fetch within 2x of
// --version, the floor of any btext command).
func (b *bench) startup(ctx context.Context, addr string, tf torrentFile) Startup {
	st := Startup{Runs: 3 * b.c.runs}
	var version, fetch, tru []float64
	for range st.Runs {
		if ctx.Err() != nil {
			break
		}
		if m, err := measure(ctx, b.scratch, 10*time.Second, "/bin/true"); err == nil {
			tru = append(tru, m.wallMS)
		}
		if m, err := measure(ctx, b.scratch, 10*time.Second, b.c.bin, "--version"); err == nil {
			version = append(version, m.wallMS)
			st.VersionPeakKiB = max(st.VersionPeakKiB, m.peakKiB)
		}
		if s := b.fetch(ctx, "btext", addr, tf); s.Error == "" {
			fetch = append(fetch, s.WallMS)
		}
	}
	if len(version) > 0 && len(fetch) > 0 {
		st.VersionMedianMS, st.TinyMedianMS = median(version), median(fetch)
		st.Ratio = st.TinyMedianMS / st.VersionMedianMS
	}
	if len(tru) > 0 {
		st.TrueMedianMS = median(tru)
	}
	fmt.Fprintf(os.Stderr, "   btext --version %.1f ms, tiny fetch %.1f ms (medians of %d, alternating)\n", st.VersionMedianMS, st.TinyMedianMS, st.Runs)
	return st
}

// ---------------------------------------------------------------- torrents

// makeTorrents writes the test torrents: the committed demo torrent (206 B
// info dict) and single files of zeros with 2,250 and 130,000 pieces of 16
// KiB (45 KB and 2.6 MB info dicts; sparse files, so that the seeders need
// no disk, only the time to hash them).
func makeTorrents(c config) ([]torrentFile, error) {
	dir := filepath.Join(c.work, "torrents")
	var out []torrentFile
	for _, sz := range c.sizes {
		parent := filepath.Join(dir, sz.Name)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, err
		}
		tf := torrentFile{size: sz, parent: parent, path: filepath.Join(dir, sz.Name+".torrent")}
		var info []byte
		if sz.Pieces == 0 {
			file, err := os.ReadFile(filepath.Join(c.root, "testdata", "demo.torrent"))
			if err != nil {
				return nil, err
			}
			if info, err = infoOf(file); err != nil {
				return nil, fmt.Errorf("testdata/demo.torrent: %w", err)
			}
			if err := os.CopyFS(filepath.Join(parent, "demo"), os.DirFS(filepath.Join(c.root, "testdata", "demo"))); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, err
			}
			if err := os.WriteFile(tf.path, file, 0o644); err != nil {
				return nil, err
			}
		} else {
			name := "zeros-" + sz.Name + ".bin"
			length := int64(sz.Pieces) * pieceLen
			zero := sha1.Sum(make([]byte, pieceLen))
			pieces := strings.Repeat(string(zero[:]), sz.Pieces)
			// Keys in sorted order, as bencode requires.
			info = fmt.Appendf(nil, "d6:lengthi%de4:name%d:%s12:piece lengthi%de6:pieces%d:%se",
				length, len(name), name, pieceLen, len(pieces), pieces)
			f, err := os.Create(filepath.Join(parent, name))
			if err != nil {
				return nil, err
			}
			err = f.Truncate(length)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
			file := append(append([]byte("d4:info"), info...), 'e')
			if err := os.WriteFile(tf.path, file, 0o644); err != nil {
				return nil, err
			}
		}
		h := sha1.Sum(info)
		tf.ih, tf.infoBytes = hex.EncodeToString(h[:]), len(info)
		out = append(out, tf)
	}
	return out, nil
}

// infoOf returns the raw info dict of a .torrent whose last top-level key
// is "info" (the demo torrent's only key).
func infoOf(file []byte) ([]byte, error) {
	i := strings.Index(string(file), "4:infod")
	if i < 0 || file[len(file)-1] != 'e' {
		return nil, errors.New("no info dict")
	}
	info := file[i+6 : len(file)-1]
	if info[len(info)-1] != 'e' {
		return nil, errors.New("info dict is not last")
	}
	return info, nil
}

// ---------------------------------------------------------------- output

func machine() Machine {
	m := Machine{LoadAvg: loadavg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				m.NProc++
			}
		}
	}
	if out, err := exec.Command("nproc").Output(); err == nil {
		m.NProc, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		if _, v, ok := strings.Cut(l, ":"); ok {
			m.MemTotal = strings.TrimSpace(v)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// sampleLoad samples the 1-minute load average every 15 s until ctx is done.
func sampleLoad(ctx context.Context) []float64 {
	var out []float64
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
			if f := strings.Fields(loadavg()); len(f) > 0 {
				v, _ := strconv.ParseFloat(f[0], 64)
				out = append(out, v)
			}
		}
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func versions(c config) []string {
	var v []string
	add := func(name string, args ...string) {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return
		}
		l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		v = append(v, name+": "+strings.TrimSpace(l))
	}
	add("btext", c.bin, "--version")
	add("libtorrent", "/usr/bin/python3", "-c", "import libtorrent; print(libtorrent.__version__)")
	add("aria2", "aria2c", "--version")
	add("rtorrent", "sh", "-c", "dpkg-query -W -f '${Version}' rtorrent")
	add("transmission", "sh", "-c", "dpkg-query -W -f '${Version}' transmission-daemon")
	return v
}

// rewrite reads a results.json and writes everything again from it.
func rewrite(from, out string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	ratios(res.Cases)
	if err := write(out, &res); err != nil {
		return err
	}
	report(os.Stdout, &res)
	return nil
}

func write(dir string, res *Results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "results.csv"))
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"fetcher", "seeder", "size", "info_bytes", "rtt_ms", "runs", "ok", "median_wall_ms", "min_wall_ms", "max_wall_ms", "median_elapsed_ms", "peak_rss_kib", "ratio_to_btext", "skipped", "first_error"})
	for _, c := range res.Cases {
		w.Write([]string{c.Fetcher, c.Seeder, c.Size, strconv.Itoa(c.InfoBytes), strconv.Itoa(c.RTTms), strconv.Itoa(c.Runs), strconv.Itoa(c.OK),
			ff(c.MedianMS), ff(c.MinMS), ff(c.MaxMS), ff(c.MedElapsed), strconv.FormatInt(c.PeakKiB, 10), ff(c.RatioBtext), c.SkipReason, c.FirstError})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return writeChart(dir, res)
}

func ff(v float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// chartColor keeps each fetcher's colour the same in every panel.
var chartColor = map[string]string{"btext": "#7b2fbe", "libtorrent": "#2a9d8f", "aria2c": "#5dade2"}

// writeChart writes chart.dat (one gnuplot data block per seeder and size:
// a row per round trip, a column per fetcher, median seconds) and chart.gp,
// which draws them as a grid of clustered bar charts into chart.png.
func writeChart(dir string, res *Results) error {
	var seeders, sizes, fetchers []string
	var rtts []int
	for _, c := range res.Cases {
		if !slices.Contains(seeders, c.Seeder) {
			seeders = append(seeders, c.Seeder)
		}
		if !slices.Contains(sizes, c.Size) {
			sizes = append(sizes, c.Size)
		}
		if !slices.Contains(fetchers, c.Fetcher) {
			fetchers = append(fetchers, c.Fetcher)
		}
		if !slices.Contains(rtts, c.RTTms) {
			rtts = append(rtts, c.RTTms)
		}
	}
	slices.Sort(rtts)
	var dat strings.Builder
	// A case not measured (skipped or failed) gets a value far below the
	// chart's y range, not gnuplot's "missing": a column or row with no
	// valid point would be dropped, and the bars after it would move.
	fmt.Fprintf(&dat, "# median whole-process fetch time in seconds; 1e-9 = skipped or failed (drawn as no bar)\n")
	for _, sd := range seeders {
		for _, sz := range sizes {
			fmt.Fprintf(&dat, "# %s %s: rtt %s\n", sd, sz, strings.Join(fetchers, " "))
			for _, r := range rtts {
				fmt.Fprintf(&dat, "\"%d ms\"", r)
				for _, f := range fetchers {
					v := "1e-9"
					for _, c := range res.Cases {
						if c.Seeder == sd && c.Size == sz && c.Fetcher == f && c.RTTms == r && c.OK > 0 {
							v = strconv.FormatFloat(c.MedianMS/1000, 'f', 4, 64)
						}
					}
					fmt.Fprintf(&dat, " %s", v)
				}
				dat.WriteString("\n")
			}
			dat.WriteString("\n\n")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "chart.dat"), []byte(dat.String()), 0o644); err != nil {
		return err
	}
	var gp strings.Builder
	fmt.Fprintf(&gp, `# gnuplot chart.gp (in this directory) draws chart.png from chart.dat.
set terminal pngcairo size %d,%d font "sans,9" noenhanced
set output "chart.png"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [0.002:200]
set ytics ("2 ms" 0.002, "10 ms" 0.01, "0.1 s" 0.1, "1 s" 1, "10 s" 10, "100 s" 100)
set grid ytics
set key top left font ",8"
set multiplot layout %d,%d title "Metadata fetch time, whole process, median (log scale)%s"
`, 380*len(sizes)+40, 300*len(seeders)+60, len(seeders), len(sizes), map[bool]string{true: " (quick run)"}[res.Quick])
	idx := 0
	for _, sd := range seeders {
		for _, sz := range sizes {
			fmt.Fprintf(&gp, "set title \"seeder %s, %s info dict\"\n", sd, sz)
			var parts []string
			for i, f := range fetchers {
				parts = append(parts, fmt.Sprintf("'chart.dat' index %d using %d:xtic(1) title '%s' lc rgb '%s'", idx, i+2, f, chartColor[f]))
			}
			fmt.Fprintf(&gp, "plot %s\n", strings.Join(parts, ", "))
			idx++
		}
	}
	gp.WriteString("unset multiplot\n")
	return os.WriteFile(filepath.Join(dir, "chart.gp"), []byte(gp.String()), 0o644)
}

// report prints the tables (Markdown) that BENCHMARKS.md shows.
func report(w io.Writer, res *Results) {
	fmt.Fprintf(w, "\n## Metadata fetch, whole process (median of runs; peak RSS is the largest of the runs)\n\n")
	load := ""
	if l := res.Machine.Load1; len(l) > 0 {
		var sum float64
		for _, v := range l {
			sum += v
		}
		load = fmt.Sprintf(" (1-minute load during the run: %.1f to %.1f, mean %.1f, on %d CPUs)", slices.Min(l), slices.Max(l), sum/float64(len(l)), res.Machine.NProc)
	}
	fmt.Fprintf(w, "Machine: %s, nproc %d, %s RAM, load average %s at the start and %s at the end%s; %.0f s in all.\n\n",
		res.Machine.CPU, res.Machine.NProc, res.Machine.MemTotal, res.Machine.LoadAvg, res.Machine.LoadEnd, load, res.Seconds)
	var rtts []int
	for _, c := range res.Cases {
		if !slices.Contains(rtts, c.RTTms) {
			rtts = append(rtts, c.RTTms)
		}
	}
	slices.Sort(rtts)
	for _, r := range rtts {
		if r == 0 {
			fmt.Fprintf(w, "### Loopback\n\n")
		} else {
			fmt.Fprintf(w, "### %d ms round trip (scripts/relay)\n\n", r)
		}
		fmt.Fprintf(w, "| seeder | info dict | btext | btext elapsed_ms | libtorrent fetcher | ratio | aria2c | ratio | peak RSS MiB btext / lt / aria2c |\n")
		fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---|\n")
		type key struct{ seeder, size string }
		var keys []key
		for _, c := range res.Cases {
			k := key{c.Seeder, c.Size}
			if c.RTTms == r && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			get := func(f string) *Case {
				for i, c := range res.Cases {
					if c.RTTms == r && c.Seeder == k.seeder && c.Size == k.size && c.Fetcher == f {
						return &res.Cases[i]
					}
				}
				return nil
			}
			bt, lt, a2 := get("btext"), get("libtorrent"), get("aria2c")
			if runsOf(bt)+runsOf(lt)+runsOf(a2) == 0 {
				continue
			}
			var info int
			for _, c := range []*Case{bt, lt, a2} {
				if c != nil {
					info = c.InfoBytes
				}
			}
			elapsed := "—"
			if bt != nil && bt.MedElapsed > 0 {
				elapsed = fmt.Sprintf("%.1f", bt.MedElapsed)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s |\n", k.seeder, human(info),
				cell(bt), elapsed, cell(lt), ratio(lt), cell(a2), ratio(a2), rss(bt), rss(lt), rss(a2))
		}
		fmt.Fprintln(w)
	}
	var notes []string
	for _, c := range res.Cases {
		if c.SkipReason != "" && !slices.Contains(notes, c.SkipReason) {
			notes = append(notes, c.SkipReason)
		}
	}
	for _, c := range res.Cases {
		if c.FirstError != "" {
			notes = append(notes, fmt.Sprintf("%s from %s, %s, %d ms: %d of %d runs failed: %s", c.Fetcher, c.Seeder, c.Size, c.RTTms, c.Runs-c.OK, c.Runs, c.FirstError))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "Notes (— = skipped):\n\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
		fmt.Fprintln(w)
	}
	targets(w, res)
	if st := res.Startup; st.VersionMedianMS > 0 {
		fmt.Fprintf(w, "### Start-up\n\n")
		fmt.Fprintf(w, "`btext --version`: %.1f ms (median of %d), peak RSS %.1f MiB; the 200 B fetch from btext serve on loopback, run alternately with it: %.1f ms, %.2f× --version. Every wall time here includes starting GNU time (for the peak RSS): `/usr/bin/time /bin/true` takes %.1f ms.\n\n",
			st.VersionMedianMS, st.Runs, float64(st.VersionPeakKiB)/1024, st.TinyMedianMS, st.Ratio, st.TrueMedianMS)
	}
}

// targets prints issue 11's targets next to what this run measured.
func targets(w io.Writer, res *Results) {
	get := func(f, seeder, size string, rtt int) *Case {
		for i, c := range res.Cases {
			if c.Fetcher == f && c.Seeder == seeder && c.Size == size && c.RTTms == rtt && c.OK > 0 {
				return &res.Cases[i]
			}
		}
		return nil
	}
	type row struct {
		target, got string
		met         bool
	}
	var rows []row
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	if bt, lt := get("btext", "libtorrent", "200B", 0), get("libtorrent", "libtorrent", "200B", 0); bt != nil && lt != nil {
		rows = append(rows, row{"loopback, libtorrent seed, 200 B: ≥ 50× faster than libtorrent's fetcher",
			fmt.Sprintf("%s vs %s: %.1f×", secs(bt.MedianMS), secs(lt.MedianMS), lt.RatioBtext), lt.RatioBtext >= 50})
	}
	if bt := get("btext", "libtorrent", "2.6MB", 0); bt != nil {
		rows = append(rows, row{"loopback, libtorrent seed, 2.6 MB: ≤ 25 ms of btext's own time (elapsed_ms)",
			fmt.Sprintf("%.1f ms", bt.MedElapsed), bt.MedElapsed <= 25})
		if lt := get("libtorrent", "libtorrent", "2.6MB", 0); lt != nil {
			rows = append(rows, row{"loopback, libtorrent seed, 2.6 MB: ≥ 25× faster than libtorrent's fetcher, whole process",
				fmt.Sprintf("%s vs %s: %.1f×", secs(bt.MedianMS), secs(lt.MedianMS), lt.RatioBtext), lt.RatioBtext >= 25})
		}
	}
	if bt := get("btext", "libtorrent", "2.6MB", 50); bt != nil {
		rows = append(rows, row{"50 ms round trip, libtorrent seed, 2.6 MB: ≤ 0.7 s",
			secs(bt.MedianMS) + fmt.Sprintf(" (elapsed_ms %.0f)", bt.MedElapsed), bt.MedianMS <= 700})
	}
	if bt, lo := get("btext", "btext-serve", "2.6MB", 50), get("btext", "btext-serve", "2.6MB", 0); bt != nil && lo != nil {
		// The transfer is what the same fetch takes on loopback.
		limit := 6*50 + lo.MedElapsed
		rows = append(rows, row{"50 ms round trip, btext serve, 2.6 MB: ≤ 6 round trips plus transfer (6 × 50 ms + the loopback elapsed_ms)",
			fmt.Sprintf("elapsed_ms %.0f, limit %.0f: %.1f round trips", bt.MedElapsed, limit, (bt.MedElapsed-lo.MedElapsed)/50), bt.MedElapsed <= limit})
	}
	if bt := get("btext", "rtorrent", "2.6MB", 0); bt != nil {
		rows = append(rows, row{"loopback, rtorrent, 2.6 MB: ≤ 0.1 s", secs(bt.MedianMS), bt.MedianMS <= 100})
	}
	var worst *Case
	var over float64
	for i, c := range res.Cases {
		if c.Fetcher != "btext" || c.OK == 0 {
			continue
		}
		limit := float64(2*c.InfoBytes)/1024 + 16*1024 // KiB
		if o := float64(c.PeakKiB) - limit; worst == nil || o > over {
			worst, over = &res.Cases[i], o
		}
	}
	if worst != nil {
		limit := float64(2*worst.InfoBytes)/1024 + 16*1024
		rows = append(rows, row{"peak RSS ≤ 2 × metadata size + 16 MiB (every btext case)",
			fmt.Sprintf("closest to or furthest over the limit: %.1f MiB with %s (%s, %d ms), limit %.1f MiB",
				float64(worst.PeakKiB)/1024, human(worst.InfoBytes), worst.Seeder, worst.RTTms, limit/1024), over <= 0})
	}
	if st := res.Startup; st.Ratio > 0 {
		rows = append(rows, row{"200 B fetch from btext serve within 2× `btext --version`",
			fmt.Sprintf("%.1f ms vs %.1f ms: %.2f×", st.TinyMedianMS, st.VersionMedianMS, st.Ratio), st.Ratio <= 2})
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "### Issue 11's targets\n\n| target | this run | met |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s |\n", r.target, r.got, yes(r.met))
	}
	fmt.Fprintf(w, "\nServe throughput against libtorrent seeding (100 and 1,000 concurrent fetchers) is not measured here: see scripts/bench-serve.sh.\n\n")
}

func runsOf(c *Case) int {
	if c == nil {
		return 0
	}
	return c.Runs
}

func human(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 1000:
		return fmt.Sprintf("%.1f KB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func cell(c *Case) string {
	switch {
	case c == nil || c.Runs == 0:
		return "—"
	case c.OK == 0:
		return fmt.Sprintf("failed (%d)", c.Runs)
	}
	s := secs(c.MedianMS)
	if c.OK < c.Runs {
		s += fmt.Sprintf(" (%d/%d ok)", c.OK, c.Runs)
	} else {
		s += fmt.Sprintf(" (%d)", c.Runs)
	}
	return s
}

func secs(ms float64) string {
	if ms < 1000 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.2f s", ms/1000)
}

func ratio(c *Case) string {
	if c == nil || c.RatioBtext == 0 {
		return "—"
	}
	if c.RatioBtext >= 10 {
		return fmt.Sprintf("%.0f×", c.RatioBtext)
	}
	return fmt.Sprintf("%.1f×", c.RatioBtext)
}

func rss(c *Case) string {
	if c == nil || c.PeakKiB == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f", float64(c.PeakKiB)/1024)
}
