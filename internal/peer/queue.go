package peer

import (
	"context"
	"net"
)

// writeQueue holds messages to go out together in one vectored write: a
// server that answers every request that arrived together makes one
// system call for all the answers, not one each.
type writeQueue struct {
	buf  []byte      // headers and small payloads, copied
	bufs net.Buffers // what goes out, in order: slices of buf, large payloads
	mark int         // buf[mark:] is not yet in bufs
	n    int         // bytes queued
}

// QueueExtended queues the extension message <20><id><head><body> for the
// next Flush, or for the next write, which sends it first. A body of 1 KiB
// or more is not copied: it must not change until it has gone out.
func (c *Conn) QueueExtended(id uint8, head, body []byte) error {
	// The state machine looks at the extension id and the first byte after.
	if err := c.m.send(Message{ID: Extended, Payload: []byte{id}}); err != nil {
		return err
	}
	q := &c.q
	b, err := appendHeader(q.buf, Extended, 1+len(head)+len(body))
	if err != nil {
		return err
	}
	b = append(append(b, id), head...)
	if len(body) >= minSeparatePayload {
		q.bufs = append(q.bufs, b[q.mark:], body)
		q.mark = len(b)
	} else {
		b = append(b, body...)
	}
	q.buf = b
	q.n += 4 + 1 + 1 + len(head) + len(body)
	if e := c.log.Trace(); e.Enabled() {
		e.Uint8("ext", id).Int("len", len(head)+len(body)).Msg("queue extended")
	}
	return nil
}

// Queued is the number of bytes queued for the next Flush.
func (c *Conn) Queued() int { return c.q.n }

// Flush sends the queued messages in one vectored write (writev), within
// cfg.WriteTimeout.
func (c *Conn) Flush(ctx context.Context) error {
	if c.q.n == 0 {
		return nil
	}
	return c.writeBuffers(ctx, "send queued messages", nil)
}

// take returns the queued buffers followed by bufs, for one write; the
// caller calls reset once it is done with them.
func (q *writeQueue) take(bufs net.Buffers) net.Buffers {
	if q.mark < len(q.buf) {
		q.bufs = append(q.bufs, q.buf[q.mark:])
		q.mark = len(q.buf)
	}
	return append(q.bufs, bufs...)
}

// reset empties the queue, keeping its buffers unless they grew too big.
func (q *writeQueue) reset() {
	clear(q.bufs[:cap(q.bufs)]) // let go of the large payloads
	q.bufs = q.bufs[:0]
	if cap(q.buf) > maxKeptWriteBuf {
		q.buf = nil
	} else {
		q.buf = q.buf[:0]
	}
	if cap(q.bufs) > 1024 {
		q.bufs = nil
	}
	q.mark, q.n = 0, 0
}

// QueueHandshake queues our BT handshake for the next write, so that what
// follows it (the extended handshake, once the peer's reserved bits are
// known) goes out in the same write.
func (c *Conn) QueueHandshake(h Handshake) error {
	if err := c.m.sendHandshake(h.Reserved); err != nil {
		return err
	}
	c.q.buf, _ = h.AppendBinary(c.q.buf)
	c.q.n += HandshakeLen
	if e := c.log.Debug(); e.Enabled() { // the strings cost even when not logged
		e.Str("reserved", h.Reserved.String()).Str("info_hash", h.InfoHash.String()).Msg("queue handshake")
	}
	return nil
}
