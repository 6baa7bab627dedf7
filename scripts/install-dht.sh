#!/usr/bin/env bash
# Install the real DHT nodes used by internal/dht's interop tests:
#   python3-libtorrent (Debian) for scripts/dht-net.py, and
#   bittorrent-dht 11.0.12 (npm) for scripts/dht-js.mjs, into scripts/.dht-npm
#   (git-ignored by a .gitignore this script writes there).
# Idempotent: exits 0 at once when both are present.
# Exits non-zero with a one-line reason on stderr when it cannot install them.
# INSTALL_DHT_FORCE=1 skips the fast path.
set -euo pipefail

PY=/usr/bin/python3 # python3-libtorrent only imports under Debian's python
BTDHT_VERSION=11.0.12
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
npmdir="$here/.dht-npm"

have_lt() { [ -x "$PY" ] && "$PY" -c 'import libtorrent' >/dev/null 2>&1; }
have_js() {
	command -v node >/dev/null 2>&1 &&
		[ -f "$npmdir/node_modules/bittorrent-dht/package.json" ] &&
		grep -q "\"version\": \"$BTDHT_VERSION\"" "$npmdir/node_modules/bittorrent-dht/package.json"
}

if [ -z "${INSTALL_DHT_FORCE:-}" ] && have_lt && have_js; then
	exit 0
fi

log=$(mktemp /tmp/install-dht.XXXXXX.log)
if ! have_lt || [ -n "${INSTALL_DHT_FORCE:-}" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-dht: python3-libtorrent missing and not root" >&2
		exit 1
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install-dht: python3-libtorrent missing and no apt-get on this machine" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# Other installers may hold the dpkg lock: wait for it instead of failing.
	if ! timeout 900 apt-get -o DPkg::Lock::Timeout=600 update >"$log" 2>&1; then
		echo "install-dht: apt-get update failed: $(tail -n 1 "$log")" >&2
		exit 1
	fi
	if ! timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends python3-libtorrent >>"$log" 2>&1; then
		echo "install-dht: apt-get install python3-libtorrent failed: $(tail -n 1 "$log")" >&2
		exit 1
	fi
	if ! have_lt; then
		echo "install-dht: installed, but 'import libtorrent' fails under $PY" >&2
		exit 1
	fi
fi

if ! have_js || [ -n "${INSTALL_DHT_FORCE:-}" ]; then
	if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
			export DEBIAN_FRONTEND=noninteractive
			timeout 900 apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends nodejs npm >>"$log" 2>&1 || true
		fi
		if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
			echo "install-dht: node and npm are needed for bittorrent-dht" >&2
			exit 1
		fi
	fi
	mkdir -p "$npmdir"
	printf '*\n' >"$npmdir/.gitignore"
	[ -f "$npmdir/package.json" ] || printf '{"private": true, "type": "module"}\n' >"$npmdir/package.json"
	# --ignore-scripts: no dependency may fetch a prebuilt binary.
	if ! (cd "$npmdir" && timeout 600 npm install --ignore-scripts --no-audit --no-fund "bittorrent-dht@$BTDHT_VERSION") >>"$log" 2>&1; then
		echo "install-dht: npm install bittorrent-dht@$BTDHT_VERSION failed: $(tail -n 1 "$log")" >&2
		exit 1
	fi
	if ! have_js; then
		echo "install-dht: npm installed, but bittorrent-dht $BTDHT_VERSION is not in $npmdir" >&2
		exit 1
	fi
fi
rm -f "$log"
exit 0
