#!/usr/bin/env bash
# Throwaway certificate chains of many shapes, good and bad, for the
# connector's verifier (tests/tls.rs, "Chains"): generated at test time into
# a temporary directory; nothing here is secret or committed.
#
#   usage: gen-chains.sh DIR
#
# Each shape S writes into DIR:
#   S.chain.pem   the server's chain as it sends it: leaf first, then the
#                 intermediates (PEM; S.N.der for each, N = 0 the leaf)
#   S.key.pem     the leaf's private key (for a TLS server)
#   S.root        the basename of the root it should lead to (root.der, ...)
# and every root R: R.der, R.pem.
#
# Adding a shape: one `shape` line at the end (the key algorithms are in
# `newkey`: p256, p384, rsa1024, rsa2048; the extensions are openssl x509v3
# config lines, one per argument).
set -euo pipefail

if [[ $# -ne 1 || -z "$1" ]]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
mkdir -p "$1"
cd "$1"

newkey() { # $1 = algorithm, $2 = key file
  case "$1" in
    p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" 2>/dev/null ;;
    p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$2" 2>/dev/null ;;
    rsa*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${1#rsa}" -out "$2" 2>/dev/null ;;
    *) echo "gen-chains: unknown key algorithm $1" >&2; exit 1 ;;
  esac
}

# A self-signed root: $1 = name, $2 = key algorithm, [$3 = digest].
root() {
  newkey "$2" "$1.key.pem"
  openssl req -x509 -new "-${3:-sha256}" -days 30 -key "$1.key.pem" -out "$1.pem" \
    -subj "/O=embedded-oauth2 tests/CN=$1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash"
  openssl x509 -in "$1.pem" -outform DER -out "$1.der"
}

# A certificate: $1 = name, $2 = issuer name, $3 = key algorithm,
# $4 = digest, then extension lines. DAYS / START / END in the environment
# set the validity (START/END: openssl ca dates, YYYYMMDDHHMMSSZ).
issue() {
  local name="$1" issuer="$2" alg="$3" digest="$4"
  shift 4
  newkey "$alg" "$name.key.pem"
  openssl req -new -key "$name.key.pem" -subj "/O=embedded-oauth2 tests/CN=$name" \
    -out "$name.csr"
  printf '%s\n' "$@" "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$name.ext"
  if [[ -n "${START:-}" ]]; then
    # Dates in the past: openssl ca (x509 -req only counts days from now).
    mkdir -p ca-db
    : >ca-db/index.txt
    cat >ca-db/ca.cnf <<EOF
[ca]
default_ca = d
[d]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
policy = p
default_md = $digest
unique_subject = no
copy_extensions = none
[p]
commonName = supplied
organizationName = optional
EOF
    openssl rand -hex 8 >ca-db/serial
    openssl ca -batch -config ca-db/ca.cnf -cert "$issuer.pem" -keyfile "$issuer.key.pem" \
      -in "$name.csr" -out "$name.pem" -startdate "$START" -enddate "$END" \
      -extfile "$name.ext" -notext 2>/dev/null
  else
    openssl x509 -req "-$digest" -days "${DAYS:-30}" -in "$name.csr" \
      -CA "$issuer.pem" -CAkey "$issuer.key.pem" -set_serial "0x$(openssl rand -hex 8)" \
      -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  fi
  rm -f "$name.csr" "$name.ext"
}

# Extension sets.
CA=("basicConstraints=critical,CA:TRUE" "keyUsage=critical,keyCertSign,cRLSign")
SERVER=("basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature"
  "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1")

# A shape: $1 = name, $2 = root, then the chain's certificates leaf first,
# each as it was issued (the leaf's key is the server's).
shape() {
  local name="$1" rootname="$2" i=0
  shift 2
  : >"$name.chain.pem"
  for cert in "$@"; do
    cat "$cert.pem" >>"$name.chain.pem"
    openssl x509 -in "$cert.pem" -outform DER -out "$name.$i.der"
    i=$((i + 1))
  done
  cp "$1.key.pem" "$name.key.pem"
  echo "$rootname" >"$name.root"
}

root root p256
root other-root p256

# Good: P-256 root -> P-256 intermediate -> P-256 leaf (DNS and IP names).
issue int root p256 sha256 "${CA[@]}"
issue leaf int p256 sha256 "${SERVER[@]}"
shape good root leaf int

# A leaf of the intermediate acting as a CA for another name.
issue wrong-leaf int p256 sha256 "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
  "subjectAltName=DNS:wrong.example"
issue forged wrong-leaf p256 sha256 "${SERVER[@]}"
shape leaf-as-ca root forged wrong-leaf int

# A leaf without basicConstraints at all acting as a CA (RFC 5280: not a CA).
issue no-bc-leaf int p256 sha256 "keyUsage=critical,digitalSignature,keyCertSign" \
  "subjectAltName=DNS:wrong.example"
issue forged-no-bc no-bc-leaf p256 sha256 "${SERVER[@]}"
shape no-basic-constraints root forged-no-bc no-bc-leaf int

# An intermediate that says CA:FALSE (with keyCertSign).
issue int-ca-false root p256 sha256 "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,keyCertSign,cRLSign"
issue leaf-ca-false int-ca-false p256 sha256 "${SERVER[@]}"
shape ca-false root leaf-ca-false int-ca-false

# A CA whose keyUsage lacks keyCertSign.
issue int-no-certsign root p256 sha256 "basicConstraints=critical,CA:TRUE" \
  "keyUsage=critical,digitalSignature,cRLSign"
issue leaf-no-certsign int-no-certsign p256 sha256 "${SERVER[@]}"
shape no-cert-sign root leaf-no-certsign int-no-certsign

# pathlen:0 on the first intermediate, yet a second one below it.
issue int-pathlen0 root p256 sha256 "basicConstraints=critical,CA:TRUE,pathlen:0" \
  "keyUsage=critical,keyCertSign,cRLSign"
issue int-below int-pathlen0 p256 sha256 "${CA[@]}"
issue leaf-pathlen int-below p256 sha256 "${SERVER[@]}"
shape pathlen root leaf-pathlen int-below int-pathlen0

# A leaf for client authentication only.
issue leaf-client int p256 sha256 "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth" \
  "subjectAltName=DNS:localhost,IP:127.0.0.1"
shape client-auth root leaf-client int

# An intermediate constrained to example.com, a leaf for localhost.
issue int-constrained root p256 sha256 "${CA[@]}" \
  "nameConstraints=critical,permitted;DNS:example.com"
issue leaf-constrained int-constrained p256 sha256 "${SERVER[@]}"
shape name-constraint root leaf-constrained int-constrained
# ... and one inside it (good).
issue leaf-in-constraint int-constrained p256 sha256 "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
  "subjectAltName=DNS:api.example.com"
shape in-name-constraint root leaf-in-constraint int-constrained

# Expired in January 2020, under an intermediate valid 2019-2030 (the
# root's own dates do not count).
START=20190101000000Z END=20300101000000Z issue int-2019 root p256 sha256 "${CA[@]}"
START=20191201000000Z END=20200101000000Z issue leaf-expired int-2019 p256 sha256 "${SERVER[@]}"
shape expired root leaf-expired int-2019

# For another name only.
issue leaf-wrong-name int p256 sha256 "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
  "subjectAltName=DNS:wrong.example"
shape wrong-name root leaf-wrong-name int

# An unknown critical extension on the leaf.
issue leaf-critical int p256 sha256 "${SERVER[@]}" "1.3.6.1.4.1.55555.1=critical,ASN1:UTF8String:x"
shape critical-extension root leaf-critical int

# The intermediate (a CA) as the server's certificate.
issue int-server root p256 sha256 "${CA[@]}" "subjectAltName=DNS:localhost"
shape ca-as-leaf root int-server

# From an unrelated root.
issue other-int other-root p256 sha256 "${CA[@]}"
issue other-leaf other-int p256 sha256 "${SERVER[@]}"
shape other-root other-root other-leaf other-int

# Shapes whose algorithms come with tls::sig (until then: refused as
# unsupported). RSA root -> RSA intermediate -> RSA leaf; P-384 root ->
# P-384 intermediate -> P-256 leaf; RSA root -> ECDSA intermediate -> ECDSA
# leaf; an RSA-1024 leaf; a SHA-1 signature.
root rsa-root rsa2048
issue rsa-int rsa-root rsa2048 sha256 "${CA[@]}"
issue rsa-leaf rsa-int rsa2048 sha256 "${SERVER[@]}"
shape rsa rsa-root rsa-leaf rsa-int
root p384-root p384 sha384
issue p384-int p384-root p384 sha384 "${CA[@]}"
issue p384-leaf p384-int p256 sha384 "${SERVER[@]}"
shape p384 p384-root p384-leaf p384-int
issue ec-under-rsa-int rsa-root p256 sha256 "${CA[@]}"
issue ec-under-rsa-leaf ec-under-rsa-int p256 sha256 "${SERVER[@]}"
shape rsa-root-ec-chain rsa-root ec-under-rsa-leaf ec-under-rsa-int
issue rsa1024-leaf rsa-int rsa1024 sha256 "${SERVER[@]}"
shape rsa1024 rsa-root rsa1024-leaf rsa-int
issue sha1-leaf int p256 sha1 "${SERVER[@]}"
shape sha1 root sha1-leaf int

rm -rf ca-db
echo "chains written to $(pwd)"
