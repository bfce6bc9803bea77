#!/usr/bin/env bash
# Fails if any tracked C++ file differs from .clang-format's layout (prints the files).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.cc' '*.h' '*.cu' 2>/dev/null || true)
[ -z "$files" ] && exit 0
bad=()
for f in $files; do
  [ -f "$f" ] || continue
  if ! clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "clang-format: these files need formatting (run: clang-format -i FILE):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "clang-format: $(echo "$files" | wc -w) files clean"
