package metadata

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
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
	// Peers is where peers come from: addresses as they are found, the
	// channel closed when no more will come (PeerList makes one of a fixed
	// list). Repeated addresses are dialled once.
	Peers <-chan PeerAddr
	// Extension forces "ut_metadata" or "LT_metadata"; empty picks
	// ut_metadata when the peer offers it, else LT_metadata.
	Extension string
	// MaxSize caps the metadata size (metainfo.DefaultMaxSize when 0).
	MaxSize int64
	// MaxConns bounds the connections open at once (DefaultMaxConns when
	// 0), and MaxDialing those still connecting (DefaultMaxDialing).
	MaxConns, MaxDialing int
	// Session is the template for each peer's session; InfoHash is set
	// from Target.
	Session extensions.Options
	// Progress, if set, is called when the pieces in or the peers
	// connected or delivering change, from the fetch's own goroutine,
	// holding no lock.
	Progress func(Progress)
	Log      zerolog.Logger
}

// Progress is how far a fetch has come.
type Progress struct {
	Have, Total           int // pieces in, pieces in all (0 until a size is known)
	Connected, Delivering int // peers past their handshakes; of them, those that sent a piece
}

// PeerList is a peer source of a fixed list, already closed.
func PeerList(source string, addrs ...netip.AddrPort) <-chan PeerAddr {
	ch := make(chan PeerAddr, len(addrs))
	for _, a := range addrs {
		ch <- PeerAddr{Addr: a, Source: source}
	}
	close(ch)
	return ch
}

// PeerStats is what happened with one peer.
type PeerStats struct {
	Addr string
	// Source is where the address came from (PeerAddr.Source).
	Source    string
	Client    string
	Extension string
	Requested int
	Received  int
	Rejected  int
	Timeouts  int
	// Encryption is the MSE method used ("rc4", "plaintext"), empty for a
	// plain connection.
	Encryption string
	// AnsweredHash is set when the peer's handshake named another info
	// hash than the one asked for.
	AnsweredHash string
	// Error is why the peer was left, as text (empty if it delivered or
	// was not needed); Err is the error itself.
	Error string

	idx int
	err error
}

// Err is the error the peer was left for, nil if none: what callers
// classify with errors.Is and errors.As (metainfo.ErrHashMismatch,
// ErrRejected, ErrSize, *peer.TimeoutError, ...), never Error's text.
func (s PeerStats) Err() error { return s.err }

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
// on one peer at a time, so that the liar is found and shut out. The fetch
// ends with the first verified copy, or when the source is exhausted and
// no peer is left, or at ctx's deadline.
func Fetch(ctx context.Context, cfg FetchConfig) (*Result, error) {
	return fetch(ctx, cfg, nil)
}

// FetchSession fetches the metadata over a session that is already open
// (btext dont-have learns the piece count this way, on its one
// connection). The session is left open.
func FetchSession(ctx context.Context, sess *extensions.Session, cfg FetchConfig) (*Result, error) {
	ap, err := netip.ParseAddrPort(sess.Conn.RemoteAddr().String())
	if err != nil {
		return nil, fmt.Errorf("session address: %w", err)
	}
	cfg.Peers = PeerList("session", ap)
	return fetch(ctx, cfg, sess)
}

