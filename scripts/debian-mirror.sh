#!/usr/bin/env bash
# Prints the Debian mirror that this machine's own apt sources name for bookworm (main
# archive, not security), read at run time so that no host name is written into the
# repository. Reads deb822 (*.sources) and one-line (*.list) files. Exit 1 if none.
set -euo pipefail
suite=${1:-bookworm}
shopt -s nullglob
files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
for f in "${files[@]}"; do
  [ -r "$f" ] || continue
  case "$f" in
    *.sources)
      # A stanza: blank-line separated "Key: value" lines. Print the first URI of a
      # stanza whose Suites name the suite exactly and whose Types include deb.
      awk -v suite="$suite" '
        function flush() {
          if (uris != "" && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ")) {
            split(uris, u, " "); print u[1]; found = 1; exit
          }
          uris = ""; suites = ""; types = ""
        }
        /^[[:space:]]*#/ { next }
        /^[[:space:]]*$/ { flush(); next }
        /^URIs:/   { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
        /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
        /^Types:/  { sub(/^Types:[[:space:]]*/, ""); types = $0 }
        END { if (!found) flush() }
      ' "$f"
      ;;
    *)
      # deb [options] URI suite components...
      awk -v suite="$suite" '
        $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                      if ($(i + 1) == suite) { print $i; exit } }
      ' "$f"
      ;;
  esac
done | head -n 1 | grep . || { echo "debian-mirror: no '$suite' source in apt's configuration" >&2; exit 1; }
