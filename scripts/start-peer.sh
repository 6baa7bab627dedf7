#!/usr/bin/env bash
# Start a real BitTorrent client seeding one torrent on 127.0.0.1, for interop tests.
#
# usage: start-peer.sh CLIENT TORRENT CONTENT_PARENT_DIR WORKDIR [-- EXTRA_CLIENT_ARGS...]
#   CLIENT: libtorrent | transmission | aria2 | rtorrent
#   TORRENT: a .torrent (v1 or hybrid; Transmission 3.00 cannot parse v2/hybrid)
#   CONTENT_PARENT_DIR: the torrent's `name` (file or directory) lives inside it
#   WORKDIR: all state, config and logs go here (created if missing)
#   EXTRA_CLIENT_ARGS: appended to the client's command line (libtorrent:
#     peer-libtorrent.py flags such as --multi-per-ip or --pex)
#
# DHT, LSD/LPD, UPnP/NAT-PMP, PEX (where the client allows) and trackers are
# off; trackers, web seeds and DHT nodes are stripped from the torrent. Waits
# until the client has verified the content, is seeding, and a real BitTorrent
# handshake (bt-probe.py, from PROBE_BIND) with the v1 info hash succeeds.
# On success prints exactly one line "127.0.0.1:PORT" on stdout and writes
# WORKDIR/pid (pids to kill, one per line), WORKDIR/addr, WORKDIR/infohash,
# WORKDIR/client. On failure prints the client's log tail on stderr and exits
# non-zero (nothing left running). Stop with stop-peer.sh WORKDIR.
#
# Environment: START_PEER_TIMEOUT (s, default 60), PROBE_BIND (source address of
# the readiness probe, default 127.0.0.9: Transmission refuses an address that
# just disconnected, so the probe must not use the tests' own address).
set -euo pipefail

