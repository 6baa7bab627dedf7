package metadata

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

// The scheduler is the fetch's one owner of bookkeeping: which peer asks
// for which piece, what is in flight, what timed out, who lied. It is pure:
// events in (each with the time it happened), a plan out; no I/O, no
// goroutines, no clock. The workers do the I/O and the fetch loop feeds
// their messages in one at a time (see docs/fetch-engine.md).

const (
	// maxRejects is how often one peer may reject one piece before it is
	// not asked for that piece again.
	maxRejects = 3
	// rejectBackoff is the wait before asking a peer again for a piece it
	// rejected, times the number of rejects.
	rejectBackoff = 500 * time.Millisecond
	// A peer is given up when it lets maxSilentTimeouts requests in a row
	// time out and has answered nothing for silentGiveUp: a peer under
	// load may pause for seconds and still deliver.
	maxSilentTimeouts = 4
	silentGiveUp      = 10 * time.Second
	// DefaultMaxConns bounds the connections of one fetch, and
	// DefaultMaxDialing those still dialling or handshaking (half-open).
	DefaultMaxConns   = 50
	DefaultMaxDialing = 16
	// probe is the request key of the size probe of a peer that sent no
	// metadata_size: ut_metadata piece 0, or 1/256th over LT_metadata.
	probe = -1
)

// PeerAddr is a peer's address and where it came from.
type PeerAddr struct {
	Addr netip.AddrPort
	// Source names where the address was learnt: "arg", "x.pe", "dht", a
	// tracker's URL.
	Source string
}

// An Event is something that happened, reported to Scheduler.Step.
type Event interface{ event() }

// Discovered: the peer source gave an address.
type Discovered struct{ Addr PeerAddr }

// SourceDone: the peer source will give no more addresses.
type SourceDone struct{}

// Connected: a peer the plan dialled is past both handshakes.
type Connected struct {
	Peer   int
	PeerID peer.PeerID
	// UT and LT are the peer's ids for ut_metadata and LT_metadata, 0
	// when it does not offer them; Offered names every extension it
	// offers.
	UT, LT       uint8
	Offered      []string
	MetadataSize *int64
	Reqq         *int64
}

// ExtChanged: a later extended handshake left the peer's metadata ids at
// UT and LT (0 = disabled; BEP 10 updates are additive).
type ExtChanged struct {
	Peer   int
	UT, LT uint8
}

// Data: a ut_metadata data message.
type Data struct {
	Peer  int
	Piece int
	Total int64
	Bytes []byte
}

// Rejected: a ut_metadata reject.
type Rejected struct{ Peer, Piece int }

// LTDataEvent: an LT_metadata data message (Offset and the bytes, in a
// metadata of Total bytes).
type LTDataEvent struct {
	Peer   int
	Total  int
	Offset int
	Bytes  []byte
}

// LTDontHaveEvent: an LT_metadata "don't have".
type LTDontHaveEvent struct{ Peer int }

// Tick: time passed; the peer's deadline (from its last order) is due.
type Tick struct{ Peer int }

// Gone: the peer's worker ended (a dial, handshake or connection error,
// or the close a plan ordered).
type Gone struct {
	Peer int
	Err  error
}

func (Discovered) event()      {}
func (SourceDone) event()      {}
func (Connected) event()       {}
func (ExtChanged) event()      {}
func (Data) event()            {}
func (Rejected) event()        {}
func (LTDataEvent) event()     {}
func (LTDontHaveEvent) event() {}
func (Tick) event()            {}
func (Gone) event()            {}

// Violation is a breach of BEP 9 or of LT_metadata the scheduler found in
// what a peer sent (an answer to nothing asked, a size that contradicts
// the one claimed). The peer's worker, which knows its connection's state,
// reports it as a *peer.ProtocolError.
type Violation struct{ Reason string }

func (v *Violation) Error() string { return "protocol violation: " + v.Reason }

// Plan is what the fetch loop must do after a step.
type Plan struct {
	Dial   []Dial
	Orders []Order
	// Progress: Have of Total pieces, or the peers Connected (handshakes
	// done) or Delivering (of them, those that have sent a piece) changed.
	Progress              bool
	Have, Total           int
	Connected, Delivering int
	// Done: the fetch is over, with Info (verified) or Err.
	Done bool
	Info []byte
	Err  error
}

// Dial asks for a connection to Addr, which the scheduler calls Peer.
type Dial struct {
	Peer int
	Addr PeerAddr
}

// Order tells one peer's worker what to do: send these requests in one
// write, then read until Deadline (zero: no deadline of the fetch's own)
// and report a Tick; or close, for Err.
type Order struct {
	Peer     int
	Send     []Request
	Deadline time.Time
	Close    bool
	Err      error
}

// Request is one metadata request, for the peer's extension id ExtID.
type Request struct {
	ExtID uint8
	LT    bool
	// Piece is the ut_metadata piece; Start and Size the LT_metadata range
	// in 256ths.
	Piece       int
	Start, Size int
}

// Message encodes the request.
func (r Request) Message() peer.Message {
	var p []byte
	if r.LT {
		p, _ = LTMessage{Type: LTRequest, Start: r.Start, Size: r.Size}.AppendBinary(nil)
	} else {
		p, _ = UTMessage{Type: UTRequest, Piece: int64(r.Piece), TotalSize: -1}.AppendBinary(nil)
	}
	return peer.ExtendedMessage(r.ExtID, p)
}

