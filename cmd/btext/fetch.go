package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/btext/btext/internal/discovery"
	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

type fetchOptions struct {
	discover  discoverOptions
	discovery bool // --discover: look peers up even when some are given
	maxPeers  int
	extension string
	maxSize   int64
	output    string
	force     bool
	raw       bool
	json      bool
}

func newFetchMetadataCmd(a *app) *cobra.Command {
	var o fetchOptions
	cmd := &cobra.Command{
		Use:   "fetch-metadata INFOHASH|MAGNET [PEER...]",
		Short: "Fetch a torrent's info dictionary from peers and write a verified .torrent",
		Long: `Fetch the info dictionary of a torrent from one or more peers, over
ut_metadata (BEP 9) when a peer offers it, else libtorrent's LT_metadata,
verify it against the info hash, and write a .torrent file.

The torrent is named by a v1 info hash (40 hex or 32 base32 characters), a v2
info hash (64 hex, or 1220 + 64 hex), or a magnet URI (xt=urn:btih: and/or
xt=urn:btmh:, dn, tr, and x.pe peer addresses, which are dialled like the peer
arguments).

With no peer given (no argument, no x.pe) btext finds peers itself: every
tracker of the magnet (and --tracker) and the mainline DHT are asked at once,
and each peer is dialled the moment a source names it. With peers given,
only they are asked, unless --discover. --no-dht and --no-trackers leave a
source out; --dht-bootstrap replaces the DHT's starting nodes. See "btext
peers" to watch what the sources find.

Peers are dialled concurrently and pieces are taken from whichever answers; a
peer that stalls, rejects or lies does not sink the fetch. The number of
requests in flight adapts to each peer. A copy that fails the hash is thrown
away and fetched again, one peer at a time, until the peer that lied is found.

Nothing is written until the metadata is verified (SHA-1 for v1, SHA-256 for
v2; every hash given must match); the file is written to a temporary name and
renamed, and an existing file is never overwritten without --force.
The .torrent holds the info dictionary byte for byte, plus announce and
announce-list: the trackers that answered after a lookup (and nodes, the DHT
nodes that answered), else the magnet's tr. The default name is the torrent's name
(from dn, else from the info dictionary) or the info hash, plus .torrent
(.info with --raw).`,
		Example: `  btext fetch-metadata 'magnet:?xt=urn:btih:0c1cff1615a3bab426a5e1665f5f44f6a344e67f&tr=udp://127.0.0.1:6969/announce' --no-dht -o tracker.torrent
  btext fetch-metadata 0c1cff1615a3bab426a5e1665f5f44f6a344e67f --dht-bootstrap 127.0.0.1:6881 -o dht.torrent
  btext fetch-metadata 0c1cff1615a3bab426a5e1665f5f44f6a344e67f 127.0.0.1:6881
  btext fetch-metadata 'magnet:?xt=urn:btih:0c1cff1615a3bab426a5e1665f5f44f6a344e67f&x.pe=127.0.0.1:6881' -o from-magnet.torrent --json
  btext fetch-metadata 0c1cff1615a3bab426a5e1665f5f44f6a344e67f 127.0.0.1:6881 '[::1]:51413' --raw -o - | sha1sum`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runFetch(cmd.Context(), args[0], args[1:], o)
		},
	}
	f := cmd.Flags()
	o.discover.addFlags(f)
	f.BoolVar(&o.discovery, "discover", false, "look peers up in trackers and the DHT even when peers are given")
	f.IntVar(&o.maxPeers, "max-peers", metadata.DefaultMaxConns, "connections to peers at once")
	f.StringVar(&o.extension, "extension", "", "force ut_metadata or LT_metadata (default: ut_metadata if offered, else LT_metadata)")
	f.Int64Var(&o.maxSize, "max-metadata-size", metainfo.DefaultMaxSize, "refuse metadata larger than this many bytes")
	f.StringVarP(&o.output, "output", "o", "", `output file ("-" for stdout)`)
	f.BoolVar(&o.force, "force", false, "overwrite an existing output file")
	f.BoolVar(&o.raw, "raw", false, "write the bare info dictionary instead of a .torrent")
	f.BoolVar(&o.json, "json", false, "print a JSON report on stdout")
	completeValues(cmd, "extension", extensions.UTMetadata, extensions.LTMetadata)
	a.skeletons[cmd] = newFetchSkeleton
	return cmd
}

