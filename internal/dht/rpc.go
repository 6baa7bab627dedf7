package dht

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/btext/btext/internal/metainfo"
)

// Ping sends a ping to addr and returns the id the node answers with.
func (c *Client) Ping(ctx context.Context, addr netip.AddrPort) (NodeID, error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	m, err := c.query(ctx, addr, "ping", map[string]any{})
	if err != nil {
		return NodeID{}, fmt.Errorf("ping %s: %w", addr, err)
	}
	c.answered(Node{ID: m.ID, Addr: addr})
	return m.ID, nil
}

// Samples is a BEP 51 sample_infohashes reply.
type Samples struct {
	// ID is the node's id.
	ID NodeID
	// Interval is how long the node asks to wait before asking it again.
	Interval time.Duration
	// Num is how many info hashes the node stores in all; Hashes is the
	// sample of them it sent.
	Num    int
	Hashes []metainfo.Hash
	// Nodes are the nodes it knows closest to the target.
	Nodes []Node
}

// SampleInfohashes asks addr for a sample of the info hashes it stores
// (BEP 51), with the nodes it knows closest to target.
func (c *Client) SampleInfohashes(ctx context.Context, addr netip.AddrPort, target NodeID) (*Samples, error) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	args := map[string]any{"target": string(target[:])}
	m, err := c.query(ctx, addr, "sample_infohashes", args)
	if err != nil {
		return nil, fmt.Errorf("sample_infohashes %s: %w", addr, err)
	}
	c.answered(Node{ID: m.ID, Addr: addr})
	if !m.HasSamp {
		return nil, fmt.Errorf("sample_infohashes %s: %w: reply has no samples (BEP 51 not supported)", addr, ErrMalformed)
	}
	if m.SampBad {
		return nil, fmt.Errorf("sample_infohashes %s: %w: samples are not a multiple of 20 bytes", addr, ErrMalformed)
	}
	return &Samples{
		ID:       m.ID,
		Interval: time.Duration(max(0, min(m.Interval, 1<<20))) * time.Second,
		Num:      int(max(0, min(m.Num, 1<<31-1))),
		Hashes:   m.Samples,
		Nodes:    m.Nodes,
	}, nil
}
