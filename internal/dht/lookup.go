package dht

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/btext/btext/internal/metainfo"
)

// LookupStats tells what one lookup did.
type LookupStats struct {
	// Timeouts counts queries that were not answered in time, those still
	// waiting, past slowAfter, when the lookup ended included.
	Queries, Responses, Timeouts, Errors, Peers, Nodes int
	Elapsed                                            time.Duration
	// Converged is true when the K closest nodes that answered were all
	// queried and no closer node was left to ask; false when the lookup
	// stopped at a bound or because ctx ended.
	Converged bool
	// Hops is the longest chain of referrals that produced an answer.
	Hops int
}

// TraceKind says what a TraceEvent reports.
type TraceKind int

// Trace event kinds.
const (
	TraceQuery   TraceKind = iota // a query was sent
	TraceReply                    // a node replied
	TraceTimeout                  // a node did not reply in time
	TraceError                    // a node sent a KRPC error, or the query failed
)

func (k TraceKind) String() string {
	switch k {
	case TraceQuery:
		return "query"
	case TraceReply:
		return "reply"
	case TraceTimeout:
		return "timeout"
	default:
		return "error"
	}
}

// TraceEvent is one step of a lookup, for Config.Trace.
type TraceEvent struct {
	Kind   TraceKind
	Target NodeID
	// Node is the node queried; its ID is zero while unknown (a bootstrap
	// router or cached node before it answers).
	Node Node
	// Hop is 0 for a bootstrap or cached node, h+1 for a node learnt from
	// a reply of a node at hop h.
	Hop int
	// Bits is how many leading bits the node's id shares with the target
	// (higher is closer), -1 when its id is unknown.
	Bits int
	// Values and Nodes count what a reply carried.
	Values, Nodes int
	// Err is why a query failed (TraceTimeout, TraceError).
	Err error
	// Elapsed is the time since the lookup started.
	Elapsed time.Duration
}

// ErrNoAnswer is returned by GetPeers when no node answered at all.
var ErrNoAnswer = errors.New("no dht node answered")

type candState uint8

const (
	fresh candState = iota
	inflight
	answered
	failed
)

type cand struct {
	node  Node
	known bool   // node.ID is known (learnt from a reply, or the node answered)
	dist  NodeID // node.ID xor target, when known
	seq   int    // arrival order, orders nodes of unknown id
	hop   int
	state candState
	slow  bool // in flight past slowAfter: no longer counted against alpha
	sent  time.Time
}

type result struct {
	c    *cand
	m    *message
	err  error
	slow bool // an early notice that the query is slow, not its end
}

type lookup struct {
	c      *Client
	cfg    Config
	target NodeID
	want   []any
	found  func(netip.AddrPort)
	start  time.Time

	cands  []*cand // sorted: known ids by distance, then unknown by seq
	byAddr map[netip.AddrPort]*cand
	seq    int
	dirty  bool
	peers  map[netip.AddrPort]struct{}

	active, inflight int
	maxRTT           time.Duration
	stats            LookupStats
	results          chan result
}

// seedBurst is how many queries may be in flight before any node has
// answered: bootstrap routers often have dead records, and waiting for
// each to time out alpha at a time would cost seconds.
const seedBurst = 8

// GetPeers runs an iterative get_peers lookup for ih (BEP 5) and calls found
// for each new peer address as replies bring it, from the calling
// goroutine, never twice for one address. found must not block for long:
// the lookup waits for it.
//
// It returns when the lookup converges (nil error), when a bound of Config
// is hit (nil error, Converged false), or when ctx ends (ctx's error). The
// stats are valid in every case.
func (c *Client) GetPeers(ctx context.Context, ih metainfo.Hash, found func(netip.AddrPort)) (LookupStats, error) {
	l := &lookup{
		c:       c,
		cfg:     c.cfg,
		target:  NodeID(ih),
		found:   found,
		start:   time.Now(),
		byAddr:  make(map[netip.AddrPort]*cand),
		peers:   make(map[netip.AddrPort]struct{}),
		results: make(chan result),
	}
	if c.conn4 != nil {
		l.want = append(l.want, "n4")
	}
	if c.conn6 != nil {
		l.want = append(l.want, "n6")
	}
	for _, ap := range c.seeds(ctx) {
		l.add(Node{Addr: ap}, false, 0)
	}
	if len(l.cands) == 0 {
		return l.stats, ErrNoNodes
	}
	err := l.run(ctx)
	for _, c := range l.cands {
		if c.state == inflight && c.slow {
			l.stats.Timeouts++ // abandoned when the lookup ended
		}
	}
	l.stats.Elapsed = time.Since(l.start)
	l.stats.Nodes = len(l.byAddr)
	if err == nil && l.stats.Responses == 0 {
		err = fmt.Errorf("%w (%d queried)", ErrNoAnswer, l.stats.Queries)
	}
	return l.stats, err
}

