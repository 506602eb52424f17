#!/usr/bin/env bash
# Instructions per request of one HTTP server binary under callgrind: the
# server runs under `valgrind --tool=callgrind` on 127.0.0.1:PORT, loaded
# by `wrk -t1 -c100` (pinned to core 1) for SHORT and then LONG seconds (a
# fresh server each time); the difference of the two runs' instruction
# totals divided by the difference of their request counts cancels
# start-up and connection set-up. Callgrind counts are deterministic for a
# given request mix, unlike timings on a shared machine.
# Usage: bash benches/http/callgrind.sh BINARY PORT [ka|pipe] [LUA] [SHORT] [LONG]
#   pipe: 16-deep pipelining with LUA (default benches/http/pipeline.lua;
#   benches/http/pipeline_distinct.lua gives every request its own target).
# Build the servers first: cargo build --release -p guv-benches --examples
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$1 port=$2 mode=${3:-pipe} lua=${4:-benches/http/pipeline.lua} short=${5:-2} long=${6:-6}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
one() { # port seconds -> "requests instructions"
  local vp w req ir
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" "$bin" "$1" >/dev/null 2>"$out/vg.$1" &
  vp=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/" >/dev/null && break; sleep 0.2; done
  if [ "$mode" = pipe ]; then
    w=$(taskset -c 1 wrk -t1 -c100 -d"$2"s -s "$lua" "http://127.0.0.1:$1/" -- 16 2>&1)
  else
    w=$(taskset -c 1 wrk -t1 -c100 -d"$2"s "http://127.0.0.1:$1/" 2>&1)
  fi
  req=$(echo "$w" | awk '/requests in/ {print $1}')
  kill -INT "$vp"; sleep 1; kill -0 "$vp" 2>/dev/null && kill -TERM "$vp"
  wait "$vp" || true
  ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out/cg.$1")
  echo "$req $ir"
}
read -r q1 i1 < <(one "$port" "$short")
read -r q2 i2 < <(one "$((port + 1))" "$long")
echo "$(basename "$bin") $mode: $q2 requests in ${long}s, $(( i2 / q2 )) instructions/request (whole run), $(( (i2 - i1) / (q2 - q1) )) (difference of ${long}s and ${short}s runs)"
