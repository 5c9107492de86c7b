#!/usr/bin/env bash
# Runs one quicksilver-bench scenario RUNS times against Nginx + Nchan (one worker, pinned to CPU
# $HUB_CPU) and prints one JSON report per line; the generator runs on CPU $BENCH_CPU.
#
#   apt-get update && apt-get install -y nginx-light libnginx-mod-nchan
#   RUNS=3 bench/nchan/run.sh fanout -s 1000 -t 1 -n 1000 -r 100
#
# Only publish, idle, resume and fanout --selector exact fit Nchan's API (see --flavor nchan).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
scenario=${1:?usage: bench/nchan/run.sh SCENARIO [options]}
shift
runs=${RUNS:-1}
port=${PORT:-29400}
bench_bin=$(realpath "${BENCH_BIN:-target/release/quicksilver-bench}")

source "$here/../lib.sh"

for run in $(seq 1 "$runs"); do
  dir=$(mktemp -d /tmp/nchan-bench.XXXXXX)
  sed "s|@DIR@|$dir|g; s|@PORT@|$port|g" "$here/nginx.conf.in" >"$dir/nginx.conf"
  taskset -c "${HUB_CPU:-0}" nginx -c "$dir/nginx.conf" -p "$dir" &
  master=$!
  trap 'kill $master 2>/dev/null || true; rm -rf "$dir"' EXIT
  wait_up "http://127.0.0.1:$port/" any
  worker=$(pgrep -P "$master" | head -n 1)
  echo "run $run/$runs: nchan $scenario $*" >&2
  taskset -c "${BENCH_CPU:-1}" "$bench_bin" "$scenario" --flavor nchan --hub "http://127.0.0.1:$port" \
    --hub-pid "$worker" --json --quiet "$@" | jq -c . || true
  kill "$master" 2>/dev/null || true
  wait "$master" 2>/dev/null || true
  trap - EXIT
  rm -rf "$dir"
done