func fetch(ctx context.Context, cfg FetchConfig, sess *extensions.Session) (*Result, error) {
	if cfg.Peers == nil {
		return nil, errors.New("no peers to fetch from")
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
	l := &loop{
		ctx:        ctx,
		cfg:        &cfg,
		sess:       sess,
		sched:      NewScheduler(SchedulerConfig{Target: cfg.Target, Extension: cfg.Extension, MaxSize: cfg.MaxSize, MaxConns: cfg.MaxConns, MaxDialing: cfg.MaxDialing, Log: cfg.Log}),
		events:     make(chan Event, 64),
		workers:    map[int]*worker{},
		interrupts: map[int]context.CancelFunc{},
	}
	plan := l.run()
	cancel()
	l.drain(plan.Done && plan.Err == nil)
	res := &Result{Elapsed: time.Since(start)}
	for _, st := range l.sched.PeerStats() {
		if w := l.workers[st.idx]; w != nil {
			st.Client, st.Encryption, st.AnsweredHash = w.client, w.encryption, w.answeredHash
		}
		res.Peers = append(res.Peers, st)
	}
	switch {
	case plan.Info != nil:
		res.Info = plan.Info
		return res, nil
	case plan.Done:
		// Asked again now that every worker has said why it ended: a
		// violation the scheduler found is by now the connection's
		// protocol error.
		return res, l.sched.Failure()
	case parent.Err() != nil && !errors.Is(parent.Err(), context.DeadlineExceeded):
		return res, context.Cause(parent) // interrupted
	}
	// Out of time: a timeout (exit 3), whatever the peers did.
	return res, fmt.Errorf("%w: %v", context.DeadlineExceeded, l.sched.Failure())
}

// loop is the fetch's one goroutine that owns the scheduler: it feeds it
// the peer source and the workers' events, one at a time, and carries out
// its plans.
type loop struct {
	ctx     context.Context
	cfg     *FetchConfig
	sess    *extensions.Session
	sched   *Scheduler
	events  chan Event
	workers map[int]*worker
	// interrupts: per worker, the cancel of the context its current order
	// reads under.
	interrupts map[int]context.CancelFunc
	running    int
	wg         sync.WaitGroup
}

// run steps the scheduler until its plan says done or the context ends.
func (l *loop) run() Plan {
	peers := l.cfg.Peers
	deadline, hasDeadline := l.ctx.Deadline()
	for {
		var ev Event
		var frame peer.Message // the frame ev's bytes lie in, released after Step
		select {
		case a, ok := <-peers:
			if !ok {
				peers, ev = nil, SourceDone{}
			} else {
				ev = Discovered{Addr: a}
			}
		case ev = <-l.events:
			if _, ok := ev.(Gone); ok {
				l.running--
			}
			ev, frame = take(ev)
		case <-l.ctx.Done():
		}
		now := time.Now()
		if l.ctx.Err() != nil || hasDeadline && !now.Before(deadline) {
			// Out of time: what the workers report now is the deadline's
			// doing (a socket's deadline may fire before the context's),
			// no reason to dial anyone else.
			if g, ok := ev.(Gone); ok {
				l.sched.Stop(now)
				l.sched.Step(now, g)
			}
			return Plan{}
		}
		plan := l.sched.Step(now, ev)
		frame.Release() // the scheduler copied the piece
		l.apply(plan)
		if plan.Done {
			return plan
		}
	}
}

// drain waits for every worker to end (the context is cancelled), giving
// their last errors to the scheduler for the report; after a success, a
// worker stopped by the cancel has no error.
func (l *loop) drain(success bool) {
	l.sched.Stop(time.Now())
	for l.running > 0 {
		ev, frame := take(<-l.events)
		frame.Release()
		if g, ok := ev.(Gone); ok {
			l.running--
			if success && errors.Is(g.Err, context.Canceled) {
				g.Err = nil
			}
			l.sched.Step(time.Now(), g)
		}
	}
	l.wg.Wait()
}

func (l *loop) apply(plan Plan) {
	for _, d := range plan.Dial {
		w := &worker{idx: d.Peer, addr: d.Addr.Addr.String(), opt: l.cfg.Session, events: l.events, wake: make(chan workerOrder, 1)}
		if l.sess != nil {
			w.sess = l.sess
		}
		l.workers[d.Peer] = w
		l.running++
		l.wg.Go(func() { w.run(l.ctx) })
	}
	for _, o := range plan.Orders {
		l.deliver(o)
	}
	if plan.Progress && l.cfg.Progress != nil {
		l.cfg.Progress(Progress{Have: plan.Have, Total: plan.Total, Connected: plan.Connected, Delivering: plan.Delivering})
	}
}

// deliver hands an order to its worker: a newer order replaces one not
// yet taken (their requests merged), and the read the worker may be in is
// interrupted so that it takes the order at once.
func (l *loop) deliver(o Order) {
	w := l.workers[o.Peer]
	if w == nil {
		return
	}
	select {
	case old := <-w.wake:
		o.Send = append(old.Send, o.Send...)
		if old.Close {
			o.Close, o.Err = true, old.Err
		}
	default:
	}
	ictx, cancel := context.WithCancel(l.ctx)
	w.wake <- workerOrder{Order: o, interrupt: ictx}
	if prev := l.interrupts[o.Peer]; prev != nil {
		prev()
	}
	l.interrupts[o.Peer] = cancel
}