// SchedulerConfig configures a Scheduler; zero fields take defaults.
type SchedulerConfig struct {
	Target metainfo.Target
	// Extension forces "ut_metadata" or "LT_metadata"; empty prefers
	// ut_metadata.
	Extension  string
	MaxSize    int64
	MaxConns   int
	MaxDialing int
	Log        zerolog.Logger
}

type phase uint8

const (
	queued phase = iota
	dialing
	open
	gone
)

// request is one metadata request sent.
type request struct {
	sent        time.Time
	lt          bool
	first, last int // LT_metadata: the byte range asked for
	// depth is how many requests the peer had in flight once this one was
	// sent: an answer that queued teaches the window its cap. again: the
	// same piece was asked before on this connection.
	depth int
	again bool
}

// speer is the scheduler's view of one peer.
type speer struct {
	idx   int
	addr  PeerAddr
	phase phase

	ut, lt uint8  // the peer's ids, 0 = not offered
	ext    string // the extension in use, "" when paused or unknown
	extID  uint8
	paused string // the extension the peer disabled, while it offers none
	size   int    // the size it claims, 0 until known
	// probeSent: when each unanswered size probe went out, oldest first
	// (a probe that timed out is sent again; both may be answered).
	probeSent []time.Time

	win window
	rtt rto
	// Pacing: at most win.burst requests go out from paceFrom until
	// paceFrom plus the window's gap; paceSent counts them, paced says
	// more wait for the next interval.
	paceFrom time.Time
	paceSent int
	paced    bool
	// inflight: requests out, by piece (probe for the size probe).
	inflight map[int]request
	// late: requests that timed out unanswered. A peer that queues
	// (Transmission) still answers them, so the same peer is not asked
	// for them again while there is anything else to ask.
	late map[int]bool
	// asked: every request sent on this connection. An answer to one of
	// them that is no longer in flight is a late or a repeated answer,
	// taken or dropped; an answer to none of them is a protocol violation.
	asked   map[int]request
	rejects map[int]int
	retryAt map[int]time.Time
	silent  int // requests timed out in a row
	// lastAnswer is when the peer last answered a request: a peer that
	// queues requests (Transmission serves about two a second) is alive as
	// long as answers keep coming, however long the queue.
	lastAnswer time.Time
	// lastTimeout is when the last request timed out: the next one's
	// clock starts there, so that one pause of the peer costs one timeout,
	// not one per request in flight.
	lastTimeout time.Time
	started     time.Time
	// delivered counts the pieces the peer answered with, needed or not:
	// after a hash failure the fetch goes to the peer that delivered most.
	delivered int

	requested, received, rejected, timeouts int
	err                                     error

	// What the plan of this step tells the worker.
	send     []Request
	closing  bool
	deadline time.Time // last deadline ordered
}

// Scheduler decides who asks what. See the comment at the top of the file.
type Scheduler struct {
	cfg   SchedulerConfig
	now   time.Time
	peers []*speer
	seen  map[netip.AddrPort]bool
	queue []int // peers waiting to be dialled
	// sourceDone: no more addresses will come.
	sourceDone bool

	asm      *Assembler
	inflight []int // per piece: how many peers have a request out for it
	// owner is -1 while every peer fetches into one assembler; after a
	// hash failure it is the one peer allowed to fetch, so that a bad copy
	// names its liar.
	owner   int
	tainted bool // a copy failed verification: one owner at a time
	done    bool

	plan   Plan
	sender int
}

// NewScheduler returns a scheduler with no peers yet.
func NewScheduler(cfg SchedulerConfig) *Scheduler {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = metainfo.DefaultMaxSize
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxDialing <= 0 {
		cfg.MaxDialing = DefaultMaxDialing
	}
	return &Scheduler{cfg: cfg, owner: -1, seen: map[netip.AddrPort]bool{}}
}

// Step applies one event that happened at now and returns what to do.
func (s *Scheduler) Step(now time.Time, ev Event) Plan {
	s.now, s.plan, s.sender = now, Plan{}, -1
	if s.done {
		if g, ok := ev.(Gone); ok && s.valid(g.Peer) {
			s.left(s.peers[g.Peer], g.Err)
		}
		return s.plan
	}
	s.handle(ev)
	if !s.done {
		s.expire()
		s.reconsider()
	}
	if !s.done {
		for _, p := range s.peers {
			s.fill(p)
		}
		s.dial()
		s.checkEnd()
	}
	s.orders()
	return s.plan
}

func (s *Scheduler) valid(i int) bool { return i >= 0 && i < len(s.peers) }

// live returns the peer an event names if it is open, else nil.
func (s *Scheduler) live(i int) *speer {
	if !s.valid(i) || s.peers[i].phase != open {
		return nil
	}
	s.sender = i
	return s.peers[i]
}

