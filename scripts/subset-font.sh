#!/usr/bin/env bash
# Regenerates assets/fonts/DejaVuSans-subset.ttf, the font `motifd plot` lays
# out and rasterises text with: DejaVu Sans cut down to Latin-1 and the few
# symbols the pictures use, hints dropped (22 KB instead of 740 KB).
# Needs Debian's fonts-dejavu-core and python3-fonttools.
set -euo pipefail
cd "$(dirname "$0")/.."
src=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
[ -f "$src" ] || { echo "missing $src: apt-get install fonts-dejavu-core" >&2; exit 1; }
/usr/bin/python3 -m fontTools.subset "$src" \
  --unicodes="U+0020-007E,U+00A0-00FF,U+2013,U+2014,U+2026,U+2212,U+00B7,U+2264,U+2265,U+00B1" \
  --layout-features='kern' --no-hinting --desubroutinize \
  --output-file=assets/fonts/DejaVuSans-subset.ttf
ls -l assets/fonts/DejaVuSans-subset.ttf
