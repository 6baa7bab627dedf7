// Package metainfo names torrents: info dictionaries (parsed key by key,
// bounded, and verified against v1 SHA-1 and v2 SHA-256 info hashes),
// .torrent files, and the targets a user gives (an info hash in hex or
// base32, or a magnet link with its name, trackers and peers).
//
// It does no I/O but reading a .torrent file, so that the fetch, the
// trackers and the DHT can all name a torrent without importing each other.
package metainfo