func (a *app) runFetch(ctx context.Context, what string, peers []string, o fetchOptions) error {
	target, err := metainfo.ParseTarget(what)
	if err != nil {
		return &usageError{err}
	}
	if o.json {
		a.result = newFetchReport(target, nil, "", nil, nil) // as far as it gets
	}
	argPeers, err := uniquePeers(peers)
	if err != nil {
		return err
	}
	args := len(argPeers)
	if peers, err = uniquePeers(append(argPeers, target.Peers...)); err != nil {
		return err
	}
	// With no peer given, every source is asked; with peers, only they
	// are, unless --discover.
	discover := len(peers) == 0 || o.discovery
	if err := o.discover.check(); err != nil {
		return err
	}
	if o.maxPeers <= 0 {
		return usagef("--max-peers must be positive")
	}
	if len(peers) == 0 && o.discover.noDHT && len(o.discover.trackerList(target)) == 0 {
		return usagef("no peer to fetch from and nothing to ask for one: give peer addresses, a magnet with x.pe or tr, --tracker, or leave the DHT on")
	}
	switch {
	case o.extension == "":
	case strings.EqualFold(o.extension, extensions.UTMetadata):
		o.extension = extensions.UTMetadata
	case strings.EqualFold(o.extension, extensions.LTMetadata):
		o.extension = extensions.LTMetadata
	default:
		return usagef("--extension %q: want %s or %s", o.extension, extensions.UTMetadata, extensions.LTMetadata)
	}
	if o.maxSize <= 0 {
		return usagef("--max-metadata-size must be positive")
	}
	if o.output == "-" && o.json {
		return usagef("--json and -o - both want stdout")
	}
	// Check the output before any peer is dialled: the explicit path, or
	// the default name when the magnet's dn already decides it.
	early := o.output
	if early == "" && safeFileName(target.Name) != "" {
		early = defaultOutput(target, &metainfo.Torrent{}, o.raw)
	}
	if early != "" && early != "-" {
		if err := checkOutput(early, o.force); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	static, err := a.resolvePeers(ctx, peers, args)
	if err != nil && !discover {
		return err
	}
	var look *discovery.Lookup
	var source <-chan metadata.PeerAddr
	if discover {
		trackers := o.discover.trackerList(target)
		d, err := a.newDiscoverer(o.discover, len(trackers) > 0, nil)
		if err != nil {
			return err
		}
		defer d.close()
		look = a.startLookup(ctx, d, target, static, trackers)
		source = peerSource(look.Peers())
	} else {
		source = peerSource(staticPeers(static))
	}
	prog := a.newProgress()
	defer prog.stop()
	if look != nil {
		prog.setSources(func() string { return progressLine(look.Progress()) })
	}
	res, err := metadata.Fetch(ctx, metadata.FetchConfig{
		Target:    target,
		Peers:     source,
		Extension: o.extension,
		MaxSize:   o.maxSize,
		MaxConns:  o.maxPeers,
		Session: extensions.Options{
			PeerID: peer.RandomPeerID(),
			Local:  extensions.Local{Client: "btext " + btextVersion()},
			Peer:   a.peerConfig(),
		},
		Progress: prog.update,
		Log:      a.log,
	})
	prog.stop()
	var found *discovery.Report
	if look != nil {
		// The stopped announces get a moment of their own, even after
		// the deadline or Ctrl-C.
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), stopAnnounceTimeout)
		r := look.Stop(sctx)
		scancel()
		found = &r
	}
	if err != nil {
		if o.json {
			a.result = newFetchReport(target, nil, "", res, found)
		}
		if found != nil && found.Peers == 0 && !errors.Is(ctx.Err(), context.Canceled) {
			return noPeersError(*found)
		}
		return fetchFailure(ctx, err, res, a.timeout)
	}
	// Fetch verified res.Info against target: its hashes are not
	// computed again.
	t, err := metainfo.ParseVerifiedInfo(res.Info, target)
	if err != nil {
		return err
	}
	out, err := fileContent(res.Info, target, found, o.raw)
	if err != nil {
		return err
	}
	path := o.output
	if path == "" {
		path = defaultOutput(target, t, o.raw)
	}
	if o.json {
		// Known from here on, even if writing fails.
		a.result = newFetchReport(target, t, "", res, found)
	}
	if path == "-" {
		for _, b := range out {
			if _, err := a.stdout.Write(b); err != nil {
				return fmt.Errorf("write stdout: %w", pathCause(err))
			}
		}
	} else if err := writeOutput(path, out, o.force); err != nil {
		return err
	}
	rep := newFetchReport(target, t, path, res, found)
	a.finish(o.json, rep, func(w io.Writer) {
		if path == "-" {
			return
		}
		fmt.Fprintf(w, "%s: %s, %d bytes of metadata, %s, %d bytes (%s), %s, from %s in %v\n",
			path, peer.Escape(t.Name), len(res.Info), plural(int64(t.Files), "file", "files"), t.TotalLength, human(t.TotalLength),
			plural(int64(t.Pieces), "piece", "pieces"), rep.source(), res.Elapsed.Round(time.Millisecond))
	})
	return nil
}

