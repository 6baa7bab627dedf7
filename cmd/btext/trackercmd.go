package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/btext/btext/internal/metainfo"
	"github.com/btext/btext/internal/peer"
	"github.com/btext/btext/internal/tracker"
)

func newTrackerCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tracker",
		Short: "Ask a tracker directly: announce and scrape (HTTP, HTTPS and UDP)",
		Long: `Talk to one tracker and show its answer as it gave it: for debugging
trackers. HTTP and HTTPS trackers (BEP 3, compact peer lists of BEP 23,
IPv6 peers of BEP 7) and UDP trackers (BEP 15) are spoken.`,
		Args: exactArgs(0),
	}
	cmd.AddCommand(newTrackerAnnounceCmd(a), newTrackerScrapeCmd(a))
	return cmd
}

type announceOptions struct {
	event   string
	numWant int
	port    uint16
	keep    bool
	json    bool
}

func newTrackerAnnounceCmd(a *app) *cobra.Command {
	var o announceOptions
	cmd := &cobra.Command{
		Use:   "announce URL INFOHASH|MAGNET",
		Short: "Announce to a tracker and print its answer: interval, seeders, leechers, peers",
		Long: `Announce to one tracker as a peer that is still missing the torrent, then
print the tracker's answer: interval, min interval, seeders, leechers, warning
and every peer address.

The announce names --port (default: a random port) but btext accepts no
connections there; unless --keep, a "stopped" announce follows at once, so the tracker
does not keep handing out an address that answers nobody.`,
		Example: `  btext tracker announce udp://127.0.0.1:6969/announce 0c1cff1615a3bab426a5e1665f5f44f6a344e67f
  btext tracker announce http://127.0.0.1:6969/announce 'magnet:?xt=urn:btih:0c1cff1615a3bab426a5e1665f5f44f6a344e67f' --json`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runAnnounce(cmd.Context(), args[0], args[1], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.event, "event", "started", "event to announce: started, completed, stopped or none")
	f.IntVar(&o.numWant, "numwant", 200, "peers to ask for")
	f.Uint16Var(&o.port, "port", 0, "port to announce (default: a random one from 49152-65535)")
	f.BoolVar(&o.keep, "keep", false, `do not send "stopped" after the announce`)
	f.BoolVar(&o.json, "json", false, "print one JSON object")
	completeValues(cmd, "event", "started", "completed", "stopped", "none")
	a.skeletons[cmd] = func() report { return &announceReport{Peers: []string{}} }
	return cmd
}

// announceReport is tracker announce's --json output.
type announceReport struct {
	Tracker     string   `json:"tracker"`
	InfoHash    string   `json:"info_hash"`
	Event       string   `json:"event"`
	Interval    *float64 `json:"interval_s"`
	MinInterval *float64 `json:"min_interval_s"`
	Seeders     *int     `json:"seeders"`
	Leechers    *int     `json:"leechers"`
	Warning     *string  `json:"warning"`
	Peers       []string `json:"peers"`
	ElapsedMS   float64  `json:"elapsed_ms"`
	outcome
}

func parseEvent(s string) (tracker.Event, error) {
	switch strings.ToLower(s) {
	case "started":
		return tracker.Started, nil
	case "completed":
		return tracker.Completed, nil
	case "stopped":
		return tracker.Stopped, nil
	case "none", "":
		return tracker.None, nil
	}
	return 0, usagef("--event %q: want started, completed, stopped or none", s)
}

func (a *app) runAnnounce(ctx context.Context, url, what string, o announceOptions) error {
	if err := tracker.CheckURL(url); err != nil {
		return &usageError{err}
	}
	target, err := metainfo.ParseTarget(what)
	if err != nil {
		return &usageError{err}
	}
	ev, err := parseEvent(o.event)
	if err != nil {
		return err
	}
	if o.numWant < 0 {
		return usagef("--numwant must not be negative")
	}
	c := tracker.NewClient(tracker.Config{Log: a.log})
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if o.port == 0 {
		o.port = announcePort()
	}
	req := tracker.Request{InfoHash: target.HandshakeHash(), PeerID: peer.RandomPeerID(), Port: o.port, Left: 1, NumWant: o.numWant, Event: ev}
	start := time.Now()
	resp, err := c.Announce(ctx, url, req)
	elapsed := time.Since(start)
	rep := announceReport{Tracker: url, InfoHash: req.InfoHash.String(), Event: strings.ToLower(o.event), Peers: []string{}, ElapsedMS: ms(elapsed)}
	if err == nil && !o.keep && ev != tracker.Stopped {
		req.Event = tracker.Stopped
		if _, serr := c.Announce(ctx, url, req); serr != nil {
			a.log.Debug().Err(serr).Msg("stopped announce")
		}
	}
	if o.json {
		a.result = &rep
	}
	if err != nil {
		return fmt.Errorf("announce to %s: %w", url, err)
	}
	rep.Interval, rep.MinInterval = ptr(resp.Interval.Seconds()), nil
	if resp.MinInterval > 0 {
		rep.MinInterval = ptr(resp.MinInterval.Seconds())
	}
	if resp.Seeders >= 0 {
		rep.Seeders = ptr(resp.Seeders)
	}
	if resp.Leechers >= 0 {
		rep.Leechers = ptr(resp.Leechers)
	}
	if resp.Warning != "" {
		rep.Warning = ptr(resp.Warning)
	}
	for _, p := range resp.Peers {
		rep.Peers = append(rep.Peers, p.String())
	}
	a.finish(o.json, &rep, func(w io.Writer) {
		fmt.Fprintf(w, "interval %v, min interval %s, seeders %s, leechers %s, %s (%v)\n",
			resp.Interval, orUnknownDur(resp.MinInterval), orUnknown(resp.Seeders), orUnknown(resp.Leechers),
			plural(int64(len(resp.Peers)), "peer", "peers"), elapsed.Round(time.Millisecond))
		if resp.Warning != "" {
			fmt.Fprintf(w, "warning: %s\n", peer.Escape(resp.Warning))
		}
		for _, p := range rep.Peers {
			fmt.Fprintln(w, p)
		}
	})
	return nil
}

func orUnknown(n int) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func orUnknownDur(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.String()
}

type scrapeOptions struct{ json bool }

func newTrackerScrapeCmd(a *app) *cobra.Command {
	var o scrapeOptions
	cmd := &cobra.Command{
		Use:   "scrape URL INFOHASH|MAGNET...",
		Short: "Ask a tracker how many seeders, leechers and completed downloads it counts",
		Long: `Scrape one tracker for one or more torrents. An HTTP announce URL is turned
into its scrape URL (the last path element "announce" becomes "scrape", as
BEP 48 says); a tracker without one is an error. A UDP tracker takes up to
74 info hashes in one scrape.`,
		Example: `  btext tracker scrape udp://127.0.0.1:6969 0c1cff1615a3bab426a5e1665f5f44f6a344e67f
  btext tracker scrape http://127.0.0.1:6969/announce 0c1cff1615a3bab426a5e1665f5f44f6a344e67f --json`,
		Args: minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runScrape(cmd.Context(), args[0], args[1:], o)
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON object")
	a.skeletons[cmd] = func() report { return &scrapeReport{Torrents: []scrapeJSON{}} }
	return cmd
}

type scrapeReport struct {
	Tracker   string       `json:"tracker"`
	Torrents  []scrapeJSON `json:"torrents"`
	ElapsedMS float64      `json:"elapsed_ms"`
	outcome
}

type scrapeJSON struct {
	InfoHash  string `json:"info_hash"`
	Seeders   int    `json:"seeders"`
	Completed int    `json:"completed"`
	Leechers  int    `json:"leechers"`
}

func (a *app) runScrape(ctx context.Context, url string, args []string, o scrapeOptions) error {
	if err := tracker.CheckURL(url); err != nil {
		return &usageError{err}
	}
	var hashes []metainfo.Hash
	for _, s := range args {
		t, err := metainfo.ParseTarget(s)
		if err != nil {
			return &usageError{err}
		}
		hashes = append(hashes, t.HandshakeHash())
	}
	c := tracker.NewClient(tracker.Config{Log: a.log})
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	start := time.Now()
	res, err := c.Scrape(ctx, url, hashes)
	rep := scrapeReport{Tracker: url, Torrents: []scrapeJSON{}, ElapsedMS: ms(time.Since(start))}
	if o.json {
		a.result = &rep
	}
	if err != nil {
		return fmt.Errorf("scrape %s: %w", url, err)
	}
	for _, r := range res {
		rep.Torrents = append(rep.Torrents, scrapeJSON{r.InfoHash.String(), r.Seeders, r.Completed, r.Leechers})
	}
	a.finish(o.json, &rep, func(w io.Writer) {
		for _, t := range rep.Torrents {
			fmt.Fprintf(w, "%s  seeders %d, completed %d, leechers %d\n", t.InfoHash, t.Seeders, t.Completed, t.Leechers)
		}
	})
	return nil
}
