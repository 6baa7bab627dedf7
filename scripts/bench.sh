#!/usr/bin/env bash
# Benchmark metadata fetches side by side on 127.0.0.1 (issue 11): btext,
# libtorrent's own fetcher and aria2c --bt-metadata-only, from libtorrent,
# rtorrent, aria2, Transmission and btext serve seeders, for info dicts of
# about 200 B, 45 KB and 2.6 MB, on loopback and over an emulated 25 and 50
# ms round trip (scripts/relay). Installs what it needs (the peers, gnuplot),
# builds btext, runs scripts/benchrun, draws the chart, then runs
# scripts/bench-discovery.sh if it exists (called with [--quick] --out DIR).
#
# usage: scripts/bench.sh [--quick] [--out DIR] [benchrun flags...]
#   --quick   fewer runs, seeders, sizes and round trips (a minute or two)
#   --out DIR results.json, results.csv, chart.png, tables.md (default bench/out)
# A full run takes about 15 minutes. Other flags go to benchrun (see
# go run ./scripts/benchrun -h: -seeders, -sizes, -rtts, -runs, -other-runs, -aria2-runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

OUT=bench/out
QUICK=()
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=(-quick) ;;
        --out) OUT=${2:?--out needs a directory}; shift ;;
        --out=*) OUT=${1#--out=} ;;
        *) ARGS+=("$1") ;;
    esac
    shift
done

# The real peers (Debian packages; idempotent, fast when present).
scripts/install-peers.sh
# apt_install PKG: install one Debian package (apt-get update only if the
# plain install fails); non-zero if it cannot.
apt_install() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    echo "bench: installing $1" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y --no-install-recommends "$1" >/dev/null 2>&1 && return 0
    timeout 600 apt-get update >/dev/null 2>&1 &&
        timeout 600 apt-get install -y --no-install-recommends "$1" >/dev/null 2>&1
}
# GNU time measures each fetcher's peak RSS.
if [ ! -x /usr/bin/time ] && ! apt_install time; then
    echo "bench: /usr/bin/time (Debian package time) is missing and cannot be installed" >&2
    exit 1
fi
# gnuplot draws the chart; without it the numbers are still measured.
if ! command -v gnuplot >/dev/null 2>&1 && ! apt_install gnuplot-nox; then
    echo "bench: gnuplot missing and cannot be installed: no chart" >&2
fi

make -s build
go build -o bin/relay ./scripts/relay
go build -o bin/benchrun ./scripts/benchrun

WORK=$(mktemp -d /tmp/btext-bench.XXXXXX)
cleanup() {
    # benchrun stops what it started; this is the safety net if it died.
    local d
    for d in "$WORK"/peers/*/; do
        [ -d "$d" ] && scripts/stop-peer.sh "$d" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$OUT"
free -h >"$OUT/free.txt" 2>/dev/null || true
bin/benchrun -root "$ROOT" -bin "$ROOT/bin/btext" -relay "$ROOT/bin/relay" -work "$WORK" -out "$OUT" \
    ${QUICK[@]+"${QUICK[@]}"} ${ARGS[@]+"${ARGS[@]}"} | tee "$OUT/tables.md"

if command -v gnuplot >/dev/null 2>&1; then
    (cd "$OUT" && gnuplot chart.gp) && echo "bench: chart in $OUT/chart.png" >&2
fi

# The discovery benchmark (tracker and DHT lookups) lives in its own script.
if [ -x scripts/bench-discovery.sh ]; then
    echo "bench: running scripts/bench-discovery.sh" >&2
    scripts/bench-discovery.sh ${QUICK[@]+--quick} --out "$OUT"
else
    echo "bench: no scripts/bench-discovery.sh: discovery benchmark skipped" >&2
fi