// uniquePeers checks each address and drops repeats (an argument that is
// also in the magnet's x.pe, or given twice), so each peer is dialled once.
func uniquePeers(addrs []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, p := range addrs {
		host, port, err := peer.SplitAddr(p)
		if err != nil {
			return nil, &usageError{err}
		}
		key := strings.ToLower(host)
		if ip := net.ParseIP(host); ip != nil {
			key = ip.String()
		}
		key = net.JoinHostPort(key, strconv.Itoa(int(port)))
		if !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	return out, nil
}

// summaryError is a failed fetch told in one line; it wraps the error that
// decides the exit code.
type summaryError struct {
	msg string
	err error
}

func (e *summaryError) Error() string { return e.msg }
func (e *summaryError) Unwrap() error { return e.err }

// fetchFailure names every peer's outcome when several were tried:
// "no peer delivered the metadata: 127.0.0.1:9 refused, 127.0.0.1:10 timed out".
func fetchFailure(ctx context.Context, err error, res *metadata.Result, timeout time.Duration) error {
	if res == nil || len(res.Peers) < 2 || errors.Is(ctx.Err(), context.Canceled) {
		return err
	}
	var parts []string
	for _, p := range res.Peers {
		parts = append(parts, p.Addr+" "+peerOutcome(p))
	}
	msg := "no peer delivered the metadata"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		msg += fmt.Sprintf(" within %v (--timeout)", timeout)
	}
	return &summaryError{msg: msg + ": " + strings.Join(parts, ", "), err: err}
}

// resolvePeers turns peer addresses into discovery's static peers, host
// names resolved once, here; the first nargs are arguments, the rest from
// the magnet's x.pe. A name that does not resolve is skipped (with a
// warning), unless nothing is left: then its error is the result.
func (a *app) resolvePeers(ctx context.Context, peers []string, nargs int) ([]discovery.Peer, error) {
	var out []discovery.Peer
	var skipped []string
	var errs []error
	for i, p := range peers {
		src := discovery.SourceArg
		if i >= nargs {
			src = discovery.SourceMagnet
		}
		host, port, _ := peer.SplitAddr(p) // checked by the caller
		ips, err := resolveHost(ctx, host)
		if err != nil {
			skipped, errs = append(skipped, p), append(errs, err)
			continue
		}
		for _, ip := range ips {
			out = append(out, discovery.Peer{Addr: netip.AddrPortFrom(ip, port), Source: src})
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errs[0]
	}
	for i, p := range skipped {
		a.log.Warn().Err(errs[i]).Str("peer", p).Msg("peer address skipped")
	}
	return out, nil
}

// staticPeers is a closed channel of peers.
func staticPeers(ps []discovery.Peer) <-chan discovery.Peer {
	ch := make(chan discovery.Peer, len(ps))
	for _, p := range ps {
		ch <- p
	}
	close(ch)
	return ch
}

// peerSource hands discovery's peers to the fetch, until in is closed.
func peerSource(in <-chan discovery.Peer) <-chan metadata.PeerAddr {
	out := make(chan metadata.PeerAddr)
	go func() {
		defer close(out)
		for p := range in {
			out <- metadata.PeerAddr{Addr: p.Addr, Source: p.Source}
		}
	}()
	return out
}

// resolveHost is an IP address as it is, or the addresses of a host name.
func resolveHost(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips, nil
}

// fileContent is the .torrent (or with raw, the bare info dictionary), in
// parts to be written in turn: the info dictionary is not copied into a
// whole file first. After a lookup it names the trackers and DHT nodes
// that answered, else the magnet's trackers.
func fileContent(info []byte, t metainfo.Target, found *discovery.Report, raw bool) ([][]byte, error) {
	if raw {
		return [][]byte{info}, nil
	}
	if found == nil {
		return metainfo.TorrentFileParts(info, t.Trackers)
	}
	var nodes []netip.AddrPort
	if found.DHT != nil {
		nodes = found.DHT.Nodes
	}
	return metainfo.TorrentFileParts(info, found.Answered(), nodes...)
}

// defaultOutput names the output file after the torrent: dn, else the info
// dictionary's name, made safe as a file name; else the info hash.
func defaultOutput(target metainfo.Target, t *metainfo.Torrent, raw bool) string {
	ext := ".torrent"
	if raw {
		ext = ".info"
	}
	for _, name := range []string{target.Name, t.Name} {
		if s := safeFileName(name); s != "" {
			return s + ext
		}
	}
	h := target.HandshakeHash()
	return hex.EncodeToString(h[:]) + ext
}

// safeFileName keeps a name from a peer or a magnet from escaping the
// current directory or holding control characters; "" if nothing is left.
func safeFileName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || r == 0xfffd {
			return '_'
		}
		return r
	}, strings.ToValidUTF8(name, "_"))
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if len(name) > 200 {
		name = name[:200]
	}
	return strings.ToValidUTF8(name, "")
}

