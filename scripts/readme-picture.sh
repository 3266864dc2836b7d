#!/usr/bin/env bash
# Regenerates docs/images/demo-episodes.svg, the picture in the README: the
# bundled demo stream through the engine, drawn by `motifd plot` (two of the
# five classes, to keep it small). Deterministic: same code, same bytes;
# tests/plot_svg.rs fails when the committed picture is stale.
#
#   bash scripts/readme-picture.sh              # builds motifd (release) first
#   MOTIFD=path/to/motifd OUT=file bash scripts/readme-picture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-docs/images/demo-episodes.svg}
if [ -z "${MOTIFD:-}" ]; then
  cargo build --release --locked --bin motifd
  MOTIFD=target/release/motifd
fi
"$MOTIFD" plot fixtures/demo.csv \
  --motif contention_ramp --motif workload_phase_transition \
  --width 1000 --panel-height 280 -o "$out"
echo "wrote $out"
