#!/usr/bin/env bash
# Runs one quicksilver-bench scenario RUNS times against Nginx with `gzip on` in front of an
# uncompressed Quicksilver (per-connection compression), and prints one JSON report per line.
# The hub and Nginx's one worker share CPU $HUB_CPU (together they serve the load), the generator
# runs on CPU $BENCH_CPU; the report's hub CPU is Quicksilver's, `proxy_cpu_us_per_op` Nginx's.
#
#   RUNS=3 bench/nginx-gzip/run.sh fanout -s 1000 -t 1 -n 1000 -r 100 --payload-kind jsonld --compressed
#
# GZIP_LEVEL sets gzip_comp_level (default 1, Nginx's default). Build first:
# cargo build --release --bins.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
scenario=${1:?usage: bench/nginx-gzip/run.sh SCENARIO [options]}
shift
runs=${RUNS:-1}
port=${PORT:-29500}
hub_port=${HUB_PORT:-29501}
key=${KEY:-bench-secret-0123456789abcdef0123}
hub_bin=$(realpath "${HUB_BIN:-target/release/quicksilver}")
bench_bin=$(realpath "${BENCH_BIN:-target/release/quicksilver-bench}")

source "$here/../lib.sh"

for run in $(seq 1 "$runs"); do
  dir=$(mktemp -d /tmp/nginx-gzip-bench.XXXXXX)
  sed "s|@DIR@|$dir|g; s|@PORT@|$port|g; s|@HUB_PORT@|$hub_port|g; s|@LEVEL@|${GZIP_LEVEL:-1}|g" \
    "$here/nginx.conf.in" >"$dir/nginx.conf"
  (cd "$dir" && exec env QUICKSILVER_PUBLISHER_JWT_KEY="$key" QUICKSILVER_SUBSCRIBER_JWT_KEY="$key" \
    QUICKSILVER_ANONYMOUS=true QUICKSILVER_DATA_DIR="$dir/data" QUICKSILVER_COMPRESSION=off \
    QUICKSILVER_TRANSPORT="${TRANSPORT:-sled}" QUICKSILVER_DURABILITY="${DURABILITY:-fsync}" \
    taskset -c "${HUB_CPU:-0}" "$hub_bin" serve --listen "127.0.0.1:$hub_port" >"$dir/hub.log" 2>&1) &
  hub=$!
  taskset -c "${HUB_CPU:-0}" nginx -c "$dir/nginx.conf" -p "$dir" &
  master=$!
  trap 'kill $hub $master 2>/dev/null || true; rm -rf "$dir"' EXIT
  wait_up "http://127.0.0.1:$hub_port/healthz"
  wait_up "http://127.0.0.1:$port/healthz"
  worker=$(pgrep -P "$master" | head -n 1)
  echo "run $run/$runs: nginx gzip $scenario $*" >&2
  taskset -c "${BENCH_CPU:-1}" "$bench_bin" "$scenario" --hub "http://127.0.0.1:$port" \
    --publisher-key "$key" --hub-pid "$hub" --proxy-pid "$worker" --json --quiet "$@" | jq -c . || true
  kill "$master" "$hub" 2>/dev/null || true
  wait "$master" "$hub" 2>/dev/null || true
  trap - EXIT
  rm -rf "$dir"
done
