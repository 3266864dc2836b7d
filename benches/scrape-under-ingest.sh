#!/usr/bin/env bash
# Scrape load while the daemon ingests at full speed (not run by CI). Each run
# starts a daemon and 4 TCP producers; once the daemon's received counter
# rises, `examples/scrapers` opens its connections, answers each once, and
# measures a window of WINDOW seconds: the scrape latencies, every
# connection's answer count, and the ingest rate inside the window. Cases
# alternate with the same window and no scrape load, so drift in the
# machine's load hits both alike:
#   phase a: 64 keep-alive scrapers (1/s each) + 32 idle connections
#   phase b: one scraper as fast as it can
#
#   bash benches/scrape-under-ingest.sh [SAMPLES]     # default 80M: ~13 s of ingest
#   WINDOW=10 RUNS=3 bash benches/scrape-under-ingest.sh
#   CSV=/tmp/feed.csv bash benches/scrape-under-ingest.sh   # reuse a bench_csv file
#   MOTIFD_ARGS="--channel-capacity 256" bash benches/scrape-under-ingest.sh   # extra daemon flags
#   FEED_NICE=19 bash benches/scrape-under-ingest.sh   # producers at a lower priority, as
#                                                     # stand-ins for producers on other hosts
#   MOTIFD_ARGS="--scrape-realtime-priority 1" SCRAPERS_RT=1 bash benches/scrape-under-ingest.sh
#       # the daemon's scrape path at SCHED_FIFO 1, and the scrapers too (`chrt -f 1`,
#       # needs root or CAP_SYS_NICE), as stand-ins for a Prometheus on another host
# The feed must outlast the window: each window's last line says whether it
# did. The producers send as fast as the daemon reads, and the daemon does
# not read its connections in lockstep, so their event times drift apart by
# far more than live producers' would; the wide window keeps that drift from
# turning into out-of-window drops, so the run measures throughput, not the
# drop rule.
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-80000000}
window=${WINDOW:-10}
runs=${RUNS:-3}
work=$(mktemp -d)
trap 'kill "${feed:-}" "${daemon:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --quiet --bin motifd --example bench_csv --example tcp_feed --example scrapers
out=${CARGO_TARGET_DIR:-target}/release
bin=$out/motifd
csv=${CSV:-$work/bench.csv}
[ -n "${CSV:-}" ] || "$out"/examples/bench_csv "$csv" "$samples" 1000
nproc; uptime

start_daemon() {
  port=$((20000 + RANDOM % 20000))
  "$bin" run --ingest-listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$((port + 1))" \
    --window 3600 --log-level warn ${MOTIFD_ARGS:-} > /dev/null &
  daemon=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$((port + 1))/healthz" > /dev/null && break; sleep 0.1; done
}
stop_daemon() { kill -TERM "$daemon"; wait "$daemon"; daemon=; }

# run_case LABEL SCRAPERS-ARGS...: one daemon, one feed, one measured window.
run_case() {
  echo "== $1"
  shift
  start_daemon
  nice -n "${FEED_NICE:-0}" "$out"/examples/tcp_feed "127.0.0.1:$port" "127.0.0.1:$((port + 1))" \
    "$csv" 4 > "$work/feed.txt" &
  feed=$!
  ${SCRAPERS_RT:+chrt -f 1} "$out"/examples/scrapers "127.0.0.1:$((port + 1))" "$@"
  wait "$feed"
  feed=
  sed -n 1p "$work/feed.txt"
  stop_daemon
}

for run in $(seq "$runs"); do
  run_case "phase a, run $run: ingest alone" 0 0 "$window"
  run_case "phase a, run $run: ingest with 64 scrapers (1/s each) + 32 idle connections" 64 32 "$window"
done
for run in $(seq "$runs"); do
  run_case "phase b, run $run: ingest alone" 0 0 "$window"
  run_case "phase b, run $run: ingest with one scraper as fast as it can" flat "$window"
done
