#!/usr/bin/env bash
# Start a real BitTorrent tracker on a free loopback port for btext's interop
# tests and print its announce URLs, one a line, once it accepts announces.
#   start-tracker.sh opentracker WORK [INFOHASH...]   HTTP and UDP on 127.0.0.1;
#                                                    whitelist mode, so the
#                                                    v1 hashes (hex) to accept
#   start-tracker.sh bittorrent-tracker WORK         HTTP and UDP on 127.0.0.1,
#                                                    UDP on [::1]; any hash
# The tracker runs on in the background; its pid is in WORK/pid and its
# output in WORK/log. Stop it with: kill "$(cat WORK/pid)".
# scripts/install-trackers.sh installs both.
set -euo pipefail

kind=${1:?usage: start-tracker.sh opentracker|bittorrent-tracker WORK [INFOHASH...]}
work=${2:?usage: start-tracker.sh opentracker|bittorrent-tracker WORK [INFOHASH...]}
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NPM_DIR=${BTEXT_NPM_DIR:-$HOME/.cache/btext-test/npm}
PY=/usr/bin/python3
mkdir -p "$work"
work=$(cd "$work" && pwd)

# free_port prints a port free for TCP and UDP on 127.0.0.1 and for UDP on
# ::1 (when there is IPv6): a second opentracker on a busy port does not
# fail, it just never answers.
free_port() {
    "$PY" - <<'PY'
import socket
for _ in range(50):
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", port)); u.close()
        try:
            u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u6.bind(("::1", port)); u6.close()
        except OSError as e:
            if e.errno != 99:  # EADDRNOTAVAIL: no IPv6 on lo, fine
                raise
    except OSError:
        t.close(); continue
    t.close(); print(port); break
PY
}

# ready_check URL HASH: one HTTP announce of HASH is accepted (a bencoded
# reply with an interval and no failure reason), then a stopped announce
# takes the probe out of the swarm again.
ready_check() {
    "$PY" - "$1" "$2" <<'PY'
import sys, urllib.request, urllib.parse
url, ih = sys.argv[1], bytes.fromhex(sys.argv[2])
q = lambda ev: url + "?" + urllib.parse.urlencode({"info_hash": ih, "peer_id": b"-BXPROBE-" + b"0" * 11,
    "port": 9, "uploaded": 0, "downloaded": 0, "left": 0, "compact": 1, "event": ev})
try:
    body = urllib.request.urlopen(q("started"), timeout=2).read()
except Exception:
    sys.exit(1)
if b"8:interval" not in body or b"failure reason" in body:
    sys.exit(1)
urllib.request.urlopen(q("stopped"), timeout=2).read()
PY
}

start() {
    port=$(free_port)
    [ -n "$port" ] || { echo "start-tracker: no free port" >&2; exit 1; }
    # A random hash per start: a tracker left over on this port would not
    # know it, so only our own instance passes the readiness check.
    probe=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
    case "$kind" in
    opentracker)
        command -v opentracker >/dev/null || { echo "start-tracker: no opentracker (run scripts/install-trackers.sh)" >&2; exit 1; }
        # As root opentracker drops to nobody and chroots into -d: the
        # directory and the whitelist must be readable by nobody.
        chmod 0755 "$work"
        { echo "$probe"; for h in "$@"; do echo "$h"; done; } >"$work/wl"
        chmod 0644 "$work/wl"
        (cd "$work" && exec setsid opentracker -i 127.0.0.1 -p "$port" -P "$port" -w wl -d "$work" \
            </dev/null >"$work/log" 2>&1) &
        echo $! >"$work/pid"
        urls=("http://127.0.0.1:$port/announce" "udp://127.0.0.1:$port/announce")
        ;;
    bittorrent-tracker)
        command -v node >/dev/null || { echo "start-tracker: no node (run scripts/install-trackers.sh)" >&2; exit 1; }
        [ -d "$NPM_DIR/node_modules/bittorrent-tracker" ] || { echo "start-tracker: no bittorrent-tracker in $NPM_DIR (run scripts/install-trackers.sh)" >&2; exit 1; }
        (exec setsid node "$here/bt-tracker.mjs" "$NPM_DIR" "$port" </dev/null >"$work/log" 2>&1) &
        echo $! >"$work/pid"
        urls=("http://127.0.0.1:$port/announce" "udp://127.0.0.1:$port/announce" "udp://[::1]:$port/announce")
        ;;
    *)
        echo "start-tracker: unknown tracker $kind (want opentracker or bittorrent-tracker)" >&2
        exit 2
        ;;
    esac
    pid=$(cat "$work/pid")
    # Poll until an announce is accepted: opentracker loads its whitelist
    # in a thread after it starts listening. At most 20 s.
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if ready_check "${urls[0]}" "$probe"; then
            printf '%s\n' "${urls[@]}"
            return 0
        fi
        sleep 0.2
    done
    kill "$pid" 2>/dev/null || true
    return 1
}

# A port taken between free_port and the tracker's bind costs one retry.
for attempt in 1 2 3; do
    if start "$@"; then
        exit 0
    fi
done
echo "start-tracker: $kind did not accept an announce: $(tail -n 1 "$work/log" 2>/dev/null)" >&2
exit 1
