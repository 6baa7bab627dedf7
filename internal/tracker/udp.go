package tracker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/btext/btext/internal/metainfo"
)

// BEP 15 constants.
const (
	protocolID = 0x41727101980 // the connection id of a connect request

	actionConnect  = 0
	actionAnnounce = 1
	actionScrape   = 2
	actionError    = 3

	udpHeader         = 8  // action, transaction id
	connectReplyLen   = 16 // header, connection id
	announceHeaderLen = 20 // header, interval, leechers, seeders
	announceReqLen    = 98
	scrapeEntryLen    = 12 // seeders, completed, leechers
	// maxScrapeHashes is how many hashes one scrape request carries: BEP 15
	// says about 74 fit a reply in the usual MTU.
	maxScrapeHashes = 74
	// maxDatagram is the largest UDP payload; replies are read into a
	// buffer of this size, so no reply is cut short by the kernel.
	maxDatagram = 65535

	// connIDLifetime is how long a connection id may be used (BEP 15: a
	// client may use it for one minute after receiving it).
	connIDLifetime = time.Minute
	// maxAttempts is BEP 15's n = 0..8 sends per exchange.
	maxAttempts = 9
	// minAttemptWait keeps a nearly spent deadline from turning the
	// schedule into a busy loop.
	minAttemptWait = 250 * time.Millisecond
)

// udpEvent maps Event to BEP 15's numbering, which differs from our order.
var udpEvent = [...]uint32{None: 0, Completed: 1, Started: 2, Stopped: 3}

type connID struct {
	id  uint64
	got time.Time
}

// attemptWait is how long to wait for a reply to send number n (from 0).
// BEP 15 says 15·2^n seconds, which alone would spend a whole command
// deadline on one lost packet; so each wait is also at most a third of the
// time left (but not under minAttemptWait): with 10 s left the sends go
// out at about 0, 3.3, 5.6 and 7 s, with 60 s left at 0, 15, 30 and 40 s.
func attemptWait(n int, remaining time.Duration) time.Duration {
	w := 15 * time.Second << n
	if r := max(remaining/3, minAttemptWait); r < w {
		w = r
	}
	return w
}

// errAttemptTimeout is one send going unanswered; the exchange retries.
var errAttemptTimeout = errors.New("no reply")

// udpSession is one Announce or Scrape: its own socket, connected to the
// tracker, so that replies to other lookups never reach it.
type udpSession struct {
	c    *Client
	conn *net.UDPConn
	addr netip.AddrPort
	buf  []byte
	// sends counts datagrams sent; ignored those received that were not
	// the awaited reply.
	sends, ignored int
}

func (c *Client) dialUDP(ctx context.Context, u *url.URL) (*udpSession, func(), error) {
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || port == 0 {
		return nil, nil, errors.New("udp tracker url needs a port")
	}
	host := u.Hostname()
	addr, err := netip.ParseAddr(host)
	if err != nil {
		addrs, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if lerr != nil {
			return nil, nil, fmt.Errorf("resolve %s: %w", host, lerr)
		}
		if len(addrs) == 0 {
			return nil, nil, fmt.Errorf("resolve %s: no address", host)
		}
		addr = addrs[0]
	}
	ap := netip.AddrPortFrom(addr.Unmap(), uint16(port))
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, nil, fmt.Errorf("dial udp: %w", err)
	}
	// Cancellation wakes a blocked read.
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	s := &udpSession{c: c, conn: conn, addr: ap, buf: make([]byte, maxDatagram)}
	return s, func() { stop(); conn.Close() }, nil
}

