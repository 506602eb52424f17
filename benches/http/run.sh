#!/usr/bin/env bash
# The headline HTTP benchmark: plaintext "Hello, World!" with keep-alive,
# guv::wsgi (one worker; its http-typed app, and its raw one as
# guv_raw) vs may_minihttp (one may worker) vs hyper on tokio
# current_thread, each server pinned to core 0, wrk -t1 -c100 pinned to core
# 1, runs alternated; then the same with 16-deep pipelining (alternated too), then guv with
# workers(2) unpinned. Needs wrk and ../shared/bench/http_vs.sh.
# Usage: bash benches/http/run.sh [RUNS] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5} dur=${2:-5s}
vs=../shared/bench/http_vs.sh
[ -f "$vs" ] || vs=/work/shared/bench/http_vs.sh
cargo build --release -q -p guv-benches --examples
bin=${CARGO_TARGET_DIR:-target}/release/examples
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
# Not in a command substitution: that would record the pid in a subshell,
# and the trap would leave the servers running.
start() { taskset -c 0 "$bin/$1" "$2" >/dev/null 2>&1 & pids+=($!); }
for p in 18181 18182 18183 18184 18185; do
  if curl -s "http://127.0.0.1:$p/" >/dev/null 2>&1; then echo "port $p is taken: stop what serves it" >&2; exit 1; fi
done
start http_guv 18181; g=$!; start http_may_minihttp 18182; m=$!; start http_hyper 18183; h=$!
start http_guv_raw 18185; r=$!
for p in 18181 18182 18183 18185; do
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$p/" >/dev/null && break; sleep 0.1; done
done
for pid in "$g" "$m" "$h" "$r"; do
  kill -0 "$pid" 2>/dev/null || { echo "a server (pid $pid) did not start" >&2; exit 1; }
done
echo "== plaintext keep-alive, wrk -t1 -c100, $runs runs of $dur"
bash "$vs" guv 18181 "$g" may_minihttp 18182 "$m" "$runs" "$dur" | tail -1
bash "$vs" guv 18181 "$g" hyper 18183 "$h" "$runs" "$dur" | tail -1
bash "$vs" guv_raw 18185 "$r" may_minihttp 18182 "$m" "$runs" "$dur" | tail -1

# Pipelined: the same measurement with a wrk script sending 16 requests per write.
tck=$(getconf CLK_TCK)
pipe() { # port pid -> "rps us_per_req"
  local c0 c1 out
  c0=$(awk -v t="$tck" '{print ($14+$15)/t}' /proc/$2/stat)
  out=$(taskset -c 1 wrk -t1 -c100 -d"$dur" -s benches/http/pipeline.lua "http://127.0.0.1:$1/" -- 16 2>&1)
  c1=$(awk -v t="$tck" '{print ($14+$15)/t}' /proc/$2/stat)
  echo "$out" | awk -v a="$c0" -v b="$c1" '/Requests\/sec/ {r=$2} /requests in/ {q=$1} END {printf "%.0f %.3f\n", r, (b-a)*1e6/q}'
}
echo "== pipelined depth 16, wrk -t1 -c100, $runs runs of $dur, servers alternated (req/s, us CPU/req; medians)"
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
names=(guv guv_raw may_minihttp hyper) ports=(18181 18185 18182 18183) spids=("$g" "$r" "$m" "$h")
declare -A rs cs
for _ in $(seq "$runs"); do
  for i in 0 1 2 3; do
    read -r q c < <(pipe "${ports[$i]}" "${spids[$i]}")
    rs[$i]+="$q " cs[$i]+="$c "
  done
done
for i in 0 1 2 3; do
  # shellcheck disable=SC2086 # word splitting intended
  echo "${names[$i]} pipelined: $(med ${rs[$i]}) req/s, $(med ${cs[$i]}) us CPU/req"
done

echo "== guv workers(2), unpinned, wrk -t1 -c100 pinned to core 1"
GUV_WORKERS=2 "$bin/http_guv" 18184 >/dev/null 2>&1 & pids+=($!)
sleep 0.5
taskset -c 1 wrk -t1 -c100 -d"$dur" http://127.0.0.1:18184/ | awk '/Requests\/sec/ {print "guv workers(2): " $2 " req/s"}'
