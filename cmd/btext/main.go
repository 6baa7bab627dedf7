// Command btext speaks the BitTorrent extension protocol (BEP 10) to peers:
// it shows what a peer says in its handshakes, fetches and serves torrent
// metadata, and sends lt_donthave.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	code := run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	writePeakRSS(os.Getenv("BTEXT_PEAK_RSS_FILE"))
	os.Exit(code)
}

// writePeakRSS writes the process's peak resident memory in KiB (VmHWM) to
// path, for tests and benchmarks that bound btext's memory. The rusage of
// a child is no use for that: Linux carries the parent's peak across exec.
func writePeakRSS(path string) {
	if path == "" {
		return
	}
	_ = os.WriteFile(path, []byte(strconv.FormatInt(readProcStats().peakKiB, 10)+"\n"), 0o644)
}

// run executes one btext command line and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRootCmd(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(ctx, err)
	printError(stderr, err)
	return code
}
