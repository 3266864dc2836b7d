#!/usr/bin/env bash
# Whole-process benchmarks (not run by CI): motifd replay of a 10M-sample CSV
# next to dsfb-database parsing and running the same file, the same records as
# JSON lines and with 17-digit values, and the daemon fed over TCP by 4
# producers. Results go to docs/performance.md by hand.
#
#   bash benches/whole-process.sh [SAMPLES] [CHANNELS]
#
# Needs hyperfine (Debian package `hyperfine`) and /usr/bin/time.
# The producers send as fast as the daemon reads, and the daemon does not read
# its connections in lockstep, so their event times drift apart by far more
# than live producers' would; the wide window keeps that drift from turning
# into out-of-window drops, so the run measures throughput, not the drop rule.
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-10000000}
channels=${2:-1000}
work=$(mktemp -d)
trap 'kill "${daemon:-}" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet --bin motifd --example bench_csv --example reference_replay --example tcp_feed
bin=target/release/motifd
csv="$work/bench.csv"
target/release/examples/bench_csv "$csv" "$samples" "$channels"
echo "input: $csv ($samples samples, $channels channels, $(du -h "$csv" | cut -f1))"
nproc; grep -m1 'model name' /proc/cpuinfo || true; uptime

echo "== replay, whole process"
hyperfine --warmup 1 --runs 5 "$bin replay -q $csv > /dev/null"
/usr/bin/time -f 'motifd replay: %e s wall, %U s user, %M KB peak RSS' "$bin" replay -q "$csv" > /dev/null

echo "== replay of the same records as JSON lines, and both formats with 17-digit values"
target/release/examples/bench_csv "$work/bench.jsonl" "$samples" "$channels" jsonl
target/release/examples/bench_csv "$work/full.csv" "$samples" "$channels" csv full
target/release/examples/bench_csv "$work/full.jsonl" "$samples" "$channels" jsonl full
hyperfine --warmup 1 --runs 5 "$bin replay -q $work/bench.jsonl > /dev/null" \
  "$bin replay -q $work/full.csv > /dev/null" "$bin replay -q $work/full.jsonl > /dev/null"
rm -f "$work/bench.jsonl" "$work/full.csv" "$work/full.jsonl"

echo "== reference (dsfb-database 0.1.1) parsing and running the same file"
/usr/bin/time -f 'reference: %e s wall, %U s user, %M KB peak RSS' target/release/examples/reference_replay "$csv"

echo "== daemon over TCP, 4 producers"
port_base=$((20000 + RANDOM % 20000))
"$bin" run --ingest-listen "127.0.0.1:$port_base" --metrics-listen "127.0.0.1:$((port_base + 1))" \
  --window 3600 --log-level warn > /dev/null &
daemon=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$((port_base + 1))/healthz" > /dev/null && break; sleep 0.1; done
target/release/examples/tcp_feed "127.0.0.1:$port_base" "127.0.0.1:$((port_base + 1))" "$csv" 4
grep -E 'VmHWM' "/proc/$daemon/status"
kill -TERM "$daemon"; wait "$daemon"; daemon=
