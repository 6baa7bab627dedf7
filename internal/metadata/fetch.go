package metadata

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
)

// FetchConfig configures Fetch.
type FetchConfig struct {
	Target metainfo.Target
	Peers  []string
	// Extension forces "ut_metadata" or "LT_metadata"; empty picks
	// ut_metadata when the peer offers it, else LT_metadata.
	Extension string
	// MaxSize caps the metadata size (metainfo.DefaultMaxSize when 0).
	MaxSize int64
	// Session is the template for each peer's session; InfoHash is set
	// from Target.
	Session extensions.Options
	// Progress, if set, is called with pieces in and total pieces.
	Progress func(have, total int)
	Log      zerolog.Logger
}

// PeerStats is what happened with one peer.
type PeerStats struct {
	Addr      string `json:"addr"`
	Client    string `json:"client"`
	Extension string `json:"extension"`
	Requested int    `json:"requested"`
	Received  int    `json:"received"`
	Rejected  int    `json:"rejected"`
	Timeouts  int    `json:"timeouts"`
	// Encryption is the MSE method used ("rc4", "plaintext"), empty for a
	// plain connection.
	Encryption string `json:"encryption,omitempty"`
	// AnsweredHash is set when the peer's handshake named another info
	// hash than the one asked for.
	AnsweredHash string `json:"answered_info_hash,omitempty"`
	Error        string `json:"error,omitempty"`

	err error
}

// Result is a verified info dictionary and how it was obtained.
type Result struct {
	Info    []byte
	Peers   []PeerStats
	Elapsed time.Duration
}

// Fetch gets the info dictionary from the peers, concurrently, and verifies
// it against the target's hashes. Pieces come from whichever peer answers;
// a peer that stalls, rejects or lies does not stop the others. When an
// assembled copy fails the hash, the pieces are dropped and the fetch goes
// on one peer at a time, so that the liar is found and shut out.
func Fetch(ctx context.Context, cfg FetchConfig) (*Result, error) {
	return fetch(ctx, cfg, nil)
}

// FetchSession fetches the metadata over a session that is already open
// (btext dont-have learns the piece count this way, on its one
// connection). The session is left open.
func FetchSession(ctx context.Context, sess *extensions.Session, cfg FetchConfig) (*Result, error) {
	cfg.Peers = []string{sess.Conn.RemoteAddr().String()}
	return fetch(ctx, cfg, sess)
}

func fetch(ctx context.Context, cfg FetchConfig, sess *extensions.Session) (*Result, error) {
	if len(cfg.Peers) == 0 {
		return nil, errors.New("no peers to fetch from")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = metainfo.DefaultMaxSize
	}
	switch cfg.Extension {
	case "", extensions.UTMetadata, extensions.LTMetadata:
	default:
		return nil, fmt.Errorf("extension %q: want %s or %s", cfg.Extension, extensions.UTMetadata, extensions.LTMetadata)
	}
	cfg.Session.InfoHash = peer.Hash(cfg.Target.HandshakeHash())
	start := time.Now()
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	co := &coordinator{cfg: &cfg, owner: -1, changed: make(chan struct{}), done: make(chan struct{}), banned: map[int]bool{}, left: map[int]bool{}, sizeOf: map[int]int{}, delivered: map[int]int{}}
	workers := make([]*worker, len(cfg.Peers))
	co.alive = len(cfg.Peers) // before any worker can leave
	var wg sync.WaitGroup
	for i, addr := range cfg.Peers {
		w := &worker{idx: i, co: co, cfg: &cfg, stats: PeerStats{Addr: addr}, sess: sess}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := w.run(ctx)
			if co.finished() && ctx.Err() != nil && errors.Is(err, context.Canceled) {
				err = nil // stopped because the fetch is over
			}
			co.leave(w, err)
		}()
	}
	select {
	case <-co.done:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	res := &Result{Elapsed: time.Since(start)}
	for _, w := range workers {
		res.Peers = append(res.Peers, w.stats)
	}
	if co.info != nil {
		res.Info = co.info
		return res, nil
	}
	return res, co.failure(parent, workers)
}

