#!/usr/bin/env bash
# Median of one field over JSON reports, one per line on stdin (as bench/quicksilver.sh prints).
#   bench/quicksilver.sh ... | tee runs.jsonl; bench/median.sh .publishes_per_s .latency.p99_us < runs.jsonl
set -euo pipefail
input=$(cat)
for field in "$@"; do
  printf '%s: ' "$field"
  jq -s "map($field) | sort | .[(length - 1) / 2 | floor]" <<<"$input"
done