func (s *Scheduler) handle(ev Event) {
	switch e := ev.(type) {
	case Discovered:
		a := PeerAddr{Addr: netip.AddrPortFrom(e.Addr.Addr.Addr().Unmap(), e.Addr.Addr.Port()), Source: e.Addr.Source}
		if !a.Addr.IsValid() || s.seen[a.Addr] {
			return
		}
		s.seen[a.Addr] = true
		s.peers = append(s.peers, &speer{idx: len(s.peers), addr: a})
		s.queue = append(s.queue, len(s.peers)-1)
	case SourceDone:
		s.sourceDone = true
	case Connected:
		if s.valid(e.Peer) && s.peers[e.Peer].phase == dialing {
			s.peers[e.Peer].phase = open
			s.connected(s.live(e.Peer), e)
			s.progress()
		}
	case ExtChanged:
		if p := s.live(e.Peer); p != nil {
			s.extChanged(p, e.UT, e.LT)
		}
	case Data:
		if p := s.live(e.Peer); p != nil {
			s.onData(p, e)
		}
	case Rejected:
		if p := s.live(e.Peer); p != nil {
			s.onReject(p, e.Piece)
		}
	case LTDataEvent:
		if p := s.live(e.Peer); p != nil {
			s.onLTData(p, e)
		}
	case LTDontHaveEvent:
		if p := s.live(e.Peer); p != nil {
			s.close(p, fmt.Errorf("%w: LT_metadata \"don't have\"", ErrRejected))
		}
	case Tick:
		s.live(e.Peer)
	case Gone:
		if s.valid(e.Peer) {
			s.left(s.peers[e.Peer], e.Err)
			s.progress()
		}
	}
}

// connected picks the peer's extension and learns its size.
func (s *Scheduler) connected(p *speer, e Connected) {
	p.started, p.ut, p.lt = s.now, e.UT, e.LT
	p.inflight, p.late, p.asked = map[int]request{}, map[int]bool{}, map[int]request{}
	p.rejects, p.retryAt = map[int]int{}, map[int]time.Time{}
	p.win = newWindow(e.PeerID, e.Reqq)
	if !s.pickExtension(p) {
		want := s.wanted()
		s.close(p, fmt.Errorf("%s: %w (it offers %s)", strings.Join(want, " or "), extensions.ErrNotSupported, orNone(e.Offered)))
		return
	}
	if ms := e.MetadataSize; ms != nil {
		if *ms > s.cfg.MaxSize {
			s.close(p, fmt.Errorf("%w: the peer's metadata_size %d is above the limit of %d", ErrOverLimit, *ms, s.cfg.MaxSize))
			return
		}
		if *ms <= 0 {
			s.close(p, fmt.Errorf("%w: the peer's metadata_size is %d", ErrSize, *ms))
			return
		}
		s.join(p, int(*ms))
	}
	// Without metadata_size, fill sends the size probe.
}

func (s *Scheduler) wanted() []string {
	if s.cfg.Extension != "" {
		return []string{s.cfg.Extension}
	}
	return []string{extensions.UTMetadata, extensions.LTMetadata}
}

// pickExtension chooses ut_metadata or LT_metadata from what the peer
// offers now; false if it offers neither.
func (s *Scheduler) pickExtension(p *speer) bool {
	for _, name := range s.wanted() {
		id := p.ut
		if name == extensions.LTMetadata {
			id = p.lt
		}
		if id != 0 {
			p.ext, p.extID = name, id
			return true
		}
	}
	p.ext, p.extID = "", 0
	return false
}

// extChanged applies a later extended handshake. A peer that disables the
// extension in use gives its requests back and is paused, not dropped; it
// goes on when it enables one again (BEP 10: updates are additive, 0
// disables).
func (s *Scheduler) extChanged(p *speer, ut, lt uint8) {
	prev := p.ext
	p.ut, p.lt = ut, lt
	if !s.pickExtension(p) {
		if prev != "" {
			s.cfg.Log.Info().Str("peer", p.addr.Addr.String()).Str("extension", prev).Msg("peer disabled the metadata extension: paused")
			p.paused = prev
			s.giveBack(p)
		}
		return
	}
	if prev != p.ext {
		// Switched (or resumed): what was asked over the other one is
		// given back; its late answers are still taken.
		s.giveBack(p)
		p.paused = ""
		s.cfg.Log.Info().Str("peer", p.addr.Addr.String()).Str("extension", p.ext).Msg("peer's metadata extension changed")
	}
}

// giveBack returns a peer's requests in flight to the pool.
func (s *Scheduler) giveBack(p *speer) {
	for i := range p.inflight {
		if i != probe {
			s.release(i)
		}
		p.late[i] = true
	}
	clear(p.inflight)
}

// join records the metadata size a peer claims; the first size seen is
// the one fetched. A peer claiming another size waits in reserve: if the
// first size leads nowhere (its peers are gone or lied), the fetch moves
// on to the next size a live peer claims.
func (s *Scheduler) join(p *speer, size int) {
	p.size = size
	if s.asm == nil {
		s.useSize(size)
	} else if s.asm.Size() != size {
		s.cfg.Log.Info().Str("peer", p.addr.Addr.String()).Int("size", size).Int("fetching", s.asm.Size()).Msg("peer claims another metadata size: kept in reserve")
	}
}

// useSize starts over with an assembler for size (checked by the caller).
func (s *Scheduler) useSize(size int) {
	a, _ := NewAssembler(int64(size), s.cfg.MaxSize, s.cfg.Target)
	s.asm, s.inflight = a, make([]int, a.Pieces())
	s.progress()
}

func (s *Scheduler) progress() {
	s.plan.Progress, s.plan.Have, s.plan.Total = true, 0, 0
	if s.asm != nil {
		s.plan.Have, s.plan.Total = s.asm.Pieces()-s.asm.Left(), s.asm.Pieces()
	}
	s.plan.Connected, s.plan.Delivering = 0, 0
	for _, p := range s.peers {
		if p.phase == open {
			s.plan.Connected++
			if p.delivered > 0 {
				s.plan.Delivering++
			}
		}
	}
}

