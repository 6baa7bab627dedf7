package metadata

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/peer"
)

// worker does one peer's I/O, sequentially: dial, send what its order
// says in one write, read until the order's deadline or a new order, and
// turn each message into an event for the fetch loop. It decides nothing:
// the scheduler does.
type worker struct {
	idx    int
	addr   string
	opt    extensions.Options
	sess   *extensions.Session // given (FetchSession), or dialled
	own    bool                // the worker dialled sess and closes it
	events chan<- Event
	// wake carries the worker's next order. The fetch loop is its only
	// sender and keeps at most one waiting (it merges a newer one in), so
	// a send never blocks the loop.
	wake chan workerOrder

	// Written by the worker before its first event, read by the fetch loop
	// after the worker ended.
	client, encryption, answeredHash string
}

// workerOrder is an Order and the context its reads run under: the loop
// cancels it when it has a newer order, which interrupts the read.
type workerOrder struct {
	Order
	interrupt context.Context
}

func (w *worker) report(ev Event) { w.events <- ev }

// run is the worker's goroutine. Its last event is always Gone.
func (w *worker) run(ctx context.Context) {
	err := w.session(ctx)
	if w.own && w.sess != nil {
		w.sess.Close()
	}
	w.report(Gone{Peer: w.idx, Err: err})
}

func (w *worker) session(ctx context.Context) error {
	if w.sess == nil {
		if err := w.connect(ctx); err != nil {
			return err
		}
	}
	if w.client == "" {
		w.client = peer.ClientName(w.sess.Remote.PeerID)
	}
	if w.sess.Ext == nil {
		return fmt.Errorf("extension protocol (BEP 10): %w: no extended handshake", extensions.ErrNotSupported)
	}
	reg := &w.sess.Registry
	ut, _ := reg.ID(extensions.UTMetadata)
	lt, _ := reg.ID(extensions.LTMetadata)
	w.report(Connected{Peer: w.idx, PeerID: w.sess.Remote.PeerID, UT: ut, LT: lt,
		Offered: slices.Sorted(maps.Keys(reg.Names())), MetadataSize: w.sess.Ext.MetadataSize, Reqq: w.sess.Ext.Reqq})
	o, err := w.await(ctx)
	for err == nil {
		if o.Close {
			return w.closeErr(o)
		}
		o, err = w.step(ctx, o)
	}
	return err
}

// closeErr is why the scheduler closed the peer: a violation it found is
// reported as the connection's protocol error, in the connection's state.
func (w *worker) closeErr(o workerOrder) error {
	if v := (*Violation)(nil); errors.As(o.Err, &v) {
		return w.sess.Conn.Violation("%s", v.Reason)
	}
	return o.Err
}

// ended is the error a worker ends with when the fetch's context is done:
// the close the scheduler ordered if one is waiting (the loop hands out a
// plan's orders before it cancels), else err.
func (w *worker) ended(err error) error {
	select {
	case o := <-w.wake:
		if o.Close {
			return w.closeErr(o)
		}
	default:
	}
	return err
}

// await waits for the next order.
func (w *worker) await(ctx context.Context) (workerOrder, error) {
	select {
	case o := <-w.wake:
		return o, nil
	case <-ctx.Done():
		return workerOrder{}, w.ended(context.Cause(ctx))
	}
}

// step sends what o says, reads one message, and returns the order to go
// on with.
func (w *worker) step(ctx context.Context, o workerOrder) (workerOrder, error) {
	if len(o.Send) > 0 {
		msgs := make([]peer.Message, len(o.Send))
		for i, r := range o.Send {
			msgs[i] = r.Message()
		}
		if err := w.sess.Conn.WriteMessages(ctx, msgs...); err != nil {
			if ctx.Err() != nil {
				err = w.ended(err)
			}
			return o, err
		}
		o.Send = nil
	}
	rctx, cancel := o.interrupt, context.CancelFunc(func() {})
	if !o.Deadline.IsZero() {
		rctx, cancel = context.WithDeadline(o.interrupt, o.Deadline)
	}
	msg, err := w.sess.Conn.ReadPooled(rctx)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return o, w.ended(err)
	case o.interrupt.Err() != nil:
		return w.await(ctx) // a newer order is waiting
	case errors.As(err, new(*peer.TimeoutError)):
		// The order's deadline, or a peer quiet for the connection's read
		// timeout while nothing is asked of it: the scheduler decides.
		w.report(Tick{Peer: w.idx})
		return w.await(ctx)
	default:
		return o, err
	}
	ev, err := w.event(ctx, msg)
	if err != nil || ev == nil {
		msg.Release() // nothing refers to it: errors and replies are built from copies
		return o, err
	}
	switch ev.(type) {
	case Data, LTDataEvent:
		ev = held{Event: ev, msg: msg} // its Bytes lie in msg's frame
	default:
		msg.Release()
	}
	w.report(ev)
	if w.sess.Conn.MessageBuffered() {
		// More has arrived: report it first, so that the order that
		// comes carries the requests for all of it, in one write.
		select {
		case o = <-w.wake:
		default:
		}
		return o, nil
	}
	return w.await(ctx)
}

