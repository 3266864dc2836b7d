#!/usr/bin/env bash
# Regenerates assets/fonts/DejaVuSans-subset.ttf, the font `motifd plot` lays
# out and rasterises text with: DejaVu Sans cut down to Latin-1 and the few
# symbols the pictures use, hints dropped (about 23 KB instead of 740 KB).
#
# One change to the outlines: plotters' ab_glyph text drawing (0.3.7) places
# each glyph's ink at the pen position, dropping its left side bearing, so a
# glyph with a wide bearing ("1") is drawn too far left and leaves a gap after
# it in PNG pictures. Each glyph whose ink starts right of the origin gets one
# extra single-point contour at x = 0 (at its top, so its height is unchanged):
# it draws nothing, but the glyph's bounds then start at the origin and the
# ink lands where the font puts it.
#
# Needs Debian's fonts-dejavu-core and python3-fonttools.
set -euo pipefail
cd "$(dirname "$0")/.."
src=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
out=assets/fonts/DejaVuSans-subset.ttf
[ -f "$src" ] || { echo "missing $src: apt-get install fonts-dejavu-core" >&2; exit 1; }
tmp=$(mktemp --suffix .ttf)
trap 'rm -f "$tmp"' EXIT
/usr/bin/python3 -m fontTools.subset "$src" \
  --unicodes="U+0020-007E,U+00A0-00FF,U+2013,U+2014,U+2026,U+2212,U+00B7,U+2264,U+2265,U+00B1" \
  --layout-features='kern' --no-hinting --desubroutinize \
  --output-file="$tmp"
/usr/bin/python3 - "$tmp" "$out" <<'PY'
import sys
from fontTools.ttLib import TTFont
font = TTFont(sys.argv[1])
glyf, hmtx = font["glyf"], font["hmtx"]
anchored = 0
for name in font.getGlyphOrder():
    g = glyf[name]
    if g.numberOfContours <= 0 or g.xMin <= 0:
        continue
    # A contour of one on-curve point at (0, yMax).
    g.coordinates.append((0, g.yMax))
    g.flags.append(1)
    g.endPtsOfContours.append(len(g.coordinates) - 1)
    g.numberOfContours += 1
    g.recalcBounds(glyf)
    width, _ = hmtx[name]
    hmtx[name] = (width, g.xMin)
    anchored += 1
font.save(sys.argv[2])
print(f"{sys.argv[2]}: {anchored} glyphs anchored at x = 0", file=sys.stderr)
PY
ls -l "$out"