// eligible: p may fetch for the current size.
func (s *Scheduler) eligible(p *speer) bool {
	return p.phase == open && p.ext != "" && s.asm != nil && p.size == s.asm.Size() &&
		(s.owner < 0 || s.owner == p.idx)
}

func (s *Scheduler) mayAsk(p *speer, i int) bool {
	return p.rejects[i] < maxRejects && !s.now.Before(p.retryAt[i])
}

// next picks a piece for p to request, or -1: first a piece nobody is
// asking for; then one that p let time out (a peer that queues answers it
// late, so asking it again only lengthens the queue; a peer that dropped
// the request needs it asked again); then one another peer is slow with
// (endgame), at most twice at once; last, if p has nothing out at all,
// the piece the fewest peers have out, so that no peer idles while slow
// ones sit on the last pieces.
func (s *Scheduler) next(p *speer) int {
	if !s.eligible(p) {
		return -1
	}
	if i := s.pick(p); i >= 0 {
		s.inflight[i]++
		return i
	}
	return -1
}

func (s *Scheduler) pick(p *speer) int {
	for round := range 3 {
		for i := range s.inflight {
			if s.asm.Have(i) || !s.mayAsk(p, i) {
				continue
			}
			if _, out := p.inflight[i]; out {
				continue
			}
			free, late := s.inflight[i] == 0, p.late[i]
			if round == 0 && free && !late || round == 1 && free && late || round == 2 && s.inflight[i] == 1 && !late {
				return i
			}
		}
	}
	if len(p.inflight) > 0 {
		return -1
	}
	best := -1
	for i := range s.inflight {
		if _, out := p.inflight[i]; out || s.asm.Have(i) || !s.mayAsk(p, i) || p.late[i] {
			continue
		}
		if best < 0 || s.inflight[i] < s.inflight[best] {
			best = i
		}
	}
	return best
}

// fill queues requests for p until its window is full or nothing is left
// to ask; a peer whose size is unknown gets the size probe.
func (s *Scheduler) fill(p *speer) {
	if p.phase != open || p.ext == "" {
		return
	}
	if p.size == 0 {
		if _, out := p.inflight[probe]; !out && s.mayAsk(p, probe) {
			r := Request{ExtID: p.extID}
			if p.ext == extensions.LTMetadata {
				r.LT, r.Piece, r.Start, r.Size = true, probe, 0, 1
			}
			s.ask(p, probe, r, request{first: 0, last: -1})
		}
		return
	}
	p.paced = false
	for len(p.inflight)+p.held() < p.win.size {
		if !s.now.Before(p.paceFrom.Add(p.win.gap)) {
			p.paceFrom, p.paceSent = s.now, 0
		}
		if p.paceSent >= p.win.burst && p.win.paced() {
			p.paced = true
			break
		}
		i := s.next(p)
		if i < 0 {
			break
		}
		r := Request{ExtID: p.extID, Piece: i}
		var q request
		if p.ext == extensions.LTMetadata {
			r.LT = true
			r.Start, r.Size = LTCover(i*PieceSize, i*PieceSize+PieceLen(p.size, i), p.size)
			q.first, q.last = LTRange(r.Start, r.Size, p.size)
		}
		s.ask(p, i, r, q)
	}
}

// held counts the requests that timed out but that the peer may still be
// answering, where that matters: rtorrent, whose window is a hard one,
// drops the connection (and refuses the address for minutes) when it
// holds two.
func (p *speer) held() int {
	if p.win.hard {
		return len(p.late)
	}
	return 0
}

func (s *Scheduler) ask(p *speer, key int, r Request, q request) {
	_, again := p.asked[key]
	q.sent, q.lt, q.depth, q.again = s.now, r.LT, len(p.inflight)+1, again
	p.paceSent++
	p.inflight[key], p.asked[key] = q, q
	if key == probe {
		p.probeSent = append(p.probeSent, s.now)
	}
	p.send = append(p.send, r)
	p.requested++
}

// release undoes next for a piece that will not be answered.
func (s *Scheduler) release(i int) {
	if i >= 0 && i < len(s.inflight) && s.inflight[i] > 0 {
		s.inflight[i]--
	}
}

// deadline is when p's oldest request times out (the zero time if none):
// counted from its sending, the last answer or the last timeout, whichever
// is latest; or, if sooner, when a rejected piece may be asked again.
func (s *Scheduler) deadline(p *speer) (time.Time, int) {
	oldest, at := 0, time.Time{}
	first := true
	for i, r := range p.inflight {
		if first || r.sent.Before(at) || r.sent.Equal(at) && i < oldest {
			oldest, at, first = i, r.sent, false
		}
	}
	var d time.Time
	if !first {
		for _, t := range []time.Time{p.lastAnswer, p.lastTimeout} {
			if t.After(at) {
				at = t
			}
		}
		d = at.Add(p.rtt.timeout())
	}
	if len(p.inflight) < p.win.size && p.ext != "" {
		for i, t := range p.retryAt {
			if t.After(s.now) && p.rejects[i] < maxRejects && (d.IsZero() || t.Before(d)) &&
				(i == probe && p.size == 0 || i >= 0 && s.eligible(p) && !s.asm.Have(i)) {
				d = t
			}
		}
	}
	if first {
		oldest = 0
	}
	return d, oldest
}

