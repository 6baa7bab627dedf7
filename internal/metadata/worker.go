package metadata

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/peer"
)

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
	// idleWait bounds the wait for something to change when a peer has
	// nothing to ask.
	idleWait = 250 * time.Millisecond
)

// request is one metadata request in flight.
type request struct {
	sent        time.Time
	first, last int // LT_metadata: the byte range asked for
}

// worker fetches from one peer. It owns its connection; it meets the other
// workers only through the coordinator.
type worker struct {
	idx   int
	co    *coordinator
	cfg   *FetchConfig
	stats PeerStats

	sess  *extensions.Session
	ext   string
	extID uint8 // the peer's id for ext
	size  int

	win      window
	rtt      rto
	inflight map[int]request // by piece; -1 is an LT_metadata size probe
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
	started     time.Time // when the fetch on this peer began
}

func (w *worker) isInflight(i int) bool { _, ok := w.inflight[i]; return ok }

func (w *worker) mayAsk(i int) bool {
	return w.rejects[i] < maxRejects && !time.Now().Before(w.retryAt[i])
}

func (w *worker) run(ctx context.Context) error {
	if w.sess == nil {
		sess, err := w.connect(ctx)
		if err != nil {
			return err
		}
		defer sess.Close()
		w.sess = sess
	}
	return w.fetch(ctx)
}

// connect dials the worker's peer.
func (w *worker) connect(ctx context.Context) (*extensions.Session, error) {
	opt := w.cfg.Session
	opt.Peer.QuickAck = true
	// What a peer sends is verified against the target's hashes, so a peer
	// that answers for another hash (libtorrent does, with a hybrid
	// torrent's v2 hash when asked with the v1) may go on.
	opt.AnyHash = true
	sess, err := extensions.Connect(ctx, w.stats.Addr, opt)
	if sess != nil {
		w.stats.Client = peer.ClientName(sess.Remote.PeerID)
		if m := sess.Conn.Crypto(); m != 0 {
			w.stats.Encryption = m.String()
		}
		if got := sess.Remote.InfoHash; got != opt.InfoHash {
			w.stats.AnsweredHash = got.String()
			w.cfg.Log.Info().Str("peer", w.stats.Addr).Str("answered", got.String()).Msg("peer answered for another info hash (a hybrid torrent's other hash?); its metadata must still verify")
		}
	}
	if err != nil {
		if sess != nil {
			sess.Close()
		}
		return nil, err
	}
	return sess, nil
}

// fetch runs the metadata exchange on the worker's session.
func (w *worker) fetch(ctx context.Context) error {
	sess := w.sess
	w.started = time.Now()
	w.stats.Client = peer.ClientName(sess.Remote.PeerID)
	w.inflight, w.late, w.asked = map[int]request{}, map[int]bool{}, map[int]request{}
	w.rejects, w.retryAt = map[int]int{}, map[int]time.Time{}
	if err := w.pickExtension(); err != nil {
		return err
	}
	w.win = newWindow(sess.Remote.PeerID, sess.Ext.Reqq)
	if err := w.learnSize(ctx); err != nil {
		return err
	}
	for !w.co.finished() {
		if err := w.co.bannedErr(w); err != nil {
			return err
		}
		if err := w.fill(ctx); err != nil {
			return err
		}
		if len(w.inflight) == 0 {
			if !w.co.askable(w) {
				return fmt.Errorf("%w: %s rejected every request", ErrRejected, w.ext)
			}
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-w.co.changedCh():
			case <-time.After(idleWait):
			}
			continue
		}
		if err := w.readOne(ctx); err != nil {
			return err
		}
	}
	return nil
}

