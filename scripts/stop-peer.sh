#!/usr/bin/env bash
# Stop the peer that start-peer.sh started in WORKDIR.
# usage: stop-peer.sh WORKDIR
# SIGTERM to each pid in WORKDIR/pid (only if its command line names WORKDIR,
# so a reused pid is never hit), waits up to STOP_PEER_TIMEOUT s (default 10),
# then SIGKILL and waits up to 5 s more. Exit 0 when all are gone.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: stop-peer.sh WORKDIR" >&2; exit 2; }
WORKDIR=$(cd "$1" 2>/dev/null && pwd) || { echo "stop-peer: no such dir $1" >&2; exit 1; }
PIDFILE=$WORKDIR/pid
TIMEOUT=${STOP_PEER_TIMEOUT:-10}
[ -f "$PIDFILE" ] || exit 0

alive() {
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ] && [ "$st" != X ]
}
ours() {  # is pid still the process start-peer started (cmdline mentions WORKDIR)?
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$WORKDIR"
}

pids=()
while read -r p; do
    [[ "$p" =~ ^[0-9]+$ ]] || continue
    if alive "$p" && ours "$p"; then pids+=("$p"); fi
done <"$PIDFILE"

wait_gone() {  # seconds
    local n=$(( $1 * 10 )) i p any
    for i in $(seq 1 "$n"); do
        any=0
        for p in ${pids[@]+"${pids[@]}"}; do if alive "$p"; then any=1; fi; done
        [ $any = 0 ] && return 0
        sleep 0.1
    done
    return 1
}

for p in ${pids[@]+"${pids[@]}"}; do kill -TERM "$p" 2>/dev/null || true; done
if ! wait_gone "$TIMEOUT"; then
    for p in ${pids[@]+"${pids[@]}"}; do
        if alive "$p"; then echo "stop-peer: pid $p ignored SIGTERM, killing" >&2; kill -KILL "$p" 2>/dev/null || true; fi
    done
    if ! wait_gone 5; then
        echo "stop-peer: could not stop ${pids[*]}" >&2
        exit 1
    fi
fi
rm -f "$PIDFILE"
exit 0
