#!/usr/bin/env bash
# Runs the training/ unit and smoke tests and the reference-model generator with Debian's python.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
$PY -m unittest discover -s training/tests -p 'test_*.py' -v
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
$PY tests/reference/make_reference_models.py "$out"