// pickExtension chooses ut_metadata or LT_metadata from what the peer offers.
func (w *worker) pickExtension() error {
	reg := &w.sess.Registry
	offered := slices.Sorted(maps.Keys(reg.Names()))
	want := []string{extensions.UTMetadata, extensions.LTMetadata}
	if w.cfg.Extension != "" {
		want = []string{w.cfg.Extension}
	}
	for _, name := range want {
		if id, ok := reg.ID(name); ok {
			w.ext, w.extID, w.stats.Extension = name, id, name
			return nil
		}
	}
	return fmt.Errorf("%s: %w (it offers %s)", strings.Join(want, " or "), extensions.ErrNotSupported, orNone(offered))
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "no extensions"
	}
	return strings.Join(names, ", ")
}

// learnSize takes the size from the peer's metadata_size, or, for
// LT_metadata without one, from the total of a first small request.
func (w *worker) learnSize(ctx context.Context) error {
	ms := w.sess.Ext.MetadataSize
	switch {
	case ms != nil && (*ms <= 0 || *ms > w.cfg.MaxSize):
		if *ms > w.cfg.MaxSize {
			return fmt.Errorf("%w: the peer's metadata_size %d is above the limit of %d (--max-metadata-size)", ErrSize, *ms, w.cfg.MaxSize)
		}
		return fmt.Errorf("%w: the peer's metadata_size is %d", ErrSize, *ms)
	case ms != nil:
		w.size = int(*ms)
		return w.co.join(w, *ms)
	case w.ext == extensions.UTMetadata:
		return fmt.Errorf("%w: the peer offers ut_metadata without a metadata_size", ErrSize)
	}
	// LT_metadata carries the total in every answer: ask for 1/256th.
	if err := w.sendLT(ctx, -1, 0, 1, 0, 0); err != nil {
		return err
	}
	for w.size == 0 {
		if err := w.readOne(ctx); err != nil {
			return err
		}
		if len(w.inflight) == 0 && w.size == 0 {
			return fmt.Errorf("%w: no answer to the LT_metadata size probe", ErrRejected)
		}
	}
	return nil
}

// fill sends requests, in one write, until the window is full or nothing
// is left to ask.
func (w *worker) fill(ctx context.Context) error {
	var msgs []peer.Message
	var asked []int
	for len(w.inflight) < w.win.size {
		i := w.co.next(w)
		if i < 0 {
			break
		}
		var p []byte
		var r request
		if w.ext == extensions.UTMetadata {
			p, _ = UTMessage{Type: UTRequest, Piece: int64(i), TotalSize: -1}.AppendBinary(nil)
		} else {
			start, size := LTCover(i*PieceSize, i*PieceSize+PieceLen(w.size, i), w.size)
			r.first, r.last = LTRange(start, size, w.size)
			p, _ = LTMessage{Type: LTRequest, Start: start, Size: size}.AppendBinary(nil)
		}
		r.sent = time.Now()
		w.inflight[i], w.asked[i] = r, r
		asked = append(asked, i)
		msgs = append(msgs, peer.ExtendedMessage(w.extID, p))
	}
	if err := w.sess.Conn.WriteMessages(ctx, msgs...); err != nil {
		for _, i := range asked {
			w.co.release(i)
			delete(w.inflight, i)
		}
		return err
	}
	w.stats.Requested += len(msgs)
	return nil
}

func (w *worker) send(ctx context.Context, m UTMessage) error {
	b, err := m.AppendBinary(nil)
	if err != nil {
		return err
	}
	return w.sess.Conn.WriteMessage(ctx, peer.ExtendedMessage(w.extID, b))
}

func (w *worker) sendLT(ctx context.Context, key, start, size, first, last int) error {
	b, err := LTMessage{Type: LTRequest, Start: start, Size: size}.AppendBinary(nil)
	if err != nil {
		return err
	}
	r := request{sent: time.Now(), first: first, last: last}
	w.inflight[key], w.asked[key] = r, r
	return w.sess.Conn.WriteMessage(ctx, peer.ExtendedMessage(w.extID, b))
}

