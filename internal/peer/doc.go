// Package peer speaks the BitTorrent peer wire protocol (BEP 3) up to the
// point where extensions take over: dialling, the 68-byte handshake,
// length-prefixed framing with a maximum length, the BEP 3 and BEP 6 message
// ids, and the connection state machine that every btext command uses.
//
// # Wire format
//
//	handshake: <pstrlen=19><"BitTorrent protocol"><reserved 8><info hash 20><peer id 20>
//	message:   <length u32 BE><id u8><payload length-1 bytes>   (length 0 = keep-alive)
//
// Reserved bits: reserved[5]&0x10 extension protocol (BEP 10),
// reserved[7]&0x01 DHT (BEP 5), reserved[7]&0x04 fast (BEP 6),
// reserved[7]&0x10 v2 upgrade (BEP 52). btext sets 0x10 and 0x04 in every
// handshake it sends (LocalReserved); the fast messages (have_all,
// have_none, suggest_piece, reject_request, allowed_fast) are legal only
// when the peer set 0x04 too, and a protocol violation otherwise.
//
// # States
//
//	Handshaking --both BT handshakes--> Open --both extended handshakes--> Extended
//	     |                               |                                    |
//	     +-------------------------------+------------- Close / error ------> Closed
//
// A Conn is owned by one goroutine: the session logic above it is sequential
// (dial, handshake, extended handshake, request, read) and every read and
// write takes its deadline from the context it is given, capped by the
// per-phase timeouts of Config. Cancelling the context sets a deadline in the
// past on the socket, so a blocked read returns at once.
package peer
