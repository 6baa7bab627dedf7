package tracker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/btext/btext/internal/metainfo"
	"github.com/rs/zerolog"
)

// Event is the announce event (BEP 3 "event", BEP 15 field at offset 80).
type Event int

// Events. None is the regular re-announce; a client that stops using a
// tracker sends Stopped so the tracker forgets it.
const (
	None Event = iota
	Started
	Completed
	Stopped
)

func (e Event) String() string {
	switch e {
	case None:
		return "none"
	case Started:
		return "started"
	case Completed:
		return "completed"
	case Stopped:
		return "stopped"
	}
	return "event(" + strconv.Itoa(int(e)) + ")"
}

// Request is one announce.
type Request struct {
	InfoHash metainfo.Hash
	PeerID   [20]byte
	// Port is sent as is. btext accepts no connections while it fetches
	// metadata, but a tracker needs a port to list a peer: 0 is refused by
	// some trackers (see docs/trackers.md), so callers usually pass a
	// plausible port.
	Port                       uint16
	Uploaded, Downloaded, Left int64
	Event                      Event
	// NumWant is the number of peers asked for; 0 leaves it to the tracker
	// (HTTP: no numwant parameter; UDP: -1).
	NumWant int
	// Key identifies this client across IP changes (BEP 7 "key").
	Key uint32
	// TrackerID is the "tracker id" an earlier HTTP response gave, sent back
	// as "trackerid"; empty sends none.
	TrackerID string
}

// Response is a tracker's answer to an announce.
type Response struct {
	// Interval is how long the tracker asks us to wait before the next
	// announce; MinInterval is 0 when the tracker did not say.
	Interval, MinInterval time.Duration
	// Seeders and Leechers are -1 when the tracker did not say.
	Seeders, Leechers int
	// Peers are the addresses listed, without duplicates and without
	// entries on port 0 (nobody can be dialled there).
	Peers []netip.AddrPort
	// Warning is the tracker's "warning message", in its own words.
	Warning string
	// TrackerID is the HTTP "tracker id" to send back on later announces.
	TrackerID string
	// Notes say what was dropped from the reply and why (port 0, host
	// names, an unparseable entry), for the user who debugs a tracker.
	Notes []string
}

// ScrapeResult is the tracker's count for one info hash. A count the
// tracker did not give (an HTTP reply that omits the hash) is -1.
type ScrapeResult struct {
	InfoHash                     metainfo.Hash
	Seeders, Completed, Leechers int
}

// Defaults for Config.
const (
	// DefaultMaxResponse caps an HTTP body: a compact reply with 200 peers
	// is about 1.3 KB, and 1 MiB is room for 170,000.
	DefaultMaxResponse = 1 << 20
	// DefaultTimeout bounds one Announce or Scrape when the caller's
	// context has no earlier deadline.
	DefaultTimeout = 60 * time.Second
	// MaxRedirects is how many HTTP redirects the default client follows.
	MaxRedirects = 3
)

// Config configures a Client. The zero value is usable.
type Config struct {
	// HTTPClient is used for http and https trackers. Nil uses a client
	// that follows at most MaxRedirects redirects; a client given here
	// without a CheckRedirect gets the same limit.
	HTTPClient *http.Client
	// MaxResponse caps an HTTP response body in bytes (DefaultMaxResponse
	// when 0).
	MaxResponse int64
	// Timeout bounds each Announce and Scrape (DefaultTimeout when 0); the
	// caller's context may end it sooner.
	Timeout time.Duration
	Log     zerolog.Logger
}

// Client asks HTTP and UDP trackers. It is safe for concurrent use: many
// lookups may share one Client, and with it the UDP connection ids.
type Client struct {
	http        *http.Client
	ownHTTP     bool
	maxResponse int64
	timeout     time.Duration
	log         zerolog.Logger

	mu         sync.Mutex
	connIDs    map[netip.AddrPort]connID
	connecting map[netip.AddrPort]chan struct{}
	closed     bool
}