// readOne reads one message, waiting no longer than the oldest request's
// timeout; a request that times out is given back and the window shrinks.
func (w *worker) readOne(ctx context.Context) error {
	oldest, at := -2, time.Time{}
	for i, r := range w.inflight {
		if oldest == -2 || r.sent.Before(at) {
			oldest, at = i, r.sent
		}
	}
	for _, t := range []time.Time{w.lastAnswer, w.lastTimeout} {
		if t.After(at) {
			at = t
		}
	}
	rctx, cancel := context.WithDeadline(ctx, at.Add(w.rtt.timeout()))
	msg, err := w.sess.Conn.ReadMessage(rctx)
	cancel()
	if err != nil {
		var te *peer.TimeoutError
		if ctx.Err() != nil || !errors.As(err, &te) {
			return err
		}
		w.stats.Timeouts++
		w.silent++
		w.win.timedOut()
		w.rtt.timedOut()
		w.lastTimeout = time.Now()
		w.late[oldest] = true
		delete(w.inflight, oldest)
		if oldest >= 0 {
			w.co.release(oldest)
			w.co.timedOut(w)
		}
		w.cfg.Log.Debug().Str("peer", w.stats.Addr).Int("piece", oldest).Int("window", w.win.size).Dur("next_timeout", w.rtt.timeout()).Msg("metadata request timed out")
		since := w.lastAnswer
		if since.IsZero() {
			since = w.started
		}
		if w.silent >= maxSilentTimeouts && time.Since(since) >= silentGiveUp {
			return fmt.Errorf("peer stopped answering %s requests: %w", w.ext,
				&peer.TimeoutError{Op: "wait for metadata", After: time.Since(since)})
		}
		return nil
	}
	if msg.KeepAlive || msg.ID != peer.Extended {
		return nil
	}
	switch id := msg.Payload[0]; id {
	case 0:
		if _, err := w.sess.Receive(msg); err != nil {
			return err
		}
		if nid, ok := w.sess.Registry.ID(w.ext); !ok {
			return fmt.Errorf("peer disabled %s: %w", w.ext, extensions.ErrNotSupported)
		} else {
			w.extID = nid
		}
	case extensions.LocalUTMetadata:
		return w.onUT(ctx, msg.Payload[1:])
	case extensions.LocalLTMetadata:
		return w.onLT(msg.Payload[1:])
	}
	return nil
}

func (w *worker) onUT(ctx context.Context, p []byte) error {
	var m UTMessage
	if err := m.UnmarshalBinary(p); err != nil {
		return err
	}
	i := int(m.Piece)
	switch m.Type {
	case UTRequest:
		// We have nothing to give yet: say so rather than leave it hanging.
		return w.send(ctx, UTMessage{Type: UTReject, Piece: m.Piece, TotalSize: -1})
	case UTReject:
		if !w.isInflight(i) {
			return nil // a reject for a request that already timed out
		}
		w.stats.Rejected++
		w.rejects[i]++
		w.retryAt[i] = time.Now().Add(time.Duration(w.rejects[i]) * rejectBackoff)
		delete(w.inflight, i)
		w.co.release(i)
		return nil
	case UTData:
		if m.TotalSize != int64(w.size) {
			return &peer.ProtocolError{State: peer.StateExtended, Reason: fmt.Sprintf("ut_metadata total_size %d differs from metadata_size %d", m.TotalSize, w.size)}
		}
		r, inflight := w.inflight[i]
		if _, asked := w.asked[i]; !asked {
			return &peer.ProtocolError{State: peer.StateExtended, Reason: fmt.Sprintf("ut_metadata data for piece %d, which was not requested", i)}
		}
		if i >= PieceCount(w.size) {
			return &peer.ProtocolError{State: peer.StateExtended, Reason: fmt.Sprintf("ut_metadata piece %d out of range", i)}
		}
		if want := PieceLen(w.size, i); len(m.Data) != want {
			return &peer.ProtocolError{State: peer.StateExtended, Reason: fmt.Sprintf("ut_metadata piece %d is %d bytes, want %d", i, len(m.Data), want)}
		}
		late := w.late[i]
		w.cfg.Log.Trace().Str("peer", w.stats.Addr).Int("piece", i).Bool("in_flight", inflight).Bool("late", late).Msg("metadata piece received")
		switch {
		case inflight:
			delete(w.inflight, i)
			w.sample(r.sent)
			w.co.release(i)
		case late:
			// Timed out and not asked again: the answer's time is known
			// for sure, and it is the sample that teaches the timer.
			delete(w.late, i)
			w.sample(w.asked[i].sent)
		default:
			// Answered before: dropped, and not taken as a sign of life,
			// so that a peer repeating one piece cannot hold the fetch.
			return nil
		}
		w.answered()
		return w.co.put(w, i, m.Data)
	}
	return nil // unknown msg_type: ignored, as BEP 9 says
}

