// Package extensions implements the BitTorrent extension protocol (BEP 10):
// the extended handshake, the registry of extension message ids, and the
// session that takes a peer connection to "both extended handshakes
// exchanged", from either side: Connect dials, Accept answers. Both apply
// the connection's encryption (MSE) policy, so that a command or a server
// only names it. And libtorrent's lt_donthave (BEP 54).
//
// # Wire format
//
//	<length u32 BE><20><ext id u8><payload>
//
// Extension id 0 is the extended handshake, whose payload is a bencoded
// dictionary with case-sensitive keys. Its "m" dictionary maps extension
// names to the ids that the receiver of the handshake must use when it sends
// that extension to the handshake's author: our ids are the constants below,
// the peer's are stored per connection in a Registry. Later handshakes are
// additive: only names present change, and 0 disables one. Ids outside
// 1..255 are skipped with a note, never truncated (libtorrent and
// Transmission turn 300 into 44).
package extensions
