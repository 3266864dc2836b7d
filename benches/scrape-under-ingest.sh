#!/usr/bin/env bash
# Scrape load while the daemon ingests at full speed (not run by CI):
# ingest throughput over TCP with and without 64 keep-alive scrapers plus 32
# idle connections, and the scrapers' latency; then with and without one
# scraper scraping as fast as it can.
#
#   bash benches/scrape-under-ingest.sh [SAMPLES]
#   MOTIFD_ARGS="--channel-capacity 256" bash benches/scrape-under-ingest.sh   # extra daemon flags
#   FEED_NICE=19 bash benches/scrape-under-ingest.sh   # producers at a lower priority, as
#                                                     # stand-ins for producers on other hosts
# The producers send as fast as the daemon reads, and the daemon does not read
# its connections in lockstep, so their event times drift apart by far more
# than live producers' would; the wide window keeps that drift from turning
# into out-of-window drops, so the run measures throughput, not the drop rule.
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-10000000}
work=$(mktemp -d)
trap 'kill "${daemon:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --quiet --bin motifd --example bench_csv --example tcp_feed --example scrapers
out=${CARGO_TARGET_DIR:-target}/release
bin=$out/motifd
"$out"/examples/bench_csv "$work/bench.csv" "$samples" 1000
nproc; uptime

start_daemon() {
  port=$((20000 + RANDOM % 20000))
  "$bin" run --ingest-listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 1))" \
    --window 3600 --log-level warn ${MOTIFD_ARGS:-} > /dev/null &
  daemon=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$((port + 1))/healthz" > /dev/null && break; sleep 0.1; done
}
stop_daemon() { kill -TERM "$daemon"; wait "$daemon"; daemon=; }

# Alternate the two cases so drift in the machine's load hits both alike.
for run in 1 2 3; do
  echo "== run $run: ingest alone"
  start_daemon
  nice -n "${FEED_NICE:-0}" "$out"/examples/tcp_feed "127.0.0.1:$port" "127.0.0.1:$((port + 1))" "$work/bench.csv" 4
  stop_daemon

  echo "== run $run: ingest with 64 scrapers (1/s each) + 32 idle connections"
  start_daemon
  "$out"/examples/scrapers "127.0.0.1:$((port + 1))" 64 32 6 &
  load=$!
  sleep 1
  nice -n "${FEED_NICE:-0}" "$out"/examples/tcp_feed "127.0.0.1:$port" "127.0.0.1:$((port + 1))" "$work/bench.csv" 4
  wait "$load"
  stop_daemon
done

# One scraper as fast as it can, against ingest alone, alternating.
for run in 1 2 3; do
  echo "== run $run: ingest alone"
  start_daemon
  nice -n "${FEED_NICE:-0}" "$out"/examples/tcp_feed "127.0.0.1:$port" "127.0.0.1:$((port + 1))" "$work/bench.csv" 4
  stop_daemon

  echo "== run $run: ingest with one scraper as fast as it can"
  start_daemon
  "$out"/examples/scrapers "127.0.0.1:$((port + 1))" flat 6 &
  load=$!
  sleep 1
  nice -n "${FEED_NICE:-0}" "$out"/examples/tcp_feed "127.0.0.1:$port" "127.0.0.1:$((port + 1))" "$work/bench.csv" 4
  wait "$load"
  stop_daemon
done
