#!/usr/bin/env bash
# Install the real BitTorrent peers used by the interop tests (Debian packages).
# Idempotent: exits 0 at once when everything is already present.
# Exits non-zero with a one-line reason on stderr when it cannot install them.
# INSTALL_PEERS_FORCE=1 skips the fast path (runs apt-get anyway).
set -euo pipefail

PY=/usr/bin/python3   # python3-libtorrent only imports under Debian's python
PKGS=(python3-libtorrent transmission-daemon transmission-cli aria2 rtorrent)

have_all() {
    [ -x "$PY" ] || return 1
    "$PY" -c 'import libtorrent' >/dev/null 2>&1 || return 1
    local b
    for b in transmission-daemon transmission-remote transmission-show aria2c rtorrent; do
        command -v "$b" >/dev/null 2>&1 || return 1
    done
    return 0
}

if [ -z "${INSTALL_PEERS_FORCE:-}" ] && have_all; then
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    echo "install-peers: missing peers and not root (need: ${PKGS[*]})" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-peers: missing peers and no apt-get on this machine" >&2
    exit 1
fi

# Keep package maintainer scripts from starting system services (Debian's
# transmission-daemon postinst would start a daemon with DHT on). Only if no
# policy is in place already, and removed again afterwards.
POLICY=/usr/sbin/policy-rc.d
made_policy=0
cleanup() {
    if [ "$made_policy" = 1 ]; then rm -f "$POLICY"; fi
}
trap cleanup EXIT
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    made_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/install-peers.XXXXXX.log)
if ! timeout 600 apt-get update >"$log" 2>&1; then
    echo "install-peers: apt-get update failed: $(tail -n 1 "$log")" >&2
    exit 1
fi
if ! timeout 900 apt-get install -y --no-install-recommends "${PKGS[@]}" >>"$log" 2>&1; then
    echo "install-peers: apt-get install failed: $(tail -n 1 "$log")" >&2
    exit 1
fi

if ! have_all; then
    if ! "$PY" -c 'import libtorrent' >/dev/null 2>&1; then
        echo "install-peers: installed, but 'import libtorrent' fails under $PY" >&2
    else
        echo "install-peers: installed, but a peer binary is still missing" >&2
    fi
    exit 1
fi
rm -f "$log"
exit 0
