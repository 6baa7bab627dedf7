package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

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
	case "btext", "btext-plain":
		out := filepath.Join(dir, "got.torrent")
		timeout = 150 * time.Second
		args = []string{b.c.bin, "fetch-metadata", tf.ih, addr, "-o", out, "--json", "--timeout", "140s", "--bind", src}
		if fetcher == "btext-plain" {
			args = append(args, "--encryption", "off")
		}
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