// fetchReport is the --json output of fetch-metadata: an interface. What
// is not known (everything about the torrent when the fetch failed) is
// null.
type fetchReport struct {
	InfoHash     *string      `json:"info_hash"`
	InfoHashV2   *string      `json:"info_hash_v2"`
	Name         *string      `json:"name"`
	MetadataSize *int         `json:"metadata_size"`
	Files        *int         `json:"files"`
	TotalLength  *int64       `json:"total_length"`
	PieceLength  *int64       `json:"piece_length"`
	PieceCount   *int         `json:"piece_count"`
	Private      *bool        `json:"private"`
	Output       *string      `json:"output"`
	ElapsedMS    *float64     `json:"elapsed_ms"`
	Peers        []peerReport `json:"peers"`
	// Discovery is what each source did; null when only the peers given
	// were asked.
	Discovery *discoveryJSON `json:"discovery"`
	outcome
}

// peerReport is what happened with one peer.
type peerReport struct {
	Addr string `json:"addr"`
	// Source is where the address came from: "arg", "x.pe", "dht" or a
	// tracker's URL.
	Source string `json:"source"`
	// Outcome is one word or two: delivered, refused, timed out, closed,
	// rejected, ... (see peerOutcome, outcome.go).
	Outcome   string  `json:"outcome"`
	Client    *string `json:"client"`
	Extension *string `json:"extension"`
	Requested int     `json:"requested"`
	Received  int     `json:"received"`
	Rejected  int     `json:"rejected"`
	Timeouts  int     `json:"timeouts"`
	// Encryption is "none" for a plain connection, "rc4" or "plaintext"
	// after an MSE handshake; null when no connection was made.
	Encryption   *string `json:"encryption"`
	AnsweredHash *string `json:"answered_info_hash"`
	Error        *string `json:"error"`
}

func ptr[T any](v T) *T { return &v }

// nonEmpty is s, or nil when s is empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func newPeerReport(p metadata.PeerStats) peerReport {
	r := peerReport{
		Addr: p.Addr, Source: p.Source, Outcome: peerOutcome(p), Client: nonEmpty(p.Client), Extension: nonEmpty(p.Extension),
		Requested: p.Requested, Received: p.Received, Rejected: p.Rejected, Timeouts: p.Timeouts,
		AnsweredHash: nonEmpty(p.AnsweredHash), Error: nonEmpty(p.Error),
	}
	// PeerStats leaves Encryption empty both for a plain connection and
	// for none at all: a peer that said anything was connected.
	switch {
	case p.Encryption != "":
		r.Encryption = ptr(p.Encryption)
	case p.Client != "" || p.Extension != "" || p.Received > 0 || p.AnsweredHash != "":
		r.Encryption = ptr("none")
	}
	return r
}

