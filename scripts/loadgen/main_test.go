package main

import (
	"strings"
	"sync/atomic"
	"testing"
)

// TestReadStats: loadgen reads serve's console stats lines.
func TestReadStats(t *testing.T) {
	log := "08:00:00.000 INF torrent loaded file=x\n" +
		"08:00:00.250 INF stats accepted=12 active=3 fds=15 goroutines=9 peak_rss_kib=9000 pieces=70 refused=1 rejects=2 rss_kib=8000\n"
	var last atomic.Pointer[stats]
	readStats(strings.NewReader(log), &last)
	s := last.Load()
	if s == nil || s.Active != 3 || s.Accepted != 12 || s.FDs != 15 || s.Goroutines != 9 || s.Pieces != 70 || s.Refused != 1 || s.Rejects != 2 || s.RSS != 8000 {
		t.Fatalf("%+v", s)
	}
}
