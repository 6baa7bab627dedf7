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
# Environment: START_PEER_TIMEOUT (s, default 60), START_PEER_PORT (peer port
# for the first attempt; later attempts pick free ports), PROBE_BIND (source address of
# the readiness probe, default 127.0.0.9: Transmission refuses an address that
# just disconnected, so the probe must not use the tests' own address), PROBE_MSE
# (1: the probe goes through message stream encryption first, for a client
# started to require it, e.g. libtorrent with "-- --encryption forced").
set -euo pipefail

PY=/usr/bin/python3
start_ns=$(date +%s%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TIMEOUT=${START_PEER_TIMEOUT:-60}
PROBE_BIND=${PROBE_BIND:-127.0.0.9}
PROBE_ARGS=()
[ "${PROBE_MSE:-0}" = 1 ] && PROBE_ARGS=(--mse)
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
# the handshake info hash (v1, or the truncated v2 of a v2-only torrent) and the name.
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
ih = ti.info_hashes()
# A v2-only torrent is joined with its SHA-256 truncated to 20 bytes (BEP 52):
# that is what the readiness probe sends (only libtorrent seeds v2 here).
h = str(ih.v1) if ih.has_v1() else ih.v2.to_bytes()[:20].hex()
print(h, base64.b64encode(ti.name().encode()).decode())
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
# Each client has start_X (sets PIDS and LOG), ready_X ("verified and seeding?")
# and broken_X ("verified and content does not match?").

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

bind_failed() {  # did the client log a failure to bind its peer port (or RPC port)?
    [ -n "$LOG" ] && [ -f "$LOG" ] || return 1
    case "$CLIENT" in
        libtorrent) grep -qE "could not listen on|listening on port [0-9]+, not" "$LOG" ;;
        transmission) grep -qE "Couldn't bind port $PORT on 127\.0\.0\.1|RPC Server Unable to bind" "$LOG" ;;
        aria2) grep -qiE "errors occurred while binding port|failed to bind" "$LOG" ;;
        rtorrent) grep -qiE "could not open/bind port|address already in use" "$LOG" ;;
    esac
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
    # TR_DEBUG_FD=2: Transmission's "deep" log (handshake.c, peer-io.c, with
    # each peer's address) goes to stderr, into the log; message-level 3
    # alone does not show why a handshake was closed.
    TR_DEBUG_FD=2 transmission-daemon -f -g "$conf" ${EXTRA[@]+"${EXTRA[@]}"} </dev/null >"$LOG" 2>&1 &
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
    printf '%s\n' "$info" >"$WORKDIR/remote-info.txt"
    # transmission-remote shows a seeding torrent without peers as "Idle".
    grep -qE '^ *State: (Seeding|Idle)' <<<"$info" && grep -qE '^ *Percent Done: 100%' <<<"$info" &&
        grep -qE '^ *Have: .*\(.* verified\)' <<<"$info"
}

broken_transmission() {  # verified, but not all there
    local f=$WORKDIR/remote-info.txt
    [ -f "$f" ] || return 1
    grep -qE '^ *State: (Idle|Downloading|Stopped)' "$f" &&
        grep -qE '^ *Percent Done: ' "$f" && ! grep -qE '^ *Percent Done: 100%' "$f" &&
        grep -qE '^ *Have: .*\(.* verified\)' "$f"
}