PY=/usr/bin/python3
start_ns=$(date +%s%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TIMEOUT=${START_PEER_TIMEOUT:-60}
PROBE_BIND=${PROBE_BIND:-127.0.0.9}
MAX_ATTEMPTS=4

die() { echo "start-peer: $*" >&2; exit 1; }

[ $# -ge 4 ] || die "usage: start-peer.sh CLIENT TORRENT CONTENT_PARENT_DIR WORKDIR [-- EXTRA...]"
CLIENT=$1
TORRENT=$2
CONTENT=$3
WORKDIR=$4
shift 4
if [ $# -gt 0 ]; then
    [ "$1" = "--" ] || die "unexpected argument '$1' (extra client args go after --)"
    shift
fi
EXTRA=("$@")

case "$CLIENT" in
    libtorrent|transmission|aria2|rtorrent) ;;
    *) die "unknown client '$CLIENT' (libtorrent|transmission|aria2|rtorrent)" ;;
esac
[ -f "$TORRENT" ] || die "no such torrent file: $TORRENT"
[ -d "$CONTENT" ] || die "no such content directory: $CONTENT"
mkdir -p "$WORKDIR"
TORRENT=$(cd "$(dirname "$TORRENT")" && pwd)/$(basename "$TORRENT")
CONTENT=$(cd "$CONTENT" && pwd)
WORKDIR=$(cd "$WORKDIR" && pwd)
if [ -s "$WORKDIR/pid" ]; then
    die "$WORKDIR/pid exists: a peer may still run there (stop-peer.sh $WORKDIR first)"
fi

# Strip trackers/web seeds/nodes (same info dict, so the same info hash) and get
# the v1 info hash and the name.
read -r INFOHASH NAME_B64 < <("$PY" - "$TORRENT" "$WORKDIR/seed.torrent" <<'EOF'
import base64, sys
import libtorrent as lt
src, dst = sys.argv[1], sys.argv[2]
d = lt.bdecode(open(src, "rb").read())
if not isinstance(d, dict) or b"info" not in d:
    sys.exit("not a torrent file: " + src)
for k in (b"announce", b"announce-list", b"url-list", b"httpseeds", b"nodes"):
    d.pop(k, None)
open(dst, "wb").write(lt.bencode(d))
ti = lt.torrent_info(dst)
v1 = ti.info_hashes().v1
if v1.is_all_zeros():
    sys.exit("torrent has no v1 info hash (v2-only)")
print(str(v1), base64.b64encode(ti.name().encode()).decode())
EOF
) || die "cannot read torrent $TORRENT"
[ ${#INFOHASH} -eq 40 ] || die "could not compute the info hash of $TORRENT"
NAME=$(printf '%s' "$NAME_B64" | base64 -d)
[ -e "$CONTENT/$NAME" ] || die "content '$NAME' not found in $CONTENT"
SEED_TORRENT=$WORKDIR/seed.torrent

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

PIDS=()
LOG=
PORT=
RPC_PORT=
# set by each client's start function: PIDS, LOG; by_ready: "is the client seeding?"

alive() {  # pid -> 0 if running and not a zombie
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ] && [ "$st" != X ]
}

kill_started() {
    local p i
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for i in $(seq 1 50); do
        local any=0
        for p in "${PIDS[@]}"; do if alive "$p"; then any=1; fi; done
        [ $any = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do if alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi; done
    PIDS=()
}

bind_failed() {  # did the client log a failure to bind its port?
    [ -n "$LOG" ] && [ -f "$LOG" ] &&
        grep -qiE "couldn't bind|could not listen|address already in use|bind.*failed|failed to bind|listening on port [0-9]+, not|errors occurred while binding" "$LOG"
}

# ---------------------------------------------------------------- libtorrent
start_libtorrent() {
    LOG=$WORKDIR/libtorrent.log
    : >"$WORKDIR/libtorrent.out"
    "$PY" "$HERE/peer-libtorrent.py" --torrent "$SEED_TORRENT" --save-path "$CONTENT" \
        --port "$PORT" --listen-ip 127.0.0.1 --ignore-stdin ${EXTRA[@]+"${EXTRA[@]}"} \
        </dev/null >"$WORKDIR/libtorrent.out" 2>"$LOG" &
    PIDS=($!)
}
ready_libtorrent() { grep -qx ready "$WORKDIR/libtorrent.out"; }

# -------------------------------------------------------------- transmission
tr_remote() { timeout 10 transmission-remote "127.0.0.1:$RPC_PORT" "$@"; }
start_transmission() {
    RPC_PORT=$(free_port)
    local conf=$WORKDIR/config
    rm -rf "$conf"
    mkdir -p "$conf"
    LOG=$WORKDIR/transmission.log
    cat >"$conf/settings.json" <<EOF
{
    "bind-address-ipv4": "127.0.0.1",
    "bind-address-ipv6": "::1",
    "blocklist-enabled": false,
    "cache-size-mb": 4,
    "dht-enabled": false,
    "download-dir": "$CONTENT",
    "download-queue-enabled": false,
    "encryption": 1,
    "idle-seeding-limit-enabled": false,
    "incomplete-dir-enabled": false,
    "lpd-enabled": false,
    "message-level": 3,
    "peer-limit-global": 200,
    "peer-limit-per-torrent": 100,
    "peer-port": $PORT,
    "peer-port-random-on-start": false,
    "pex-enabled": false,
    "port-forwarding-enabled": false,
    "preallocation": 0,
    "queue-stalled-enabled": false,
    "ratio-limit-enabled": false,
    "rename-partial-files": false,
    "rpc-authentication-required": false,
    "rpc-bind-address": "127.0.0.1",
    "rpc-enabled": true,
    "rpc-host-whitelist-enabled": false,
    "rpc-port": $RPC_PORT,
    "rpc-whitelist": "127.0.0.1",
    "rpc-whitelist-enabled": true,
    "scrape-paused-torrents-enabled": false,
    "seed-queue-enabled": false,
    "start-added-torrents": true,
    "trash-original-torrent-files": false,
    "umask": 18,
    "utp-enabled": false,
    "watch-dir-enabled": false
}
EOF
    transmission-daemon -f -g "$conf" ${EXTRA[@]+"${EXTRA[@]}"} </dev/null >"$LOG" 2>&1 &
    PIDS=($!)
    TR_ADDED=0
}
ready_transmission() {
    local info
    if [ "$TR_ADDED" = 0 ]; then
        # RPC up yet? Then add the torrent (once).
        tr_remote -l >/dev/null 2>&1 || return 1
        tr_remote -a "$SEED_TORRENT" --download-dir "$CONTENT" >>"$WORKDIR/remote.log" 2>&1 ||
            { echo "transmission-remote -a failed" >>"$LOG"; return 1; }
        TR_ADDED=1
    fi
    info=$(tr_remote -t "$INFOHASH" -i 2>>"$WORKDIR/remote.log") || return 1
    # transmission-remote shows a seeding torrent without peers as "Idle".
    grep -qE '^ *State: (Seeding|Idle)' <<<"$info" && grep -qE '^ *Percent Done: 100%' <<<"$info" &&
        grep -qE '^ *Have: .*\(.* verified\)' <<<"$info"
}

# --------------------------------------------------------------------- aria2
start_aria2() {
    LOG=$WORKDIR/aria2.log
    : >"$LOG"
    aria2c --no-conf=true --enable-rpc=false --daemon=false \
        --dir="$CONTENT" --listen-port="$PORT" --interface=127.0.0.1 --disable-ipv6=true \
        --enable-dht=false --enable-dht6=false --dht-file-path="$WORKDIR/dht.dat" \
        --bt-enable-lpd=false --enable-peer-exchange=false \
        --bt-tracker= --bt-exclude-tracker='*' \
        --check-integrity=true --bt-hash-check-seed=true --bt-seed-unverified=false \
        --seed-ratio=0.0 --allow-overwrite=false --auto-file-renaming=false \
        --file-allocation=none --bt-save-metadata=false --bt-load-saved-metadata=false \
        --summary-interval=0 --enable-color=false --console-log-level=notice --show-console-readout=false \
        --log="$WORKDIR/aria2-debug.log" --log-level=info \
        --save-session= ${EXTRA[@]+"${EXTRA[@]}"} "$SEED_TORRENT" \
        </dev/null >"$LOG" 2>&1 &
    PIDS=($!)
}
ready_aria2() {
    # Console log: "Verification finished successfully" after the integrity
    # check, "listening on TCP port N" once the peer port is open.
    grep -q 'Verification finished successfully' "$LOG" &&
        grep -q "listening on TCP port $PORT" "$LOG"
}

# ------------------------------------------------------------------ rtorrent
start_rtorrent() {
    LOG=$WORKDIR/rtorrent.log
    : >"$LOG"
    mkdir -p "$WORKDIR/session"
    rm -f "$WORKDIR/session/"* "$WORKDIR/rpc.sock"
    cat >"$WORKDIR/rtorrent.rc" <<EOF
system.daemon.set = true
session.path.set = "$WORKDIR/session"
directory.default.set = "$CONTENT"
network.bind_address.set = 127.0.0.1
network.local_address.set = 127.0.0.1
network.port_range.set = $PORT-$PORT
network.port_random.set = no
network.scgi.open_local = "$WORKDIR/rpc.sock"
dht.mode.set = disable
protocol.pex.set = no
trackers.use_udp.set = no
protocol.encryption.set = allow_incoming,try_outgoing,enable_retry
pieces.hash.on_completion.set = yes
log.open_file = "main", "$LOG"
log.add_output = "info", "main"
load.start_verbose = "$SEED_TORRENT"
EOF
    HOME=$WORKDIR rtorrent -n -o "import=$WORKDIR/rtorrent.rc" ${EXTRA[@]+"${EXTRA[@]}"} \
        </dev/null >"$WORKDIR/rtorrent.out" 2>&1 &
    PIDS=($!)
}
ready_rtorrent() {
    # d.complete=1 and d.is_active=1 over the SCGI socket (XML-RPC).
    [ -S "$WORKDIR/rpc.sock" ] || return 1
    "$PY" "$HERE/rtorrent-rpc.py" "$WORKDIR/rpc.sock" d.complete "$INFOHASH" 2>/dev/null | grep -qx 1 &&
        "$PY" "$HERE/rtorrent-rpc.py" "$WORKDIR/rpc.sock" d.is_active "$INFOHASH" 2>/dev/null | grep -qx 1
}

# ------------------------------------------------------------------- driver
fail() {
    echo "start-peer: $CLIENT: $*" >&2
    if [ -n "$LOG" ] && [ -f "$LOG" ]; then
        echo "---- tail of $LOG ----" >&2
        tail -n 30 "$LOG" >&2 || true
    fi
    if [ "$CLIENT" = rtorrent ] && [ -s "$WORKDIR/rtorrent.out" ]; then
        tail -n 10 "$WORKDIR/rtorrent.out" >&2 || true
    fi
    kill_started
    exit 1
}
trap 'kill_started' INT TERM

deadline=$(( $(date +%s) + TIMEOUT ))
attempt=0
while :; do
    attempt=$((attempt + 1))
    [ $attempt -le $MAX_ATTEMPTS ] || fail "no free port after $MAX_ATTEMPTS attempts"
    PORT=$(free_port)
    "start_$CLIENT"
    seeding=0
    retry=0
    for _ in $(seq 1 $(( TIMEOUT * 5 + 5 ))); do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            fail "not ready after ${TIMEOUT}s (seeding=$seeding, port $PORT)"
        fi
        if ! alive "${PIDS[0]}"; then
            if bind_failed; then retry=1; break; fi
            fail "client exited early"
        fi
        if bind_failed; then retry=1; break; fi
        if [ $seeding = 0 ] && "ready_$CLIENT"; then seeding=1; fi
        if [ $seeding = 1 ] &&
            "$PY" "$HERE/bt-probe.py" "127.0.0.1:$PORT" "$INFOHASH" --timeout 2 \
                --bind "$PROBE_BIND" >"$WORKDIR/probe.out" 2>"$WORKDIR/probe.err"; then
            elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
            printf '%s\n' "${PIDS[@]}" >"$WORKDIR/pid"
            echo "127.0.0.1:$PORT" >"$WORKDIR/addr"
            echo "$INFOHASH" >"$WORKDIR/infohash"
            echo "$CLIENT" >"$WORKDIR/client"
            echo "start-peer: $CLIENT ready in ${elapsed_ms} ms (peer id $(cat "$WORKDIR/probe.out"), pid ${PIDS[*]})" >&2
            echo "127.0.0.1:$PORT"
            exit 0
        fi
        sleep 0.2
    done
    if [ $retry = 1 ]; then
        echo "start-peer: $CLIENT: port $PORT taken, retrying" >&2
        kill_started
        continue
    fi
    fail "not ready (seeding=$seeding, port $PORT)"
done
