package tracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/btext/btext/internal/bencode"
	"github.com/btext/btext/internal/metainfo"
)

func (c *Client) httpAnnounce(ctx context.Context, u *url.URL, req Request) (*Response, error) {
	target := announceURL(u, req)
	// Only the host is logged: private trackers put a passkey in the URL.
	c.log.Debug().Str("tracker", u.Scheme+"://"+u.Host).Stringer("event", req.Event).Msg("http announce")
	body, status, err := c.httpGet(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	resp, err := ParseHTTPAnnounce(body)
	// Trackers send a failure reason with any status (opentracker: 200);
	// a body that is not a tracker reply is reported by its status.
	if err != nil && (isFailure(err) || status == http.StatusOK) {
		return nil, fmt.Errorf("announce: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("announce: http status %d", status)
	}
	return resp, nil
}

func (c *Client) httpScrape(ctx context.Context, u *url.URL, hashes []metainfo.Hash) ([]ScrapeResult, error) {
	target, err := scrapeURL(u, hashes)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	c.log.Debug().Str("tracker", u.Scheme+"://"+u.Host).Int("hashes", len(hashes)).Msg("http scrape")
	body, status, err := c.httpGet(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	res, err := ParseHTTPScrape(body, hashes)
	// Trackers send a failure reason with any status (opentracker: 200);
	// a body that is not a tracker reply is reported by its status.
	if err != nil && (isFailure(err) || status == http.StatusOK) {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("scrape: http status %d", status)
	}
	return res, nil
}

func isFailure(err error) bool {
	var f *FailureError
	return errors.As(err, &f)
}

// httpGet fetches target and returns at most c.maxResponse bytes of its
// body; a longer body is an error, not a truncated reply. The context
// bounds the whole exchange, a body that trickles in included.
func (c *Client) httpGet(ctx context.Context, target string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("User-Agent", "btext")
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL, info hash and all; the caller
		// names the tracker.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, fmt.Errorf("http get: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResponse+1))
	if err != nil {
		return nil, 0, fmt.Errorf("read response: %w", err)
	}
	if int64(len(body)) > c.maxResponse {
		return nil, 0, malformed("response over %d bytes", c.maxResponse)
	}
	return body, resp.StatusCode, nil
}

// announceURL adds the BEP 3 announce parameters to the tracker's URL,
// after any query it already has (private trackers put a passkey there).
func announceURL(u *url.URL, req Request) string {
	var q strings.Builder
	q.WriteString(u.RawQuery)
	param := func(k, v string) {
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(k)
		q.WriteByte('=')
		q.WriteString(v)
	}
	param("info_hash", escapeBytes(req.InfoHash[:]))
	param("peer_id", escapeBytes(req.PeerID[:]))
	param("port", strconv.Itoa(int(req.Port)))
	param("uploaded", strconv.FormatInt(req.Uploaded, 10))
	param("downloaded", strconv.FormatInt(req.Downloaded, 10))
	param("left", strconv.FormatInt(req.Left, 10))
	// BEP 23; opentracker answers compact=0 with HTTP 400.
	param("compact", "1")
	if req.Event != None {
		param("event", req.Event.String())
	}
	if req.NumWant > 0 {
		param("numwant", strconv.Itoa(req.NumWant))
	}
	param("key", fmt.Sprintf("%08X", req.Key))
	if req.TrackerID != "" {
		param("trackerid", url.QueryEscape(req.TrackerID))
	}
	v := *u
	v.RawQuery = q.String()
	v.Fragment, v.RawFragment = "", ""
	return v.String()
}

// scrapeURL derives the scrape URL the way BEP 48 describes: the last path
// element "announce…" becomes "scrape…"; one info_hash parameter per hash.
func scrapeURL(u *url.URL, hashes []metainfo.Hash) (string, error) {
	i := strings.LastIndexByte(u.Path, '/')
	last := u.Path[i+1:]
	if !strings.HasPrefix(last, "announce") {
		return "", ErrNoScrape
	}
	v := *u
	v.Path = u.Path[:i+1] + "scrape" + strings.TrimPrefix(last, "announce")
	v.RawPath = ""
	v.Fragment, v.RawFragment = "", ""
	var q strings.Builder
	q.WriteString(u.RawQuery)
	for _, h := range hashes {
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString("info_hash=")
		q.WriteString(escapeBytes(h[:]))
	}
	v.RawQuery = q.String()
	return v.String(), nil
}

// escapeBytes percent-encodes every byte but RFC 3986's unreserved ones,
// as trackers expect for the raw 20-byte info hash and peer id.
func escapeBytes(b []byte) string {
	const hexDigits = "0123456789ABCDEF"
	var s strings.Builder
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~':
			s.WriteByte(c)
		default:
			s.WriteByte('%')
			s.WriteByte(hexDigits[c>>4])
			s.WriteByte(hexDigits[c&15])
		}
	}
	return s.String()
}

// maxInterval bounds the intervals a tracker may ask for (a 32-bit count of
// seconds, as in BEP 15); more is a broken reply, not a 60-year wait.
const maxInterval = math.MaxInt32

// ParseHTTPAnnounce parses the bencoded body of an HTTP announce reply
// (BEP 3, BEP 23 compact peers, BEP 7 peers6). A "failure reason" is a
// *FailureError; anything that breaks the format is a *ResponseError.
func ParseHTTPAnnounce(body []byte) (*Response, error) {
	d, err := decodeReply(body)
	if err != nil {
		return nil, err
	}
	r := &Response{Seeders: -1, Leechers: -1}
	f := fields{d: d}
	if v, ok := f.str("warning message"); ok {
		r.Warning = v
	}
	if v, ok := f.str("tracker id"); ok {
		r.TrackerID = v
	}
	if v, ok := f.count("interval", maxInterval); ok {
		r.Interval = time.Duration(v) * time.Second
	}
	if v, ok := f.count("min interval", maxInterval); ok {
		r.MinInterval = time.Duration(v) * time.Second
	}
	if v, ok := f.count("complete", math.MaxInt32); ok {
		r.Seeders = int(v)
	}
	if v, ok := f.count("incomplete", math.MaxInt32); ok {
		r.Leechers = int(v)
	}
	if f.err != nil {
		return nil, f.err
	}
	var set peerSet
	var dropped int
	switch p := d["peers"].(type) {
	case nil:
	case string:
		if err := set.addCompact("peers", []byte(p), compactV4); err != nil {
			return nil, err
		}
	case []any:
		// The original, non-compact form: a list of dictionaries.
		for i, e := range p {
			ap, ok, err := dictPeer(e)
			if err != nil {
				return nil, malformed("peers[%d]: %v", i, err)
			}
			if !ok {
				dropped++
				continue
			}
			set.add(ap)
		}
	default:
		return nil, malformed("peers is a %s, want a string or a list", typeName(p))
	}
	switch p := d["peers6"].(type) {
	case nil:
	case string:
		if err := set.addCompact("peers6", []byte(p), compactV6); err != nil {
			return nil, err
		}
	default:
		return nil, malformed("peers6 is a %s, want a string", typeName(p))
	}
	r.Peers = set.peers
	r.Notes = set.notes()
	if dropped > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("dropped %d peers whose ip is not an address (a host name is not looked up)", dropped))
	}
	return r, nil
}

