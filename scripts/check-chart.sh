#!/usr/bin/env bash
# CI check of helm/msp: helm lint, helm template with the default values and with the full
# production values (ci/production-values.yaml), then offline validation of every rendered
# manifest against the Kubernetes OpenAPI schemas (kubernetes-validate --strict, no cluster).
# usage: scripts/check-chart.sh            K8S_VERSIONS="1.29 1.37" picks the schema versions.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CHART="$ROOT/helm/msp"
HELM="$ROOT/.tools/bin/helm"
VALIDATE="${KUBERNETES_VALIDATE:-$ROOT/.venv/bin/kubernetes-validate}"
K8S_VERSIONS="${K8S_VERSIONS:-1.29 1.37}"
# Keep helm's cache and config inside the repo's ignored .tools/ (never in $HOME).
export HELM_CACHE_HOME="$ROOT/.tools/helm/cache" HELM_CONFIG_HOME="$ROOT/.tools/helm/config" \
       HELM_DATA_HOME="$ROOT/.tools/helm/data"

"$ROOT/scripts/get-helm.sh" >/dev/null
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

"$HELM" lint --strict "$CHART"
"$HELM" lint --strict "$CHART" -f "$CHART/ci/production-values.yaml"
"$HELM" template msp "$CHART" --namespace msp >"$OUT/default.yaml"
"$HELM" template msp "$CHART" --namespace msp -f "$CHART/ci/production-values.yaml" >"$OUT/production.yaml"
for manifest in default production; do
  for version in $K8S_VERSIONS; do
    "$VALIDATE" --strict --quiet -k "$version" "$OUT/$manifest.yaml"
    echo "ok: $manifest values render and validate against Kubernetes $version" \
         "($(grep -c '^kind:' "$OUT/$manifest.yaml") resources)"
  done
done
