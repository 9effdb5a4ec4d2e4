#!/usr/bin/env bash
# Status with 100,000 distinct waiting tokens, measured with wrk against the HTTP ceiling, for one or
# more builds of waitroom in alternating rounds (so the machine's drift weighs on all alike):
#
#   bench/wrk/run.sh [--rounds N] [--seconds S] [--settings JSON] LABEL=path/to/waitroom ...
#
# Each build serves the embedded store on its own port with an event that releases nobody (batch 0)
# and no rate limits, changed by --settings (a merge patch: `{"batch_size": 1,
# "release_interval_ms": 3600000}` gives every answer an estimate); join.lua fills it with at least
# 100,000 waiting visitors' tokens. Each round
# runs status.lua for S seconds against the bench's ceiling server (`waitroom-bench
# --serve-ceiling`, a bare actix-web server with the same two workers) and then against each build:
# the same script, so wrk's own cost of a scripted request weighs on both. Prints one line per
# round and build with both rates and the ratio.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=6 seconds=10 settings='{}'
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --settings) settings=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -ge 1 ]] || { echo "usage: $0 [--rounds N] [--seconds S] [--settings JSON] LABEL=waitroom-binary ..." >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
bench=${WAITROOM_BENCH:-$here/../../target/release/waitroom-bench}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

wait_for() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
# The rate of a wrk run, refusing a run with any non-2xx answer (a refused token is no status check).
rate() { out=$(cat); if grep -q Non-2xx <<<"$out"; then echo "$out" >&2; exit 1; fi; awk '/Requests\/sec/ { print $2 }' <<<"$out"; }

"$bench" --serve-ceiling 8098 --workers 2 >"$work/ceiling.log" 2>&1 &
pids+=($!)
wait_for http://127.0.0.1:8098/

labels=() ports=()
port=8099
for spec in "$@"; do
  label=${spec%%=*} binary=${spec#*=}
  WAITROOM_LISTEN=127.0.0.1:$port WAITROOM_ADMIN_TOKEN=wrk-admin-token-0123456789 WAITROOM_DEMO_EVENT=false \
    WAITROOM_WORKERS=2 "$binary" serve >"$work/$label.log" 2>&1 &
  pids+=($!)
  wait_for "http://127.0.0.1:$port/healthz"
  curl -sf -X PUT "http://127.0.0.1:$port/v1/admin/events/wrk" -H 'authorization: Bearer wrk-admin-token-0123456789' \
    -H 'content-type: application/json' \
    -d '{"batch_size": 0, "rate_limits": {"joins_per_minute": 0, "join_burst": 0, "checks_per_second": 0, "check_burst": 0}}' >/dev/null
  curl -sf -X PUT "http://127.0.0.1:$port/v1/admin/events/wrk" -H 'authorization: Bearer wrk-admin-token-0123456789' \
    -H 'content-type: application/json' -d "$settings" >/dev/null
  mkdir -p "$work/$label"
  while [[ $(cat "$work/$label"/tokens-*.txt 2>/dev/null | wc -l) -lt 100000 ]]; do
    WRK_TOKENS="$work/$label" wrk -t2 -c64 -d2s -s "$here/join.lua" "http://127.0.0.1:$port/v1/events/wrk/join" >/dev/null
  done
  echo "$label: $(cat "$work/$label"/tokens-*.txt | wc -l) waiting visitors' tokens"
  labels+=("$label") ports+=("$port")
  port=$((port + 1))
done

for round in $(seq "$rounds"); do
  for i in "${!labels[@]}"; do
    label=${labels[$i]}
    ceiling=$(WRK_TOKENS="$work/$label" wrk -t2 -c64 -d"${seconds}s" -s "$here/status.lua" http://127.0.0.1:8098/ | rate)
    status=$(WRK_TOKENS="$work/$label" wrk -t2 -c64 -d"${seconds}s" -s "$here/status.lua" \
      "http://127.0.0.1:${ports[$i]}/v1/events/wrk/status" | rate)
    awk -v r="$round" -v l="$label" -v c="$ceiling" -v s="$status" \
      'BEGIN { printf "round %d %-8s ceiling %8.0f req/s  status %8.0f req/s  ratio %.3f\n", r, l, c, s, s / c }'
  done
done
