#!/usr/bin/env bash
# Type-checks docs/grafana/motifd.json against Grafana's published schema, the
# npm package @grafana/schema: the whole file as its Dashboard type (the
# classic JSON model), and each panel's options and field config as the types
# of that panel kind (timeseries, heatmap, stat, table). The JSON is pasted
# into a TypeScript file as typed object literals, so the TypeScript compiler
# refuses unknown keys, missing required keys and values of the wrong type.
#
# Needs node and npm (Debian: nodejs, npm) and the npm registry. Packages go to
# GRAFANA_SCHEMA_DIR (default: a cache under target/), installed once.
set -euo pipefail
cd "$(dirname "$0")/.."
SCHEMA_VERSION=13.2.3
TYPESCRIPT_VERSION=5.9.3
dir=${GRAFANA_SCHEMA_DIR:-target/grafana-schema}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ ! -f "$dir/node_modules/@grafana/schema/package.json" ] ||
   ! grep -q "\"version\": \"$SCHEMA_VERSION\"" "$dir/node_modules/@grafana/schema/package.json"; then
  npm install --prefix "$dir" --no-audit --no-fund --silent \
    "@grafana/schema@$SCHEMA_VERSION" "typescript@$TYPESCRIPT_VERSION" >&2
fi

python3 - "$dir/check.ts" docs/grafana/motifd.json <<'EOF'
import json, sys
out, path = sys.argv[1], sys.argv[2]
d = json.load(open(path))
kinds = {
    "timeseries": "timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen",
    "heatmap": "heatmap/panelcfg/x/HeatmapPanelCfg_types.gen",
    "stat": "stat/panelcfg/x/StatPanelCfg_types.gen",
    "table": "table/panelcfg/x/TablePanelCfg_types.gen",
}
base = "@grafana/schema/dist/esm/raw/composable/"
lines = [
    "import type { Dashboard } from '@grafana/schema/dist/esm/raw/dashboard/x/Dashboard_types.gen';",
    # The schema spells closed sets of strings as TypeScript string enums, which
    # a JSON string can never be assigned to; Json<T> turns each into the union
    # of its values and keeps everything else as it is.
    "type Json<T> = T extends string ? `${T}` : T extends object ? { [K in keyof T]: Json<T[K]> } : T;",
]
for kind, module in kinds.items():
    lines.append(f"import type * as {kind} from '{base}{module}';")
lines.append(f"export const dashboard: Json<Dashboard> = {json.dumps(d, indent=1)};")
checked = 0
for p in d["panels"]:
    kind = p["type"]
    if kind == "row":
        continue
    if kind not in kinds:
        sys.exit(f"panel {p['id']}: no schema for panel type {kind!r} in this check")
    lines.append(f"export const options{p['id']}: Json<{kind}.Options> = {json.dumps(p['options'])};")
    custom = p["fieldConfig"]["defaults"].get("custom")
    if custom is not None and kind in ("timeseries", "heatmap"):
        lines.append(f"export const custom{p['id']}: Json<{kind}.FieldConfig> = {json.dumps(custom)};")
    checked += 1
open(out, "w").write("\n".join(lines) + "\n")
print(f"{path}: dashboard and {checked} panels written to {out}", file=sys.stderr)
EOF

cat > "$dir/tsconfig.json" <<'JSON'
{ "compilerOptions": { "strict": true, "noEmit": true, "module": "nodenext",
    "moduleResolution": "nodenext", "target": "es2022", "types": [] },
  "files": ["check.ts"] }
JSON
if ! "$dir/node_modules/.bin/tsc" -p "$dir/tsconfig.json" > "$dir/tsc.log" 2>&1; then
  head -80 "$dir/tsc.log" >&2
  echo "docs/grafana/motifd.json does not match @grafana/schema $SCHEMA_VERSION (above)" >&2
  exit 1
fi
echo "docs/grafana/motifd.json: matches @grafana/schema $SCHEMA_VERSION (Dashboard and panel options)"
