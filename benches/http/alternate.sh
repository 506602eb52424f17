#!/usr/bin/env bash
# guv (raw app), may_minihttp and guv (http-typed app) alternated round by
# round, each round measuring every server pipelined (depth 16) then with
# plain keep-alive: a check of run.sh's figures in which the three servers
# meet the same moments of a shared machine. Servers pinned to core 0, wrk
# -t1 -c100 to core 1; prints medians of CPU µs per request, and in how
# many rounds each guv server spent less CPU per request than may_minihttp
# (paired by round; an even split means a tie).
# Usage: bash benches/http/alternate.sh [RUNS] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5} dur=${2:-4s}
cargo build --release -q -p guv-benches --examples
bin=${CARGO_TARGET_DIR:-target}/release/examples
tck=$(getconf CLK_TCK)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
names=(guv_raw may_minihttp guv) bins=(http_guv_raw http_may_minihttp http_guv) ports=(18281 18282 18283)
for i in 0 1 2; do
  taskset -c 0 "$bin/${bins[$i]}" "${ports[$i]}" >/dev/null 2>&1 &
  pids+=($!)
done
for p in "${ports[@]}"; do
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$p/" >/dev/null && break; sleep 0.1; done
done
one() { # port pid pipelined|keep-alive -> "rps us_per_req"
  local port=$1 pid=$2 c0 c1 out
  c0=$(awk -v t="$tck" '{print ($14+$15)/t}' "/proc/$pid/stat")
  if [ "$3" = pipelined ]; then
    out=$(taskset -c 1 wrk -t1 -c100 -d"$dur" -s benches/http/pipeline.lua "http://127.0.0.1:$port/" -- 16 2>&1)
  else
    out=$(taskset -c 1 wrk -t1 -c100 -d"$dur" "http://127.0.0.1:$port/" 2>&1)
  fi
  c1=$(awk -v t="$tck" '{print ($14+$15)/t}' "/proc/$pid/stat")
  echo "$out" | awk -v a="$c0" -v b="$c1" '/Requests\/sec/ {r=$2} /requests in/ {q=$1} END {printf "%.0f %.3f\n", r, (b-a)*1e6/q}'
}
for p in "${ports[@]}"; do # warm-up, not counted
  taskset -c 1 wrk -t1 -c100 -d1s "http://127.0.0.1:$p/" >/dev/null 2>&1
done
declare -A pr pc kr kc
for _ in $(seq "$runs"); do
  for i in 0 1 2; do
    read -r r c < <(one "${ports[$i]}" "${pids[$i]}" pipelined)
    pr[$i]+="$r " pc[$i]+="$c "
    read -r r c < <(one "${ports[$i]}" "${pids[$i]}" keep-alive)
    kr[$i]+="$r " kc[$i]+="$c "
  done
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for i in 0 1 2; do
  # shellcheck disable=SC2086 # word splitting intended
  echo "${names[$i]}: pipelined $(med ${pr[$i]}) req/s, $(med ${pc[$i]}) us CPU/req; keep-alive $(med ${kr[$i]}) req/s, $(med ${kc[$i]}) us CPU/req"
done
# Rounds (paired) in which a guv server used less CPU per request than may_minihttp.
wins() { # "guv values" "may values" -> "k of n"
  # shellcheck disable=SC2086 # word splitting intended
  paste -d' ' <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '$1 < $2 {k++} END {printf "%d of %d", k, NR}'
}
for i in 0 2; do
  echo "${names[$i]} below may_minihttp: pipelined in $(wins "${pc[$i]}" "${pc[1]}") rounds, keep-alive in $(wins "${kc[$i]}" "${kc[1]}")"
done
