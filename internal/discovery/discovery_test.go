package discovery

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/tracker"
)

// fakeTracker answers announces with a compact peer list after a delay,
// and counts the events it saw.
type fakeTracker struct {
	*httptest.Server
	mu     sync.Mutex
	events []string
}

func newFakeTracker(t *testing.T, delay time.Duration, peers ...string) *fakeTracker {
	ft := &fakeTracker{}
	var compact []byte
	for _, p := range peers {
		ap := netip.MustParseAddrPort(p)
		a4 := ap.Addr().As4()
		compact = binary.BigEndian.AppendUint16(append(compact, a4[:]...), ap.Port())
	}
	ft.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ft.mu.Lock()
		ft.events = append(ft.events, r.URL.Query().Get("event"))
		ft.mu.Unlock()
		if r.URL.Query().Get("event") != "stopped" {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		body := []byte("d8:intervali60e5:peers")
		body = append(body, []byte(strconv.Itoa(len(compact))+":")...)
		body = append(append(body, compact...), 'e')
		w.Write(body)
	}))
	t.Cleanup(ft.Close)
	return ft
}

func (ft *fakeTracker) seen() []string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return slices.Clone(ft.events)
}

// TestLookupStreamsAndDeduplicates: static peers come first; a fast
// tracker's peers arrive while a slow one is still being asked; an
// address two sources name is handed on once, credited to the first; our
// own announce echoed by a tracker on loopback is dropped; stopped goes
// to every tracker that answered.
func TestLookupStreamsAndDeduplicates(t *testing.T) {
	fast := newFakeTracker(t, 0, "127.0.0.2:1000", "127.0.0.3:1000", "127.0.0.1:50000")
	slow := newFakeTracker(t, 300*time.Millisecond, "127.0.0.3:1000", "127.0.0.4:1000")
	c := tracker.NewClient(tracker.Config{})
	defer c.Close()
	look := Start(context.Background(), Config{
		InfoHash: metainfo.Hash{1},
		Static:   []Peer{{netip.MustParseAddrPort("127.0.0.9:9"), SourceArg}, {netip.MustParseAddrPort("127.0.0.9:9"), SourceMagnet}},
		Trackers: []string{slow.URL + "/announce", fast.URL + "/announce"},
		Tracker:  c,
		Announce: tracker.Request{Port: 50000, Left: 1},
	})
	var got []Peer
	var firstTracker time.Duration
	start := time.Now()
	for p := range look.Peers() {
		if p.Source != SourceArg && firstTracker == 0 {
			firstTracker = time.Since(start)
		}
		got = append(got, p)
	}
	rep := look.Stop(context.Background())
	want := []Peer{
		{netip.MustParseAddrPort("127.0.0.9:9"), SourceArg},
		{netip.MustParseAddrPort("127.0.0.2:1000"), fast.URL + "/announce"},
		{netip.MustParseAddrPort("127.0.0.3:1000"), fast.URL + "/announce"},
		{netip.MustParseAddrPort("127.0.0.4:1000"), slow.URL + "/announce"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("peers\n got %v\nwant %v", got, want)
	}
	if firstTracker >= 300*time.Millisecond {
		t.Errorf("the fast tracker's peers waited for the slow one (%v)", firstTracker)
	}
	if rep.Peers != 4 || rep.Trackers[0].Peers != 1 || rep.Trackers[1].Peers != 2 || rep.FirstPeer <= 0 {
		t.Errorf("report %+v", rep)
	}
	if got := rep.Answered(); len(got) != 2 {
		t.Errorf("answered %v", got)
	}
	for _, ft := range []*fakeTracker{fast, slow} {
		if ev := ft.seen(); !slices.Equal(ev, []string{"started", "stopped"}) {
			t.Errorf("%s saw %v, want started then stopped", ft.URL, ev)
		}
	}
}

// TestLookupStopEarly: a consumer that stops reading (the fetch is done)
// ends the lookup at once; a tracker still being asked is not sent
// stopped, one that answered is.
func TestLookupStopEarly(t *testing.T) {
	fast := newFakeTracker(t, 0, "127.0.0.2:1000", "127.0.0.3:1000")
	hung := newFakeTracker(t, time.Hour)
	c := tracker.NewClient(tracker.Config{})
	defer c.Close()
	look := Start(context.Background(), Config{
		InfoHash: metainfo.Hash{2},
		Trackers: []string{fast.URL + "/announce", hung.URL + "/announce"},
		Tracker:  c,
		Announce: tracker.Request{Port: 50001, Left: 1},
	})
	<-look.Peers() // one is enough
	done := make(chan Report)
	go func() { done <- look.Stop(context.Background()) }()
	select {
	case rep := <-done:
		if rep.Trackers[1].Err == nil {
			t.Errorf("the hung tracker has no error: %+v", rep.Trackers[1])
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
	if ev := fast.seen(); !slices.Equal(ev, []string{"started", "stopped"}) {
		t.Errorf("fast tracker saw %v", ev)
	}
	if ev := hung.seen(); slices.Contains(ev, "stopped") {
		t.Errorf("hung tracker saw %v, want no stopped", ev)
	}
}