// NewClient returns a Client for cfg.
func NewClient(cfg Config) *Client {
	c := &Client{
		maxResponse: cfg.MaxResponse,
		timeout:     cfg.Timeout,
		log:         cfg.Log,
		connIDs:     make(map[netip.AddrPort]connID),
		connecting:  make(map[netip.AddrPort]chan struct{}),
	}
	if c.maxResponse <= 0 {
		c.maxResponse = DefaultMaxResponse
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case cfg.HTTPClient == nil:
		c.http = &http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: checkRedirect,
		}
		c.ownHTTP = true
	case cfg.HTTPClient.CheckRedirect == nil:
		hc := *cfg.HTTPClient
		hc.CheckRedirect = checkRedirect
		c.http = &hc
	default:
		c.http = cfg.HTTPClient
	}
	return c
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("more than %d redirects", MaxRedirects)
	}
	return nil
}

// Close forgets the cached UDP connection ids and closes idle HTTP
// connections of the default client. Calls after Close fail.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	clear(c.connIDs)
	c.mu.Unlock()
	if c.ownHTTP {
		c.http.CloseIdleConnections()
	}
	return nil
}

// Announce announces req to the tracker at rawURL (http, https or udp) and
// returns its answer.
func (c *Client) Announce(ctx context.Context, rawURL string, req Request) (*Response, error) {
	u, err := c.start(rawURL)
	if err != nil {
		return nil, err
	}
	if req.Event < None || req.Event > Stopped {
		return nil, fmt.Errorf("announce: unknown %v", req.Event)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if u.Scheme == "udp" {
		return c.udpAnnounce(ctx, u, req)
	}
	return c.httpAnnounce(ctx, u, req)
}

// Scrape asks the tracker at rawURL for the counts of hashes (BEP 48 over
// HTTP, BEP 15 over UDP). The results are in the order of hashes.
func (c *Client) Scrape(ctx context.Context, rawURL string, hashes []metainfo.Hash) ([]ScrapeResult, error) {
	u, err := c.start(rawURL)
	if err != nil {
		return nil, err
	}
	if len(hashes) == 0 {
		return nil, errors.New("scrape: no info hash")
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if u.Scheme == "udp" {
		return c.udpScrape(ctx, u, hashes)
	}
	return c.httpScrape(ctx, u, hashes)
}

func (c *Client) start(rawURL string) (*url.URL, error) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	return parseURL(rawURL)
}

// CheckURL says whether rawURL names a tracker this package can ask: an
// http, https or udp URL with a host. Nothing is sent.
func CheckURL(rawURL string) error {
	_, err := parseURL(rawURL)
	return err
}

func parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("tracker url: %w", err)
	}
	switch u.Scheme {
	case "http", "https", "udp":
	default:
		return nil, fmt.Errorf("tracker url %q: %w", rawURL, ErrUnsupportedScheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("tracker url %q: no host", rawURL)
	}
	return u, nil
}

// Errors callers branch on.
var (
	// ErrUnknownTorrent is opentracker's answer, in whitelist mode, to an
	// announce of a hash it does not list: a UDP reply of only the 8-byte
	// header.
	ErrUnknownTorrent = errors.New("tracker does not know this torrent")
	// ErrUnsupportedScheme is a tracker URL that is not http, https or udp
	// (WebTorrent's ws and wss among them).
	ErrUnsupportedScheme = errors.New("unsupported tracker scheme")
	// ErrNoScrape is an HTTP announce URL whose last path element does not
	// start with "announce", which BEP 48 says has no scrape URL.
	ErrNoScrape = errors.New("tracker has no scrape url")
	// ErrClosed is a call on a closed Client.
	ErrClosed = errors.New("tracker client closed")
)

// FailureError is the tracker refusing a request in its own words: an HTTP
// "failure reason" or a UDP error reply (action 3).
type FailureError struct {
	Reason string
}

func (e *FailureError) Error() string {
	return "tracker failure: " + strconv.Quote(e.Reason)
}

// ResponseError is a reply that does not follow the protocol.
type ResponseError struct {
	Reason string
}

func (e *ResponseError) Error() string {
	return "malformed tracker response: " + e.Reason
}

func malformed(format string, args ...any) error {
	return &ResponseError{Reason: fmt.Sprintf(format, args...)}
}
