package main

import (
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/btext/btext/internal/peer"
)

// app carries what every command shares: the streams and global options.
// One is made per run; there are no package-level command globals.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	logLevel  string
	logFormat string
	timeout   time.Duration
	bind      string
	encFlag   string

	encryption peer.Encryption
	log        zerolog.Logger
}

const defaultTimeout = 30 * time.Second

// setTimeFormat sets zerolog's process-wide time format once, for
// millisecond timestamps, without racing when tests run commands in parallel.
var setTimeFormat sync.Once

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "btext",
		Short: "Speak the BitTorrent extension protocol (BEP 10) to peers",
		Long: `btext talks to BitTorrent peers over the extension protocol (BEP 10): it shows
everything a peer says in its handshakes, fetches and serves torrent metadata
(ut_metadata, LT_metadata) and sends lt_donthave.

Results go to stdout (--json for scripts), logs to stderr.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd)
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	root.SetUsageTemplate(root.UsageTemplate() + "\n" + exitCodesHelp + "\n\n" + limitsHelp + "\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	f := root.PersistentFlags()
	f.StringVar(&a.logLevel, "log-level", "", "log level: trace, debug, info, warn, error (default warn; info for serve)")
	f.StringVar(&a.logFormat, "log-format", "console", "log format on stderr: console or json")
	f.DurationVar(&a.timeout, "timeout", defaultTimeout, "deadline for the whole command (serve: for each connection's handshakes)")
	f.StringVar(&a.bind, "bind", "", "local IP address to connect from")
	f.StringVar(&a.encFlag, "encryption", "", "message stream encryption (MSE/PE): off, prefer or require. Connecting (default prefer; handshake: off): prefer offers RC4 or plaintext after an MSE handshake and connects again without if the peer closes on it; require insists on RC4. serve (default prefer): accepts MSE and plain connections; off refuses MSE, require refuses plain")

	root.AddCommand(newHandshakeCmd(a), newFetchMetadataCmd(a), newDontHaveCmd(a), newServeCmd(a))
	return root
}

func (a *app) setup(cmd *cobra.Command) error {
	level := a.logLevel
	if level == "" {
		level = "warn"
		if cmd.Name() == "serve" {
			level = "info"
		}
	}
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return usagef("--log-level %q: want trace, debug, info, warn or error", a.logLevel)
	}
	var w io.Writer
	switch a.logFormat {
	case "json":
		w = a.stderr
	case "console":
		w = zerolog.ConsoleWriter{Out: a.stderr, TimeFormat: "15:04:05.000", NoColor: true}
	default:
		return usagef("--log-format %q: want console or json", a.logFormat)
	}
	if a.timeout <= 0 {
		return usagef("--timeout must be positive, got %v", a.timeout)
	}
	enc := a.encFlag
	if enc == "" {
		// prefer, as libtorrent, qBittorrent and Transmission default to, so
		// that peers that require encryption just work; handshake shows
		// the wire as it is.
		enc = "prefer"
		if cmd.Name() == "handshake" {
			enc = "off"
		}
	}
	if a.encryption, err = peer.ParseEncryption(enc); err != nil {
		return usagef("--%v", err)
	}
	setTimeFormat.Do(func() { zerolog.TimeFieldFormat = time.RFC3339Nano })
	a.log = zerolog.New(w).Level(lvl).With().Timestamp().Logger()
	return nil
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d (see --help)", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%s takes at least %d argument(s), got %d (see --help)", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}
