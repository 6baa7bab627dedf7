// Package discovery turns an info hash into one stream of peer addresses,
// asking every source at once: addresses the user gave, the magnet's x.pe,
// every tracker (BEP 3, BEP 15) and the mainline DHT (BEP 5). Addresses
// are handed on as they arrive, deduplicated across sources, so a fetch can
// dial the first peer a tracker names while the DHT lookup is still
// walking towards the info hash.
//
// The tracker and DHT clients are passed in, not made here: one of each can
// serve many lookups at once (the DHT client's packet rate limit is global),
// which is what a batch of magnets needs.
package discovery

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/btext/btext/internal/dht"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/tracker"
)

// Sources other than a tracker, whose source is its URL.
const (
	SourceArg    = "arg"  // given on the command line
	SourceMagnet = "x.pe" // the magnet's x.pe
	SourceDHT    = "dht"
)

// Peer is an address and the source that named it first.
type Peer struct {
	Addr   netip.AddrPort
	Source string
}

// Config says what to look up and where.
type Config struct {
	InfoHash metainfo.Hash
	// Static addresses are handed on first, before any source is asked.
	Static []Peer
	// Trackers are announce URLs, asked at once (all tiers: a magnet's
	// trackers are independent more often than they are tiers of one).
	Trackers []string
	Tracker  *tracker.Client // nil: no trackers are asked
	DHT      *dht.Client     // nil: no DHT lookup
	// Announce is the announce request's template (peer id, port, left);
	// InfoHash and Event are set here.
	Announce tracker.Request
	Log      zerolog.Logger
}

// TrackerResult is what one tracker did.
type TrackerResult struct {
	URL      string
	Response *tracker.Response // nil on error
	Err      error
	Peers    int // addresses it gave that no other source had given first
	Elapsed  time.Duration
}

// DHTResult is what the DHT lookup did.
type DHTResult struct {
	Stats dht.LookupStats
	Err   error
	Peers int // addresses it gave that no other source had given first
	// Nodes are some of the nodes that answered (at most MaxNodes), for a
	// .torrent's "nodes" (BEP 5).
	Nodes []netip.AddrPort
}

// MaxNodes is how many answering DHT nodes a Report keeps.
const MaxNodes = 8

// Report is what every source did, once they are all done.
type Report struct {
	Trackers []TrackerResult // in the order of Config.Trackers
	DHT      *DHTResult      // nil when the DHT was not asked
	// Peers counts distinct addresses; FirstPeer is the time from Start to
	// the first address a tracker or the DHT gave (0 if none did).
	Peers     int
	FirstPeer time.Duration
	Elapsed   time.Duration
}

// Lookup is one running discovery.
type Lookup struct {
	cfg    Config
	start  time.Time
	out    chan Peer
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	seen   map[netip.AddrPort]bool
	report Report
}

// Start asks every source at once. Peers returns the addresses; the
// channel is closed when every source is done or ctx ends.
func Start(ctx context.Context, cfg Config) *Lookup {
	ctx, cancel := context.WithCancel(ctx)
	l := &Lookup{
		cfg: cfg, start: time.Now(), out: make(chan Peer, 64), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), seen: map[netip.AddrPort]bool{},
	}
	if cfg.Tracker != nil {
		l.report.Trackers = make([]TrackerResult, len(cfg.Trackers))
	}
	if cfg.DHT != nil {
		l.report.DHT = &DHTResult{}
	}
	go l.run()
	return l
}

// Peers is the stream of new addresses.
func (l *Lookup) Peers() <-chan Peer { return l.out }

func (l *Lookup) run() {
	defer close(l.done)
	defer close(l.out)
	for _, p := range l.cfg.Static {
		if _, ok := l.emit(p); !ok {
			return
		}
	}
	var wg sync.WaitGroup
	if l.cfg.Tracker != nil {
		for i, u := range l.cfg.Trackers {
			wg.Go(func() { l.announce(i, u) })
		}
	}
	if l.cfg.DHT != nil {
		wg.Go(l.lookupDHT)
	}
	wg.Wait()
	l.mu.Lock()
	l.report.Elapsed = time.Since(l.start)
	l.mu.Unlock()
}

