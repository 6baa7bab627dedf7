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
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

type fetchOptions struct {
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
		Use:   "fetch-metadata <infohash|magnet> [peer...]",
		Short: "Fetch a torrent's info dictionary from peers and write a verified .torrent",
		Long: `Fetch the info dictionary of a torrent from one or more peers, over
ut_metadata (BEP 9) when a peer offers it, else libtorrent's LT_metadata,
verify it against the info hash, and write a .torrent file.

The torrent is named by a v1 info hash (40 hex or 32 base32 characters), a v2
info hash (64 hex, or 1220 + 64 hex), or a magnet URI (xt=urn:btih: and/or
xt=urn:btmh:, dn, tr, and x.pe peer addresses, which are dialled like the peer
arguments). At least one peer is needed.

Peers are dialled concurrently and pieces are taken from whichever answers; a
peer that stalls, rejects or lies does not sink the fetch. The number of
requests in flight adapts to each peer. A copy that fails the hash is thrown
away and fetched again, one peer at a time, until the peer that lied is found.

Nothing is written until the metadata is verified (SHA-1 for v1, SHA-256 for
v2; every hash given must match); the file is written to a temporary name and
renamed, and an existing file is never overwritten without --force.
The .torrent holds the info dictionary byte for byte, plus announce and
announce-list from the magnet's tr. The default name is the torrent's name
(from dn, else from the info dictionary) or the info hash, plus .torrent
(.info with --raw).`,
		Example: `  btext fetch-metadata 0c1cff1615a3bab426a5e1665f5f44f6a344e67f 127.0.0.1:6881
  btext fetch-metadata 'magnet:?xt=urn:btih:0c1cff1615a3bab426a5e1665f5f44f6a344e67f&x.pe=127.0.0.1:6881' -o demo.torrent
  btext fetch-metadata HASH 127.0.0.1:6881 '[::1]:51413' --json -o -`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runFetch(cmd.Context(), args[0], args[1:], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.extension, "extension", "", "force ut_metadata or LT_metadata (default: ut_metadata if offered, else LT_metadata)")
	f.Int64Var(&o.maxSize, "max-metadata-size", metainfo.DefaultMaxSize, "refuse metadata larger than this many bytes")
	f.StringVarP(&o.output, "output", "o", "", `output file ("-" for stdout)`)
	f.BoolVar(&o.force, "force", false, "overwrite an existing output file")
	f.BoolVar(&o.raw, "raw", false, "write the bare info dictionary instead of a .torrent")
	f.BoolVar(&o.json, "json", false, "print a JSON report on stdout")
	return cmd
}

