// Package metadata exchanges a torrent's info dictionary with peers: BEP 9
// (ut_metadata) and libtorrent's legacy LT_metadata: the payload codecs, the
// assembler, the fetch and the serving side of btext serve. What names a
// torrent (info dicts, magnets, targets) is package metainfo's.
//
// # Wire format
//
// ut_metadata messages are bencoded dictionaries sent as extension messages:
//
//	request {msg_type: 0, piece: i}
//	data    {msg_type: 1, piece: i, total_size: n} followed by the piece bytes
//	reject  {msg_type: 2, piece: i}
//
// The info dictionary is cut in 16 KiB pieces, the last one shorter unless
// the size is a multiple of 16 KiB.
package metadata