func (c *Client) udpAnnounce(ctx context.Context, u *url.URL, req Request) (*Response, error) {
	s, done, err := c.dialUDP(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	defer done()
	data := urlData(u)
	c.log.Debug().Stringer("tracker", s.addr).Stringer("event", req.Event).Msg("udp announce")
	reply, err := s.exchange(ctx, actionAnnounce, func(b []byte, id uint64, tx uint32) []byte {
		return appendAnnounce(b, id, tx, req, data)
	})
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	r, err := parseUDPAnnounce(reply, s.addr.Addr().Is6())
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	return r, nil
}

func (c *Client) udpScrape(ctx context.Context, u *url.URL, hashes []metainfo.Hash) ([]ScrapeResult, error) {
	s, done, err := c.dialUDP(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer done()
	res := make([]ScrapeResult, 0, len(hashes))
	for len(hashes) > 0 {
		chunk := hashes[:min(len(hashes), maxScrapeHashes)]
		hashes = hashes[len(chunk):]
		c.log.Debug().Stringer("tracker", s.addr).Int("hashes", len(chunk)).Msg("udp scrape")
		reply, err := s.exchange(ctx, actionScrape, func(b []byte, id uint64, tx uint32) []byte {
			return appendScrape(b, id, tx, chunk)
		})
		if err != nil {
			return nil, fmt.Errorf("scrape: %w", err)
		}
		r, err := parseUDPScrape(reply, chunk)
		if err != nil {
			return nil, fmt.Errorf("scrape: %w", err)
		}
		res = append(res, r...)
	}
	return res, nil
}

// exchange sends the request build makes until a reply with its
// transaction id comes, on the schedule of attemptWait. It gets a
// connection id first (from the cache or by connecting) and connects again
// when the id is older than connIDLifetime or when, having come from the
// cache, it goes unanswered or draws an error: a tracker that restarted
// or forgot us drops such a request or (opentracker) answers it with
// "Connection ID missmatch.".
func (s *udpSession) exchange(ctx context.Context, action uint32, build func(b []byte, id uint64, tx uint32) []byte) ([]byte, error) {
	var (
		id     connID
		cached bool
		have   bool
		tx     uint32
		pkt    []byte
		start  = s.sends
	)
	for n := 0; n < maxAttempts; n++ {
		if !have || time.Since(id.got) >= connIDLifetime {
			var err error
			if id, cached, err = s.connID(ctx); err != nil {
				return nil, err
			}
			have = true
			tx = rand.Uint32()
			pkt = build(pkt[:0], id.id, tx)
		}
		reply, err := s.roundTrip(ctx, pkt, tx, action, n)
		var failure *FailureError
		switch {
		case isContextErr(err):
			return nil, s.noReply(s.sends-start, err)
		case errors.Is(err, errAttemptTimeout):
			if cached {
				s.c.forgetConnID(s.addr, id)
				have, cached = false, false
			}
			continue
		case cached && errors.As(err, &failure):
			// opentracker answers an id it did not issue with an error
			// ("Connection ID missmatch."): ask once more with a new id,
			// and report the error only if that fails too.
			s.c.log.Debug().Stringer("tracker", s.addr).Str("reason", failure.Reason).Msg("udp error with a cached connection id")
			s.c.forgetConnID(s.addr, id)
			have, cached = false, false
			continue
		}
		return reply, err
	}
	return nil, fmt.Errorf("no reply after %d attempts", maxAttempts)
}

// noReply reports an exchange the context ended: how many sends went
// unanswered and how many datagrams were dropped meanwhile.
func (s *udpSession) noReply(sends int, err error) error {
	if s.ignored > 0 {
		return fmt.Errorf("no reply after %d sends (%d datagrams dropped): %w", sends, s.ignored, err)
	}
	return fmt.Errorf("no reply after %d sends: %w", sends, err)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// connID returns a cached connection id for the tracker, or connects. One
// lookup connects at a time per tracker; the others wait for its id, so a
// batch of lookups costs a tracker one connect, not one each.
func (s *udpSession) connID(ctx context.Context) (id connID, cached bool, err error) {
	for {
		id, ok, busy := s.c.connIDOrTurn(s.addr)
		if ok {
			return id, true, nil
		}
		if busy == nil {
			break // our turn to connect
		}
		select {
		case <-busy:
			// Connected, or failed: then the next one in takes its turn.
		case <-ctx.Done():
			return id, false, fmt.Errorf("connect: waiting for another lookup's connect: %w", ctx.Err())
		}
	}
	defer s.c.connectDone(s.addr)
	tx := rand.Uint32()
	pkt := appendConnect(nil, tx)
	start := s.sends
	for n := 0; n < maxAttempts; n++ {
		reply, err := s.roundTrip(ctx, pkt, tx, actionConnect, n)
		if errors.Is(err, errAttemptTimeout) {
			continue
		}
		if isContextErr(err) {
			return id, false, fmt.Errorf("connect: %w", s.noReply(s.sends-start, err))
		}
		if err != nil {
			return id, false, fmt.Errorf("connect: %w", err)
		}
		v, err := parseUDPConnect(reply)
		if err != nil {
			return id, false, fmt.Errorf("connect: %w", err)
		}
		id = connID{id: v, got: time.Now()}
		s.c.storeConnID(s.addr, id)
		s.c.log.Debug().Stringer("tracker", s.addr).Msg("udp connected")
		return id, false, nil
	}
	return id, false, fmt.Errorf("connect: no reply after %d attempts", maxAttempts)
}

// roundTrip sends pkt once and waits for its reply until the attempt's
// wait ends (errAttemptTimeout) or ctx does. Datagrams from another address
// (a connected socket already filters them), too short, or with another
// transaction id are dropped. An error reply is a *FailureError.
func (s *udpSession) roundTrip(ctx context.Context, pkt []byte, tx, action uint32, n int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	remaining := time.Duration(math.MaxInt64)
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		// The context's own timer may fire a little after its deadline.
		if remaining = time.Until(dl); remaining <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	wait := time.Now().Add(attemptWait(n, remaining))
	if hasDeadline && dl.Before(wait) {
		wait = dl
	}
	if n > 0 {
		s.c.log.Debug().Stringer("tracker", s.addr).Int("attempt", n).Msg("udp retransmit")
	}
	if _, err := s.conn.Write(pkt); err != nil {
		return nil, fmt.Errorf("send: %w", refused(err))
	}
	s.sends++
	s.conn.SetReadDeadline(wait)
	// Checked after setting the deadline: a cancellation that came before
	// it is seen here, one after it moves the deadline into the past.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for {
		m, from, err := s.conn.ReadFromUDPAddrPort(s.buf)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, errAttemptTimeout
			}
			return nil, fmt.Errorf("receive: %w", refused(err))
		}
		p := s.buf[:m]
		if netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) != s.addr || m < udpHeader ||
			binary.BigEndian.Uint32(p[4:]) != tx {
			s.ignored++
			s.c.log.Debug().Stringer("from", from).Int("len", m).Msg("udp datagram ignored")
			continue
		}
		switch got := binary.BigEndian.Uint32(p); got {
		case action:
			return append([]byte(nil), p...), nil
		case actionError:
			// opentracker ends its message with the C string's NUL.
			return nil, &FailureError{Reason: strings.TrimRight(string(p[udpHeader:]), "\x00")}
		default:
			return nil, malformed("action %d in reply to action %d", got, action)
		}
	}
}

