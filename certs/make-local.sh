#!/usr/bin/env bash
# Makes a CA and a serving certificate for a mtls-guard server running on this machine (or any
# address the API server can reach), and prints the caBundle for the webhook configurations.
#   certs/make-local.sh [OUT_DIR] [IP_OR_DNS...]
# Defaults: OUT_DIR=certs/local, names localhost and 127.0.0.1.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/certs/local}"
shift || true
extra=()
for name in "$@"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then extra+=(--ip "$name"); else extra+=(--dns "$name"); fi
done
if [[ ! -f "$root/dist/cli.js" ]]; then
  echo "building mtls-guard first (npm run build)" >&2
  (cd "$root" && npm run build >&2)
fi
node "$root/bin/mtls-guard.js" certs --service mtls-guard --namespace mtls-guard \
  --dns localhost --ip 127.0.0.1 ${extra[@]+"${extra[@]}"} --out "$out" >&2
echo "serve with:  npx mtls-guard serve --tls-cert $out/tls.crt --tls-key $out/tls.key" >&2
echo "caBundle (base64 of $out/ca.crt), for clientConfig.caBundle or the chart's webhook.caBundle:" >&2
base64 -w0 "$out/ca.crt"
echo
