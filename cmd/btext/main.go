// Command btext speaks the BitTorrent extension protocol (BEP 10) to peers:
// it shows what a peer says in its handshakes, fetches and serves torrent
// metadata, and sends lt_donthave.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
)

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
	// The first signal cancels ctx and ends the command gracefully; from
	// then on a signal has its default effect: a second one exits at once.
	context.AfterFunc(ctx, stop)
	out := &stickyWriter{w: stdout}
	a := &app{stdin: stdin, stdout: out, stderr: stderr, skeletons: map[*cobra.Command]func() report{}}
	root := newRootCmd(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	err = a.withHint(err)
	code := exitCode(ctx, err)
	if a.result == nil && err != nil && cmd != nil && jsonWanted(cmd) {
		// The command failed before it had a report: its keys, all null.
		if skel := a.skeletons[cmd]; skel != nil {
			a.result = skel()
		}
	}
	if a.result != nil {
		a.result.setOutcome(err, code)
		if perr := a.printJSON(a.result); perr != nil && err == nil {
			err = perr
		}
	}
	if err == nil && out.err != nil {
		err = fmt.Errorf("write stdout: %w", pathCause(out.err))
	}
	if err == nil {
		return exitOK
	}
	code = exitCode(ctx, err)
	a.printError(err, code)
	return code
}

// jsonWanted reports whether the command was given --json.
func jsonWanted(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup("json")
	return f != nil && f.Value.String() == "true"
}

// stickyWriter remembers the first write error, so that a result that
// could not be written (a full disk, a closed pipe) fails the command.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = err
	}
	return n, err
}
