#!/usr/bin/env bash
# make demo: start btext serve on testdata/demo.torrent on 127.0.0.1, run
# btext handshake against it (human, then --json), fetch its metadata into a
# .torrent, stop the server.
set -euo pipefail
bin=$(realpath "${1:-bin/btext}")
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
torrent=$top/testdata/demo.torrent
hash=0c1cff1615a3bab426a5e1665f5f44f6a344e67f

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/out"
"$bin" serve "$torrent" --listen 127.0.0.1:0 >"$work/out" 2>"$work/serve.log" &
pid=$!
# The server prints "listening on HOST:PORT" once it accepts connections.
if ! read -r -t 10 line <"$work/out"; then
	echo "demo: btext serve did not start within 10s:" >&2
	cat "$work/serve.log" >&2
	exit 1
fi
addr=${line#listening on }
echo "== btext serve $torrent: $line"
echo "== btext handshake $addr --info-hash $hash"
"$bin" handshake "$addr" --info-hash "$hash"
echo "== btext handshake $addr --info-hash $hash --json"
"$bin" handshake "$addr" --info-hash "$hash" --json
echo "== btext fetch-metadata $hash $addr -o demo.torrent (in a temporary directory)"
(cd "$work" && "$bin" fetch-metadata "$hash" "$addr" -o demo.torrent)
cmp -s "$work/demo.torrent" "$torrent" && echo "   the written demo.torrent is byte for byte testdata/demo.torrent"
echo "== what btext serve logged"
sed 's/^/   /' "$work/serve.log"
