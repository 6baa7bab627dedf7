package main

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

type serveOptions struct {
	listen    string
	maxSize   int64
	dropPiece string
	maxPeers  int
	stats     time.Duration
	procs     int
}

func newServeCmd(a *app) *cobra.Command {
	var o serveOptions
	cmd := &cobra.Command{
		Use:   "serve FILE.torrent...",
		Short: "Be a peer for the given torrents, serving their metadata",
		Long: `Listen for peers and answer the BitTorrent and extended handshakes for the
given torrents (no content files are needed). Our extended handshake offers
ut_metadata, LT_metadata and lt_donthave, with metadata_size, v, reqq and
yourip; a private torrent's metadata is not offered. A connection for an
unknown info hash is closed after its handshake.

Once listening, "listening on HOST:PORT" is printed on stdout, so scripts can
pass --listen 127.0.0.1:0 and read the port. Every connection (its
handshakes and its end) and every message received is logged on stderr
(level info), have and lt_donthave with their piece; metadata requests,
which a fetch sends by the hundred, are logged at debug level with their
answer, and counted on the connection's last line (requests, served,
refused). The answers to requests that arrive together go out in one
write. Every flag is checked before the listener opens.

Runs until SIGINT (Ctrl-C) or SIGTERM: then it closes the connections,
logs an end record ({"type":"end",...} with --log-format json), prints
"stopped: N connections, M metadata pieces served" on stdout and exits 0.
A second signal exits at once. --timeout bounds each connection's
handshakes (BT and extended); an idle connection is closed after 3 min.
--bind means nothing to serve (it does not connect): use --listen.

serve runs its Go code on one thread at a time (--procs 1), as libtorrent
runs its network on one: with a thread a core, the Go scheduler spends
more CPU a fetch waking threads than the second one saves, and one
thread answers more than a thousand fetches a second. --procs 0 leaves
it to Go: one a core, or $GOMAXPROCS.

--drop-piece N[@DURATION] makes serve announce every piece to each peer (a
bitfield) and, DURATION after the handshakes, send it lt_donthave N if it
advertises lt_donthave: a way to see a client receive one.`,
		Example: `  btext serve testdata/demo.torrent --listen 127.0.0.1:0
  btext serve testdata/demo.torrent testdata/private.torrent --listen 127.0.0.1:0 --log-format json --stats-interval 1m`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{"torrent"}, cobra.ShellCompDirectiveFilterFileExt
		},
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runServe(cmd.Context(), args, o)
		},
	}
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:6881", "address to listen on (host:port; port 0 picks a free one)")
	cmd.Flags().Int64Var(&o.maxSize, "max-torrent-size", metainfo.DefaultMaxSize, "largest .torrent file accepted, in bytes")
	cmd.Flags().IntVar(&o.maxPeers, "max-peers", metadata.DefaultMaxPeers, "most peers connected at once; more are closed at once")
	cmd.Flags().DurationVar(&o.stats, "stats-interval", 0, "log a stats line (peers, pieces served, goroutines, open files, RSS) this often; 0: never")
	cmd.Flags().IntVar(&o.procs, "procs", 1, "threads running serve's Go code at once (GOMAXPROCS); 0: one a core, or $GOMAXPROCS")
	cmd.Flags().StringVar(&o.dropPiece, "drop-piece", "", "N[@DURATION]: announce every piece (bitfield), then after DURATION (default 0) send lt_donthave N to each peer that advertises lt_donthave")
	return cmd
}

