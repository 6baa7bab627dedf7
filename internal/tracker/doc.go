// Package tracker is btext's BitTorrent tracker client: it announces an
// info hash to HTTP(S) trackers and returns the peers they list, and asks
// them for swarm counts (scrape).
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
//   - BEP 48: scrape, at the URL whose last path element "announce" is
//     replaced by "scrape".
//
// # Wire format
//
// A compact peer is the address then the port, in network byte order: 6
// bytes for IPv4 ("peers"), 18 for IPv6 ("peers6"). A list whose length is
// not a multiple of its entry size is rejected as a whole (*ResponseError):
// its entries cannot be told apart. Peers on port 0 and duplicates are
// dropped and counted in Response.Notes.
//
//	d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e  one peer, 127.0.0.1:6881
//
// # Limits
//
// Everything a tracker sends is untrusted: an HTTP body is read through a
// limit (Config.MaxResponse, 1 MiB) and decoded by internal/bencode's
// bounded decoder; at most MaxRedirects redirects are followed; every call
// ends by Config.Timeout or the caller's context, whichever is first, a
// body that trickles in byte by byte included.
package tracker
