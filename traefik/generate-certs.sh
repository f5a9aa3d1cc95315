#!/usr/bin/env sh
# Makes a local certificate authority and one certificate for the stack's host names, with
# openssl. Run once before `docker compose up`; then trust certs/local-ca.crt (see README.md).
#
#   traefik/generate-certs.sh [output folder] [host names...]
#
# Defaults: traefik/certs, mcp.localhost and auth.localhost. Existing files are kept, so the CA
# you already trust stays valid; delete the folder to start over.
set -eu

out="${1:-$(dirname "$0")/certs}"
[ "$#" -gt 0 ] && shift
hosts="${*:-mcp.localhost auth.localhost}"

command -v openssl >/dev/null || { echo "generate-certs: openssl is required" >&2; exit 2; }
mkdir -p "$out"
cd "$out"

if [ ! -f local-ca.key ]; then
  openssl req -x509 -new -newkey rsa:3072 -nodes -sha256 -days 825 \
    -subj "/CN=mcp-resource-server local CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout local-ca.key -out local-ca.crt 2>/dev/null
  echo "generate-certs: made a local CA: $out/local-ca.crt"
fi

if [ ! -f local.key ]; then
  sans=""
  for h in $hosts; do sans="${sans:+$sans,}DNS:$h"; done
  openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/CN=${hosts%% *}" \
    -keyout local.key -out local.csr 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' "$sans" > local.ext
  openssl x509 -req -in local.csr -CA local-ca.crt -CAkey local-ca.key -CAcreateserial \
    -days 397 -sha256 -extfile local.ext -out local.crt 2>/dev/null
  rm -f local.csr local.ext local-ca.srl
  echo "generate-certs: made a certificate for $hosts: $out/local.crt"
fi
chmod 600 local.key local-ca.key
# The certificates are public; containers running as other users (the server's `nonroot`) read them.
chmod 644 local.crt local-ca.crt
