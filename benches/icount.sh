#!/usr/bin/env bash
# Instruction-count gate over the hot paths (docs/performance.md, "Instruction-count gate").
#
#   bash benches/icount.sh            check: table against benches/icount/baseline.txt,
#                                     exit 1 if any benchmark regressed by more than the threshold
#   bash benches/icount.sh --update   measure every benchmark and rewrite the baseline
#   bash benches/icount.sh NAME...    check only these benchmarks
#
# Each benchmark of benches/icount/main.rs runs in its own process under callgrind, which
# counts only the instructions inside the benchmark's `measured_*` function (setup, input
# generation and freeing are not counted). Instruction counts do not depend on machine load.
# ICOUNT_THRESHOLD_PCT overrides the allowed increase (percent).
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=benches/icount/baseline.txt
threshold=${ICOUNT_THRESHOLD_PCT:-1}
mode=check
names=()
for arg in "$@"; do
  case "$arg" in
    --update | --bless) mode=update ;;
    --check) mode=check ;;
    -h | --help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "icount: unknown option $arg (see --help)" >&2
      exit 2
      ;;
    *) names+=("$arg") ;;
  esac
done
if [ "$mode" = update ] && [ "${#names[@]}" -gt 0 ]; then
  echo "icount: --update measures every benchmark; give no names" >&2
  exit 2
fi

if ! command -v valgrind >/dev/null 2>&1; then
  echo "icount: valgrind not found (Debian: apt-get install valgrind)" >&2
  exit 1
fi

# What the counts depend on besides the code: written into the baseline, compared on check.
# glibc's memcpy, memcmp and malloc run inside the measured regions. The CPU flags are
# those that pick code paths at run time (glibc's string functions, memchr's AVX2
# search); AVX-512 is not listed: under valgrind 3.19 glibc picks its AVX2 variants even
# on an AVX-512 machine.
cpu=$({ grep -m 1 -o -w -E 'sse4_2|avx2|bmi2|movbe|erms|fsrm' /proc/cpuinfo 2>/dev/null || true; } |
  sort -u | tr '\n' ' ')
libc=$(getconf GNU_LIBC_VERSION 2>/dev/null || echo "libc unknown")
toolchain="$(rustc --version), $(valgrind --version), $libc, $(uname -m) (${cpu% })"

# The bench profile (thin LTO, one codegen unit), as the criterion benches use.
exe=$(cargo bench --locked --bench icount --no-run --message-format=json-render-diagnostics |
  sed -n 's/.*"executable":"\([^"]*\/icount-[0-9a-f]*\)".*/\1/p' | tail -n 1)
if [ -z "$exe" ] || [ ! -x "$exe" ]; then
  echo "icount: could not find the built icount bench binary" >&2
  exit 1
fi