// coordinator is the state the peers share: the assembler and who is
// fetching what.
type coordinator struct {
	cfg *FetchConfig

	mu       sync.Mutex
	asm      *Assembler
	inflight []int // per piece: how many peers have a request out for it
	// owner is -1 while every peer fetches into one assembler; after a
	// hash failure it is the one peer allowed to fetch, so that a bad copy
	// names its liar.
	owner  int
	banned map[int]bool
	left   map[int]bool // peers whose worker ended
	sizeOf map[int]int  // the metadata size each peer claims
	// delivered counts the pieces each peer has answered with, needed or
	// not: after a hash failure the fetch goes to the peer that delivered
	// most.
	delivered map[int]int
	tainted   bool // a copy failed verification: one owner at a time
	alive     int
	info      []byte
	done      chan struct{} // closed when the fetch is over
	changed   chan struct{}
}

// finish ends the fetch; the caller holds mu.
func (co *coordinator) finish() {
	if !co.isDone() {
		close(co.done)
		co.broadcast()
	}
}

func (co *coordinator) isDone() bool {
	select {
	case <-co.done:
		return true
	default:
		return false
	}
}

func (co *coordinator) finished() bool {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.isDone()
}

// broadcast wakes every waiting peer; the caller holds mu.
func (co *coordinator) broadcast() {
	close(co.changed)
	co.changed = make(chan struct{})
}

func (co *coordinator) changedCh() <-chan struct{} {
	co.mu.Lock()
	defer co.mu.Unlock()
	return co.changed
}

// join records the metadata size a peer claims; the first size seen is
// the one fetched. A peer claiming another size waits in reserve: if the
// first size leads nowhere (its peers are gone or lied), the fetch moves on
// to the next size a live peer claims.
func (co *coordinator) join(w *worker, size int64) error {
	if size <= 0 || size > co.cfg.MaxSize {
		_, err := NewAssembler(size, co.cfg.MaxSize)
		return err
	}
	co.mu.Lock()
	defer co.mu.Unlock()
	co.sizeOf[w.idx] = int(size)
	if co.asm == nil {
		co.useSize(int(size))
	} else if co.asm.Size() != int(size) {
		co.cfg.Log.Info().Str("peer", w.stats.Addr).Int64("size", size).Int("fetching", co.asm.Size()).Msg("peer claims another metadata size: kept in reserve")
		co.reconsider() // the peers of the current size may all be gone
	}
	co.broadcast()
	return nil
}

// useSize starts over with an assembler for size; the caller holds mu.
func (co *coordinator) useSize(size int) {
	a, _ := NewAssembler(int64(size), co.cfg.MaxSize) // checked in join
	co.asm, co.inflight = a, make([]int, a.Pieces())
	if co.cfg.Progress != nil {
		co.cfg.Progress(0, a.Pieces())
	}
}

// eligible: peer idx may fetch for the current size; the caller holds mu.
func (co *coordinator) eligible(idx int) bool {
	s, joined := co.sizeOf[idx]
	return joined && co.asm != nil && s == co.asm.Size() && !co.banned[idx] && !co.left[idx] &&
		(co.owner < 0 || co.owner == idx)
}

// next picks a piece for w to request, or -1: first a piece nobody is
// asking for; then one that w let time out (a peer that queues answers it
// late, so asking it again only lengthens the queue; a peer that dropped
// the request needs it asked again); then one another peer is slow with
// (endgame), at most twice at once.
func (co *coordinator) next(w *worker) int {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.isDone() || !co.eligible(w.idx) {
		return -1
	}
	pick := -1
	for round := 0; round < 3 && pick < 0; round++ {
		for i := range co.inflight {
			if co.asm.Have(i) || w.isInflight(i) || !w.mayAsk(i) {
				continue
			}
			free, late := co.inflight[i] == 0, w.late[i]
			if round == 0 && free && !late || round == 1 && free && late || round == 2 && co.inflight[i] == 1 && !late {
				pick = i
				break
			}
		}
	}
	if pick >= 0 {
		co.inflight[pick]++
	}
	return pick
}

