package dht

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// The cache file is text: one "ip:port" (or "[ip6]:port") a line, most
// recently answered first. It is read with bounds, since anyone who can
// write the user's cache directory could have written it.
const maxCacheBytes = 64 << 10

func loadCache(path string) ([]netip.AddrPort, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dht cache: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCacheBytes))
	if err != nil {
		return nil, fmt.Errorf("read dht cache: %w", err)
	}
	return parseCache(b), nil
}

// parseCache keeps the valid, distinct addresses of b, at most
// maxCacheNodes; other lines are skipped.
func parseCache(b []byte) []netip.AddrPort {
	var out []netip.AddrPort
	seen := make(map[netip.AddrPort]bool)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() && len(out) < maxCacheNodes {
		ap, err := netip.ParseAddrPort(string(bytes.TrimSpace(sc.Bytes())))
		if err != nil || !usable(ap) || seen[ap] {
			continue
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		seen[ap] = true
		out = append(out, ap)
	}
	return out
}

// SaveCache writes the nodes that answered to Config.CachePath, atomically
// (a temporary file in the same directory, then a rename). When no node
// answered the file is left as it was: a failed run must not wipe a good
// cache.
func (c *Client) SaveCache() error {
	if c.cfg.CachePath == "" {
		return nil
	}
	nodes := c.GoodNodes()
	if len(nodes) == 0 {
		return nil
	}
	if len(nodes) > maxCacheNodes {
		nodes = nodes[:maxCacheNodes]
	}
	var b bytes.Buffer
	for _, ap := range nodes {
		b.WriteString(ap.String())
		b.WriteByte('\n')
	}
	if err := writeAtomic(c.cfg.CachePath, b.Bytes()); err != nil {
		return fmt.Errorf("save dht cache: %w", err)
	}
	return nil
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// usable reports whether a node address can be queried at all: a node
// handing out port 0, an unspecified or a multicast address is lying.
func usable(ap netip.AddrPort) bool {
	a := ap.Addr()
	return ap.IsValid() && ap.Port() != 0 && !a.IsUnspecified() && !a.IsMulticast()
}

// resolveTimeout bounds the DNS lookup of one bootstrap host.
const resolveTimeout = 3 * time.Second

// seeds returns the cached nodes and the bootstrap routers' addresses. The
// routers are resolved once per Client, every A and AAAA record of each,
// all hosts at once; a resolution cut short by ctx is retried next time.
func (c *Client) seeds(ctx context.Context) []netip.AddrPort {
	c.bootMu.Lock()
	defer c.bootMu.Unlock()
	if !c.bootDone {
		c.boot = c.resolve(ctx)
		c.bootDone = ctx.Err() == nil
	}
	out := make([]netip.AddrPort, 0, len(c.cached)+len(c.boot))
	out = append(out, c.cached...)
	return append(out, c.boot...)
}

func (c *Client) resolve(ctx context.Context) []netip.AddrPort {
	results := make([][]netip.AddrPort, len(c.cfg.Bootstrap))
	var wg sync.WaitGroup
	for i, hp := range c.cfg.Bootstrap {
		if ap, err := netip.ParseAddrPort(hp); err == nil {
			results[i] = []netip.AddrPort{ap}
			continue
		}
		host, portStr, err := net.SplitHostPort(hp)
		port, perr := strconv.ParseUint(portStr, 10, 16)
		if err != nil || perr != nil {
			c.log.Warn().Str("bootstrap", hp).Msg("dht bootstrap is not host:port")
			continue
		}
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
			defer cancel()
			addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
			if err != nil {
				c.log.Debug().Err(err).Str("bootstrap", hp).Msg("dht bootstrap not resolved")
				return
			}
			for _, a := range addrs {
				results[i] = append(results[i], netip.AddrPortFrom(a.Unmap(), uint16(port)))
			}
		})
	}
	wg.Wait()
	var out []netip.AddrPort
	seen := make(map[netip.AddrPort]bool)
	for _, r := range results {
		for _, ap := range r {
			ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			if usable(ap) && !seen[ap] {
				seen[ap] = true
				out = append(out, ap)
			}
		}
	}
	return out
}
