# Shared by the bench scripts (sourced, not run).

# Waits up to 20 s until URL answers 2xx (with `any`: any HTTP answer at all, e.g. Nginx's 404
# for a location nothing serves).
wait_up() {
  local fail=-f
  [ "${2:-}" = any ] && fail=
  for _ in $(seq 1 400); do
    curl $fail -s -o /dev/null "$1" && return 0
    sleep 0.05
  done
  echo "$1 did not come up" >&2
  return 1
}
