#!/usr/bin/env bash
# Decide whether make test runs the interop tests against real peers, and say
# so loudly. Prints "BTEXT_INTEROP=..." for the Makefile to source.
#   $1 = ""        run them if scripts/install-peers.sh can provide the peers
#   $1 = require   the peers must be there (CI): fail otherwise
#   $1 = skip      do not run them
set -uo pipefail
mode=${1:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
case "$mode" in
skip)
	echo "################ INTEROP TESTS SKIPPED (BTEXT_INTEROP=skip) ################" >&2
	echo "BTEXT_INTEROP=skip"
	exit 0 ;;
require|"") ;;
*) echo "interop-env: BTEXT_INTEROP=$mode: want empty, require or skip" >&2; exit 2 ;;
esac
if reason=$("$here/install-peers.sh" 2>&1 && "$here/install-trackers.sh" 2>&1 && "$here/install-dht.sh" 2>&1); then
	echo "BTEXT_INTEROP=require"
	exit 0
fi
if [ "$mode" = require ]; then
	echo "interop-env: real peers required but cannot be installed: $reason" >&2
	exit 1
fi
echo "################ INTEROP TESTS SKIPPED: real peers cannot be installed ################" >&2
echo "################ $reason" >&2
echo "BTEXT_INTEROP=skip"