func (l *Lookup) announce(i int, url string) {
	req := l.cfg.Announce
	req.InfoHash = l.cfg.InfoHash
	req.Event = tracker.Started
	t0 := time.Now()
	resp, err := l.cfg.Tracker.Announce(l.ctx, url, req)
	r := TrackerResult{URL: url, Response: resp, Err: err, Elapsed: time.Since(t0)}
	if err != nil {
		l.cfg.Log.Debug().Str("tracker", url).Err(err).Msg("announce failed")
	} else {
		l.cfg.Log.Debug().Str("tracker", url).Int("peers", len(resp.Peers)).Dur("elapsed", r.Elapsed).Msg("announce")
		for _, a := range resp.Peers {
			if a.Port() == req.Port && a.Addr().Unmap().IsLoopback() {
				continue // ourselves, as a tracker on this machine saw us
			}
			fresh, ok := l.emit(Peer{a, url})
			if fresh {
				r.Peers++
			}
			if !ok {
				break
			}
		}
	}
	l.mu.Lock()
	l.report.Trackers[i] = r
	l.mu.Unlock()
}

func (l *Lookup) lookupDHT() {
	var fresh int
	stats, err := l.cfg.DHT.GetPeers(l.ctx, l.cfg.InfoHash, func(a netip.AddrPort) {
		if ok, _ := l.emit(Peer{a, SourceDHT}); ok {
			fresh++
		}
	})
	if err != nil {
		l.cfg.Log.Debug().Err(err).Msg("dht lookup")
	}
	l.mu.Lock()
	nodes := l.cfg.DHT.GoodNodes()
	*l.report.DHT = DHTResult{Stats: stats, Err: err, Peers: fresh, Nodes: nodes[:min(len(nodes), MaxNodes)]}
	l.mu.Unlock()
}

// emit hands p on unless a source named it before (fresh says it was
// new); ok is false when the lookup is over.
func (l *Lookup) emit(p Peer) (fresh, ok bool) {
	p.Addr = normal(p.Addr)
	l.mu.Lock()
	if !p.Addr.IsValid() || p.Addr.Port() == 0 || p.Addr.Addr().IsUnspecified() || l.seen[p.Addr] {
		l.mu.Unlock()
		return false, l.ctx.Err() == nil
	}
	l.seen[p.Addr] = true
	l.report.Peers++
	if l.report.FirstPeer == 0 && p.Source != SourceArg && p.Source != SourceMagnet {
		l.report.FirstPeer = time.Since(l.start)
	}
	l.mu.Unlock()
	select {
	case l.out <- p:
		return true, true
	case <-l.ctx.Done():
		return true, false
	}
}

// normal unmaps an IPv4-mapped IPv6 address, so that one peer is one key.
func normal(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// Stop ends the lookup, tells every tracker that answered that we are gone
// (event stopped, so the swarm does not keep a peer that accepts no
// connections), within ctx, and returns the report.
func (l *Lookup) Stop(ctx context.Context) Report {
	l.cancel()
	<-l.done
	l.mu.Lock()
	rep := l.report
	rep.Trackers = append([]TrackerResult(nil), l.report.Trackers...)
	if l.report.DHT != nil {
		d := *l.report.DHT
		rep.DHT = &d
	}
	l.mu.Unlock()
	if l.cfg.Tracker == nil {
		return rep
	}
	var wg sync.WaitGroup
	for _, r := range rep.Trackers {
		if r.Err != nil || r.Response == nil {
			continue
		}
		wg.Go(func() {
			req := l.cfg.Announce
			req.InfoHash = l.cfg.InfoHash
			req.Event = tracker.Stopped
			if _, err := l.cfg.Tracker.Announce(ctx, r.URL, req); err != nil && !errors.Is(err, context.Canceled) {
				l.cfg.Log.Debug().Str("tracker", r.URL).Err(err).Msg("stopped announce")
			}
		})
	}
	wg.Wait()
	return rep
}

// Progress is a running lookup's counts so far.
type Progress struct {
	Trackers, Answered, Failed int // trackers asked; of them, done each way
	DHTQueries                 int64
	Peers                      int // distinct addresses
}

// Progress says how far the lookup has come, for a progress line.
func (l *Lookup) Progress() Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := Progress{Trackers: len(l.report.Trackers), Peers: l.report.Peers}
	for _, t := range l.report.Trackers {
		switch {
		case t.Err != nil:
			p.Failed++
		case t.Response != nil:
			p.Answered++
		}
	}
	if l.cfg.DHT != nil {
		p.DHTQueries = l.cfg.DHT.Stats().Sent
	}
	return p
}

// Answered lists the trackers that answered an announce, in order.
func (r Report) Answered() []string {
	var urls []string
	for _, t := range r.Trackers {
		if t.Err == nil && t.Response != nil {
			urls = append(urls, t.URL)
		}
	}
	return urls
}
