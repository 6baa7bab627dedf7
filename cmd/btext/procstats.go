package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// procStats are the process's open files and memory, from /proc (Linux);
// zero where /proc is not there.
type procStats struct {
	fds             int
	rssKiB, peakKiB int64
}

func readProcStats() procStats {
	var ps procStats
	if entries, err := os.ReadDir("/proc/self/fd"); err == nil {
		ps.fds = len(entries)
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return ps
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			ps.rssKiB = n
		case "VmHWM":
			ps.peakKiB = n
		}
	}
	return ps
}