// refused names the ICMP "port unreachable" that a connected UDP socket
// reports as ECONNREFUSED on its next send or receive.
func refused(err error) error {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("nothing listens on the tracker's port: %w", err)
	}
	return err
}

// connIDOrTurn returns the cached id for a, or else a channel that is
// closed when the lookup connecting to a now is done, or else (nil) makes
// the caller the one that connects; it must then call connectDone.
func (c *Client) connIDOrTurn(a netip.AddrPort) (connID, bool, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.connIDs[a]
	if ok && time.Since(id.got) < connIDLifetime {
		return id, true, nil
	}
	delete(c.connIDs, a)
	if busy, ok := c.connecting[a]; ok {
		return connID{}, false, busy
	}
	c.connecting[a] = make(chan struct{})
	return connID{}, false, nil
}

func (c *Client) connectDone(a netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.connecting[a])
	delete(c.connecting, a)
}

func (c *Client) storeConnID(a netip.AddrPort, id connID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.connIDs[a] = id
	}
}

// forgetConnID drops id unless another lookup has replaced it already.
func (c *Client) forgetConnID(a netip.AddrPort, id connID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connIDs[a] == id {
		delete(c.connIDs, a)
	}
}

// urlData is the BEP 41 URLData of an announce: the URL's path and query,
// which private trackers use to carry a passkey over UDP.
func urlData(u *url.URL) string {
	d := u.EscapedPath()
	if u.RawQuery != "" {
		d += "?" + u.RawQuery
	}
	return d
}

func appendConnect(b []byte, tx uint32) []byte {
	b = binary.BigEndian.AppendUint64(b, protocolID)
	b = binary.BigEndian.AppendUint32(b, actionConnect)
	return binary.BigEndian.AppendUint32(b, tx)
}

