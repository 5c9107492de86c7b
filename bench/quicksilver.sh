#!/usr/bin/env bash
# Runs one quicksilver-bench scenario RUNS times against a fresh release hub and prints one JSON
# report per line. The hub is pinned to CPU $HUB_CPU, the generator to CPU $BENCH_CPU.
#
#   bench/quicksilver.sh SCENARIO [quicksilver-bench options...]
#   RUNS=3 TRANSPORT=sled DURABILITY=fsync bench/quicksilver.sh publish -c 256 -d 10s
#
# Build first: cargo build --release --bins. Each run gets a new data dir (deleted afterwards)
# under $DATA_PARENT (default /tmp; e.g. a tmpfs mount, to take the disk out of the measure).
# Extra hub settings go in the environment as usual (QUICKSILVER_HISTORY_SIZE=0 ...).
# FILL=N stores N events on unrelated topics before the measured scenario.
# FLOOR=1 first measures, in the same run, the CPU of one loopback write() of 1, 4 and 16 SSE
# frames (quicksilver-bench floor; writer on $HUB_CPU, reader on $BENCH_CPU) and prints it;
# FLOOR="-s 1000 -r 100" passes those options to the floor instead (e.g. the scenario's pacing).
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: bench/quicksilver.sh SCENARIO [options]}
shift
runs=${RUNS:-1}
port=${PORT:-29300}
key=${KEY:-bench-secret-0123456789abcdef0123}
hub_bin=$(realpath "${HUB_BIN:-target/release/quicksilver}")
bench_bin=$(realpath "${BENCH_BIN:-target/release/quicksilver-bench}")

source bench/lib.sh

for run in $(seq 1 "$runs"); do
  if [ -n "${FLOOR:-}" ]; then
    floor_args=()
    [ "$FLOOR" = 1 ] || read -ra floor_args <<<"$FLOOR"
    taskset -c "${HUB_CPU:-0},${BENCH_CPU:-1}" "$bench_bin" floor --json "${floor_args[@]}" | jq -c .
  fi
  data=$(mktemp -d "${DATA_PARENT:-/tmp}/qs-bench.XXXXXX")
  (cd "$data" && exec env QUICKSILVER_PUBLISHER_JWT_KEY="$key" QUICKSILVER_SUBSCRIBER_JWT_KEY="$key" \
    QUICKSILVER_ANONYMOUS=true QUICKSILVER_DATA_DIR="$data/data" \
    QUICKSILVER_TRANSPORT="${TRANSPORT:-sled}" QUICKSILVER_DURABILITY="${DURABILITY:-fsync}" \
    taskset -c "${HUB_CPU:-0}" "$hub_bin" serve --listen "127.0.0.1:$port" >"$data/hub.log" 2>&1) &
  hub=$!
  trap 'kill $hub 2>/dev/null || true' EXIT
  wait_up "http://127.0.0.1:$port/healthz"
  if [ -n "${FILL:-}" ]; then
    echo "run $run/$runs: storing $FILL events on other topics first" >&2
    taskset -c "${BENCH_CPU:-1}" "$bench_bin" publish --hub "http://127.0.0.1:$port" \
      --publisher-key "$key" -c 64 -n "$FILL" --json --quiet | jq -c '{fill: .published}' >&2
  fi
  echo "run $run/$runs: $scenario $*" >&2
  taskset -c "${BENCH_CPU:-1}" "$bench_bin" "$scenario" --hub "http://127.0.0.1:$port" \
    --publisher-key "$key" --hub-pid "$hub" --json --quiet "$@" | jq -c . || true
  if ! kill "$hub" 2>/dev/null; then
    echo "the hub exited during the run; its log and data stay in $data" >&2
    trap - EXIT
    continue
  fi
  wait "$hub" 2>/dev/null || true
  trap - EXIT
  rm -rf "$data"
done