func (a *app) runServe(ctx context.Context, files []string, o serveOptions) error {
	// Everything is checked before the listener opens: a script that reads
	// "listening on" must find a server there.
	if o.maxPeers <= 0 {
		return usagef("--max-peers must be positive, got %d", o.maxPeers)
	}
	if o.procs < 0 {
		return usagef("--procs must not be negative, got %d", o.procs)
	}
	if o.stats < 0 {
		return usagef("--stats-interval must not be negative, got %v", o.stats)
	}
	if o.maxSize <= 0 {
		return usagef("--max-torrent-size must be positive, got %d", o.maxSize)
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return usagef("--listen %q: want host:port", o.listen)
	}
	var torrents []*metainfo.Torrent
	for _, f := range files {
		t, err := metainfo.LoadFile(f, o.maxSize)
		if err != nil {
			return &usageError{err}
		}
		torrents = append(torrents, t)
		ev := a.log.Info().Str("file", f).Str("name", peer.Escape(t.Name)).Int("metadata_size", len(t.Info)).Bool("private", t.Private)
		if t.HasV1 {
			ev = ev.Str("info_hash", t.InfoHash.String())
		}
		if t.HasV2 {
			ev = ev.Hex("info_hash_v2", t.InfoHashV2[:])
		}
		ev.Msg("torrent loaded")
	}
	drop, err := parseDrop(o.dropPiece, torrents)
	if err != nil {
		return err
	}
	cfg := a.peerConfig()
	cfg.ReadTimeout = metadata.DefaultIdleTimeout
	srv, err := metadata.NewServer(metadata.ServerConfig{
		Torrents:            torrents,
		PeerID:              peer.RandomPeerID(),
		Client:              "btext " + btextVersion(),
		Peer:                cfg,
		ExtHandshakeTimeout: a.timeout,
		Drop:                drop,
		MaxPeers:            o.maxPeers,
		Log:                 a.log,
	})
	if err != nil {
		return &usageError{err}
	}
	// No TCP keep-alives: an idle peer is closed after DefaultIdleTimeout
	// anyway, and turning them on costs four system calls a connection.
	ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(ctx, "tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if _, err := fmt.Fprintf(a.stdout, "listening on %s\n", ln.Addr()); err != nil {
		ln.Close()
		return fmt.Errorf("write stdout: %w", pathCause(err))
	}
	if o.procs > 0 {
		// Serving is mostly the kernel's work and a little Go code a
		// message: with a second thread the Go scheduler spends more CPU
		// waking threads and looking for goroutines to run than the
		// second thread saves (docs/serve.md).
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.procs))
	}
	if o.stats > 0 {
		go a.logStats(ctx, srv, o.stats)
	}
	err = srv.Serve(ctx, ln)
	// The end of the log stream, on every ending: the counters and why.
	st := srv.Stats()
	reason := "interrupted"
	if err != nil {
		reason = "error"
	}
	a.logStatsOnce(srv)
	ev := a.log.Info()
	if err != nil {
		ev = a.log.Error().Str("error", errorLine(err))
	}
	ev.Str("type", "end").Str("reason", reason).Int64("connections", st.Accepted).Int64("pieces_served", st.Pieces).
		Int("exit_code", exitCode(ctx, err)).Msg("stopped")
	if err != nil {
		return err
	}
	// SIGINT or SIGTERM: a graceful stop, exit 0, as a server should.
	_, err = fmt.Fprintf(a.stdout, "stopped: %s, %s served\n",
		plural(st.Accepted, "connection", "connections"), plural(st.Pieces, "metadata piece", "metadata pieces"))
	return err
}

// parseDrop reads --drop-piece N[@DURATION] and checks N against every
// torrent's piece count.
func parseDrop(s string, torrents []*metainfo.Torrent) (*metadata.DropPiece, error) {
	if s == "" {
		return nil, nil
	}
	num, after, hasAfter := strings.Cut(s, "@")
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return nil, usagef("--drop-piece %q: want N or N@DURATION", s)
	}
	d := &metadata.DropPiece{Piece: uint32(n)}
	if hasAfter {
		if d.After, err = time.ParseDuration(after); err != nil || d.After < 0 {
			return nil, usagef("--drop-piece %q: bad duration %q", s, after)
		}
	}
	for _, t := range torrents {
		if int64(n) >= int64(t.Pieces) {
			return nil, usagef("--drop-piece %d: %s has %d pieces", n, peer.Escape(t.Name), t.Pieces)
		}
	}
	return d, nil
}

// logStats logs the server's counters and the process's resources every d.
func (a *app) logStats(ctx context.Context, srv *metadata.Server, d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.logStatsOnce(srv)
		}
	}
}

func (a *app) logStatsOnce(srv *metadata.Server) {
	st := srv.Stats()
	ps := readProcStats()
	a.log.Info().Int64("active", st.Active).Int64("accepted", st.Accepted).Int64("refused", st.Refused).
		Int64("pieces", st.Pieces).Int64("rejects", st.Rejects).Int("goroutines", runtime.NumGoroutine()).Int("procs", runtime.GOMAXPROCS(0)).
		Int("fds", ps.fds).Int64("rss_kib", ps.rssKiB).Int64("peak_rss_kib", ps.peakKiB).Msg("stats")
}
