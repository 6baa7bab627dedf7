package tracker

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btext/btext/internal/interop"
	"github.com/btext/btext/internal/metainfo"
	"github.com/rs/zerolog"
)

func randomHash(t *testing.T) metainfo.Hash {
	var h metainfo.Hash
	rand.Read(h[:])
	return h
}

func peerID(name string) [20]byte {
	var id [20]byte
	copy(id[:], "-BX0001-"+name+strings.Repeat("x", 12))
	return id
}

// countLog counts the debug messages of a Client.
type countLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *countLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *countLog) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), `"message":"`+msg+`"`)
}

// swarmCase is one swarm of two peers on a real tracker: a announces to
// urlA, b to urlB (the same tracker, perhaps another protocol); wantA and
// wantB are the peers each reply must list.
type swarmCase struct {
	urlA, urlB   string
	hash         metainfo.Hash
	wantA, wantB []string
	// scrapeURL is asked for the counts; the tracker's per-protocol
	// quirks decide which URL (see docs/trackers.md).
	scrapeURL string
	// gone are the addresses a third peer must no longer see once a and
	// b have sent stopped.
	gone []string
}

// runSwarm announces a (a leecher) and b (a seeder), checks the peers each
// is given, scrapes, sends stopped for both and checks that a third peer no
// longer sees them.
func runSwarm(t *testing.T, c *Client, sc swarmCase) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := Request{InfoHash: sc.hash, PeerID: peerID("aaaa"), Port: 50001, Left: 1000, Event: Started, NumWant: 50, Key: 1}
	b := Request{InfoHash: sc.hash, PeerID: peerID("bbbb"), Port: 50002, Left: 0, Event: Started, NumWant: 50, Key: 2}

	ra, err := c.Announce(ctx, sc.urlA, a)
	if err != nil {
		t.Fatalf("announce a: %v", err)
	}
	t.Logf("a: interval %v min %v seeders %d leechers %d peers %v notes %v", ra.Interval, ra.MinInterval, ra.Seeders, ra.Leechers, ra.Peers, ra.Notes)
	if ra.Interval <= 0 {
		t.Errorf("a: interval %v", ra.Interval)
	}
	if want := addrs(sc.wantA); !sameSet(ra.Peers, want) {
		t.Errorf("a: peers %v, want %v", ra.Peers, want)
	}

	rb, err := c.Announce(ctx, sc.urlB, b)
	if err != nil {
		t.Fatalf("announce b: %v", err)
	}
	t.Logf("b: interval %v min %v seeders %d leechers %d peers %v notes %v", rb.Interval, rb.MinInterval, rb.Seeders, rb.Leechers, rb.Peers, rb.Notes)
	if want := addrs(sc.wantB); !sameSet(rb.Peers, want) {
		t.Errorf("b: peers %v, want %v", rb.Peers, want)
	}
	if rb.Seeders != 1 || rb.Leechers != 1 {
		t.Errorf("b: %d seeders, %d leechers; want 1, 1", rb.Seeders, rb.Leechers)
	}

	other := randomHash(t)
	res, err := c.Scrape(ctx, sc.scrapeURL, []metainfo.Hash{sc.hash, other})
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	t.Logf("scrape: %+v", res)
	if len(res) != 2 || res[0].InfoHash != sc.hash || res[0].Seeders != 1 || res[0].Leechers != 1 || res[1].InfoHash != other {
		t.Errorf("scrape: %+v, want 1 seeder and 1 leecher for %s", res, sc.hash)
	}

	a.Event, b.Event = Stopped, Stopped
	if _, err := c.Announce(ctx, sc.urlA, a); err != nil {
		t.Fatalf("stopped a: %v", err)
	}
	if _, err := c.Announce(ctx, sc.urlB, b); err != nil {
		t.Fatalf("stopped b: %v", err)
	}
	probe := Request{InfoHash: sc.hash, PeerID: peerID("cccc"), Port: 50003, Left: 1, Event: Started, NumWant: 50}
	rc, err := c.Announce(ctx, sc.urlB, probe)
	if err != nil {
		t.Fatalf("announce c: %v", err)
	}
	t.Logf("c after stopped: seeders %d leechers %d peers %v", rc.Seeders, rc.Leechers, rc.Peers)
	for _, p := range addrs(sc.gone) {
		if slices.Contains(rc.Peers, p) {
			t.Errorf("after stopped, c still sees %v", p)
		}
	}
	if rc.Seeders != 0 {
		t.Errorf("after stopped: %d seeders, want 0", rc.Seeders)
	}
	probe.Event = Stopped
	if _, err := c.Announce(ctx, sc.urlB, probe); err != nil {
		t.Fatalf("stopped c: %v", err)
	}
}

func addrs(s []string) []netip.AddrPort {
	r := []netip.AddrPort{}
	for _, a := range s {
		r = append(r, ap(a))
	}
	return r
}