// expire times out the requests whose deadline has passed.
func (s *Scheduler) expire() {
	for _, p := range s.peers {
		if p.phase != open || len(p.inflight) == 0 {
			continue
		}
		d, oldest := s.deadline(p)
		if _, out := p.inflight[oldest]; !out || s.now.Before(d) {
			continue
		}
		s.timedOut(p, oldest)
	}
}

// timedOut gives back p's request for piece i, which timed out: the
// window shrinks and the timer backs off.
func (s *Scheduler) timedOut(p *speer, i int) {
	p.timeouts++
	p.silent++
	p.win.timedOut()
	p.rtt.timedOut()
	p.lastTimeout = s.now
	p.late[i] = true
	delete(p.inflight, i)
	if i != probe {
		s.release(i)
		s.ownerTimedOut(p)
	}
	s.cfg.Log.Debug().Str("peer", p.addr.Addr.String()).Int("piece", i).Int("window", p.win.size).Dur("next_timeout", p.rtt.timeout()).Msg("metadata request timed out")
	since := p.lastAnswer
	if since.IsZero() {
		since = p.started
	}
	if p.silent >= maxSilentTimeouts && s.now.Sub(since) >= silentGiveUp {
		s.close(p, fmt.Errorf("peer stopped answering %s requests: %w", p.ext,
			&peer.TimeoutError{Op: "wait for metadata", After: s.now.Sub(since)}))
	}
}

// ownerTimedOut hears that a request of p timed out. An owner that lets a
// request time out loses the fetch to the peer that has delivered most, if
// that is more than the owner has; an owner that has delivered nothing
// loses it to the next peer in turn: one slow peer must not hold up the
// rest.
func (s *Scheduler) ownerTimedOut(p *speer) {
	if s.owner != p.idx {
		return
	}
	s.owner = -1
	floor := p.delivered
	if floor == 0 {
		floor = -1
	}
	best := s.bestPeer(p.idx, floor)
	if best < 0 {
		s.owner = p.idx
		return
	}
	// Start over, so that a bad copy still has one source.
	s.restart()
	s.owner = best
	s.cfg.Log.Info().Str("peer", s.peers[best].addr.Addr.String()).Str("slow", p.addr.Addr.String()).Int("delivered", s.peers[best].delivered).Msg("the peer fetching alone is slow: fetching from this one instead")
}

// restart forgets the pieces in; requests in flight stay out (their
// answers are taken if they fit) but no longer count.
func (s *Scheduler) restart() {
	s.asm.Reset()
	clear(s.inflight)
	for _, p := range s.peers {
		for i := range p.inflight {
			if i != probe {
				p.late[i] = true
				delete(p.inflight, i)
			}
		}
	}
	s.progress()
}

// bestPeer is the peer other than but that can fetch the current size and
// has delivered the most pieces, more than floor; of equals, the first
// after but in turn (so that peers that delivered nothing are tried one
// after the other); -1 if none. No owner is set while it runs (eligible
// admits only the owner while there is one).
func (s *Scheduler) bestPeer(but, floor int) int {
	best, n := -1, len(s.peers)
	for k := 1; k <= n; k++ {
		i := (but + k) % n
		if but < 0 {
			i = k - 1
		}
		p := s.peers[i]
		if i != but && s.eligible(p) && p.delivered > floor && (best < 0 || p.delivered > s.peers[best].delivered) {
			best = i
		}
	}
	return best
}

// newOwner hands the fetch to the peer that can fetch the current size
// and has delivered the most pieces, the lowest-numbered of equals (-1
// when there is none): a peer that has answered nothing is tried last.
func (s *Scheduler) newOwner() {
	s.owner = -1
	s.owner = s.bestPeer(-1, -1)
	if best := s.owner; best >= 0 {
		s.cfg.Log.Info().Str("peer", s.peers[best].addr.Addr.String()).Int("delivered", s.peers[best].delivered).Msg("fetching from this peer alone, so that a bad copy names its source")
	}
}

// reconsider makes sure the fetch can go on after a peer left, paused or
// was banned: an owner that cannot fetch is replaced; when no peer can
// fetch the current size, another size claimed by a live peer is tried.
func (s *Scheduler) reconsider() {
	if s.done || s.asm == nil {
		return
	}
	if s.owner >= 0 && !s.eligible(s.peers[s.owner]) {
		// The owner left, paused or was banned before finishing: its
		// partial copy could not be blamed on anyone else, so start over
		// with the next.
		s.restart()
		s.newOwner()
	} else if s.tainted && s.owner < 0 {
		s.newOwner()
	}
	if s.owner >= 0 || s.anyEligible() {
		return
	}
	for _, p := range s.peers {
		if p.phase == open && p.ext != "" && p.size != 0 && p.size != s.asm.Size() {
			s.cfg.Log.Info().Int("size", p.size).Msg("trying the metadata size another peer claims")
			s.useSize(p.size)
			if s.tainted {
				s.newOwner()
			}
			return
		}
	}
}

func (s *Scheduler) anyEligible() bool {
	return slices.ContainsFunc(s.peers, s.eligible)
}

