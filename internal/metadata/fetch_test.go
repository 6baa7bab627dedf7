package metadata_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// End-to-end fetches against fake peers on 127.0.0.1.

func ap(t *testing.T, addr string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func fetchCfg(info []byte, peers <-chan metadata.PeerAddr) metadata.FetchConfig {
	hash := peertest.HashOf(info)
	return metadata.FetchConfig{
		Target:  metainfo.Target{V1: (*metainfo.Hash)(&hash)},
		Peers:   peers,
		Session: extensions.Options{PeerID: peer.RandomPeerID()},
	}
}

// fetch runs a fetch from fixed peers within limit and checks the result.
func fetchFrom(t *testing.T, info []byte, limit time.Duration, addrs ...string) *metadata.Result {
	t.Helper()
	var aps []netip.AddrPort
	for _, a := range addrs {
		aps = append(aps, ap(t, a))
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	res, err := metadata.Fetch(ctx, fetchCfg(info, metadata.PeerList("test", aps...)))
	if err != nil {
		t.Fatalf("fetch: %v (%+v)", err, res)
	}
	if !bytes.Equal(res.Info, info) {
		t.Fatal("wrong info")
	}
	return res
}

// TestFetchExtensionDisabled: a peer that disables ut_metadata mid-fetch
// (a later extended handshake with id 0) is paused, not an error; when it
// enables it again under another id, the fetch goes on with it.
func TestFetchExtensionDisabled(t *testing.T) {
	info := peertest.InfoOfSize(10 * metadata.PieceSize)
	t.Run("re-enabled under another id", func(t *testing.T) {
		t.Parallel()
		s := &peertest.Seeder{Info: info, UT: 3, DisableAfter: 2, Reenable: 300 * time.Millisecond, ReenableID: 7}
		res := fetchFrom(t, info, 20*time.Second, peertest.Listen(t, s.Play))
		if p := res.Peers[0]; p.Error != "" || p.Received < 10 {
			t.Errorf("%+v", p)
		}
	})
	t.Run("never again: another peer carries the fetch", func(t *testing.T) {
		t.Parallel()
		s := &peertest.Seeder{Info: info, UT: 3, DisableAfter: 1}
		good := &peertest.Seeder{Info: info, UT: 4, Delay: 50 * time.Millisecond}
		res := fetchFrom(t, info, 20*time.Second, peertest.Listen(t, s.Play), peertest.Listen(t, good.Play))
		if res.Peers[0].Received != 1 || res.Peers[1].Received < 9 {
			t.Errorf("%+v", res.Peers)
		}
	})
	t.Run("never again and alone: the deadline applies", func(t *testing.T) {
		t.Parallel()
		s := &peertest.Seeder{Info: info, UT: 3, DisableAfter: 1}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := metadata.Fetch(ctx, fetchCfg(info, metadata.PeerList("test", ap(t, peertest.Listen(t, s.Play)))))
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "peer disabled ut_metadata") {
			t.Errorf("err %v, want a timeout naming the disabled extension", err)
		}
	})
}

// TestFetchNoMetadataSize: a ut_metadata peer that sends no metadata_size
// is asked for piece 0, whose total_size says the size.
func TestFetchNoMetadataSize(t *testing.T) {
	for _, n := range []int{300, 3*metadata.PieceSize + 7} {
		info := peertest.InfoOfSize(n)
		s := &peertest.Seeder{Info: info, UT: 3, OmitSize: true}
		fetchFrom(t, info, 10*time.Second, peertest.Listen(t, s.Play))
	}
}

// TestFetchSlowLT: an LT_metadata-only peer without metadata_size whose
// first answer takes 6 s: the size probe times out (5 s at first), is
// asked again, and the late answer is taken.
func TestFetchSlowLT(t *testing.T) {
	info := peertest.InfoOfSize(3 * metadata.PieceSize)
	s := &peertest.Seeder{Info: info, LT: 5, OmitSize: true, FirstDelay: 6 * time.Second}
	res := fetchFrom(t, info, 30*time.Second, peertest.Listen(t, s.Play))
	if p := res.Peers[0]; p.Timeouts == 0 || p.Extension != "LT_metadata" {
		t.Errorf("%+v", p)
	}
}

// TestFetchLatePeers: the fetch waits for peers while the source is open,
// even after every peer so far failed, and the first verified copy ends it.
func TestFetchLatePeers(t *testing.T) {
	info := peertest.InfoOfSize(5 * metadata.PieceSize)
	failed := make(chan struct{})
	bad := peertest.Listen(t, func(c *peertest.Conn) { c.ReadHandshake(); close(failed) })
	good := &peertest.Seeder{Info: info, UT: 3}
	goodAddr := peertest.Listen(t, good.Play)
	peers := make(chan metadata.PeerAddr)
	go func() {
		peers <- metadata.PeerAddr{Addr: ap(t, bad), Source: "first"}
		<-failed
		peers <- metadata.PeerAddr{Addr: ap(t, bad), Source: "again"} // a repeat: not dialled
		peers <- metadata.PeerAddr{Addr: ap(t, goodAddr), Source: "late"}
		// The source stays open: the verified copy ends the fetch.
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := metadata.Fetch(ctx, fetchCfg(info, peers))
	if err != nil || !bytes.Equal(res.Info, info) {
		t.Fatalf("fetch: %v", err)
	}
	if len(res.Peers) != 2 || res.Peers[0].Source != "first" || res.Peers[1].Source != "late" || res.Peers[1].Received != 5 {
		t.Errorf("%+v", res.Peers)
	}
}

// TestFetchSourceOpen: while the source is open, a fetch whose peers all
// failed waits for more, until the deadline: a timeout.
func TestFetchSourceOpen(t *testing.T) {
	info := peertest.InfoOfSize(500)
	bad := peertest.Listen(t, func(c *peertest.Conn) { c.ReadHandshake() })
	peers := make(chan metadata.PeerAddr, 1)
	peers <- metadata.PeerAddr{Addr: ap(t, bad), Source: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := metadata.Fetch(ctx, fetchCfg(info, peers))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "peer closed the connection") {
		t.Errorf("err %v, want a timeout naming what the peer did", err)
	}
	// Closed and empty: no peer at all.
	empty := make(chan metadata.PeerAddr)
	close(empty)
	if _, err := metadata.Fetch(context.Background(), fetchCfg(info, empty)); err == nil || err.Error() != "no peers to fetch from" {
		t.Errorf("no peers: %v", err)
	}
}

// TestFetchClosesTheRest: the first verified copy ends the fetch and every
// other connection is closed by the time Fetch returns.
func TestFetchClosesTheRest(t *testing.T) {
	info := peertest.InfoOfSize(2 * metadata.PieceSize)
	var mu sync.Mutex
	started := 0
	ended := make(chan struct{}, 2)
	stall := func(c *peertest.Conn) {
		mu.Lock()
		started++
		mu.Unlock()
		s := &peertest.Seeder{Info: info, UT: 3, Stall: true}
		s.Play(c) // returns when the other side closes
		ended <- struct{}{}
	}
	good := &peertest.Seeder{Info: info, UT: 3, Delay: 200 * time.Millisecond}
	fetchFrom(t, info, 20*time.Second, peertest.Listen(t, stall), peertest.Listen(t, stall), peertest.Listen(t, good.Play))
	mu.Lock()
	n := started
	mu.Unlock()
	if n == 0 {
		t.Log("the stalling peers were not connected before the fetch ended")
	}
	for range n {
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Fatal("a stalling peer still connected 10 s after the fetch")
		}
	}
}

// TestFetchDialCap: no more dials at once than MaxDialing; only the peers
// dialled are reported.
func TestFetchDialCap(t *testing.T) {
	info := peertest.InfoOfSize(500)
	var accepted atomic.Int32
	silent := func(c *peertest.Conn) {
		accepted.Add(1)
		c.Stall()
	}
	var aps []netip.AddrPort
	for range 6 {
		aps = append(aps, ap(t, peertest.Listen(t, silent)))
	}
	cfg := fetchCfg(info, metadata.PeerList("test", aps...))
	cfg.MaxDialing = 2
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	res, err := metadata.Fetch(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a timeout", err)
	}
	if len(res.Peers) != 2 || accepted.Load() > 2 {
		t.Errorf("%d peers reported, %d connections accepted; want 2 and at most 2", len(res.Peers), accepted.Load())
	}
}

// TestFetchViolation: what the scheduler finds wrong in a peer's answers
// comes out as that connection's protocol error, in its real state.
func TestFetchViolation(t *testing.T) {
	info := peertest.InfoOfSize(3 * metadata.PieceSize)
	s := &peertest.Seeder{Info: info, UT: 3, Unrequest: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := metadata.Fetch(ctx, fetchCfg(info, metadata.PeerList("test", ap(t, peertest.Listen(t, s.Play)))))
	var pe *peer.ProtocolError
	if !errors.As(err, &pe) || pe.State != peer.StateExtended || !strings.Contains(pe.Reason, "which was not requested") {
		t.Fatalf("err %v, want a protocol error in state extended", err)
	}
	if len(res.Peers) != 1 || res.Peers[0].Error != err.Error() {
		t.Errorf("%+v", res.Peers)
	}
}