// askable reports whether w could still be asked for some missing piece
// (it has not rejected them all too often).
func (co *coordinator) askable(w *worker) bool {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.asm == nil || co.isDone() || co.asm.Size() != co.sizeOf[w.idx] {
		return true
	}
	for _, i := range co.asm.Missing() {
		if w.rejects[i] < maxRejects {
			return true
		}
	}
	return false
}

// bannedErr is the reason w was shut out, or nil.
func (co *coordinator) bannedErr(w *worker) error {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.banned[w.idx] {
		return fmt.Errorf("%w: this peer's copy failed verification", metainfo.ErrHashMismatch)
	}
	return nil
}

// release undoes next for a piece that will not be answered.
func (co *coordinator) release(i int) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.inflight != nil && i < len(co.inflight) && co.inflight[i] > 0 {
		co.inflight[i]--
		co.broadcast()
	}
}

// put stores a piece from w; when it completes the metadata, it is
// verified. A failed hash resets the assembler and hands the fetch to one
// peer at a time; a peer whose own copy fails is banned.
func (co *coordinator) put(w *worker, i int, data []byte) error {
	co.mu.Lock()
	defer co.mu.Unlock()
	co.delivered[w.idx]++
	if co.isDone() || !co.eligible(w.idx) || co.asm.Size() != w.size {
		return nil
	}
	if err := co.asm.Put(i, data, w.idx); err != nil {
		return &peer.ProtocolError{State: peer.StateExtended, Reason: err.Error()}
	}
	if co.cfg.Progress != nil {
		co.cfg.Progress(co.asm.Pieces()-len(co.asm.Missing()), co.asm.Pieces())
	}
	if !co.asm.Done() {
		return nil
	}
	info, err := co.asm.Verify(co.cfg.Target)
	if err == nil {
		co.info = info
		co.finish()
		return nil
	}
	sources := co.asm.Sources()
	co.cfg.Log.Info().Err(err).Ints("sources", sources).Msg("assembled metadata failed verification: discarded")
	co.asm.Reset()
	clear(co.inflight)
	var ownErr error
	if len(sources) == 1 {
		// One peer supplied it all: that peer is lying.
		co.banned[sources[0]] = true
		if sources[0] == w.idx {
			ownErr = err
		}
	}
	co.tainted = true
	co.newOwner()
	co.reconsider()
	co.broadcast()
	return ownErr
}

// newOwner hands the fetch to the peer that can fetch the current size and
// has delivered the most pieces, the lowest-numbered of equals (-1 when
// there is none): a peer that has answered nothing, or is still
// connecting, is tried last. The caller holds mu.
func (co *coordinator) newOwner() {
	co.owner = -1
	co.owner = co.bestPeer(-1, -1)
	if best := co.owner; best >= 0 {
		co.cfg.Log.Info().Str("peer", co.cfg.Peers[best]).Int("delivered", co.delivered[best]).Msg("fetching from this peer alone, so that a bad copy names its source")
	}
}

// bestPeer is the peer other than but that can fetch the current size and
// has delivered the most pieces, more than floor; of equals, the first
// after but in turn (so that peers that delivered nothing are tried one
// after the other); -1 if none. The caller holds mu, with no owner set
// (eligible admits only the owner while there is one).
func (co *coordinator) bestPeer(but, floor int) int {
	best, n := -1, len(co.cfg.Peers)
	for k := 1; k <= n; k++ {
		i := (but + k) % n
		if but < 0 {
			i = k - 1
		}
		if i != but && co.eligible(i) && co.delivered[i] > floor && (best < 0 || co.delivered[i] > co.delivered[best]) {
			best = i
		}
	}
	return best
}

// timedOut hears that a request of w timed out. An owner that lets a
// request time out loses the fetch to the peer that has delivered most, if
// that is more than the owner has; an owner that has delivered nothing
// loses it to the next peer in turn: one slow peer must not hold up the
// rest.
func (co *coordinator) timedOut(w *worker) {
	co.mu.Lock()
	defer co.mu.Unlock()
	if co.isDone() || co.owner != w.idx {
		return
	}
	co.owner = -1
	floor := co.delivered[w.idx]
	if floor == 0 {
		floor = -1
	}
	best := co.bestPeer(w.idx, floor)
	if best < 0 {
		co.owner = w.idx
		return
	}
	// Start over, so that a bad copy still has one source.
	co.asm.Reset()
	clear(co.inflight)
	co.owner = best
	co.cfg.Log.Info().Str("peer", co.cfg.Peers[best]).Str("slow", w.stats.Addr).Int("delivered", co.delivered[best]).Msg("the peer fetching alone is slow: fetching from this one instead")
	co.broadcast()
}

