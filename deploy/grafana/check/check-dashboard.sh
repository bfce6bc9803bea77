#!/usr/bin/env bash
# Type-checks every dashboard JSON against @grafana/schema's Dashboard type (pinned in
# package.json/package-lock.json): unknown properties and wrong value types anywhere in the
# dashboard, its variables and panels are errors. Exit 77 (skip) without node/npm.
set -euo pipefail
cd "$(dirname "$0")"
command -v npm >/dev/null || { echo "SKIP: npm not installed"; exit 77; }
[ -d node_modules/@grafana/schema ] || npm ci --no-audit --no-fund --loglevel=error
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for json in ../dashboards/*.json; do
  ts="$work/$(basename "$json" .json).ts"
  { echo "import type { Dashboard } from '@grafana/schema';"
    printf 'export const dashboard: Dashboard = '
    cat "$json"
    echo ';'; } > "$ts"
done
ln -s "$PWD/node_modules" "$work/node_modules"
node_modules/.bin/tsc --noEmit --strict --module nodenext --moduleResolution nodenext \
  --skipLibCheck "$work"/*.ts
echo "dashboards match @grafana/schema $(node -p 'require("@grafana/schema/package.json").version')"