# --------------------------------------------------------------------- aria2
ARIA2_CTL_PREEXISTED=1
start_aria2() {
    LOG=$WORKDIR/aria2.log
    # aria2 writes NAME.aria2 (control file) beside the content when the check
    # fails; fail() removes it again if it was not there before.
    if [ -e "$CONTENT/$NAME.aria2" ]; then ARIA2_CTL_PREEXISTED=1; else ARIA2_CTL_PREEXISTED=0; fi
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

broken_aria2() { grep -q 'Checksum error detected' "$LOG"; }

# ------------------------------------------------------------------ rtorrent
start_rtorrent() {
    LOG=$WORKDIR/rtorrent.log
    : >"$LOG"
    mkdir -p "$WORKDIR/session"
    rm -f "$WORKDIR/session/"* "$WORKDIR/rpc.sock"
    # rtorrent refuses a torrent without trackers ("Could not create download:
    # Could not find any trackers"): give it a dead loopback one (port 1, where
    # nothing listens) and disable it as soon as the download is inserted.
    "$PY" - "$SEED_TORRENT" "$WORKDIR/seed-rtorrent.torrent" <<'PYEOF'
import sys
import libtorrent as lt
d = lt.bdecode(open(sys.argv[1], "rb").read())
d[b"announce"] = b"http://127.0.0.1:1/announce"
open(sys.argv[2], "wb").write(lt.bencode(d))
PYEOF
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
method.set_key = event.download.inserted_new, btext_notrackers, "t.multicall = , , t.disable="
load.start_verbose = "$WORKDIR/seed-rtorrent.torrent"
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

broken_rtorrent() {  # hash check finished and the download is not complete
    [ -S "$WORKDIR/rpc.sock" ] || return 1
    "$PY" "$HERE/rtorrent-rpc.py" "$WORKDIR/rpc.sock" d.is_hash_checked "$INFOHASH" 2>/dev/null | grep -qx 1 &&
        "$PY" "$HERE/rtorrent-rpc.py" "$WORKDIR/rpc.sock" d.hashing "$INFOHASH" 2>/dev/null | grep -qx 0 &&
        "$PY" "$HERE/rtorrent-rpc.py" "$WORKDIR/rpc.sock" d.complete "$INFOHASH" 2>/dev/null | grep -qx 0
}
broken_libtorrent() { return 1; }  # peer-libtorrent.py exits 4 by itself

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
    if [ "$CLIENT" = aria2 ] && [ "$ARIA2_CTL_PREEXISTED" = 0 ]; then
        rm -f "$CONTENT/$NAME.aria2"
    fi
    exit 1
}
# Whatever way this script ends without success, nothing it started stays.
SUCCESS=0
trap 'if [ "$SUCCESS" = 0 ]; then kill_started; fi' EXIT
trap 'exit 130' INT TERM

deadline=$(( $(date +%s) + TIMEOUT ))
attempt=0
while :; do
    attempt=$((attempt + 1))
    [ $attempt -le $MAX_ATTEMPTS ] || fail "no free port after $MAX_ATTEMPTS attempts"
    if [ $attempt = 1 ] && [ -n "${START_PEER_PORT:-}" ]; then
        PORT=$START_PEER_PORT
    else
        PORT=$(free_port)
    fi
    "start_$CLIENT"
    seeding=0
    retry=0
    for _ in $(seq 1 $(( TIMEOUT * 5 + 5 ))); do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            fail "not ready after ${TIMEOUT}s (seeding=$seeding, port $PORT)"
        fi
        if ! alive "${PIDS[0]}"; then
            if bind_failed; then retry=1; break; fi
            if [ "$CLIENT" = libtorrent ] && grep -q 'content incomplete' "$LOG"; then
                fail "content in $CONTENT does not match the torrent (hash check failed)"
            fi
            fail "client exited early"
        fi
        if bind_failed; then retry=1; break; fi
        if [ $seeding = 0 ] && "ready_$CLIENT"; then seeding=1; fi
        if [ $seeding = 0 ] && "broken_$CLIENT"; then
            fail "content in $CONTENT does not match the torrent (hash check failed)"
        fi
        if [ $seeding = 1 ] &&
            "$PY" "$HERE/bt-probe.py" "127.0.0.1:$PORT" "$INFOHASH" --timeout 2 \
                --bind "$PROBE_BIND" ${PROBE_ARGS[@]+"${PROBE_ARGS[@]}"} >"$WORKDIR/probe.out" 2>"$WORKDIR/probe.err"; then
            elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
            printf '%s\n' "${PIDS[@]}" >"$WORKDIR/pid"
            echo "127.0.0.1:$PORT" >"$WORKDIR/addr"
            echo "$INFOHASH" >"$WORKDIR/infohash"
            echo "$CLIENT" >"$WORKDIR/client"
            echo "start-peer: $CLIENT ready in ${elapsed_ms} ms (peer id $(cat "$WORKDIR/probe.out"), pid ${PIDS[*]})" >&2
            echo "127.0.0.1:$PORT"
            SUCCESS=1
            exit 0
        fi
        sleep 0.2
    done
    if [ $retry = 1 ]; then
        echo "start-peer: $CLIENT: port $PORT taken, retrying" >&2
        kill_started
        cp "$LOG" "$LOG.attempt$attempt" 2>/dev/null || true
        continue
    fi
    fail "not ready (seeding=$seeding, port $PORT)"
done