func (w *worker) onLT(p []byte) error {
	var m LTMessage
	if err := m.UnmarshalBinary(p); err != nil {
		return err
	}
	switch m.Type {
	case LTDontHave:
		return fmt.Errorf("%w: LT_metadata \"don't have\"", ErrRejected)
	case LTData:
	default:
		return nil
	}
	if w.isInflight(-1) || w.late[-1] {
		if m.Offset != 0 {
			return &peer.ProtocolError{State: peer.StateExtended, Reason: fmt.Sprintf("LT_metadata answer at offset %d to a request from 0", m.Offset)}
		}
		if w.size == 0 {
			w.size = int(m.Total)
			if err := w.co.join(w, int64(m.Total)); err != nil {
				return err
			}
		}
		delete(w.inflight, -1)
		delete(w.late, -1)
		w.answered()
		return nil
	}
	if int(m.Total) != w.size {
		return &peer.ProtocolError{State: peer.StateExtended, Reason: fmt.Sprintf("LT_metadata total size %d differs from %d", m.Total, w.size)}
	}
	off, end := int(m.Offset), int(m.Offset)+len(m.Data)
	matched, repeated := w.matchLT(off, end)
	if !matched {
		return &peer.ProtocolError{State: peer.StateExtended, Reason: fmt.Sprintf("LT_metadata data for bytes %d-%d, which were not requested", off, end)}
	}
	if repeated {
		return nil // dropped, as for ut_metadata
	}
	w.answered()
	// Every 16 KiB piece the range covers goes in.
	for i := (off + PieceSize - 1) / PieceSize; i < PieceCount(w.size); i++ {
		s, e := i*PieceSize, i*PieceSize+PieceLen(w.size, i)
		if e > end {
			break
		}
		if s < off {
			continue
		}
		if err := w.co.put(w, i, m.Data[s-off:e-off]); err != nil {
			return err
		}
	}
	return nil
}

// matchLT finds the request an LT_metadata answer for bytes [off, end)
// belongs to, in flight or late, and retires it; an answer to a request
// already answered is repeated.
func (w *worker) matchLT(off, end int) (matched, repeated bool) {
	for i, r := range w.inflight {
		if r.first == off && r.last == end {
			delete(w.inflight, i)
			w.sample(r.sent)
			w.co.release(i)
			return true, false
		}
	}
	for i, r := range w.asked {
		if r.first == off && r.last == end {
			if !w.late[i] {
				return true, true
			}
			delete(w.late, i)
			w.sample(r.sent)
			return true, false
		}
	}
	return false, false
}

// sample feeds the round-trip estimate with the time the peer took for
// this answer: from the request, or from the previous answer if the
// request was queued behind it.
func (w *worker) sample(sent time.Time) {
	if w.lastAnswer.After(sent) {
		sent = w.lastAnswer
	}
	w.rtt.sample(time.Since(sent))
}

func (w *worker) answered() {
	w.lastAnswer = time.Now()
	w.silent = 0
	w.stats.Received++
	w.win.answered()
	w.rtt.answered()
}
