#!/usr/bin/env bash
# Start-up time with many stored events: fills a sled hub with EVENTS events (publish scenario),
# stops it, then times `quicksilver serve` until /healthz answers, RUNS times (hub on CPU $HUB_CPU).
#
#   EVENTS=1000000 RUNS=3 bench/startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-1000000}
runs=${RUNS:-3}
port=${PORT:-29301}
key=${KEY:-bench-secret-0123456789abcdef0123}
hub_bin=$(realpath "${HUB_BIN:-target/release/quicksilver}")
bench_bin=$(realpath "${BENCH_BIN:-target/release/quicksilver-bench}")
data=$(mktemp -d /tmp/qs-startup.XXXXXX)
trap 'rm -rf "$data"' EXIT

start_hub() {
  (cd "$data" && exec env QUICKSILVER_PUBLISHER_JWT_KEY="$key" QUICKSILVER_ANONYMOUS=true \
    QUICKSILVER_DATA_DIR="$data/data" QUICKSILVER_TRANSPORT=sled QUICKSILVER_HISTORY_SIZE=0 \
    QUICKSILVER_DURABILITY="${DURABILITY:-periodic}" \
    taskset -c "${HUB_CPU:-0}" "$hub_bin" serve --listen "127.0.0.1:$port" >>"$data/hub.log" 2>&1) &
  hub=$!
}

healthy_after_ms() {
  local start=$(date +%s%N)
  until curl -fs -o /dev/null "http://127.0.0.1:$port/healthz"; do
    kill -0 "$hub" 2>/dev/null || { echo "hub exited" >&2; return 1; }
    sleep 0.002
  done
  echo $(( ($(date +%s%N) - start) / 1000000 ))
}

stop_hub() { kill "$hub"; wait "$hub" 2>/dev/null || true; }

start_hub
healthy_after_ms >/dev/null
echo "filling $events events" >&2
taskset -c "${BENCH_CPU:-1}" "$bench_bin" publish --hub "http://127.0.0.1:$port" --publisher-key "$key" \
  -c 128 -n "$events" --json --quiet | jq -c '{published, errors, publishes_per_s}'
stop_hub
echo "data dir: $(du -sh "$data/data" | cut -f1)" >&2
for run in $(seq 1 "$runs"); do
  start_hub
  echo "{\"run\": $run, \"events\": $events, \"startup_ms\": $(healthy_after_ms)}"
  stop_hub
done
