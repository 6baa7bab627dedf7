#!/usr/bin/env bash
# Load test of btext serve on 127.0.0.1 (see scripts/loadgen): 1,000
# concurrent metadata fetches, 200 slowloris connections and 20 request
# flooders, with a good peer timing its fetches throughout. Prints
# throughput, peak RSS, and goroutines/open files after the peers leave;
# exits 1 on a leak or a failed good peer. Extra flags go to that run of
# loadgen (-peers, -fetches, -slowloris, -flood, -size, -limit).
# Then memory per connection: an 8 MiB info dict, 200 peers that each take
# one ~1 MiB LT_metadata reply and stay idle, plain and over RC4; prints
# serve's RSS with them all idle (docs/wire.md has the figures). Last,
# scripts/bench-serve-vs.sh: btext serve next to libtorrent.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build
go run ./scripts/loadgen -bin bin/btext "$@"
for enc in off prefer; do
	go run ./scripts/loadgen -bin bin/btext -idle 200 -size 8388608 -idle-encryption "$enc"
done
# btext serve next to libtorrent seeding the same torrent: fetches/s with
# 100 and 1,000 concurrent fetchers, CPU a fetch, peak RSS (docs/serve.md).
scripts/bench-serve-vs.sh