func (l *lookup) run(ctx context.Context) error {
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// Queries still in flight end with lctx; wait for them so no goroutine
	// outlives the lookup.
	defer wg.Wait()
	defer cancel()
	for {
		if l.step(lctx, &wg) {
			return nil
		}
		select {
		case r := <-l.results:
			l.handle(r)
		case <-ctx.Done():
			return ctx.Err()
		case <-l.c.done:
			return ErrClosed
		}
	}
}

// step sends what may be sent and reports whether the lookup is over.
func (l *lookup) step(ctx context.Context, wg *sync.WaitGroup) bool {
	l.sort()
	limit := l.cfg.Alpha
	if l.stats.Responses == 0 {
		limit = max(limit, seedBurst)
	}
	// Slow queries free their slot but still hold a socket entry and a
	// goroutine; this caps how many pile up behind silent nodes.
	maxInflight := 3 * max(limit, l.cfg.Alpha)
	rank, converged := 0, true
	for _, c := range l.cands {
		// A slow query neither holds a rank among the k closest nor
		// keeps the lookup from ending: silent nodes cost slowAfter, not
		// the whole timeout. Its reply still counts if it comes in time.
		if c.state == failed || (c.state == inflight && c.slow) {
			continue
		}
		if rank == l.cfg.K {
			break
		}
		rank++
		switch c.state {
		case fresh:
			converged = false
			if l.active < limit && l.inflight < maxInflight && l.stats.Queries < l.cfg.MaxQueries {
				l.send(ctx, wg, c)
			}
		case inflight:
			converged = false
		}
	}
	if converged && l.seedInFlight() {
		// A bootstrap or cached node sorts last while its id is unknown,
		// yet its reply may hold nodes closer than any seen so far.
		converged = false
	}
	if converged {
		l.stats.Converged = true
		return true
	}
	// Nothing in flight and still not converged: the query bound stopped
	// the lookup.
	return l.inflight == 0
}

func (l *lookup) seedInFlight() bool {
	for _, c := range slices.Backward(l.cands) {
		if !c.known && c.state == inflight {
			return true
		}
		if c.known {
			return false // unknown ids sort last
		}
	}
	return false
}

// slowAfter is how long a query may take before the lookup stops waiting
// for it: three times the slowest reply seen so far, between 150 ms and a
// third of the timeout (at most 500 ms), so that on loopback, where
// replies take a millisecond, silent nodes cost little.
func (l *lookup) slowAfter() time.Duration {
	hi := min(l.cfg.QueryTimeout/3, 500*time.Millisecond)
	if l.maxRTT == 0 {
		return hi
	}
	return max(min(3*l.maxRTT, hi), min(150*time.Millisecond, hi))
}

func (l *lookup) send(ctx context.Context, wg *sync.WaitGroup, c *cand) {
	c.state = inflight
	c.sent = time.Now()
	l.active++
	l.inflight++
	l.stats.Queries++
	l.trace(TraceEvent{Kind: TraceQuery}, c)
	args := map[string]any{"info_hash": string(l.target[:])}
	if len(l.want) > 0 {
		args["want"] = l.want
	}
	slowAfter := l.slowAfter()
	wg.Go(func() {
		slow := time.AfterFunc(slowAfter, func() {
			select {
			case l.results <- result{c: c, slow: true}:
			case <-ctx.Done():
			}
		})
		m, err := l.c.query(ctx, c.node.Addr, "get_peers", args)
		// A slow notice racing with the result is harmless: handle
		// ignores one for a query that is no longer in flight.
		slow.Stop()
		select {
		case l.results <- result{c: c, m: m, err: err}:
		case <-ctx.Done():
		}
	})
}