// held is an event whose bytes lie in the pooled frame of msg
// (peer.Conn.ReadPooled): the fetch loop hands the event to the scheduler,
// which copies the pieces it keeps into its Assembler, and then releases
// msg. The worker does not touch msg after reporting it, so the frame is
// the loop's alone from then on.
type held struct {
	Event
	msg peer.Message
}

// take unwraps ev: the event for the scheduler, and the message to
// release once the scheduler has taken it (a zero one, whose Release does
// nothing, for most events).
func take(ev Event) (Event, peer.Message) {
	if h, ok := ev.(held); ok {
		return h.Event, h.msg
	}
	return ev, peer.Message{}
}

// event turns a message into an event; nil for one the scheduler does not
// need (keep-alives, messages of other extensions).
func (w *worker) event(ctx context.Context, msg peer.Message) (Event, error) {
	if msg.KeepAlive || msg.ID != peer.Extended {
		return nil, nil
	}
	p := msg.Payload[1:]
	switch msg.Payload[0] {
	case 0:
		if _, err := w.sess.Receive(msg); err != nil {
			return nil, err
		}
		ut, _ := w.sess.Registry.ID(extensions.UTMetadata)
		lt, _ := w.sess.Registry.ID(extensions.LTMetadata)
		return ExtChanged{Peer: w.idx, UT: ut, LT: lt}, nil
	case extensions.LocalUTMetadata:
		var m UTMessage
		if err := m.UnmarshalBinary(p); err != nil {
			return nil, err
		}
		switch m.Type {
		case UTRequest:
			// We have nothing to give yet: say so rather than leave it
			// hanging.
			id, ok := w.sess.Registry.ID(extensions.UTMetadata)
			if !ok {
				return nil, nil
			}
			b, _ := UTMessage{Type: UTReject, Piece: m.Piece, TotalSize: -1}.AppendBinary(nil)
			return nil, w.sess.Conn.WriteMessage(ctx, peer.ExtendedMessage(id, b))
		case UTReject:
			return Rejected{Peer: w.idx, Piece: int(m.Piece)}, nil
		case UTData:
			return Data{Peer: w.idx, Piece: int(m.Piece), Total: m.TotalSize, Bytes: m.Data}, nil
		}
	case extensions.LocalLTMetadata:
		var m LTMessage
		if err := m.UnmarshalBinary(p); err != nil {
			return nil, err
		}
		switch m.Type {
		case LTData:
			return LTDataEvent{Peer: w.idx, Total: int(m.Total), Offset: int(m.Offset), Bytes: m.Data}, nil
		case LTDontHave:
			return LTDontHaveEvent{Peer: w.idx}, nil
		}
	}
	return nil, nil // unknown msg_type: ignored, as BEP 9 says
}

// connect dials the worker's peer.
func (w *worker) connect(ctx context.Context) error {
	opt := w.opt
	opt.Peer.QuickAck = true
	// What a peer sends is verified against the target's hashes, so a peer
	// that answers for another hash (libtorrent does, with a hybrid
	// torrent's v2 hash when asked with the v1) may go on.
	opt.AnyHash = true
	sess, err := extensions.Connect(ctx, w.addr, opt)
	if sess != nil {
		w.client = peer.ClientName(sess.Remote.PeerID)
		if m := sess.Conn.Crypto(); m != 0 {
			w.encryption = m.String()
		}
		if got := sess.Remote.InfoHash; got != opt.InfoHash {
			w.answeredHash = got.String()
			sess.Conn.Log().Info().Str("answered", got.String()).Msg("peer answered for another info hash (a hybrid torrent's other hash?); its metadata must still verify")
		}
	}
	if err != nil {
		if sess != nil {
			sess.Close()
		}
		return err
	}
	w.sess, w.own = sess, true
	return nil
}