// checkEnd fails the fetch when no peer is left and none can come: the
// source is exhausted, nobody is queued, dialling or learning its size,
// and no live peer can fetch (a paused peer may come back).
func (s *Scheduler) checkEnd() {
	if !s.sourceDone || len(s.queue) > 0 {
		return
	}
	for _, p := range s.peers {
		switch {
		case p.phase == dialing:
			return
		case p.phase != open:
		case p.paused != "" || p.size == 0 || s.eligible(p):
			return
		}
	}
	s.finish(nil, s.Failure())
}

func (s *Scheduler) finish(info []byte, err error) {
	s.done = true
	s.plan.Done, s.plan.Info, s.plan.Err = true, info, err
}

// dial starts queued peers while under both caps.
func (s *Scheduler) dial() {
	n, half := 0, 0
	for _, p := range s.peers {
		switch p.phase {
		case dialing:
			half++
			n++
		case open:
			n++
		}
	}
	for len(s.queue) > 0 && half < s.cfg.MaxDialing && n < s.cfg.MaxConns {
		p := s.peers[s.queue[0]]
		s.queue = s.queue[1:]
		p.phase = dialing
		half++
		n++
		s.plan.Dial = append(s.plan.Dial, Dial{Peer: p.idx, Addr: p.addr})
	}
}

// close drops p (a policy decision) and orders its worker to close.
func (s *Scheduler) close(p *speer, err error) {
	if p.phase != open {
		return
	}
	p.closing = true
	s.left(p, err)
}

// left forgets p: its requests return to the pool.
func (s *Scheduler) left(p *speer, err error) {
	if p.err == nil || errors.As(p.err, new(*Violation)) && errors.As(err, new(*peer.ProtocolError)) {
		// The worker reports a violation found here as its connection's
		// protocol error, with the connection's real state.
		p.err = err
	}
	if p.phase == gone {
		return
	}
	p.phase = gone
	if s.asm != nil {
		for i := range p.inflight {
			s.release(i)
		}
	}
	clear(p.inflight)
	p.send = nil
}

// orders builds the orders of the plan: for the peer that reported (it
// waits for one), and for every peer with requests to send, a close, or a
// new deadline.
func (s *Scheduler) orders() {
	for _, p := range s.peers {
		switch {
		case p.closing:
			s.plan.Orders = append(s.plan.Orders, Order{Peer: p.idx, Close: true, Err: p.err})
			p.closing = false
			continue
		case p.phase != open || s.done:
			continue
		}
		d, _ := s.deadline(p)
		if at := p.paceFrom.Add(p.win.gap); p.paced && (d.IsZero() || at.Before(d)) {
			d = at // the next burst
		}
		if p.idx == s.sender || len(p.send) > 0 || !d.Equal(p.deadline) {
			s.plan.Orders = append(s.plan.Orders, Order{Peer: p.idx, Send: p.send, Deadline: d})
			p.send, p.deadline = nil, d
		}
	}
}

// onData takes a ut_metadata data message.
func (s *Scheduler) onData(p *speer, m Data) {
	i := m.Piece
	violation := func(format string, args ...any) {
		s.close(p, &Violation{Reason: fmt.Sprintf(format, args...)})
	}
	if _, out := p.inflight[0]; i == 0 && len(p.probeSent) > 0 && (p.size == 0 || !out) {
		// The answer to the size probe: piece 0 says the size.
		if m.Total <= 0 || m.Total > s.cfg.MaxSize {
			s.close(p, fmt.Errorf("%w: the peer's total_size %d is not positive or above the limit of %d", ErrSize, m.Total, s.cfg.MaxSize))
			return
		}
		if p.size != 0 && m.Total != int64(p.size) {
			violation("ut_metadata total_size %d differs from %d", m.Total, p.size)
			return
		}
		if want := PieceLen(int(m.Total), 0); len(m.Bytes) != want {
			violation("ut_metadata piece 0 is %d bytes, want %d", len(m.Bytes), want)
			return
		}
		s.probeAnswered(p)
		if p.size == 0 {
			p.asked[0] = p.asked[probe]
			s.join(p, int(m.Total))
		}
		s.put(p, 0, m.Bytes)
		return
	}
	if p.size == 0 {
		violation("ut_metadata data for piece %d, which was not requested", i)
		return
	}
	if m.Total != int64(p.size) {
		violation("ut_metadata total_size %d differs from metadata_size %d", m.Total, p.size)
		return
	}
	r, inflight := p.inflight[i]
	if _, asked := p.asked[i]; !asked {
		violation("ut_metadata data for piece %d, which was not requested", i)
		return
	}
	if i >= PieceCount(p.size) {
		violation("ut_metadata piece %d out of range", i)
		return
	}
	if want := PieceLen(p.size, i); len(m.Bytes) != want {
		violation("ut_metadata piece %d is %d bytes, want %d", i, len(m.Bytes), want)
		return
	}
	switch {
	case inflight:
		delete(p.inflight, i)
		s.sample(p, r)
		s.release(i)
	case p.late[i]:
		// Timed out and not asked again: the answer's time is known for
		// sure, and it is the sample that teaches the timer.
		delete(p.late, i)
		s.sample(p, p.asked[i])
	default:
		// Answered before: dropped, and not taken as a sign of life, so
		// that a peer repeating one piece cannot hold the fetch.
		return
	}
	s.answered(p)
	s.put(p, i, m.Bytes)
}

