package dht

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// DefaultBootstrap lists the routers a lookup starts from when
// Config.Bootstrap is nil. Every A and AAAA record of each is tried: some
// have dead records among live ones.
var DefaultBootstrap = []string{
	"dht.libtorrent.org:25401",
	"dht.transmissionbt.com:6881",
	"router.bittorrent.com:6881",
	"router.utorrent.com:6881",
	"router.bt.ouinet.work:6881",
}

// Defaults for the zero fields of Config.
const (
	DefaultPacketRate   = 250
	DefaultAlpha        = 4
	DefaultK            = 8
	DefaultQueryTimeout = 1500 * time.Millisecond
	DefaultMaxQueries   = 1000
	DefaultMaxNodes     = 2000
	DefaultMaxPeers     = 10000
)

// Bounds on what the client keeps across lookups.
const (
	maxGoodNodes  = 1024 // nodes that answered, most recent first
	maxCacheNodes = 256  // lines read from or written to the cache file
	maxPacket     = 65535
)

// Off as Listen4 or Listen6 opens no socket for that family.
const Off = "off"

// Config configures a Client. The zero value works: default bootstrap
// routers, no cache, both families, 250 packets/s.
type Config struct {
	// Bootstrap lists host:port routers to start lookups from; every
	// A/AAAA record of each is queried. nil means DefaultBootstrap; an
	// empty non-nil slice means none (the cache only).
	Bootstrap []string
	// CachePath is a file of nodes that answered, read by New and written
	// by SaveCache; "" keeps no cache.
	CachePath string
	// Listen4 and Listen6 are the local addresses of the two sockets; ""
	// is ":0", Off opens none. A family whose socket cannot open is
	// skipped (New fails only when neither opens).
	Listen4, Listen6 string
	// PacketRate limits the packets sent a second, by all lookups together.
	PacketRate int
	// Alpha is the number of queries a lookup keeps in flight; K is the
	// number of closest nodes that must have answered for it to end.
	Alpha, K int
	// QueryTimeout is how long one query waits for its reply.
	QueryTimeout time.Duration
	// MaxQueries, MaxNodes and MaxPeers bound one lookup: queries sent,
	// candidate nodes held, distinct peers reported.
	MaxQueries, MaxNodes, MaxPeers int
	// Log receives debug traces of the wire; the zero Logger discards.
	Log zerolog.Logger
	// Trace, when set, is called for every step of a lookup (btext dht
	// get-peers -v), from the lookup's goroutine.
	Trace func(TraceEvent)
}

func (c Config) withDefaults() Config {
	if c.Bootstrap == nil {
		c.Bootstrap = DefaultBootstrap
	}
	if c.PacketRate <= 0 {
		c.PacketRate = DefaultPacketRate
	}
	if c.Alpha <= 0 {
		c.Alpha = DefaultAlpha
	}
	if c.K <= 0 {
		c.K = DefaultK
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = DefaultQueryTimeout
	}
	if c.MaxQueries <= 0 {
		c.MaxQueries = DefaultMaxQueries
	}
	if c.MaxNodes <= 0 {
		c.MaxNodes = DefaultMaxNodes
	}
	if c.MaxPeers <= 0 {
		c.MaxPeers = DefaultMaxPeers
	}
	return c
}

// Errors callers may branch on.
var (
	ErrTimeout  = errors.New("dht query timed out")
	ErrClosed   = errors.New("dht client closed")
	ErrNoNodes  = errors.New("no dht node to start from")
	ErrNoSocket = errors.New("no socket for the address family")
)

// ClientStats counts what the client's sockets did, over all lookups.
type ClientStats struct {
	Sent, Received int64
	// Stray replies matched no query in flight; WrongSource replies carried
	// a live transaction id but came from another address than the one
	// queried; Malformed datagrams were not KRPC.
	Stray, WrongSource, Malformed int64
}

// Client is a read-only DHT node (BEP 43): it sends queries and answers
// none. One Client serves any number of concurrent lookups over one UDP
// socket per address family, under one packet-rate limit.
type Client struct {
	cfg   Config
	log   zerolog.Logger
	id    NodeID
	conn4 *net.UDPConn
	conn6 *net.UDPConn
	limit *bucket

	mu      sync.Mutex
	pending map[string]*call
	good    []Node // answered, most recent first, at most maxGoodNodes
	closed  bool

	bootMu   sync.Mutex
	boot     []netip.AddrPort
	bootDone bool
	cached   []netip.AddrPort

	done chan struct{}
	wg   sync.WaitGroup

	sent, received, stray, wrongSource, malformed atomic.Int64
}

type call struct {
	addr  netip.AddrPort
	reply chan *message // buffered, 1
}

// New opens the sockets and reads the cache. Bootstrap names are resolved
// by the first lookup, once.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	c := &Client{
		cfg:     cfg,
		log:     cfg.Log,
		limit:   newBucket(cfg.PacketRate, time.Now),
		pending: make(map[string]*call),
		done:    make(chan struct{}),
	}
	rand.Read(c.id[:])
	var errs []error
	var err error
	if c.conn4, err = listen("udp4", cfg.Listen4); err != nil {
		errs = append(errs, err)
	}
	if c.conn6, err = listen("udp6", cfg.Listen6); err != nil {
		errs = append(errs, err)
	}
	if c.conn4 == nil && c.conn6 == nil {
		if len(errs) == 0 {
			return nil, fmt.Errorf("dht: both address families are off")
		}
		return nil, fmt.Errorf("dht: %w", errors.Join(errs...))
	}
	for _, e := range errs {
		c.log.Debug().Err(e).Msg("dht socket skipped")
	}
	if cfg.CachePath != "" {
		nodes, err := loadCache(cfg.CachePath)
		if err != nil {
			// A broken cache costs a slower start, not the lookup.
			c.log.Debug().Err(err).Str("path", cfg.CachePath).Msg("dht cache not read")
		}
		c.cached = nodes
	}
	for _, conn := range []*net.UDPConn{c.conn4, c.conn6} {
		if conn != nil {
			c.wg.Add(1)
			go c.readLoop(conn)
		}
	}
	return c, nil
}

