// Package tracker is btext's BitTorrent tracker client: it announces an
// info hash to HTTP(S) and UDP trackers and returns the peers they list,
// and asks them for swarm counts (scrape). One Client serves many lookups
// at once and shares UDP connection ids between them.
//
// # Specifications
//
//   - BEP 3: the HTTP announce, a GET with info_hash, peer_id, port,
//     uploaded, downloaded, left, event, numwant, key and trackerid, and its
//     bencoded reply (interval, min interval, complete, incomplete, tracker
//     id, warning message, failure reason, peers).
//   - BEP 23: compact peer lists. btext always sends compact=1 (opentracker
//     answers compact=0 with HTTP 400) but also reads the original list of
//     {ip, port, peer id} dictionaries.
//   - BEP 7: IPv6 peers in "peers6".
//   - BEP 48: HTTP scrape, at the URL whose last path element "announce" is
//     replaced by "scrape".
//   - BEP 15: the UDP protocol (connect, announce, scrape, error).
//   - BEP 41: the UDP announce carries the URL's path and query as URLData
//     options, so a passkey in the URL reaches a private tracker.
//
// # Wire format
//
// A compact peer is the address then the port, in network byte order: 6
// bytes for IPv4 ("peers", and UDP replies from an IPv4 tracker), 18 for
// IPv6 ("peers6", and UDP replies from an IPv6 tracker). A list whose
// length is not a multiple of its entry size is rejected as a whole
// (*ResponseError): its entries cannot be told apart. Peers on port 0 and
// duplicates are dropped and counted in Response.Notes.
//
//	HTTP reply   d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e  (one peer, 127.0.0.1:6881)
//
// UDP packets (BEP 15), all integers big endian:
//
//	connect   request  i64 0x41727101980, u32 action 0, u32 transaction id       16 bytes
//	          reply    u32 0, u32 transaction id, i64 connection id              16 bytes
//	announce  request  i64 connection id, u32 1, u32 tid, info hash 20, peer id 20,
//	                   i64 downloaded, i64 left, i64 uploaded, u32 event
//	                   (0 none, 1 completed, 2 started, 3 stopped), u32 ip 0, u32 key,
//	                   i32 num_want (-1 default), u16 port                       98 bytes
//	                   then BEP 41 options: 0x02, length, up to 255 bytes of URL data, repeated
//	          reply    u32 1, u32 tid, u32 interval, u32 leechers, u32 seeders,
//	                   6- or 18-byte peers                                       20 + 6n/18n
//	scrape    request  i64 connection id, u32 2, u32 tid, info hash 20 × n (n <= 74)
//	          reply    u32 2, u32 tid, (u32 seeders, u32 completed, u32 leechers) × n
//	error     reply    u32 3, u32 tid, message (the tracker's words: *FailureError)
//
// An announce reply of only the 8-byte header is what opentracker sends, in
// whitelist mode, for a hash it does not list: ErrUnknownTorrent.
//
// # Quirks of real trackers
//
// Measured on loopback and described in docs/trackers.md:
//
//   - opentracker answers a request with a connection id it did not issue
//     with an error ("Connection ID missmatch.", NUL-terminated); the
//     client connects again and asks once more.
//   - bittorrent-tracker (npm) sends 6-byte IPv4 peers on its IPv6 UDP
//     socket: a list whose length 6 divides and 18 does not is read as
//     IPv4, with a note.
//   - bittorrent-tracker writes HTTP scrape keys as the hash bytes taken
//     for Latin-1 characters in UTF-8; such keys are mapped back.
//
// # UDP exchanges
//
// Each Announce or Scrape uses its own socket, connected to the tracker
// (the first address a name resolves to), and a random transaction id per
// exchange; a datagram from another address
// or with another transaction id is dropped. A connection id is cached per
// tracker address for at most one minute (BEP 15) and shared by every
// lookup of the Client, and only one lookup at a time connects to a
// tracker while the others wait for its id; a cached id that goes unanswered is forgotten and
// the client connects again, as a tracker that restarted drops requests
// with an old id without a word. BEP 15 resends after 15·2^n seconds
// (n = 0..8), which would spend a whole command deadline on one lost
// packet, so each wait is also at most a third of the time left (at least
// 250 ms): with 10 s left the sends go at about 0, 3.3, 5.6 and 7 s.
//
// # Limits
//
// Everything a tracker sends is untrusted: an HTTP body is read through a
// limit (Config.MaxResponse, 1 MiB) and decoded by internal/bencode's
// bounded decoder; at most MaxRedirects redirects are followed; a UDP reply
// is read into one 64 KiB buffer; every call ends by Config.Timeout or the
// caller's context, whichever is first, a body that trickles in byte by
// byte or a flood of wrong datagrams included.
package tracker