func newFetchSkeleton() report { return &fetchReport{Peers: []peerReport{}} }

func newFetchReport(target metainfo.Target, t *metainfo.Torrent, path string, res *metadata.Result, found *discovery.Report) *fetchReport {
	rep := &fetchReport{Peers: []peerReport{}}
	if found != nil {
		rep.Discovery = newDiscoveryJSON(*found)
		if res != nil && found.FirstPeer > 0 {
			rep.Discovery.MetadataMS = ptr(ms(res.Elapsed))
		}
	}
	if path != "" {
		rep.Output = &path
	}
	if res != nil {
		rep.ElapsedMS = ptr(float64(res.Elapsed.Microseconds()) / 1000)
		for _, p := range res.Peers {
			rep.Peers = append(rep.Peers, newPeerReport(p))
		}
	}
	if target.V1 != nil {
		rep.InfoHash = ptr(target.V1.String())
	}
	if target.V2 != nil {
		rep.InfoHashV2 = ptr(hex.EncodeToString(target.V2[:]))
	}
	if t != nil {
		if t.HasV1 {
			rep.InfoHash = ptr(t.InfoHash.String())
		}
		if t.HasV2 {
			rep.InfoHashV2 = ptr(hex.EncodeToString(t.InfoHashV2[:]))
		}
		rep.Name, rep.MetadataSize, rep.Files, rep.TotalLength = ptr(peer.Escape(t.Name)), ptr(len(t.Info)), ptr(t.Files), ptr(t.TotalLength)
		rep.PieceLength, rep.PieceCount, rep.Private = ptr(t.PieceLength), ptr(t.Pieces), ptr(t.Private)
	}
	return rep
}

// source names the peers that answered.
func (r *fetchReport) source() string {
	var names []string
	for _, p := range r.Peers {
		if p.Received > 0 {
			names = append(names, fmt.Sprintf("%s (%s, %s)", p.Addr, strOrDash(p.Client), strOrDash(p.Extension)))
		}
	}
	return strings.Join(names, ", ")
}

// progress draws "metadata: 12/161 pieces, 1.5s" on stderr, redrawn
// twice a second, when stderr is a terminal and the fetch takes more than
// half a second.
type progress struct {
	// sources, if set, says what discovery has done so far.
	sources     func() string
	w           io.Writer
	start       time.Time
	mu          sync.Mutex
	m           metadata.Progress
	drawn, done bool
	quit        chan struct{}
}

func (a *app) newProgress() *progress {
	f, ok := a.stderr.(*os.File)
	if !ok {
		return &progress{done: true}
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return &progress{done: true}
	}
	p := &progress{w: f, start: time.Now(), quit: make(chan struct{})}
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) setSources(f func() string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sources = f
}

// progressLine is discovery's part of the progress line:
// "trackers 1/3 answered, 1 failed, dht 45 queries, 12 peers found".
func progressLine(p discovery.Progress) string {
	var parts []string
	if p.Trackers > 0 {
		t := fmt.Sprintf("trackers %d/%d answered", p.Answered, p.Trackers)
		if p.Failed > 0 {
			t += fmt.Sprintf(", %d failed", p.Failed)
		}
		parts = append(parts, t)
	}
	if p.DHTQueries > 0 {
		parts = append(parts, fmt.Sprintf("dht %d queries", p.DHTQueries))
	}
	return strings.Join(append(parts, plural(int64(p.Peers), "peer", "peers")+" found"), ", ")
}

func (p *progress) update(m metadata.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m = m
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	el := time.Since(p.start).Round(100 * time.Millisecond)
	var src string
	if p.sources != nil {
		src = "; " + p.sources()
	}
	peers := fmt.Sprintf("%d connected, %d delivering", p.m.Connected, p.m.Delivering)
	if p.m.Total == 0 {
		fmt.Fprintf(p.w, "\r\033[Kmetadata: connecting, %v; %s%s", el, peers, src)
	} else {
		fmt.Fprintf(p.w, "\r\033[Kmetadata: %d/%d pieces, %v; %s%s", p.m.Have, p.m.Total, el, peers, src)
	}
	p.drawn = true
}

func (p *progress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
	}
	p.done, p.drawn = true, false
	close(p.quit)
}