func listen(network, addr string) (*net.UDPConn, error) {
	if addr == Off {
		return nil, nil
	}
	if addr == "" {
		addr = ":0"
	}
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", network, addr, err)
	}
	conn, err := net.ListenUDP(network, ua)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", network, err)
	}
	return conn, nil
}

// ID is the client's random node id, sent in every query.
func (c *Client) ID() NodeID { return c.id }

// LocalAddrs lists the addresses of the open sockets.
func (c *Client) LocalAddrs() []netip.AddrPort {
	var out []netip.AddrPort
	for _, conn := range []*net.UDPConn{c.conn4, c.conn6} {
		if conn != nil {
			out = append(out, conn.LocalAddr().(*net.UDPAddr).AddrPort())
		}
	}
	return out
}

// Stats returns the client's socket counters.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Sent: c.sent.Load(), Received: c.received.Load(),
		Stray: c.stray.Load(), WrongSource: c.wrongSource.Load(), Malformed: c.malformed.Load(),
	}
}

// Close closes the sockets; queries in flight end with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.done)
	var errs []error
	for _, conn := range []*net.UDPConn{c.conn4, c.conn6} {
		if conn != nil {
			errs = append(errs, conn.Close())
		}
	}
	c.wg.Wait()
	return errors.Join(errs...)
}

func (c *Client) readLoop(conn *net.UDPConn) {
	defer c.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-c.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// ICMP errors surface here on some systems; the query they
			// belong to times out on its own.
			c.log.Debug().Err(err).Msg("dht read")
			continue
		}
		c.received.Add(1)
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		m, err := parseMessage(buf[:n])
		if err != nil {
			c.malformed.Add(1)
			c.log.Debug().Err(err).Stringer("from", from).Int("len", n).Msg("dht datagram dropped")
			continue
		}
		if m.Y == 'q' {
			continue // read-only: we answer nobody
		}
		c.deliver(m, from)
	}
}

// deliver hands a reply to the query it answers: same transaction id and
// same address as queried, or it is dropped.
func (c *Client) deliver(m *message, from netip.AddrPort) {
	c.mu.Lock()
	p := c.pending[m.T]
	if p != nil && p.addr == from {
		delete(c.pending, m.T)
	}
	c.mu.Unlock()
	switch {
	case p == nil:
		c.stray.Add(1)
		c.log.Debug().Stringer("from", from).Hex("t", []byte(m.T)).Msg("dht reply matches no query")
	case p.addr != from:
		c.wrongSource.Add(1)
		c.log.Debug().Stringer("from", from).Stringer("queried", p.addr).Msg("dht reply from another address")
	default:
		p.reply <- m
	}
}

// query sends one query to addr and waits for its reply, at most
// QueryTimeout. A KRPC error reply is returned as *Error.
func (c *Client) query(ctx context.Context, addr netip.AddrPort, method string, args map[string]any) (*message, error) {
	conn := c.conn4
	if !addr.Addr().Is4() {
		conn = c.conn6
	}
	if conn == nil {
		return nil, ErrNoSocket
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	qctx, cancel := context.WithTimeoutCause(ctx, c.cfg.QueryTimeout, ErrTimeout)
	defer cancel()
	// ended says why qctx ended: the caller's ctx, or this query's timeout.
	ended := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return context.Cause(qctx)
	}
	if err := c.limit.wait(qctx); err != nil {
		return nil, ended()
	}
	p := &call{addr: addr, reply: make(chan *message, 1)}
	tid, err := c.register(p)
	if err != nil {
		return nil, err
	}
	defer c.unregister(tid)
	args["id"] = string(c.id[:])
	pkt, err := appendQuery(make([]byte, 0, 128), tid, method, args)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", method, err)
	}
	if _, err := conn.WriteToUDPAddrPort(pkt, addr); err != nil {
		return nil, fmt.Errorf("send %s to %s: %w", method, addr, err)
	}
	c.sent.Add(1)
	select {
	case m := <-p.reply:
		if m.Y == 'e' {
			return nil, m.Err
		}
		return m, nil
	case <-qctx.Done():
		return nil, ended()
	case <-c.done:
		return nil, ErrClosed
	}
}

// register picks a random 4-byte transaction id no query in flight uses.
func (c *Client) register(p *call) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", ErrClosed
	}
	var b [4]byte
	for {
		rand.Read(b[:])
		if _, used := c.pending[string(b[:])]; !used {
			c.pending[string(b[:])] = p
			return string(b[:]), nil
		}
	}
}

func (c *Client) unregister(tid string) {
	c.mu.Lock()
	delete(c.pending, tid)
	c.mu.Unlock()
}

// answered records a node that replied, for GoodNodes and the cache.
func (c *Client) answered(n Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.IndexFunc(c.good, func(g Node) bool { return g.Addr == n.Addr }); i >= 0 {
		c.good = slices.Delete(c.good, i, i+1)
	}
	c.good = slices.Insert(c.good, 0, n)
	if len(c.good) > maxGoodNodes {
		c.good = c.good[:maxGoodNodes]
	}
}

// GoodNodes lists the nodes that answered a query of this client, most
// recent first: for the cache and for a .torrent's "nodes".
func (c *Client) GoodNodes() []netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]netip.AddrPort, len(c.good))
	for i, n := range c.good {
		out[i] = n.Addr
	}
	return out
}
