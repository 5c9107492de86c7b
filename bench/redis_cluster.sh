#!/usr/bin/env bash
# Runs INVOCATIONS concurrent quicksilver-bench `fanout` invocations against NODES fresh release hubs
# and prints one JSON report per invocation (invocation i uses node i mod NODES for both its
# subscribers and its publishers), RUNS times. With TRANSPORT=redis (the default) a fresh
# redis-server (no persistence) is started and every node shares it; TRANSPORT=sled needs NODES=1.
# Nothing is pinned: hubs, Redis and generators share the machine's cores.
#
#   NODES=3 bench/redis_cluster.sh -s 1000 -t 1 -n 500 -r 33.33
#   NODES=1 INVOCATIONS=3 TRANSPORT=sled bench/redis_cluster.sh -s 1000 -t 1 -n 500 -r 33.33
#
# Build first: cargo build --release --bins. Needs redis-server, curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
nodes=${NODES:-3}
invocations=${INVOCATIONS:-$nodes}
transport=${TRANSPORT:-redis}
runs=${RUNS:-1}
base_port=${PORT:-29400}
redis_port=${REDIS_PORT:-29399}
key=${KEY:-bench-secret-0123456789abcdef0123}
hub_bin=$(realpath "${HUB_BIN:-target/release/quicksilver}")
bench_bin=$(realpath "${BENCH_BIN:-target/release/quicksilver-bench}")

wait_for() {
  for _ in $(seq 1 400); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "timed out waiting for: $*" >&2
  return 1
}

for run in $(seq 1 "$runs"); do
  work=$(mktemp -d /tmp/qs-cluster-bench.XXXXXX)
  pids=()
  cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
  trap cleanup EXIT
  if [ "$transport" = redis ]; then
    (cd "$work" && exec redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
      --appendonly no >"$work/redis.log" 2>&1) &
    pids+=($!)
    wait_for redis-cli -p "$redis_port" ping
  fi
  hub_pids=()
  for n in $(seq 0 $((nodes - 1))); do
    port=$((base_port + n))
    mkdir -p "$work/node$n"
    (cd "$work/node$n" && exec env QUICKSILVER_PUBLISHER_JWT_KEY="$key" \
      QUICKSILVER_SUBSCRIBER_JWT_KEY="$key" QUICKSILVER_ANONYMOUS=true \
      QUICKSILVER_DATA_DIR="$work/node$n/data" QUICKSILVER_TRANSPORT="$transport" \
      QUICKSILVER_REDIS_URL="redis://127.0.0.1:$redis_port/" \
      QUICKSILVER_REDIS_KEY_PREFIX="bench-$run" \
      "$hub_bin" serve --listen "127.0.0.1:$port" >"$work/node$n/hub.log" 2>&1) &
    pids+=($!)
    hub_pids+=($!)
    wait_for curl -fs "http://127.0.0.1:$port/healthz"
  done
  echo "run $run/$runs: $nodes node(s), $transport, $invocations x fanout $*" >&2
  gens=()
  for i in $(seq 0 $((invocations - 1))); do
    n=$((i % nodes))
    "$bench_bin" fanout --hub "http://127.0.0.1:$((base_port + n))" --publisher-key "$key" \
      --hub-pid "${hub_pids[$n]}" --json --quiet "$@" >"$work/report$i.json" 2>"$work/report$i.err" &
    gens+=($!)
  done
  for pid in "${gens[@]}"; do wait "$pid" || true; done
  for i in $(seq 0 $((invocations - 1))); do
    jq -c --arg node "$((i % nodes))" '. + {node: ($node | tonumber)}' "$work/report$i.json" \
      || cat "$work/report$i.err" >&2
  done
  cleanup
  trap - EXIT
  rm -rf "$work"
done
