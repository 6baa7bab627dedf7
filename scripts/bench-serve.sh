#!/usr/bin/env bash
# Load test of btext serve on 127.0.0.1 (see scripts/loadgen): 1,000
# concurrent metadata fetches, 200 slowloris connections and 20 request
# flooders, with a good peer timing its fetches throughout. Prints
# throughput, peak RSS, and goroutines/open files after the peers leave;
# exits 1 on a leak or a failed good peer. Extra flags go to loadgen
# (-peers, -fetches, -slowloris, -flood, -size, -limit).
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/btext ./cmd/btext
exec go run ./scripts/loadgen -bin bin/btext "$@"
