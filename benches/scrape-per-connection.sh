#!/usr/bin/env bash
# Threads and open files the daemon holds per keep-alive scrape connection:
# starts `motifd run` (release build), opens CONNECTIONS keep-alive
# connections to its metrics port, has each answered once (`GET /healthz`),
# and prints the growth of /proc/PID/task and /proc/PID/fd per connection.
#
#   bash benches/scrape-per-connection.sh [CONNECTIONS]     # default 32
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-32}
cargo build --release --quiet --bin motifd
bin=${CARGO_TARGET_DIR:-target}/release/motifd
port=$((20000 + RANDOM % 20000))
"$bin" run --ingest-listen 127.0.0.1:0 --metrics-listen "127.0.0.1:$port" --log-level warn < /dev/null &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done

counts() { echo "$(ls "/proc/$pid/task" | wc -l) $(ls "/proc/$pid/fd" | wc -l)"; }
# One keep-alive request on descriptor $1; reads the whole answer.
ask() {
  local fd=$1 line length=0
  printf 'GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n' >&"$fd"
  IFS= read -r -u "$fd" line
  case $line in "HTTP/1.1 200"*) ;; *) echo "unexpected answer: $line" >&2; exit 1 ;; esac
  while IFS= read -r -u "$fd" line && [ "$line" != $'\r' ]; do
    case ${line,,} in content-length:*) length=${line#*:}; length=${length//[^0-9]/} ;; esac
  done
  IFS= read -r -N "$length" -u "$fd" line
}

sleep 0.5
read -r threads0 files0 < <(counts)
conns=()
for _ in $(seq "$n"); do
  exec {fd}<>"/dev/tcp/127.0.0.1/$port"
  ask "$fd"
  conns+=("$fd")
done
sleep 0.5
read -r threads1 files1 < <(counts)
awk -v n="$n" -v t0="$threads0" -v t1="$threads1" -v f0="$files0" -v f1="$files1" 'BEGIN {
  printf "%d keep-alive connections: threads %d -> %d (%.2f per connection), open files %d -> %d (%.2f per connection)\n",
    n, t0, t1, (t1 - t0) / n, f0, f1, (f1 - f0) / n }'
for fd in "${conns[@]}"; do exec {fd}>&-; done