# The program runs from a path of fixed length with an empty environment: the length
# of argv[0] shifts the heap layout (std copies it), and buffer alignment changes how many
# instructions memcpy, memcmp and memchr take, by up to 0.01 % on these workloads.
tmp=$(mktemp -d /tmp/icount.XXXXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp "$exe" "$tmp/icount"
exe=$tmp/icount
valgrind=$(command -v valgrind)

# name units unit, one line per benchmark.
"$exe" list >"$tmp/list"
if [ "${#names[@]}" -gt 0 ]; then
  for n in "${names[@]}"; do
    grep -q "^$n " "$tmp/list" || {
      echo "icount: no benchmark named $n" >&2
      exit 2
    }
  done
  printf '%s\n' "${names[@]}" | awk 'NR == FNR { want[$1] = 1; next } $1 in want' - "$tmp/list" >"$tmp/selected"
else
  cp "$tmp/list" "$tmp/selected"
fi

# Instructions executed inside the measured function of one benchmark.
measure() {
  local name=$1 out="$tmp/$1.callgrind" count
  if ! env -i "$valgrind" --tool=callgrind --callgrind-out-file="$out" \
    --toggle-collect='icount::measured_*' --dump-instr=no --dump-line=no \
    "$exe" run "$name" </dev/null >"$tmp/$name.stdout" 2>"$tmp/$name.stderr"; then
    echo "icount: $name failed under valgrind:" >&2
    cat "$tmp/$name.stderr" >&2
    return 1
  fi
  count=$(awk '/^totals:/ { print $2; exit }' "$out")
  # Zero means the toggle never matched (the measured function was renamed or inlined).
  if [ -z "$count" ] || [ "$count" -eq 0 ]; then
    echo "icount: $name: no instructions collected in icount::measured_*" >&2
    return 1
  fi
  echo "$count"
}

start=$SECONDS
while read -r name units unit; do
  count=$(measure "$name")
  printf '%s %s %s %s\n' "$name" "$count" "$units" "$unit" >>"$tmp/now"
done <"$tmp/selected"
elapsed=$((SECONDS - start))

if [ "$mode" = update ]; then
  {
    echo "# Instruction counts of the benches/icount workloads: bash benches/icount.sh --update"
    echo "# toolchain: $toolchain"
    echo "# benchmark instructions units unit"
    cat "$tmp/now"
  } >"$baseline"
  awk '{ printf "%-30s %15d  %10.1f per %s\n", $1, $2, $2 / $3, $4 }' "$tmp/now"
  echo "icount: baseline written to $baseline (${elapsed} s under valgrind)"
  exit 0
fi

if [ ! -f "$baseline" ]; then
  echo "icount: no $baseline; create it with: bash benches/icount.sh --update" >&2
  exit 1
fi
recorded=$(sed -n 's/^# toolchain: //p' "$baseline")
if [ "$recorded" != "$toolchain" ]; then
  echo "icount: warning: baseline recorded with: $recorded"
  echo "icount: warning: this machine has:       $toolchain"
  echo "icount: warning: counts may differ for that reason alone (docs/performance.md)"
fi

awk -v threshold="$threshold" -v elapsed="$elapsed" -v all=$((${#names[@]} == 0)) '
  NR == FNR { if ($0 !~ /^#/ && NF >= 3) { base[$1] = $2; units[$1] = $3 }; next }
  FNR == 1 {
    printf "%-30s %15s %15s %9s %14s\n", "benchmark", "baseline", "now", "change", "now per unit"
  }
  {
    name = $1; now = $2; per = sprintf("%.1f/%s", now / $3, $4); seen[name] = 1
    if (name in base && units[name] != $3) {
      printf "%-30s %15d %15d %9s %14s  WORKLOAD CHANGED: %s units (%s), baseline %s\n",
        name, base[name], now, "-", per, $3, $4, units[name]
      changed++
      next
    }
    if (!(name in base)) {
      printf "%-30s %15s %15d %9s %14s  NO BASELINE\n", name, "-", now, "-", per
      missing++
      next
    }
    change = (now - base[name]) * 100 / base[name]
    flag = ""
    if (change > threshold) { flag = "  REGRESSED"; regressed++ }
    else if (change < -threshold) { flag = "  improved: update the baseline"; improved++ }
    printf "%-30s %15d %15d %+8.2f%% %14s%s\n", name, base[name], now, change, per, flag
  }
  END {
    # A benchmark that is no longer run would otherwise leave the gate silently.
    if (all) for (name in base) if (!(name in seen)) {
      printf "%-30s %15d %15s %9s %14s  NOT RUN: no such benchmark any more\n", name, base[name], "-", "-", "-"
      missing++
    }
    printf "icount: %d benchmarks in %d s, threshold +%s %%: %d regressed, %d improved, %d changed workload, %d without baseline or benchmark\n",
      FNR, elapsed, threshold, regressed, improved, changed, missing
    if (regressed + changed + missing > 0) {
      print "icount: FAILED. If the change is intended, record it: bash benches/icount.sh --update (docs/performance.md)"
      exit 1
    }
  }' "$baseline" "$tmp/now"
