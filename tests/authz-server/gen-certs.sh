#!/usr/bin/env bash
# Generate throwaway TLS material for the integration-test authorization server.
#
#   usage: gen-certs.sh [--names NAME[,NAME...]] DIR
#
# --names (or the env var CERT_NAMES, same comma-separated form) adds DNS
# names to the SAN of server.pem (and other-server.pem), which always keeps
# DNS:localhost and IP:127.0.0.1; e.g. --names auth.test,receipts.test for
# the emulated device that reaches the server over PPP by those names.
#
# Everything is ECDSA P-256 (prime256v1/secp256r1) with SHA-256 signatures, the only
# combination the embedded TLS 1.3 client (embedded-tls) supports.
#
# Files written into DIR (PEM unless noted; private keys are unencrypted PKCS#8):
#   ca.pem, ca-key.pem, ca.der               good test CA (trust anchor for the tests)
#   server.pem, server-key.pem, server.der   leaf for DNS:localhost + IP:127.0.0.1 (+ --names),
#                                            signed by ca
#   other-ca.pem, other-ca-key.pem, other-ca.der
#                                            unrelated second CA (negative tests)
#   other-server.pem, other-server-key.pem   leaf for DNS:localhost + IP:127.0.0.1, signed by other-ca
#   wrong-name.pem, wrong-name-key.pem       leaf for DNS:wrong.example only, signed by the good ca
#   client.pem, client-key.pem, client.der   mutual-TLS client leaf (clientAuth) for
#                                            DNS:mtls-device.example, signed by the good ca
#   client2.pem, client2-key.pem, client2.der
#                                            a second client leaf (DNS:mtls-device-2.example)
#   self-client.pem, self-client-key.pem, self-client.der
#                                            self-signed client certificate (RFC 8705 §2.2)
#
# Nothing here is secret or committed: run it at test time into a temporary directory.
set -euo pipefail

names="${CERT_NAMES:-}"
if [[ $# -ge 1 && "$1" == "--names" ]]; then
  names="${2:-}"
  shift 2 || true
elif [[ $# -ge 1 && "$1" == --names=* ]]; then
  names="${1#--names=}"
  shift
fi
if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 [--names NAME[,NAME...]] DIR" >&2
  exit 2
fi
server_san="DNS:localhost,IP:127.0.0.1"
if [[ -n "$names" ]]; then
  IFS=, read -r -a extra <<<"$names"
  for n in "${extra[@]}"; do
    if [[ ! "$n" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
      echo "gen-certs: not a DNS name: '$n'" >&2
      exit 2
    fi
    server_san+=",DNS:$n"
  done
fi

out="$1"
mkdir -p "$out"
cd "$out"

DAYS="${CERT_DAYS:-30}"

newkey() { # $1 = key file
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
  chmod 600 "$1"
}

make_ca() { # $1 = basename, $2 = CN
  newkey "$1-key.pem"
  openssl req -x509 -new -sha256 -days "$DAYS" -key "$1-key.pem" -out "$1.pem" \
    -subj "/O=embedded-oauth2 tests/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
  openssl x509 -in "$1.pem" -outform DER -out "$1.der"
}

make_leaf() { # $1 = basename, $2 = CA basename, $3 = CN, $4 = subjectAltName, [$5 = extendedKeyUsage]
  local ext
  ext="$(mktemp)"
  newkey "$1-key.pem"
  openssl req -new -sha256 -key "$1-key.pem" -subj "/O=embedded-oauth2 tests/CN=$3" -out "$1.csr"
  cat >"$ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=${5:-serverAuth}
subjectAltName=$4
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
  openssl x509 -req -sha256 -days "$DAYS" -in "$1.csr" \
    -CA "$2.pem" -CAkey "$2-key.pem" -CAcreateserial -CAserial "$2.srl" \
    -extfile "$ext" -out "$1.pem" 2>/dev/null
  openssl x509 -in "$1.pem" -outform DER -out "$1.der"
  rm -f "$1.csr" "$ext"
}

make_ca ca "embedded-oauth2 test CA"
make_leaf server ca localhost "$server_san"

make_ca other-ca "unrelated test CA"
make_leaf other-server other-ca localhost "$server_san"

make_leaf wrong-name ca wrong.example "DNS:wrong.example"

make_leaf client ca mtls-device "DNS:mtls-device.example" clientAuth
make_leaf client2 ca mtls-device-2 "DNS:mtls-device-2.example" clientAuth
newkey self-client-key.pem
openssl req -x509 -new -sha256 -days "$DAYS" -key self-client-key.pem -out self-client.pem \
  -subj "/O=embedded-oauth2 tests/CN=self-signed-device" \
  -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=clientAuth"
openssl x509 -in self-client.pem -outform DER -out self-client.der

# sanity checks: chains verify as intended
openssl verify -CAfile ca.pem server.pem wrong-name.pem client.pem client2.pem >/dev/null
openssl verify -CAfile other-ca.pem other-server.pem >/dev/null
if openssl verify -CAfile ca.pem other-server.pem >/dev/null 2>&1; then
  echo "gen-certs: other-server.pem unexpectedly verifies against ca.pem" >&2
  exit 1
fi

rm -f ./*.srl
echo "certificates written to $(pwd)"
