#!/usr/bin/env bash
# The deployment checks, all offline (no cluster, no Docker daemon):
#   1. tests/k8s: helm lint --strict, helm template with default, production and overridden
#      values, strict decoding into k8s.io/api types, and the wiring between the objects;
#      plus a Secret manifest freshly written by `signer keygen --k8s-secret`, and the
#      chart's Grafana dashboard against a /metrics scrape of this signer after a real job.
#   2. tests/docker: the runtime image's library tree and the Dockerfile's runtime stage.
# Usage: tests/deploy/run.sh [SIGNER_BIN]   (default build/release/signer)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$(readlink -f "${1:-$REPO/build/release/signer}")"
[[ -x "$BIN" ]] || { echo "deploy checks: $BIN is not built" >&2; exit 2; }
export PATH="/usr/local/go/bin:$PATH"

bash "$REPO/scripts/install-tools.sh" helm

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$BIN" keygen --count 4 --out "$work/keys" --k8s-secret message-signer-keys > /dev/null
echo "--- signer serve on 127.0.0.1: one job, one refused request, then /metrics"
python3 "$REPO/tests/deploy/scrape_after_job.py" "$BIN" "$work/metrics.txt"

echo "--- tests/k8s (chart, strict decoding, keygen Secret manifest)"
(cd "$REPO/tests/k8s" &&
  HELM_BIN="$REPO/.tools/bin/helm" \
    KEYS_SECRET_MANIFEST="$work/keys/message-signer-keys-secret.yaml" \
    SIGNER_METRICS_SCRAPE="$work/metrics.txt" \
    go test -count=1 ./...)

echo "--- tests/docker (runtime image layout)"
bash "$REPO/tests/docker/test_runtime_image.sh" "$BIN"