// onReject backs the piece off for this peer; others may still be asked.
func (s *Scheduler) onReject(p *speer, i int) {
	key := i
	if p.size == 0 && i == 0 && len(p.probeSent) > 0 {
		key = probe
		p.probeSent = p.probeSent[1:]
		delete(p.late, probe)
		if len(p.probeSent) > 0 {
			return // the reject of an earlier probe; the last one is out
		}
	} else if _, out := p.inflight[key]; !out {
		return // a reject for a request that already timed out
	}
	p.rejected++
	p.rejects[key]++
	p.retryAt[key] = s.now.Add(time.Duration(p.rejects[key]) * rejectBackoff)
	delete(p.inflight, key)
	if key != probe {
		s.release(key)
	}
	if len(p.inflight) == 0 && !s.askable(p) {
		s.close(p, fmt.Errorf("%w: %s rejected every request", ErrRejected, p.ext))
	}
}

// askable reports whether p could still be asked for something missing
// (it has not rejected it too often).
func (s *Scheduler) askable(p *speer) bool {
	if p.size == 0 {
		return p.rejects[probe] < maxRejects
	}
	if s.asm == nil || s.asm.Size() != p.size {
		return true
	}
	for _, i := range s.asm.Missing() {
		if p.rejects[i] < maxRejects {
			return true
		}
	}
	return false
}

// onLTData takes an LT_metadata data message.
func (s *Scheduler) onLTData(p *speer, m LTDataEvent) {
	violation := func(format string, args ...any) {
		s.close(p, &Violation{Reason: fmt.Sprintf(format, args...)})
	}
	if len(p.probeSent) > 0 && (p.size == 0 || m.Offset == 0 && m.Total == p.size && len(m.Bytes) == probeLen(p.size)) {
		if m.Offset != 0 {
			violation("LT_metadata answer at offset %d to a request from 0", m.Offset)
			return
		}
		if p.size == 0 {
			if int64(m.Total) > s.cfg.MaxSize {
				s.close(p, fmt.Errorf("%w: %d bytes is above the limit of %d", ErrOverLimit, m.Total, s.cfg.MaxSize))
				return
			}
			s.join(p, m.Total)
		}
		s.probeAnswered(p)
		return
	}
	if p.size == 0 {
		violation("LT_metadata data for bytes %d-%d, which were not requested", m.Offset, m.Offset+len(m.Bytes))
		return
	}
	if m.Total != p.size {
		violation("LT_metadata total size %d differs from %d", m.Total, p.size)
		return
	}
	off, end := m.Offset, m.Offset+len(m.Bytes)
	matched, repeated := s.matchLT(p, off, end)
	if !matched {
		violation("LT_metadata data for bytes %d-%d, which were not requested", off, end)
		return
	}
	if repeated {
		return // dropped, as for ut_metadata
	}
	s.answered(p)
	// Every 16 KiB piece the range covers goes in.
	for i := (off + PieceSize - 1) / PieceSize; i < PieceCount(p.size); i++ {
		st, e := i*PieceSize, i*PieceSize+PieceLen(p.size, i)
		if e > end {
			break
		}
		if st >= off {
			if !s.put(p, i, m.Bytes[st-off:e-off]) {
				return
			}
		}
	}
}

// probeLen is the length of the answer to the LT_metadata size probe.
func probeLen(size int) int {
	_, last := LTRange(0, 1, size)
	return last
}

// probeAnswered retires the oldest size probe out.
func (s *Scheduler) probeAnswered(p *speer) {
	sent := p.probeSent[0]
	p.probeSent = p.probeSent[1:]
	delete(p.late, probe)
	if len(p.probeSent) == 0 {
		delete(p.inflight, probe)
	}
	s.sample(p, request{sent: sent, depth: 1})
	s.answered(p)
}

// matchLT finds the request an LT_metadata answer for bytes [off, end)
// belongs to, in flight or late, and retires it; an answer to a request
// already answered is repeated.
func (s *Scheduler) matchLT(p *speer, off, end int) (matched, repeated bool) {
	for _, i := range slices.Sorted(maps.Keys(p.inflight)) {
		r := p.inflight[i]
		if r.lt && r.first == off && r.last == end {
			delete(p.inflight, i)
			s.sample(p, r)
			s.release(i)
			return true, false
		}
	}
	for _, i := range slices.Sorted(maps.Keys(p.asked)) {
		r := p.asked[i]
		if r.lt && r.first == off && r.last == end {
			if !p.late[i] {
				return true, true
			}
			delete(p.late, i)
			s.sample(p, r)
			return true, false
		}
	}
	return false, false
}

// sample feeds the round-trip estimate with the time the peer took for
// this answer: from the request, or from the previous answer if the
// request was queued behind it.
//
// The window learns from it too, unless the piece was asked before on
// this connection: the answer may be the first request's (Karn's rule),
// which would make it look fast, and make every request sent between the
// two look overtaken.
func (s *Scheduler) sample(p *speer, q request) {
	sent := q.sent
	if !q.again {
		if p.win.observe(s.now.Sub(sent), q.depth) {
			s.cfg.Log.Debug().Str("peer", p.addr.Addr.String()).Dur("latency", s.now.Sub(sent)).Int("depth", q.depth).
				Dur("fastest", p.win.fastest).Int("window", p.win.size).Dur("gap", p.win.gap).Msg("an answer queued in the peer: window capped")
		}
		s.overtaken(p, sent)
	}
	if p.lastAnswer.After(sent) {
		sent = p.lastAnswer
	}
	p.rtt.sample(s.now.Sub(sent))
}

