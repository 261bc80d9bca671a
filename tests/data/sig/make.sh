#!/bin/sh
# Regenerates the RSA golden fixtures of tests/sig_golden.rs with OpenSSL
# (3.x). Not run by the tests or CI: the files are committed. Private keys
# are thrown away; only the public keys (DER RSAPublicKey) stay.
set -eu
cd "$(dirname "$0")"
printf 'embedded-oauth2 golden message\n' > msg
for spec in 2048:65537 2049:65537 3071:65537 3072:65537 4096:65537 2048:3; do
    bits=${spec%:*}; e=${spec#*:}; name=rsa${bits}_e${e}
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:$bits \
        -pkeyopt rsa_keygen_pubexp:$e -out key.pem 2>/dev/null
    openssl rsa -in key.pem -RSAPublicKey_out -outform DER -out $name.pub.der 2>/dev/null
    for h in sha256 sha384 sha512; do
        openssl dgst -$h -sign key.pem -out $name.pkcs1_$h.sig msg
        openssl dgst -$h -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \
            -sigopt rsa_mgf1_md:$h -sign key.pem -out $name.pss_$h.sig msg
    done
    rm key.pem
done
# ECDSA: the public key as the uncompressed point (the SPKI's last octets).
for curve in P-256:65 P-384:97; do
    c=${curve%:*}; len=${curve#*:}; name=ec$(echo $c | tr -d 'P-')
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:$c -out key.pem 2>/dev/null
    openssl pkey -in key.pem -pubout -outform DER 2>/dev/null | tail -c $len > $name.point
    for h in sha256 sha384; do
        openssl dgst -$h -sign key.pem -out $name.$h.sig msg
    done
    rm key.pem
done
