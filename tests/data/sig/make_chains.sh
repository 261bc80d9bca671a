#!/bin/sh
# Regenerates the certificate chains of tests/sig_webpki.rs with OpenSSL
# (3.x): certificates only (DER); the private keys are thrown away.
#   root384 (P-384, self-signed)  -ECDSA P-384/SHA-384->  int_rsa (RSA-3072)
#     int_rsa  -RSA-PSS SHA-256->          leaf_pss (P-256,   pss.example.test)
#     int_rsa  -PKCS#1 v1.5 SHA-384->      leaf_pkcs1 (RSA-2048, pkcs1.example.test)
#   root256 (P-256, self-signed)
#     -ECDSA P-256/SHA-256->  leaf_p256 (P-256, p256.example.test)
#     -ECDSA P-256/SHA-384->  leaf_p256_sha384 (P-384, p384.example.test)
set -eu
cd "$(dirname "$0")"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cat > "$t/ca.ext" <<'X'
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
X
leaf_ext() {
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n' "$1" > "$t/leaf.ext"
}
key() { openssl genpkey -algorithm "$@" -out "$t/$KEY.pem" 2>/dev/null; }
# root NAME DIGEST: a self-signed CA certificate
root() {
    openssl req -new -x509 -key "$t/$1.pem" -subj "/CN=$1" -days 36500 -$2 \
        -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
        -outform DER -out "$1.der"
}
# sign NAME ISSUER EXTFILE DIGEST [SIGOPTS...]
sign() {
    name=$1 issuer=$2 ext=$3 digest=$4; shift 4
    openssl req -new -key "$t/$name.pem" -subj "/CN=$name" -out "$t/$name.csr"
    openssl x509 -req -in "$t/$name.csr" -CA "$issuer.der" -CAform DER -CAkey "$t/$issuer.pem" \
        -set_serial "0x$(openssl rand -hex 8)" -days 36500 -$digest -extfile "$ext" "$@" \
        -outform DER -out "$name.der" 2>/dev/null
}
KEY=root384 key EC -pkeyopt ec_paramgen_curve:P-384
KEY=int_rsa key RSA -pkeyopt rsa_keygen_bits:3072
KEY=leaf_pss key EC -pkeyopt ec_paramgen_curve:P-256
KEY=leaf_pkcs1 key RSA -pkeyopt rsa_keygen_bits:2048
KEY=root256 key EC -pkeyopt ec_paramgen_curve:P-256
KEY=leaf_p256 key EC -pkeyopt ec_paramgen_curve:P-256
KEY=leaf_p256_sha384 key EC -pkeyopt ec_paramgen_curve:P-384
root root384 sha384
root root256 sha256
sign int_rsa root384 "$t/ca.ext" sha384
leaf_ext pss.example.test
sign leaf_pss int_rsa "$t/leaf.ext" sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -sigopt rsa_mgf1_md:sha256
leaf_ext pkcs1.example.test
sign leaf_pkcs1 int_rsa "$t/leaf.ext" sha384
leaf_ext p256.example.test
sign leaf_p256 root256 "$t/leaf.ext" sha256
leaf_ext p384.example.test
sign leaf_p256_sha384 root256 "$t/leaf.ext" sha384