// appendAnnounce appends a BEP 15 announce request with the URL data of
// BEP 41 as options of type 2, 255 bytes at most each.
func appendAnnounce(b []byte, id uint64, tx uint32, req Request, data string) []byte {
	b = binary.BigEndian.AppendUint64(b, id)
	b = binary.BigEndian.AppendUint32(b, actionAnnounce)
	b = binary.BigEndian.AppendUint32(b, tx)
	b = append(b, req.InfoHash[:]...)
	b = append(b, req.PeerID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(req.Downloaded))
	b = binary.BigEndian.AppendUint64(b, uint64(req.Left))
	b = binary.BigEndian.AppendUint64(b, uint64(req.Uploaded))
	var ev uint32
	if req.Event >= 0 && int(req.Event) < len(udpEvent) { // Announce checked it
		ev = udpEvent[req.Event]
	}
	b = binary.BigEndian.AppendUint32(b, ev)
	b = binary.BigEndian.AppendUint32(b, 0) // IP: the sender's
	b = binary.BigEndian.AppendUint32(b, req.Key)
	numWant := int32(-1) // the tracker's default
	if req.NumWant > 0 {
		numWant = int32(min(req.NumWant, math.MaxInt32))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(numWant))
	b = binary.BigEndian.AppendUint16(b, req.Port)
	for len(data) > 0 {
		n := min(len(data), 255)
		b = append(b, 2, byte(n))
		b = append(b, data[:n]...)
		data = data[n:]
	}
	return b
}

func appendScrape(b []byte, id uint64, tx uint32, hashes []metainfo.Hash) []byte {
	b = binary.BigEndian.AppendUint64(b, id)
	b = binary.BigEndian.AppendUint32(b, actionScrape)
	b = binary.BigEndian.AppendUint32(b, tx)
	for _, h := range hashes {
		b = append(b, h[:]...)
	}
	return b
}

// parseUDPConnect reads a connect reply whose header has been checked.
func parseUDPConnect(p []byte) (uint64, error) {
	if len(p) < connectReplyLen {
		return 0, malformed("connect reply of %d bytes, want %d", len(p), connectReplyLen)
	}
	return binary.BigEndian.Uint64(p[8:]), nil
}

// parseUDPAnnounce reads an announce reply whose header has been checked.
// Peers are 6-byte entries from a tracker reached over IPv4 and 18-byte
// ones over IPv6 (BEP 15), unless the length shows IPv4 entries from an
// IPv6 tracker. A reply of only the header is opentracker's
// answer for a hash it does not list: ErrUnknownTorrent.
func parseUDPAnnounce(p []byte, v6 bool) (*Response, error) {
	switch {
	case len(p) == udpHeader:
		return nil, ErrUnknownTorrent
	case len(p) < announceHeaderLen:
		return nil, malformed("announce reply of %d bytes, shorter than its %d-byte header", len(p), announceHeaderLen)
	}
	interval := binary.BigEndian.Uint32(p[8:])
	if interval > maxInterval {
		return nil, malformed("interval %d out of range", interval)
	}
	r := &Response{
		Interval: time.Duration(interval) * time.Second,
		Leechers: int(binary.BigEndian.Uint32(p[12:])),
		Seeders:  int(binary.BigEndian.Uint32(p[16:])),
	}
	var set peerSet
	peers := p[announceHeaderLen:]
	field, size := "peers", compactV4
	var note string
	if v6 {
		field, size = "peers6", compactV6
		// bittorrent-tracker (npm) answers on IPv6 with 6-byte IPv4
		// entries. A length that only 6 divides cannot be IPv6, so it is
		// read as IPv4; a length that 18 divides is read as BEP 15 says.
		if len(peers)%compactV6 != 0 && len(peers)%compactV4 == 0 {
			field, size = "peers", compactV4
			note = "tracker on IPv6 sent 6-byte IPv4 peers, not BEP 15's 18-byte entries"
		}
	}
	if err := set.addCompact(field, peers, size); err != nil {
		return nil, err
	}
	r.Peers = set.peers
	r.Notes = set.notes()
	if note != "" {
		r.Notes = append(r.Notes, note)
	}
	return r, nil
}

// parseUDPScrape reads a scrape reply whose header has been checked: one
// 12-byte entry per hash asked, in order.
func parseUDPScrape(p []byte, hashes []metainfo.Hash) ([]ScrapeResult, error) {
	if want := udpHeader + scrapeEntryLen*len(hashes); len(p) != want {
		return nil, malformed("scrape reply of %d bytes for %d hashes, want %d", len(p), len(hashes), want)
	}
	res := make([]ScrapeResult, len(hashes))
	for i, h := range hashes {
		e := p[udpHeader+scrapeEntryLen*i:]
		res[i] = ScrapeResult{
			InfoHash:  h,
			Seeders:   int(binary.BigEndian.Uint32(e)),
			Completed: int(binary.BigEndian.Uint32(e[4:])),
			Leechers:  int(binary.BigEndian.Uint32(e[8:])),
		}
	}
	return res, nil
}
