#!/usr/bin/env bash
# The trace adapters next to the reference's (not run by CI): for each format,
# a seeded trace of ROWS rows (examples/trace_gen), then side by side in one
# hyperfine run: `motifd distill` (residuals written as CSV to /dev/null),
# `motifd replay --from` (residuals through the engine), dsfb-database
# 0.1.1's adapter `load` (examples/reference_distill: the stream built in
# memory, nothing written) and the same plus writing the CSV as motifd does.
# Then peak RSS of each. Results go to docs/performance.md by hand.
#
#   bash benches/trace-adapters.sh [ROWS] [FORMAT...]
#
# Needs hyperfine (Debian package `hyperfine`) and /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-2000000}
shift || true
formats=("$@")
[ "${#formats[@]}" -gt 0 ] || formats=(pg-stat-statements ceb job tpcds snowset sqlshare sqlshare-text otel generic)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet --bin motifd --example trace_gen --example reference_distill
bin=target/release/motifd
ref=target/release/examples/reference_distill
nproc; grep -m1 'model name' /proc/cpuinfo || true; uptime

for f in "${formats[@]}"; do
  ext=csv
  [ "$f" = otel ] && ext=json
  [ "$f" = sqlshare-text ] && ext=txt
  trace="$work/$f.$ext"
  target/release/examples/trace_gen "$f" "$rows" 7 > "$trace"
  echo "== $f: $rows rows, $(du -h "$trace" | cut -f1)"
  "$bin" distill --from "$f" "$trace" 2>&1 > /dev/null | head -3
  "$ref" "$f" "$trace"
  hyperfine --warmup 1 --runs 3 --style basic \
    -n "motifd distill" "$bin distill --from $f -q $trace > /dev/null" \
    -n "motifd replay --from" "$bin replay --from $f -q $trace > /dev/null" \
    -n "reference load" "$ref $f $trace" \
    -n "reference load + write" "$ref $f $trace --write > /dev/null"
  /usr/bin/time -o "$work/time" -f "motifd distill: %e s wall, %U s user, %M KB peak RSS" \
    "$bin" distill --from "$f" -q "$trace" > /dev/null
  cat "$work/time"
  /usr/bin/time -o "$work/time" -f "reference load: %e s wall, %U s user, %M KB peak RSS" \
    "$ref" "$f" "$trace" 2> /dev/null
  cat "$work/time"
  rm -f "$trace"
done