func TestInteropOpentracker(t *testing.T) {
	interop.Require(t)
	httpHash, udpHash := randomHash(t), randomHash(t)
	urls := interop.StartTracker(t, "opentracker", httpHash, udpHash)
	var log countLog
	c := newTestClient(t, Config{Log: zerolog.New(&log).Level(zerolog.DebugLevel)})

	// opentracker lists the announcing peer itself in its reply.
	t.Run("http", func(t *testing.T) {
		runSwarm(t, c, swarmCase{urlA: urls[0], urlB: urls[0], scrapeURL: urls[0], hash: httpHash,
			wantA: []string{"127.0.0.1:50001"}, wantB: []string{"127.0.0.1:50001", "127.0.0.1:50002"},
			gone: []string{"127.0.0.1:50001", "127.0.0.1:50002"}})
	})
	t.Run("udp", func(t *testing.T) {
		runSwarm(t, c, swarmCase{urlA: urls[1], urlB: urls[1], scrapeURL: urls[1], hash: udpHash,
			wantA: []string{"127.0.0.1:50001"}, wantB: []string{"127.0.0.1:50001", "127.0.0.1:50002"},
			gone: []string{"127.0.0.1:50001", "127.0.0.1:50002"}})
		// opentracker checks connection ids: every exchange above but the
		// first used the cached one.
		if n := log.count("udp connected"); n != 1 {
			t.Errorf("%d udp connects for 8 exchanges, want 1", n)
		}
	})
	// A connection id opentracker did not issue is dropped without a word;
	// the client forgets the cached id after one unanswered send and
	// connects again.
	t.Run("stale connection id", func(t *testing.T) {
		c := newTestClient(t, Config{})
		tr := netip.MustParseAddrPort(strings.TrimSuffix(strings.TrimPrefix(urls[1], "udp://"), "/announce"))
		c.storeConnID(tr, connID{id: 0x0123456789abcdef, got: time.Now()})
		ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
		defer cancel()
		req := Request{InfoHash: udpHash, PeerID: peerID("eeee"), Port: 50005, Event: Stopped}
		if _, err := c.Announce(ctx, urls[1], req); err != nil {
			t.Fatalf("announce with a stale id: %v", err)
		}
	})
	portZero(t, c, urls[:2], httpHash)
	t.Run("unlisted hash", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := Request{InfoHash: randomHash(t), PeerID: peerID("dddd"), Port: 50004, Event: Started}
		_, err := c.Announce(ctx, urls[0], req)
		var f *FailureError
		if !errors.As(err, &f) {
			t.Errorf("http: got %v, want a *FailureError", err)
		}
		t.Logf("http: %v", err)
		_, err = c.Announce(ctx, urls[1], req)
		if !errors.Is(err, ErrUnknownTorrent) {
			t.Errorf("udp: got %v, want ErrUnknownTorrent", err)
		}
		t.Logf("udp: %v", err)
	})
}

func TestInteropBittorrentTracker(t *testing.T) {
	interop.Require(t)
	urls := interop.StartTracker(t, "bittorrent-tracker")
	c := newTestClient(t, Config{})
	// bittorrent-tracker, too, lists the announcing peer itself. Its HTTP
	// scrape mangles hash bytes over 0x7f (see latin1Keys): make sure
	// there are some.
	httpHash := randomHash(t)
	httpHash[0] = 0xde
	t.Run("http", func(t *testing.T) {
		runSwarm(t, c, swarmCase{urlA: urls[0], urlB: urls[0], scrapeURL: urls[0], hash: httpHash,
			wantA: []string{"127.0.0.1:50001"}, wantB: []string{"127.0.0.1:50001", "127.0.0.1:50002"},
			gone: []string{"127.0.0.1:50001", "127.0.0.1:50002"}})
	})
	t.Run("udp", func(t *testing.T) {
		runSwarm(t, c, swarmCase{urlA: urls[1], urlB: urls[1], scrapeURL: urls[1], hash: randomHash(t),
			wantA: []string{"127.0.0.1:50001"}, wantB: []string{"127.0.0.1:50001", "127.0.0.1:50002"},
			gone: []string{"127.0.0.1:50001", "127.0.0.1:50002"}})
	})
	// a announces over UDP on ::1, b over HTTP on 127.0.0.1: b's reply
	// gives a in peers6 (BEP 7). Over UDP the tracker sends only IPv4
	// peers, whatever the socket's family, so a sees nobody, not even
	// itself.
	t.Run("udp6 and peers6", func(t *testing.T) {
		runSwarm(t, c, swarmCase{urlA: urls[2], urlB: urls[0], scrapeURL: urls[2], hash: randomHash(t),
			wantA: nil, wantB: []string{"[::1]:50001", "127.0.0.1:50002"},
			gone: []string{"[::1]:50001", "127.0.0.1:50002"}})
	})
	portZero(t, c, urls, randomHash(t))
}

// portZero logs what a tracker does with an announce on port 0, the port
// of a peer that accepts no connections (docs/trackers.md has the table).
func portZero(t *testing.T, c *Client, urls []string, h metainfo.Hash) {
	t.Run("port 0", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, u := range urls {
			req := Request{InfoHash: h, PeerID: peerID("zero"), Port: 0, Left: 1, Event: Started, NumWant: 50}
			r, err := c.Announce(ctx, u, req)
			if err != nil {
				t.Logf("%s: port 0: %v", u, err)
				continue
			}
			t.Logf("%s: port 0: accepted, leechers %d, peers %v, notes %v", u, r.Leechers, r.Peers, r.Notes)
			req.Event = Stopped
			if _, err := c.Announce(ctx, u, req); err != nil {
				t.Errorf("%s: stopped: %v", u, err)
			}
		}
	})
}
