#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries the given binaries load, one a
# line: the runtime stage of the Dockerfile installs exactly these (no compiler, no headers).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
for lib in $(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u); do
  # Merged /usr: the loader may report /lib/... while dpkg recorded /usr/lib/... (or back).
  real=$(readlink -f "$lib")
  owner=$(dpkg -S "$lib" "$real" "/usr${lib#/usr}" "${lib#/usr}" "/usr${real#/usr}" \
    "${real#/usr}" 2>/dev/null | head -n 1) || true
  [ -n "$owner" ] || { echo "runtime-deps: no package owns $lib" >&2; exit 1; }
  echo "${owner%%:*}"
done | sort -u
