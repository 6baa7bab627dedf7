package main

import (
	"fmt"
	"io"
	"net"
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

	// result is the command's --json report, printed by run with the
	// error and exit code once they are known; skeletons make the report
	// of a command that failed before it had one (every key null).
	result    report
	skeletons map[*cobra.Command]func() report
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
		Version:       btextVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// An unknown command is a usage error (exit 2), like a bad flag.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return unknownCommand(cmd, args[0])
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd)
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetIn(a.stdin)
	root.SetVersionTemplate(versionText())
	defaultHelp := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		// cobra prints its own failure to write the help; run reports a
		// failed write to stdout once, as for any result.
		c.SetErr(io.Discard)
		defer c.SetErr(a.stderr)
		defaultHelp(c, args)
	})
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	f := root.PersistentFlags()
	f.StringVar(&a.logLevel, "log-level", "", "log level: trace, debug, info, warn, error (default warn; info for serve)")
	f.StringVar(&a.logFormat, "log-format", "console", "log format on stderr: console or json")
	f.DurationVar(&a.timeout, "timeout", defaultTimeout, "deadline for the whole command (serve: for each connection's handshakes)")
	f.StringVar(&a.bind, "bind", "", "local IP address to connect from (not for serve: use --listen)")
	f.StringVar(&a.encFlag, "encryption", "", "message stream encryption (MSE/PE): off, prefer or require. Connecting (default prefer; handshake: off): prefer offers RC4 or plaintext after an MSE handshake and connects again without if the peer closes on it; require insists on RC4. serve (default prefer): accepts MSE and plain connections; off refuses MSE, require refuses plain")
	completeValues(root, "log-level", "trace", "debug", "info", "warn", "error")
	completeValues(root, "log-format", "console", "json")
	completeValues(root, "encryption", "off", "prefer", "require")

	root.AddCommand(newHandshakeCmd(a), newFetchMetadataCmd(a), newDontHaveCmd(a), newServeCmd(a),
		newPeersCmd(a), newTrackerCmd(a), newDHTCmd(a), newGenManCmd())
	root.SetHelpCommand(newHelpCmd())
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			// cobra's completion command prints its help, exit 0, for a
			// shell it does not know.
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 {
					return usagef("completion %q: want bash, zsh, fish or powershell", args[0])
				}
				return cmd.Help()
			}
		}
	}
	// The exit codes and limits close btext --help, and only it: each
	// command's help keeps cobra's plain template.
	plain := root.UsageTemplate()
	for _, c := range root.Commands() {
		c.SetUsageTemplate(plain)
	}
	root.SetUsageTemplate(plain + "\n" + exitCodesHelp + "\n\n" + limitsHelp + "\n")
	return root
}

// completeValues offers the values of an enum flag to shell completion.
func completeValues(cmd *cobra.Command, flag string, values ...string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += " (did you mean " + strings.Join(s, " or ") + "?)"
	}
	return usagef("%s; see btext --help", msg)
}

// helpTopics are the help pages that are not commands.
var helpTopics = map[string]string{
	"exit-codes": exitCodesHelp,
	"limits":     limitsHelp,
}

// newHelpCmd is cobra's help command, with topics, and a usage error (exit
// 2) for an unknown one rather than a message and exit 0.
func newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command | exit-codes | limits]",
		Short: "Help about any command, the exit codes or the limits",
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []string
			for _, sub := range c.Root().Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name()+"\t"+sub.Short)
				}
			}
			names = append(names, "exit-codes\tthe exit codes", "limits\tthe limits and timeouts")
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				if text, ok := helpTopics[args[0]]; ok {
					_, err := fmt.Fprintln(c.OutOrStdout(), text)
					return err
				}
			}
			cmd, rest, err := c.Root().Find(args)
			if err != nil || cmd == nil || len(rest) > 0 {
				return usagef("no help topic %q: see btext --help", strings.Join(args, " "))
			}
			return cmd.Help()
		},
	}
}

func versionText() string {
	var b strings.Builder
	writeVersion(&b)
	return strings.ReplaceAll(b.String(), "{{", "{{`{{`}}")
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
		w = newConsoleWriter(a.stderr, "15:04:05.000") // zerolog.ConsoleWriter's format, faster
	default:
		return usagef("--log-format %q: want console or json", a.logFormat)
	}
	if a.bind != "" {
		if cmd.Name() == "serve" {
			return usagef("--bind: serve does not connect to peers; --listen sets its address")
		}
		if net.ParseIP(a.bind) == nil {
			return usagef("--bind %q: want a local IP address", a.bind)
		}
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
