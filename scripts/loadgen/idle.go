package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/btext/btext/internal/extensions"
	"github.com/btext/btext/internal/metadata"
	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/peertest"
)

// runIdle starts serve on a size-byte info dict, has n peers each fetch one
// LT_metadata range of up to 1 MiB and then idle, and reports serve's RSS
// at rest, once all are idle, its peak, and after they leave.
func runIdle(bin string, n, size int, enc string, limit time.Duration) error {
	encryption, err := peer.ParseEncryption(enc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	dir, err := os.MkdirTemp("", "loadgen")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	info := peertest.InfoOfSize(size)
	hash := peertest.HashOf(info)
	file, _ := metainfo.TorrentFile(info, nil)
	torrent := filepath.Join(dir, "idle.torrent")
	if err := os.WriteFile(torrent, file, 0o644); err != nil {
		return err
	}
	cmd := exec.Command(bin, "serve", torrent, "--listen", "127.0.0.1:0", "--log-level", "info",
		"--stats-interval", "250ms", "--max-torrent-size", fmt.Sprint(2*len(file)+1<<20))
	srv, err := startServe(ctx, cmd)
	if err != nil {
		return err
	}
	defer srv.stop()
	addr, waitStats := srv.addr, srv.waitStats
	base := waitStats(func(*stats) bool { return true })

	// The largest range from the start that fits one message.
	span := 256
	for ; span > 1; span-- {
		if first, last := metadata.LTRange(0, span, size); last-first <= peer.DefaultMaxMessageLen-16 {
			break
		}
	}
	first, end := metadata.LTRange(0, span, size)
	fmt.Printf("serve %s pid %d: %d-byte info dict; %d peers (encryption %s) each take %d/256 of it (%d bytes) over LT_metadata, then idle; at rest %d KiB RSS\n",
		addr, srv.cmd.Process.Pid, size, n, encryption, span, end-first, base.RSS)

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		sessions []*extensions.Session
		failures []string
	)
	for range n {
		wg.Go(func() {
			s, err := fetchRange(ctx, addr, hash, encryption, span)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures = append(failures, err.Error())
				return
			}
			sessions = append(sessions, s)
		})
	}
	wg.Wait()
	defer func() {
		for _, s := range sessions {
			s.Close()
		}
	}()
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d peers failed: %v", len(failures), n, failures[:min(3, len(failures))])
	}
	// Let serve settle: a few stats lines with every peer idle.
	time.Sleep(time.Second)
	idle := waitStats(func(s *stats) bool { return s.Active == int64(n) })
	hwm := procHWM(srv.cmd.Process.Pid)
	fmt.Printf("%d peers idle: %d KiB RSS (%d KiB above rest, %.0f KiB a peer); peak RSS %d KiB; %d goroutines\n",
		idle.Active, idle.RSS, idle.RSS-base.RSS, float64(idle.RSS-base.RSS)/float64(n), hwm, idle.Goroutines)
	for _, s := range sessions {
		s.Close()
	}
	sessions = nil
	after := waitStats(func(s *stats) bool { return s.Active == 0 })
	fmt.Printf("after the peers left: %d active, %d KiB RSS\n", after.Active, after.RSS)
	fmt.Println("loadgen: ok")
	return nil
}

// fetchRange connects, asks for the first span 256ths over LT_metadata and
// reads the answer; the session stays open.
func fetchRange(ctx context.Context, addr string, hash peer.Hash, enc peer.Encryption, span int) (*extensions.Session, error) {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	s, err := extensions.Connect(cctx, addr, extensions.Options{InfoHash: hash, Peer: peer.Config{Encryption: enc}})
	if err != nil {
		return nil, err
	}
	id, ok := s.Registry.ID(extensions.LTMetadata)
	if !ok {
		s.Close()
		return nil, fmt.Errorf("serve did not advertise LT_metadata")
	}
	req, _ := metadata.LTMessage{Type: metadata.LTRequest, Start: 0, Size: span}.AppendBinary(nil)
	if err := s.Conn.WriteMessage(cctx, peer.ExtendedMessage(id, req)); err != nil {
		s.Close()
		return nil, err
	}
	for {
		msg, err := s.Conn.ReadMessage(cctx)
		if err != nil {
			s.Close()
			return nil, err
		}
		if msg.ID != peer.Extended || msg.Payload[0] != extensions.LocalLTMetadata {
			continue
		}
		var m metadata.LTMessage
		if err := m.UnmarshalBinary(msg.Payload[1:]); err != nil || m.Type != metadata.LTData {
			s.Close()
			return nil, fmt.Errorf("LT_metadata answer: type %d, %v", m.Type, err)
		}
		return s, nil
	}
}
