#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time.
#
#   fuzz/run.sh [seconds-per-target] [target...]
#
# Default: 60 s for every target. The committed seeds (fuzz/seeds/<target>/)
# are copied into the working corpus (fuzz/corpus/<target>/, not committed)
# first, so a run starts from them and from whatever earlier runs kept. Prints
# per target: executions, exec/s, libFuzzer's final cov/ft, corpus size and
# the crash artifact, if any; exits non-zero if any target crashed.
#
# The toolchain may be stable: cargo-fuzz's nightly-only flags are accepted
# with RUSTC_BOOTSTRAP=1. Environment:
#   FUZZ_SANITIZER  address (default) or none
#   FUZZ_JOBS       cargo build jobs (default: cargo's)
set -euo pipefail

cd "$(dirname "$0")"
seconds=${1:-60}
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -eq 0 ]]; then
    echo "usage: fuzz/run.sh [seconds-per-target] [target...]" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}
jobs=()
if [[ -n ${FUZZ_JOBS:-} ]]; then jobs=(--jobs "$FUZZ_JOBS"); fi

all_targets=$(cargo fuzz list)
if [[ $# -gt 0 ]]; then
    targets=("$@")
    for t in "${targets[@]}"; do
        grep -qx "$t" <<<"$all_targets" || { echo "unknown target: $t" >&2; exit 2; }
    done
else
    mapfile -t targets <<<"$all_targets"
fi

echo "building ${targets[*]} (sanitizer: $sanitizer)"
for t in "${targets[@]}"; do
    cargo fuzz build --sanitizer "$sanitizer" "${jobs[@]}" "$t"
done
triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=target/$triple/release

logs=target/run-logs
mkdir -p "$logs"
crashed=0
summary=()
for t in "${targets[@]}"; do
    corpus=corpus/$t
    artifacts=artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    if [[ -d seeds/$t ]]; then cp -n seeds/"$t"/* "$corpus"/ 2>/dev/null || true; fi
    args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=30
          -artifact_prefix="$artifacts/")
    if [[ -f dicts/$t.dict ]]; then args+=(-dict="dicts/$t.dict"); fi
    # The scrape server and its threads live until the process exits, by design.
    leaks=1
    if [[ $t == http_server ]]; then leaks=0; fi
    log=$logs/$t.log
    echo "== $t: ${seconds}s"
    status=0
    ASAN_OPTIONS=detect_leaks=$leaks "$bin_dir/$t" -detect_leaks=$leaks "${args[@]}" "$corpus" \
        >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    # The last status line libFuzzer printed (DONE, or the line before a crash).
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    files=$(find "$corpus" -type f | wc -l)
    result=ok
    if [[ $status -ne 0 ]]; then
        crashed=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
        result="CRASH (exit $status) ${artifact:-see $log}"
        grep -m1 -A2 -E "panicked at|ERROR: (AddressSanitizer|libFuzzer)" "$log" || true
    fi
    line=$(printf '%-16s %5ss  execs %-9s exec/s %-6s cov %-5s ft %-6s corpus %-5s %s' \
        "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$files" "$result")
    echo "$line"
    summary+=("$line")
done

echo
echo "== summary (logs in fuzz/$logs)"
printf '%s\n' "${summary[@]}"
exit $crashed
