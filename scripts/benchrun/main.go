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
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
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

// btext-plain is btext with --encryption off: btext and libtorrent's
// fetcher negotiate MSE by default, which costs a round trip; this shows
// what it costs.
var allFetchers = []string{"btext", "btext-plain", "libtorrent", "aria2c"}

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
	if fetcher == "btext-plain" {
		if seeder == "transmission" || seeder == "aria2" {
			return 0, "btext --encryption off: not from Transmission and aria2, whose own waits (seconds) dominate"
		}
		if rtt > 0 && rtt != longest {
			return 0, "btext --encryption off: loopback and the longest round trip only"
		}
		return c.runs, ""
	}
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