func (l *lookup) handle(r result) {
	c := r.c
	if c.state != inflight {
		return
	}
	if r.slow {
		if !c.slow {
			c.slow = true
			l.active--
		}
		return
	}
	if !c.slow {
		l.active--
	}
	l.inflight--
	if r.err != nil {
		c.state = failed
		l.dirty = true
		kind := TraceError
		var kerr *Error
		switch {
		case errors.Is(r.err, ErrTimeout):
			kind = TraceTimeout
			l.stats.Timeouts++
		case errors.As(r.err, &kerr):
			l.stats.Errors++
			l.c.log.Debug().Stringer("node", c.node.Addr).Int64("code", kerr.Code).Str("msg", kerr.Msg).Msg("dht error reply")
		default:
			l.stats.Errors++
			l.c.log.Debug().Stringer("node", c.node.Addr).Err(r.err).Msg("dht query failed")
		}
		l.trace(TraceEvent{Kind: kind, Err: r.err}, c)
		return
	}
	m := r.m
	c.state = answered
	l.maxRTT = max(l.maxRTT, time.Since(c.sent))
	if !c.known || c.node.ID != m.ID {
		// The id a node claims for itself wins over what others said.
		c.node.ID, c.known, c.dist = m.ID, true, m.ID.xor(l.target)
		l.dirty = true
	}
	l.stats.Responses++
	l.stats.Hops = max(l.stats.Hops, c.hop)
	l.c.answered(c.node)
	if len(m.Notes) > 0 {
		l.c.log.Debug().Stringer("node", c.node.Addr).Strs("skipped", m.Notes).Msg("dht reply partly ignored")
	}
	l.trace(TraceEvent{Kind: TraceReply, Values: len(m.Values), Nodes: len(m.Nodes)}, c)
	for _, p := range m.Values {
		if !usable(p) || len(l.peers) >= l.cfg.MaxPeers {
			continue
		}
		if _, dup := l.peers[p]; dup {
			continue
		}
		l.peers[p] = struct{}{}
		l.stats.Peers++
		if l.found != nil {
			l.found(p)
		}
	}
	for _, n := range m.Nodes {
		l.add(n, true, c.hop+1)
	}
	l.prune()
}

// add makes n a candidate unless its address is known already or cannot
// be queried.
func (l *lookup) add(n Node, known bool, hop int) {
	n.Addr = netip.AddrPortFrom(n.Addr.Addr().Unmap(), n.Addr.Port())
	if !usable(n.Addr) || l.byAddr[n.Addr] != nil {
		return
	}
	if known && n.ID == l.c.id {
		// Ourselves: bittorrent-dht ignores "ro" and lists us to others.
		return
	}
	if (n.Addr.Addr().Is4() && l.c.conn4 == nil) || (!n.Addr.Addr().Is4() && l.c.conn6 == nil) {
		return
	}
	c := &cand{node: n, known: known, seq: l.seq, hop: hop}
	if known {
		c.dist = n.ID.xor(l.target)
	}
	l.seq++
	l.cands = append(l.cands, c)
	l.byAddr[n.Addr] = c
	l.dirty = true
}

// prune keeps at most MaxNodes candidates by dropping the farthest ones
// that are not in flight and have not answered: a node that hands out
// endless lists cannot make the lookup hold more.
func (l *lookup) prune() {
	if len(l.cands) <= l.cfg.MaxNodes {
		return
	}
	l.sort()
	for i := len(l.cands) - 1; i >= 0 && len(l.cands) > l.cfg.MaxNodes; i-- {
		c := l.cands[i]
		if c.state == fresh || c.state == failed {
			delete(l.byAddr, c.node.Addr)
			l.cands = slices.Delete(l.cands, i, i+1)
		}
	}
}

func (l *lookup) sort() {
	if !l.dirty {
		return
	}
	l.dirty = false
	slices.SortFunc(l.cands, func(a, b *cand) int {
		switch {
		case a.known && b.known:
			return bytes.Compare(a.dist[:], b.dist[:])
		case a.known:
			return -1
		case b.known:
			return 1
		default:
			return a.seq - b.seq
		}
	})
}

func (l *lookup) trace(ev TraceEvent, c *cand) {
	if l.cfg.Trace == nil {
		return
	}
	ev.Target = l.target
	ev.Node = c.node
	ev.Hop = c.hop
	ev.Bits = -1
	if c.known {
		ev.Bits = l.target.commonBits(c.node.ID)
	}
	ev.Elapsed = time.Since(l.start)
	l.cfg.Trace(ev)
}