// dictPeer reads one entry of a non-compact peer list. ok is false for an
// entry btext skips: an "ip" that is a host name, which BEP 3 allows but
// which would make a tracker steer our DNS lookups.
func dictPeer(e any) (ap netip.AddrPort, ok bool, err error) {
	d, isDict := e.(map[string]any)
	if !isDict {
		return ap, false, fmt.Errorf("a %s, want a dictionary", typeName(e))
	}
	f := fields{d: d}
	ip, hasIP := f.str("ip")
	port, hasPort := f.count("port", math.MaxUint16)
	if f.err != nil {
		return ap, false, f.err
	}
	if !hasIP || !hasPort {
		return ap, false, errors.New("no ip or no port")
	}
	addr, perr := netip.ParseAddr(ip)
	if perr != nil || addr.Zone() != "" {
		return ap, false, nil
	}
	return netip.AddrPortFrom(addr, uint16(port)), true, nil
}

// ParseHTTPScrape parses an HTTP scrape reply (BEP 48) and returns one
// result per asked hash, in order; a hash the reply leaves out gets -1
// counts. Entries for hashes not asked for are ignored.
func ParseHTTPScrape(body []byte, hashes []metainfo.Hash) ([]ScrapeResult, error) {
	d, err := decodeReply(body)
	if err != nil {
		return nil, err
	}
	files, ok := d["files"].(map[string]any)
	if !ok {
		if d["files"] == nil {
			return nil, malformed("no files dictionary")
		}
		return nil, malformed("files is a %s, want a dictionary", typeName(d["files"]))
	}
	res := make([]ScrapeResult, len(hashes))
	var mangled map[string]any
	for i, h := range hashes {
		res[i] = ScrapeResult{InfoHash: h, Seeders: -1, Completed: -1, Leechers: -1}
		e, present := files[string(h[:])]
		if !present {
			if mangled == nil {
				mangled = latin1Keys(files)
			}
			if e, present = mangled[string(h[:])]; !present {
				continue
			}
		}
		ed, ok := e.(map[string]any)
		if !ok {
			return nil, malformed("files[%s] is a %s, want a dictionary", h, typeName(e))
		}
		f := fields{d: ed}
		if v, ok := f.count("complete", math.MaxInt32); ok {
			res[i].Seeders = int(v)
		}
		if v, ok := f.count("downloaded", math.MaxInt32); ok {
			res[i].Completed = int(v)
		}
		if v, ok := f.count("incomplete", math.MaxInt32); ok {
			res[i].Leechers = int(v)
		}
		if f.err != nil {
			return nil, malformed("files[%s]: %s", h, f.err.(*ResponseError).Reason)
		}
	}
	return res, nil
}

