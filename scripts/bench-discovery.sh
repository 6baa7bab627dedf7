#!/usr/bin/env bash
# Peer discovery benchmark (issue 10, "Speed"): a bare-magnet metadata fetch
# through the DHT alone and through a tracker alone, timed for btext,
# libtorrent (python3-libtorrent) and aria2c side by side, all on loopback.
#
# usage: scripts/bench-discovery.sh [bench-discovery.py flags]
#   e.g. --runs 7 (default), --quick (3 runs), --scenarios dht,udp,http, --clients btext,aria2c,
#        --nodes 40 --silence 15, --timeout 60 (s per fetch), --out bench
#
# On a clean clone it installs what it needs (python3-libtorrent and aria2
# via install-peers.sh, opentracker via install-trackers.sh, GNU time for
# peak RSS), builds bin/btext, then runs scripts/bench-discovery.py, which
# starts and stops every DHT network, tracker and seeder itself (on exit,
# SIGINT and SIGTERM too), prints the table of medians and writes
# bench/discovery.json and bench/discovery.md. docs/bench-discovery.md
# explains the set-up and the figures. Exits 0 when the runs completed,
# whether or not btext met its targets (the table says so).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-peers.sh
scripts/install-trackers.sh
if [ ! -x /usr/bin/time ]; then
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "bench-discovery: /usr/bin/time (Debian package time) missing and cannot install it" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends time >/dev/null ||
		{ echo "bench-discovery: apt-get install time failed" >&2; exit 1; }
fi
make -s build
# exec: the Python driver owns every process it starts and stops them on
# any exit, so a signal to this script reaches it directly.
exec /usr/bin/python3 scripts/bench-discovery.py --btext bin/btext "$@"
