#!/bin/sh
# One-shot: a development CA and service certificate in the shared "tls" volume, and a
# SoftHSM2 token for the crypto service. Idempotent.
set -eu
TLS=/keyledger/tls
HSM=/keyledger/softhsm
mkdir -p "$TLS" "$HSM/tokens"
if [ ! -f "$TLS/server.crt" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$TLS/ca.key"
  openssl req -x509 -new -key "$TLS/ca.key" -sha256 -days 3650 -subj "/O=Keyledger/CN=Keyledger Development CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$TLS/ca.crt"
  openssl ecparam -name prime256v1 -genkey -noout -out "$TLS/server.key"
  openssl req -new -key "$TLS/server.key" -subj "/O=Keyledger/CN=localhost" -out "$TLS/server.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,DNS:vault.localhost,DNS:*.vault.localhost,DNS:managedhsm.localhost,DNS:*.managedhsm.localhost,DNS:identity,DNS:vault,DNS:crypto,DNS:audit,IP:127.0.0.1\n' > "$TLS/server.ext"
  openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial -days 825 -sha256 -extfile "$TLS/server.ext" -out "$TLS/server.crt"
  chmod 644 "$TLS"/*.crt "$TLS"/server.key
fi
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$HSM" > "$HSM/softhsm2.conf"
if ! SOFTHSM2_CONF="$HSM/softhsm2.conf" softhsm2-util --show-slots | grep -q 'Label: *keyledger'; then
  PIN=$(openssl rand -hex 12); SO=$(openssl rand -hex 12)
  printf '%s\n' "$PIN" > "$HSM/user.pin"; printf '%s\n' "$SO" > "$HSM/so.pin"
  SOFTHSM2_CONF="$HSM/softhsm2.conf" softhsm2-util --init-token --free --label keyledger --pin "$PIN" --so-pin "$SO"
fi
chown -R 1000:1000 /keyledger
