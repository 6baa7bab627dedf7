package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

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
var chartColor = map[string]string{"btext": "#7b2fbe", "btext-plain": "#c9a0ef", "libtorrent": "#2a9d8f", "aria2c": "#5dade2"}

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
		fmt.Fprintf(w, "| seeder | info dict | btext | btext elapsed_ms | btext --encryption off (elapsed_ms) | libtorrent fetcher | ratio | aria2c | ratio | peak RSS MiB btext / lt / aria2c |\n")
		fmt.Fprintf(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
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
			bt, bp, lt, a2 := get("btext"), get("btext-plain"), get("libtorrent"), get("aria2c")
			if runsOf(bt)+runsOf(bp)+runsOf(lt)+runsOf(a2) == 0 {
				continue
			}
			var info int
			for _, c := range []*Case{bt, bp, lt, a2} {
				if c != nil {
					info = c.InfoBytes
				}
			}
			elapsed := "—"
			if bt != nil && bt.MedElapsed > 0 {
				elapsed = fmt.Sprintf("%.1f", bt.MedElapsed)
			}
			plain := "—"
			if bp != nil && bp.OK > 0 {
				plain = fmt.Sprintf("%s (%.1f)", secs(bp.MedianMS), bp.MedElapsed)
			} else if bp != nil && bp.Runs > 0 {
				plain = cell(bp)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s |\n", k.seeder, human(info),
				cell(bt), elapsed, plain, cell(lt), ratio(lt), cell(a2), ratio(a2), rss(bt), rss(lt), rss(a2))
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
