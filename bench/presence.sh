#!/usr/bin/env bash
# Does connecting 10,000 subscribers make publishing slower for everyone else (issue 5)?
# Starts a release hub pinned to CPU 0, measures the publish rate with no subscriber, then again
# while 10,000 idle subscribers (on a topic nobody publishes to) are connected.
#
#   bench/presence.sh SUBSCRIPTIONS TRANSPORT      e.g. bench/presence.sh true sled
#
# Build first: cargo build --release --bins.
set -euo pipefail
cd "$(dirname "$0")/.."
subscriptions=${1:?usage: bench/presence.sh true|false memory|sled}
transport=${2:?usage: bench/presence.sh true|false memory|sled}
port=${PORT:-29500}
key=${KEY:-bench-secret-0123456789abcdef0123}
bench=$(realpath target/release/quicksilver-bench)
data=$(mktemp -d /tmp/qs-presence.XXXXXX)
(cd "$data" && exec env QUICKSILVER_PUBLISHER_JWT_KEY="$key" QUICKSILVER_SUBSCRIBER_JWT_KEY="$key" \
  QUICKSILVER_ANONYMOUS=true QUICKSILVER_DATA_DIR="$data/data" QUICKSILVER_TRANSPORT="$transport" \
  QUICKSILVER_SUBSCRIPTIONS="$subscriptions" QUICKSILVER_LOG=warn \
  taskset -c 0 "$(realpath target/release/quicksilver)" serve --listen "127.0.0.1:$port" >"$data/hub.log" 2>&1) &
hub=$!
trap 'kill $hub 2>/dev/null || true; rm -rf "$data"' EXIT
sleep 1.5
publish() {
  taskset -c 1 "$bench" publish --hub "http://127.0.0.1:$port" --publisher-key "$key" \
    --hub-pid "$hub" --json --quiet -c 64 -d 5s
}
echo "# subscriptions=$subscriptions transport=$transport, no subscriber" >&2
publish
taskset -c 1 "$bench" idle --hub "http://127.0.0.1:$port" -n 10000 --settle 40s --quiet >/dev/null &
idle=$!
sleep 8
echo "# subscriptions=$subscriptions transport=$transport, 10000 subscribers connected" >&2
publish
kill "$idle" 2>/dev/null || true