// overtaken hears that p answered a request sent at sent: a request sent
// before it and still unanswered was put aside (libtorrent queues what
// arrives while its send buffer is full until its next one-second tick,
// and answers what comes after at once). It is given back like a request
// that timed out, without the timer's back-off, so that it is asked again
// (of this peer last) instead of waited for; the window learns its cap
// from it. A peer that answers in order never overtakes.
func (s *Scheduler) overtaken(p *speer, sent time.Time) {
	for i, q := range p.inflight {
		if i == probe || !q.sent.Before(sent) {
			continue
		}
		delete(p.inflight, i)
		p.late[i] = true
		s.release(i)
		p.win.queued(q.depth)
		s.cfg.Log.Debug().Str("peer", p.addr.Addr.String()).Int("piece", i).Int("depth", q.depth).Int("window", p.win.size).Msg("a later request was answered first: asked again")
	}
}

func (s *Scheduler) answered(p *speer) {
	p.lastAnswer = s.now
	p.silent = 0
	p.received++
	p.win.answered()
	p.rtt.answered()
}

// put stores a piece from p; when it completes the metadata, it is
// verified. A failed hash starts over and hands the fetch to one peer at
// a time; a peer whose own copy fails is banned. It reports whether p is
// still open.
func (s *Scheduler) put(p *speer, i int, data []byte) bool {
	p.delivered++
	if s.done || !s.eligible(p) {
		return p.phase == open
	}
	if err := s.asm.Put(i, data, p.idx); err != nil {
		s.close(p, &Violation{Reason: err.Error()})
		return false
	}
	s.progress()
	if !s.asm.Done() {
		return true
	}
	info, err := s.asm.Verify()
	if err == nil {
		s.finish(info, nil)
		return true
	}
	sources := s.asm.Sources()
	s.cfg.Log.Info().Err(err).Ints("sources", sources).Msg("assembled metadata failed verification: discarded")
	s.restart()
	if len(sources) == 1 {
		// One peer supplied it all: that peer is lying, and is shut out.
		s.close(s.peers[sources[0]], err)
	}
	s.tainted = true
	s.newOwner()
	return p.phase == open
}

// Failure explains why no peer delivered: the error of the peer that got
// furthest, so that the exit code names the cause.
func (s *Scheduler) Failure() error {
	ranked := slices.Clone(s.peers)
	ranked = slices.DeleteFunc(ranked, func(p *speer) bool { return p.phase == queued })
	if len(ranked) == 0 {
		return errors.New("no peers to fetch from")
	}
	rank := func(p *speer) int {
		switch {
		case errors.Is(p.err, metainfo.ErrHashMismatch), errors.Is(p.err, metainfo.ErrInvalidMetadata):
			return 6
		case errors.Is(p.err, ErrRejected), errors.Is(p.err, ErrSize):
			return 5
		case p.received > 0:
			return 4
		case errors.As(p.err, new(*peer.ProtocolError)), errors.As(p.err, new(*extensions.PayloadError)),
			errors.As(p.err, new(*Violation)):
			return 3
		case errors.Is(p.err, extensions.ErrNotSupported):
			return 2
		case p.err != nil, p.paused != "":
			return 1
		}
		return 0
	}
	slices.SortStableFunc(ranked, func(a, b *speer) int { return rank(b) - rank(a) })
	best := ranked[0]
	err := best.err
	switch {
	case best.paused != "" && err == nil:
		err = fmt.Errorf("peer disabled %s: %w", best.paused, extensions.ErrNotSupported)
	case best.paused != "":
		err = fmt.Errorf("peer disabled %s, then: %w", best.paused, err)
	}
	switch {
	case err == nil:
		return errors.New("metadata fetch ended without a result")
	case len(ranked) == 1:
		return err
	}
	return fmt.Errorf("no peer delivered the metadata; %s: %w", best.addr.Addr, err)
}

// PeerStats returns what happened with each peer that was dialled, in the
// order they were.
func (s *Scheduler) PeerStats() []PeerStats {
	var out []PeerStats
	for _, p := range s.peers {
		if p.phase == queued {
			continue
		}
		st := PeerStats{idx: p.idx, Addr: p.addr.Addr.String(), Source: p.addr.Source, Extension: p.ext,
			Requested: p.requested, Received: p.received, Rejected: p.rejected, Timeouts: p.timeouts, err: p.err}
		if st.Extension == "" {
			st.Extension = p.paused
		}
		if p.err != nil {
			st.Error = p.err.Error()
		}
		out = append(out, st)
	}
	return out
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "no extensions"
	}
	return strings.Join(names, ", ")
}

// Stop ends the fetch without a result at now (the fetch's context
// ended): a peer with requests out is recorded as timed out, and later
// steps only record why peers left.
func (s *Scheduler) Stop(now time.Time) {
	if s.done {
		return
	}
	s.done = true
	for _, p := range s.peers {
		if p.phase != open || p.err != nil || len(p.inflight) == 0 {
			continue
		}
		oldest := now
		for _, r := range p.inflight {
			if r.sent.Before(oldest) {
				oldest = r.sent
			}
		}
		p.err = fmt.Errorf("no answer to %s requests: %w", p.ext, &peer.TimeoutError{Op: "wait for metadata", After: now.Sub(oldest)})
	}
}