func (a *app) runFetch(ctx context.Context, what string, peers []string, o fetchOptions) error {
	target, err := metainfo.ParseTarget(what)
	if err != nil {
		return &usageError{err}
	}
	args := len(peers)
	peers = append(peers, target.Peers...)
	if len(peers) == 0 {
		return usagef("no peer to fetch from: give peer addresses or a magnet with x.pe")
	}
	for _, p := range peers {
		if _, _, err := peer.SplitAddr(p); err != nil {
			return &usageError{err}
		}
	}
	switch o.extension {
	case "", extensions.UTMetadata, extensions.LTMetadata:
	default:
		return usagef("--extension %q: want %s or %s", o.extension, extensions.UTMetadata, extensions.LTMetadata)
	}
	if o.maxSize <= 0 {
		return usagef("--max-metadata-size must be positive")
	}
	if o.output == "-" && o.json {
		return usagef("--json and -o - both want stdout")
	}
	// Refuse an existing explicit output before any network work.
	if o.output != "" && o.output != "-" && !o.force {
		if _, err := os.Stat(o.output); err == nil {
			return usagef("%s exists (use --force to overwrite)", o.output)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	source, err := a.resolvePeers(ctx, peers, args)
	if err != nil {
		return err
	}
	prog := a.newProgress()
	defer prog.stop()
	res, err := metadata.Fetch(ctx, metadata.FetchConfig{
		Target:    target,
		Peers:     source,
		Extension: o.extension,
		MaxSize:   o.maxSize,
		Session: extensions.Options{
			PeerID: peer.RandomPeerID(),
			Local:  extensions.Local{Client: "btext " + version},
			Peer:   a.peerConfig(),
		},
		Progress: prog.update,
		Log:      a.log,
	})
	prog.stop()
	if err != nil {
		if o.json && res != nil {
			_ = a.print(true, newFetchReport(target, nil, "", res, err), nil)
		}
		return err
	}
	t, err := metainfo.ParseInfo(res.Info)
	if err != nil {
		return err
	}
	out, err := fileContent(res.Info, target, o.raw)
	if err != nil {
		return err
	}
	path := o.output
	if path == "" {
		path = defaultOutput(target, t, o.raw)
	}
	if path == "-" {
		if _, err := a.stdout.Write(out); err != nil {
			return err
		}
	} else if err := writeFileAtomic(path, out, o.force); err != nil {
		return err
	}
	rep := newFetchReport(target, t, path, res, nil)
	return a.print(o.json, rep, func(w io.Writer) {
		if path == "-" {
			return
		}
		fmt.Fprintf(w, "%s: %s, %d bytes of metadata, %d files, %d bytes, %d pieces, from %s in %v\n",
			path, peer.Escape(t.Name), len(res.Info), t.Files, t.TotalLength, t.Pieces, rep.source(), res.Elapsed.Round(time.Millisecond))
	})
}

// resolvePeers turns peer addresses into a peer source, host names
// resolved once, here; the first nargs are arguments, the rest from the
// magnet's x.pe. A name that does not resolve is skipped (with a warning),
// unless nothing is left: then its error is the result.
func (a *app) resolvePeers(ctx context.Context, peers []string, nargs int) (<-chan metadata.PeerAddr, error) {
	var addrs []metadata.PeerAddr
	var skipped []string
	var errs []error
	for i, p := range peers {
		src := "arg"
		if i >= nargs {
			src = "x.pe"
		}
		host, port, _ := peer.SplitAddr(p) // checked by the caller
		ips, err := resolveHost(ctx, host)
		if err != nil {
			skipped, errs = append(skipped, p), append(errs, err)
			continue
		}
		for _, ip := range ips {
			addrs = append(addrs, metadata.PeerAddr{Addr: netip.AddrPortFrom(ip, port), Source: src})
		}
	}
	if len(addrs) == 0 {
		return nil, errs[0]
	}
	for i, p := range skipped {
		a.log.Warn().Err(errs[i]).Str("peer", p).Msg("peer address skipped")
	}
	ch := make(chan metadata.PeerAddr, len(addrs))
	for _, pa := range addrs {
		ch <- pa
	}
	close(ch)
	return ch, nil
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

// fileContent is the .torrent (or with raw, the bare info dictionary).
func fileContent(info []byte, t metainfo.Target, raw bool) ([]byte, error) {
	if raw {
		return info, nil
	}
	return metainfo.TorrentFile(info, t.Trackers)
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

// writeFileAtomic writes b to a temporary file beside path and moves it
// into place, so that path is never left half-written; without force an
// existing path is never replaced, even if it appeared meanwhile.
func writeFileAtomic(path string, b []byte, force bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".btext-*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_ = os.Chmod(tmp.Name(), 0o644)
	if force {
		return os.Rename(tmp.Name(), path)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return usagef("%s exists (use --force to overwrite)", path)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// fetchReport is the --json output of fetch-metadata: an interface.
type fetchReport struct {
	InfoHash     string               `json:"info_hash,omitempty"`
	InfoHashV2   string               `json:"info_hash_v2,omitempty"`
	Name         string               `json:"name"`
	MetadataSize int                  `json:"metadata_size"`
	Files        int                  `json:"files"`
	TotalLength  int64                `json:"total_length"`
	PieceLength  int64                `json:"piece_length"`
	Pieces       int                  `json:"pieces"`
	Private      bool                 `json:"private"`
	Output       string               `json:"output"`
	ElapsedMS    float64              `json:"elapsed_ms"`
	Error        string               `json:"error,omitempty"`
	Peers        []metadata.PeerStats `json:"peers"`
}

func newFetchReport(target metainfo.Target, t *metainfo.Torrent, path string, res *metadata.Result, err error) *fetchReport {
	rep := &fetchReport{Output: path, Peers: res.Peers, ElapsedMS: float64(res.Elapsed.Microseconds()) / 1000}
	if target.V1 != nil {
		rep.InfoHash = target.V1.String()
	}
	if target.V2 != nil {
		rep.InfoHashV2 = hex.EncodeToString(target.V2[:])
	}
	if t != nil {
		if t.HasV1 {
			rep.InfoHash = t.InfoHash.String()
		}
		if t.HasV2 {
			rep.InfoHashV2 = hex.EncodeToString(t.InfoHashV2[:])
		}
		rep.Name, rep.MetadataSize, rep.Files, rep.TotalLength = peer.Escape(t.Name), len(t.Info), t.Files, t.TotalLength
		rep.PieceLength, rep.Pieces, rep.Private = t.PieceLength, t.Pieces, t.Private
	}
	if err != nil {
		rep.Error = err.Error()
	}
	return rep
}

// source names the peers that answered.
func (r *fetchReport) source() string {
	var names []string
	for _, p := range r.Peers {
		if p.Received > 0 {
			names = append(names, fmt.Sprintf("%s (%s, %s)", p.Addr, orDash(p.Client), p.Extension))
		}
	}
	return strings.Join(names, ", ")
}

// progress draws "metadata: 12/161 pieces, 1.5s" on stderr, redrawn
// twice a second, when stderr is a terminal and the fetch takes more than
// half a second.
type progress struct {
	w           io.Writer
	start       time.Time
	mu          sync.Mutex
	have, total int
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

func (p *progress) update(have, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.have, p.total = have, total
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	el := time.Since(p.start).Round(100 * time.Millisecond)
	if p.total == 0 {
		fmt.Fprintf(p.w, "\r\033[Kmetadata: connecting, %v", el)
	} else {
		fmt.Fprintf(p.w, "\r\033[Kmetadata: %d/%d pieces, %v", p.have, p.total, el)
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
