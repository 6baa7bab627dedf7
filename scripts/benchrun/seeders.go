package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

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
