#!/usr/bin/env bash
# btext serve next to libtorrent seeding the same torrent, on 127.0.0.1:
# metadata fetches per second that each answers with 100 and 1,000
# concurrent fetchers (scripts/loadgen -against), the seeder's CPU time
# per fetch, the most RSS it had during the load, and its peak RSS (VmHWM
# from /proc/PID/status; each run has a fresh seeder process, and
# libtorrent's peak is reached at start, when it checks the content).
# libtorrent runs twice: as start-peer.sh starts it
# (defaults, with allow_multiple_connections_per_ip, since every fetcher
# comes from 127.0.0.1), and with room for the load (connections_limit and
# listen_queue_size raised to what btext serve has by default).
#
# Environment: PIECES (content pieces of the torrent, 20 bytes of info dict
# each; default 5000, a 100 KB info dict of 7 metadata pieces), DURATION
# (per run, default 10s), CONCS (default "100 1000"), SEEDERS (default
# "btext libtorrent libtorrent-tuned"), ROUNDS (default 3: the seeders take
# turns, so that a change in the machine's load falls on each alike).
# Prints one line per run, a table of every run and one of the medians.
# The machine is shared: fetches/s move with its load (printed with each
# run); the seeder's CPU time a fetch moves much less.
set -euo pipefail
cd "$(dirname "$0")/.."
PIECES=${PIECES:-5000}
DURATION=${DURATION:-10s}
CONCS=${CONCS:-"100 1000"}
SEEDERS=${SEEDERS:-"btext libtorrent libtorrent-tuned"}
ROUNDS=${ROUNDS:-3}

scripts/install-peers.sh
make -s build
go build -o bin/loadgen ./scripts/loadgen
# Room for 1,000 connections on each side (the seeders inherit it).
ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
serve_pid=
lt_work=
cleanup() {
	if [ -n "$serve_pid" ]; then kill -INT "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
	if [ -n "$lt_work" ]; then scripts/stop-peer.sh "$lt_work" >/dev/null 2>&1 || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

read -r torrent hash parent size < <(bin/loadgen -write-torrent "$work/t" -pieces "$PIECES")
echo "torrent: $size-byte info dict (info hash $hash), $PIECES pieces of zeros; $DURATION per run; $(nproc) cores; load: $(uptime | sed 's/.*load average/load average/')"

# start_btext / start_libtorrent set addr and pid.
start_btext() {
	: >"$work/serve.out" # emptied before the start: no address of the last run read
	bin/btext serve "$torrent" --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
	serve_pid=$!
	addr=
	for _ in $(seq 1 100); do
		addr=$(sed -n 's/^listening on //p' "$work/serve.out")
		[ -n "$addr" ] && break
		kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.log" >&2; return 1; }
		sleep 0.1
	done
	[ -n "$addr" ] || { echo "bench-serve-vs: btext serve did not start" >&2; return 1; }
	pid=$serve_pid
}
stop_btext() {
	kill -INT "$serve_pid"
	wait "$serve_pid" || true
	serve_pid=
}
start_libtorrent() { # extra peer-libtorrent.py flags
	# A second try: python3-libtorrent 2.0.8 has been seen to crash
	# (SIGSEGV) at start once in a few dozen starts here.
	for try in 1 2; do
		lt_work=$work/lt-$RANDOM
		if addr=$(scripts/start-peer.sh libtorrent "$torrent" "$parent" "$lt_work" -- --multi-per-ip "$@" 2>"$work/start-peer.err"); then
			pid=$(head -n 1 "$lt_work/pid")
			return 0
		fi
		cat "$work/start-peer.err" >&2
		echo "bench-serve-vs: libtorrent did not start (try $try)" >&2
	done
	lt_work=
	return 1
}
stop_libtorrent() {
	scripts/stop-peer.sh "$lt_work"
	lt_work=
}

results=()
for round in $(seq 1 "$ROUNDS"); do
for conc in $CONCS; do
	for seeder in $SEEDERS; do
		case $seeder in
		btext) start_btext ;;
		libtorrent) start_libtorrent ;;
		libtorrent-tuned) start_libtorrent --set connections_limit=2000 --set listen_queue_size=4096 ;;
		*) echo "bench-serve-vs: unknown seeder $seeder" >&2; exit 2 ;;
		esac
		out=$(bin/loadgen -against "$addr" -hash "$hash" -pid "$pid" -peers "$conc" -duration "$DURATION")
		echo "$seeder: $out" | grep -v '^result'
		case $seeder in btext) stop_btext ;; *) stop_libtorrent ;; esac
		results+=("$seeder $conc $(grep '^result' <<<"$out") load=$(cut -d' ' -f1 /proc/loadavg)")
	done
done
done

echo
printf '| seeder | fetchers | fetches/s | failed | seeder CPU ms a fetch | RSS during the load (MiB) | peak RSS (MiB) | before the load (MiB) | load |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for r in "${results[@]}"; do
	# shellcheck disable=SC2086
	set -- $r
	seeder=$1 conc=$2
	shift 3
	declare -A f=()
	for kv in "$@"; do f[${kv%%=*}]=${kv#*=}; done
	printf '| %s | %s | %s | %s | %s | %.1f | %.1f | %.1f | %s |\n' "$seeder" "$conc" "${f[fetches_per_s]}" "${f[failed]}" \
		"${f[cpu_ms_per_fetch]}" "$(echo "${f[load_rss_kib]} / 1024" | bc -l)" "$(echo "${f[peak_rss_kib]} / 1024" | bc -l)" \
		"$(echo "${f[peak_rss_before_kib]} / 1024" | bc -l)" "${f[load]}"
done

# Medians per seeder and concurrency.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { # seeder conc key
	for r in "${results[@]}"; do
		set -- $r
		[ "$1 $2" = "$S $C" ] || continue
		for kv in "$@"; do
			if [ "${kv%%=*}" = "$K" ]; then echo "${kv#*=}"; fi
		done
	done
}
echo
echo "medians of $ROUNDS rounds:"
printf '| seeder | fetchers | fetches/s | failed | seeder CPU ms a fetch | RSS during the load (MiB) | peak RSS (MiB) | load |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for C in $CONCS; do
	for S in $SEEDERS; do
		K=fetches_per_s; fps=$(field | median)
		K=failed; failed=$(field | median)
		K=cpu_ms_per_fetch; cpu=$(field | median)
		K=load_rss_kib; lrss=$(field | median)
		K=peak_rss_kib; rss=$(field | median)
		K=load; load=$(field | median)
		printf '| %s | %s | %s | %s | %s | %.1f | %.1f | %s |\n' "$S" "$C" "$fps" "$failed" "$cpu" \
			"$(echo "$lrss / 1024" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$load"
	done
done