// reconsider makes sure the fetch can go on after a peer left or was
// banned: an owner that cannot fetch is replaced; when no peer can fetch
// the current size, another size claimed by a live peer is tried; when
// nothing is left and nobody is still connecting, the fetch ends. The
// caller holds mu.
func (co *coordinator) reconsider() {
	if co.isDone() || co.asm == nil {
		if co.alive == 0 {
			co.finish()
		}
		return
	}
	ownerMode := co.owner >= 0 || co.tainted
	if co.owner >= 0 && !co.eligible(co.owner) {
		// The owner left or was banned before finishing: its partial copy
		// could not be blamed on anyone else, so start over with the next.
		co.asm.Reset()
		clear(co.inflight)
		co.newOwner()
	}
	if co.owner >= 0 || co.anyEligible() {
		return
	}
	for i := range co.cfg.Peers {
		s, joined := co.sizeOf[i]
		if joined && !co.banned[i] && !co.left[i] && s != co.asm.Size() {
			co.cfg.Log.Info().Int("size", s).Msg("trying the metadata size another peer claims")
			co.useSize(s)
			co.owner = -1
			if ownerMode {
				co.owner = i
			}
			return
		}
	}
	if co.connecting() == 0 {
		co.finish()
	}
}

// anyEligible reports whether some peer can fetch the current size.
func (co *coordinator) anyEligible() bool {
	for i := range co.cfg.Peers {
		if co.eligible(i) {
			return true
		}
	}
	return false
}

// connecting counts live peers that have not yet said their size.
func (co *coordinator) connecting() int {
	n := 0
	for i := range co.cfg.Peers {
		if _, joined := co.sizeOf[i]; !joined && !co.left[i] {
			n++
		}
	}
	return n
}

// leave records that w's worker ended with err.
func (co *coordinator) leave(w *worker, err error) {
	co.mu.Lock()
	defer co.mu.Unlock()
	w.stats.err = err
	if err != nil {
		w.stats.Error = err.Error()
	}
	co.left[w.idx] = true
	co.alive--
	if co.asm != nil {
		for i := range w.inflight {
			if i >= 0 && i < len(co.inflight) && co.inflight[i] > 0 {
				co.inflight[i]--
			}
		}
	}
	co.reconsider()
	if co.alive == 0 {
		co.finish()
	}
	co.broadcast()
}

// failure explains why no peer delivered: the error of the peer that got
// furthest, so that the exit code names the cause.
func (co *coordinator) failure(ctx context.Context, workers []*worker) error {
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return context.Cause(ctx) // interrupted
	}
	ranked := slices.Clone(workers)
	rank := func(w *worker) int {
		switch {
		case errors.Is(w.stats.err, metainfo.ErrHashMismatch), errors.Is(w.stats.err, metainfo.ErrInvalidMetadata):
			return 6
		case errors.Is(w.stats.err, ErrRejected), errors.Is(w.stats.err, ErrSize):
			return 5
		case w.stats.Received > 0:
			return 4
		case errors.As(w.stats.err, new(*peer.ProtocolError)), errors.As(w.stats.err, new(*PayloadError)):
			return 3
		case errors.Is(w.stats.err, extensions.ErrNotSupported):
			return 2
		case w.stats.err != nil:
			return 1
		}
		return 0
	}
	slices.SortStableFunc(ranked, func(a, b *worker) int { return rank(b) - rank(a) })
	best := ranked[0]
	var err error
	switch {
	case best.stats.err == nil:
		err = errors.New("metadata fetch ended without a result")
	case len(workers) == 1:
		err = best.stats.err
	default:
		err = fmt.Errorf("no peer delivered the metadata; %s: %w", best.stats.Addr, best.stats.err)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		// Out of time: a timeout (exit 3), whatever the peers did.
		return fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
	}
	return err
}