// latin1Keys returns the entries of files whose key is a 20-byte string
// written as UTF-8 with every byte taken for a Latin-1 character, keyed by
// those 20 bytes. bittorrent-tracker 11 (npm) writes HTTP scrape keys that
// way: a hash byte 0xde arrives as c3 9e.
func latin1Keys(files map[string]any) map[string]any {
	m := make(map[string]any)
	for k, v := range files {
		if len(k) <= 20 || len(k) > 40 || !utf8.ValidString(k) {
			continue
		}
		b := make([]byte, 0, 20)
		for _, r := range k {
			if r > 0xff {
				b = nil
				break
			}
			b = append(b, byte(r))
		}
		if len(b) == 20 {
			m[string(b)] = v
		}
	}
	return m
}

// decodeReply decodes a reply dictionary and turns a "failure reason" into
// a *FailureError.
func decodeReply(body []byte) (map[string]any, error) {
	d, err := bencode.DecodeDict(body, bencode.Limits{})
	if err != nil {
		return nil, malformed("%v", err)
	}
	if v, present := d["failure reason"]; present {
		s, ok := v.(string)
		if !ok {
			return nil, malformed("failure reason is a %s, want a string", typeName(v))
		}
		return nil, &FailureError{Reason: s}
	}
	return d, nil
}

// fields reads typed values from a decoded dictionary and keeps the first
// type error.
type fields struct {
	d   map[string]any
	err error
}

func (f *fields) str(key string) (string, bool) {
	v, present := f.d[key]
	if !present {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		f.fail(malformed("%s is a %s, want a string", key, typeName(v)))
		return "", false
	}
	return s, true
}

// count reads an integer in [0, max].
func (f *fields) count(key string, max int64) (int64, bool) {
	v, present := f.d[key]
	if !present {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		f.fail(malformed("%s is a %s, want an integer", key, typeName(v)))
		return 0, false
	}
	if n < 0 || n > max {
		f.fail(malformed("%s %d out of range", key, n))
		return 0, false
	}
	return n, true
}

func (f *fields) fail(err error) {
	if f.err == nil {
		f.err = err
	}
}

func typeName(v any) string {
	switch v.(type) {
	case int64:
		return "integer"
	case string:
		return "string"
	case []any:
		return "list"
	case map[string]any:
		return "dictionary"
	}
	return fmt.Sprintf("%T", v)
}
