#!/usr/bin/env bash
# Renders the Helm chart (helm/stocha) for every profile and validates it with real tools:
# values against values.schema.json (ajv), every object against the Kubernetes OpenAPI
# schemas with unknown fields rejected (tools/k8s-validate), the server args against the
# real `stocha-server --help`; broken values, renders and manifests must be refused; the
# plain manifests in deploy/k8s/ must equal the chart's output.
# Usage: scripts/test-helm.sh [--update]   (--update rewrites deploy/k8s/ from the chart)
#   STOCHA_SERVER=path/to/stocha-server (default build/server/stocha-server)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS
OUT=build-helm
CHART=helm/stocha
SERVER=${STOCHA_SERVER:-build/server/stocha-server}
# Flags the chart renders that the server does not have yet (none now).
PENDING_FLAGS=
fails=0
fail() { echo "test-helm: FAIL: $*" >&2; fails=$((fails + 1)); }
mkdir -p "$OUT"

# The renderer: Go's text/template + sprig v3 + sigs.k8s.io/yaml from Debian, GOPATH mode
# (no module proxy). sprig and semver are imported as .../v3: link them under that path.
gopath=$PWD/$OUT/gopath
for m in sprig semver; do
  mkdir -p "$gopath/src/github.com/Masterminds/$m"
  ln -sfn "/usr/share/gocode/src/github.com/Masterminds/$m" "$gopath/src/github.com/Masterminds/$m/v3"
done
GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOPROXY=off GOFLAGS= \
  go build -o "$OUT/helm-render" ./tools/helm-render
render() { "$OUT/helm-render" "$@" "$CHART"; }

# The validator's pinned packages (package-lock.json).
V=tools/k8s-validate
if [ ! -d "$V/node_modules" ] || [ "$V/package-lock.json" -nt "$V/node_modules/.package-lock.json" ]; then
  (cd "$V" && npm ci --no-audit --no-fund --loglevel=error)
fi
validate() { node "$V/validate.mjs" "$@"; }

[ -x "$SERVER" ] || { echo "test-helm: no $SERVER (build stocha-server first)" >&2; exit 1; }
"$SERVER" --help > "$OUT/server-help.txt" 2>&1 || true

echo "--- profiles: default, cpu, gpu, all"
manifests=()
for p in default cpu gpu all; do
  args=()
  [ "$p" = default ] || args=(-f "$CHART/ci/$p-values.yaml")
  render --values-json "${args[@]}" > "$OUT/values-$p.json"
  render "${args[@]}" > "$OUT/manifests-$p.yaml" || { fail "render $p"; continue; }
  render --notes "${args[@]}" > "$OUT/notes-$p.txt" || fail "NOTES.txt $p"
  manifests+=("$OUT/manifests-$p.yaml")
done
# --device: the GPU profile runs the forward pass on the GPU, the default on the CPU.
device_flag() { grep -o -- '- --device=[a-z0-9:]*' "$OUT/manifests-$1.yaml" | sed 's/^- //' | sort -u; }
for want in "default --device=cpu" "cpu --device=cpu" "gpu --device=cuda" "all --device=cuda:0"; do
  got=$(device_flag "${want%% *}")
  if [ "$got" = "${want#* }" ]; then echo "${want%% *} profile: $got"; else
    fail "${want%% *} profile renders '${got:-no --device}', expected ${want#* }"; fi
done
validate values "$CHART/values.schema.json" "$OUT"/values-{default,cpu,gpu,all}.json || fail "values schema"
validate readme "$CHART/values.schema.json" "$CHART/README.md" || fail "chart README"
validate manifests "${manifests[@]}" || fail "Kubernetes schemas"
validate flags "$OUT/server-help.txt" --pending="$PENDING_FLAGS" "${manifests[@]}" || fail "server flags"
# The PrometheusRule carries deploy/prometheus/alerts.yml's groups, unchanged (not a copy).
/usr/bin/python3 - "$OUT/manifests-all.yaml" deploy/prometheus/alerts.yml <<'PY' || fail "PrometheusRule groups"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
want = yaml.safe_load(open(sys.argv[2]))["groups"]
assert len(docs) == 1, f"{len(docs)} PrometheusRules in the all-options profile"
assert docs[0]["spec"]["groups"] == want, "PrometheusRule groups differ from deploy/prometheus/alerts.yml"
print(f"PrometheusRule: {sum(len(g['rules']) for g in want)} rules from deploy/prometheus/alerts.yml")
PY

# Every broken file says what it must be refused with ("# expect: ...").
refused() { # FILE OUTPUT
  local want
  want=$(sed -n 's/^# expect: //p' "$1")
  if [ -z "$want" ]; then fail "$1 has no '# expect:' line"; return; fi
  if grep -qF -- "$want" <<< "$2"; then echo "refused as expected: $1"; else
    fail "$1: expected '$want', got: $2"; fi
}
echo "--- broken values (values.schema.json)"
for f in tests/deploy/bad-values/*.yaml; do
  render --values-json -f "$f" > "$OUT/bad.json"
  if out=$(validate values "$CHART/values.schema.json" "$OUT/bad.json" 2>&1); then
    fail "$f was accepted"; else refused "$f" "$out"; fi
done
echo "--- broken renders (required/fail in the templates)"
for f in tests/deploy/bad-render/*.yaml; do
  if out=$(render -f "$f" 2>&1 >/dev/null); then fail "$f rendered"; else refused "$f" "$out"; fi
done
echo "--- broken manifests (the validator itself)"
for f in tests/deploy/bad-manifests/*.yaml; do
  if out=$(validate manifests "$f" 2>&1); then fail "$f was accepted"; else refused "$f" "$out"; fi
done
echo "--- kubeVersion"
if out=$(render --kube-version v1.23.0 2>&1 >/dev/null); then fail "rendered for Kubernetes 1.23"; else
  grep -q "incompatible with Kubernetes" <<< "$out" && echo "refused 1.23: $out" || fail "1.23: $out"; fi

echo "--- deploy/k8s/ (plain manifests from the chart's defaults)"
plain() {
  echo "# Generated by scripts/test-helm.sh --update from helm/stocha with its default values"
  echo "# (release name stocha); do not edit. kubectl apply -n NAMESPACE -f deploy/k8s/"
  cat "$OUT/manifests-default.yaml"
}
if [ "${1:-}" = --update ]; then
  mkdir -p deploy/k8s && plain > deploy/k8s/stocha.yaml && echo "wrote deploy/k8s/stocha.yaml"
elif ! diff -u deploy/k8s/stocha.yaml <(plain) > "$OUT/deploy-k8s.diff"; then
  cat "$OUT/deploy-k8s.diff"; fail "deploy/k8s/stocha.yaml differs from the chart (scripts/test-helm.sh --update)"
fi

echo "test-helm: $((SECONDS - t0)) s"
[ "$fails" = 0 ] || { echo "test-helm: $fails failures" >&2; exit 1; }
echo "test-helm: passed"
