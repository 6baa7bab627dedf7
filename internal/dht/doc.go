// Package dht is a read-only client of the BitTorrent mainline DHT: it turns
// an info hash into a stream of peer addresses by an iterative get_peers
// lookup (BEP 5), over IPv4 and IPv6 (BEP 32), announcing itself read-only
// (BEP 43) so that no node puts it in a routing table, and can ask a node
// for a sample of the info hashes it stores (BEP 51).
//
// # Wire format (KRPC, BEP 5)
//
// Every message is one UDP datagram holding one bencoded dictionary:
//
//	t  transaction id, chosen by the querier, echoed by the replier
//	   (this client: 4 random bytes, unique among its queries in flight)
//	y  "q" query, "r" reply, "e" error
//	q  method: "ping", "find_node", "get_peers", "sample_infohashes"
//	a  query arguments: "id" (the querier's 20-byte node id),
//	   "info_hash" or "target" (20 bytes), "want" (BEP 32: ["n4", "n6"])
//	r  reply values: "id", "nodes" (26-byte entries: id, IPv4, port),
//	   "nodes6" (38-byte entries: id, IPv6, port), "values" (a list of
//	   6-byte IPv4 or 18-byte IPv6 peer addresses), "token";
//	   BEP 51 adds "samples" (20-byte hashes), "num", "interval"
//	e  [code, message], e.g. [201, "A Generic Error Ocurred"]
//	ro 1 in a query from a read-only node (BEP 43)
//	ip the querier's address as the replier saw it (BEP 42)
//
// A get_peers query from this client looks like
//
//	d1:ad2:id20:<id>9:info_hash20:<hash>4:wantl2:n42:n6ee1:q9:get_peers2:roi1e1:t4:<tid>1:y1:qe
//
// # Lookup
//
// A lookup starts from cached nodes and the bootstrap routers (every A and
// AAAA record), keeps up to Alpha queries in flight, always to the closest
// node (by XOR distance to the info hash) not yet asked, and ends when the
// K closest nodes still standing have all answered, so no closer node is
// left to ask. Peers in "values" are handed to the caller as each reply
// arrives. A query that has not been answered after a third of its timeout
// stops counting against Alpha, so silent nodes do not stall the lookup.
//
// Everything a node sends is untrusted: a reply is accepted only with the
// transaction id of a query in flight and from the address that query went
// to; compact lists of a bad length are ignored whole; a lookup holds at
// most MaxNodes candidates, sends at most MaxQueries queries and reports at
// most MaxPeers peers, so a node that hands out endless lists of new nodes
// cannot stretch it. One Client shares one packet-rate limit (a token
// bucket) among all its lookups.
//
// See docs/dht.md for how real nodes (libtorrent, bittorrent-dht) behave on
// loopback and the figures measured there.
package dht
