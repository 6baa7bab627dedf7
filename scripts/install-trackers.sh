#!/usr/bin/env bash
# Install the real trackers used by internal/tracker's interop tests:
# Debian's opentracker (apt) and bittorrent-tracker from npm, installed into
# $BTEXT_NPM_DIR (default $HOME/.cache/btext-test/npm), never globally.
# Idempotent: exits 0 at once when both are present. Exits non-zero with a
# one-line reason on stderr when it cannot install them.
set -euo pipefail

NPM_DIR=${BTEXT_NPM_DIR:-$HOME/.cache/btext-test/npm}
BT_VERSION=11.2.3

have_opentracker() { command -v opentracker >/dev/null 2>&1; }
have_node() { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; }
have_bt() {
    have_node || return 1
    node -e 'process.exit(require(process.argv[1]).version === process.argv[2] ? 0 : 1)' \
        "$NPM_DIR/node_modules/bittorrent-tracker/package.json" "$BT_VERSION" >/dev/null 2>&1
}

if have_opentracker && have_bt; then
    exit 0
fi

pkgs=()
have_opentracker || pkgs+=(opentracker)
have_node || pkgs+=(nodejs npm)
if [ ${#pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "install-trackers: missing ${pkgs[*]} and not root" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "install-trackers: missing ${pkgs[*]} and no apt-get on this machine" >&2
        exit 1
    fi
    # Keep Debian's opentracker postinst from starting a system tracker on
    # port 6969 (only if no policy is in place already).
    POLICY=/usr/sbin/policy-rc.d
    made_policy=0
    cleanup() { if [ "$made_policy" = 1 ]; then rm -f "$POLICY"; fi; }
    trap cleanup EXIT
    if [ ! -e "$POLICY" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY"
        chmod 755 "$POLICY"
        made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    log=$(mktemp /tmp/install-trackers.XXXXXX.log)
    if ! timeout 900 apt-get install -y --no-install-recommends "${pkgs[@]}" >"$log" 2>&1; then
        # The package lists may be stale or missing: update once and retry.
        if ! timeout 600 apt-get update >>"$log" 2>&1 ||
            ! timeout 900 apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$log" 2>&1; then
            echo "install-trackers: apt-get install ${pkgs[*]} failed: $(tail -n 1 "$log")" >&2
            exit 1
        fi
    fi
    rm -f "$log"
fi

if ! have_bt; then
    mkdir -p "$NPM_DIR"
    [ -f "$NPM_DIR/package.json" ] || echo '{"private": true}' >"$NPM_DIR/package.json"
    log=$(mktemp /tmp/install-trackers.XXXXXX.log)
    # --ignore-scripts: a WebRTC dependency would otherwise download a binary.
    if ! timeout 600 npm install --prefix "$NPM_DIR" --ignore-scripts --no-audit --no-fund \
        "bittorrent-tracker@$BT_VERSION" >"$log" 2>&1; then
        echo "install-trackers: npm install bittorrent-tracker@$BT_VERSION failed: $(tail -n 1 "$log")" >&2
        exit 1
    fi
    rm -f "$log"
fi

if ! have_opentracker || ! have_bt; then
    echo "install-trackers: installed, but opentracker or bittorrent-tracker is still missing" >&2
    exit 1
fi
exit 0
