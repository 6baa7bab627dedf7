#!/usr/bin/env bash
# Smoke test of the peer scripts: make a small torrent, then for each client
# start it, handshake with it from 127.0.0.1, fetch the metadata over
# ut_metadata, and stop it. Leaves nothing running.
# usage: peers-smoke.sh [CLIENT...]   (default: libtorrent transmission aria2 rtorrent)
# Prints "N passed, N failed" at the end; exit 0 only if all passed.
set -euo pipefail

PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLIENTS=("$@")
[ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(libtorrent transmission aria2 rtorrent)

TMP=$(mktemp -d /tmp/btext-peers-smoke.XXXXXX)
started=()
cleanup() {
    local w
    for w in ${started[@]+"${started[@]}"}; do "$HERE/stop-peer.sh" "$w" || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

read -r TORRENT IH CONTENT < <("$PY" "$HERE/make-test-torrent.py" "$TMP")
pass=0
failed=0
for c in "${CLIENTS[@]}"; do
    w=$TMP/w-$c
    if ! addr=$("$HERE/start-peer.sh" "$c" "$TORRENT" "$CONTENT" "$w"); then
        echo "FAIL $c: start-peer" >&2
        failed=$((failed + 1))
        continue
    fi
    started+=("$w")
    ok=1
    if ! pid=$("$PY" "$HERE/bt-probe.py" "$addr" "$IH" --timeout 5 2>/dev/null); then
        echo "FAIL $c: bt-probe from 127.0.0.1" >&2
        ok=0
    fi
    # Transmission closes a new connection from an address whose previous
    # connection closed less than ~0.5 s ago: use another source address.
    if ! out=$("$PY" "$HERE/ext-handshake.py" "$addr" "$IH" --fetch --timeout 10 --bind 127.0.0.2); then
        echo "FAIL $c: ext-handshake --fetch" >&2
        printf '%s\n' "$out" >&2
        ok=0
    fi
    "$HERE/stop-peer.sh" "$w" || { echo "FAIL $c: stop-peer" >&2; ok=0; }
    if [ $ok = 1 ]; then
        echo "ok   $c $addr peer_id=$pid"
        grep '^RAW' <<<"$out" | sed 's/^/     /'
        pass=$((pass + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "peers-smoke: $pass passed, $failed failed"
[ $failed = 0 ]
