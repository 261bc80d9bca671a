#!/usr/bin/env python3
"""Writes the expected token requests in ../requests/ that the firmware
compares its own requests with, byte for byte (except the User-Agent line,
which carries the crate version). Computed independently of the crate:
form-urlencoding, base64, HS256 (hmac) and deterministic ES256 (RFC 6979, for
private_key_jwt and the DPoP proof;
`cryptography` >= 42). Run it only when the firmware's configurations change:
    python3 tools/make-vectors.py
"""
import base64, hashlib, hmac, json, os
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "requests")
HOST, PATH = "auth.example.com", "/token"
URL = f"https://{HOST}{PATH}"
WALL = 1767225600  # the firmware's fixed wall clock: 2026-01-01T00:00:00Z
JTI0 = b"fw-boot1" + (0).to_bytes(8, "big")  # CounterJti::new(*b"fw-boot1"), first value
P256_SCALAR = bytes(range(1, 33))
HS_SECRET = "jwt-client-hs256-secret-0123456789abcdefghij"

def form(s):
    out = []
    for b in s.encode():
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "*-._"):
            out.append(c)
        elif c == " ":
            out.append("+")
        else:
            out.append(f"%{b:02X}")
    return "".join(out)

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def js(v):
    return json.dumps(v, separators=(",", ":"))

def request(body, authorization=None, dpop=None):
    head = f"POST {PATH} HTTP/1.1\r\nHost: {HOST}\r\n"
    if dpop:
        head += f"DPoP: {dpop}\r\n"
    if authorization:
        head += f"Authorization: {authorization}\r\n"
    head += ("Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n"
             "User-Agent: embedded-oauth2/*\r\nConnection: close\r\n"
             f"Content-Length: {len(body)}\r\n\r\n")
    return head + body

def body(*pairs):
    return "&".join(f"{form(k)}={form(v)}" for k, v in (("grant_type", "client_credentials"),) + pairs)

def basic(i, s, encoded=True):
    raw = f"{form(i)}:{form(s)}" if encoded else f"{i}:{s}"
    return "Basic " + base64.b64encode(raw.encode()).decode()

def jws(alg, client_id, aud, sign, kid=None):
    h = {"alg": alg, "typ": "JWT"}
    if kid:
        h["kid"] = kid
    c = {"iss": client_id, "sub": client_id, "aud": aud, "iat": WALL, "exp": WALL + 60, "jti": b64u(JTI0)}
    inp = f"{b64u(js(h).encode())}.{b64u(js(c).encode())}"
    return f"{inp}.{b64u(sign(inp.encode()))}"

def hs256(msg):
    return hmac.new(HS_SECRET.encode(), msg, hashlib.sha256).digest()

KEY = ec.derive_private_key(int.from_bytes(P256_SCALAR, "big"), ec.SECP256R1())
def es256(msg):
    r, s = decode_dss_signature(KEY.sign(msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=True)))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")

def dpop_proof(htm, htu):
    # RFC 9449 §4.2, members in the order the crate writes them.
    pub = KEY.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64u(pub.x.to_bytes(32, "big")), "y": b64u(pub.y.to_bytes(32, "big"))}
    h = {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}
    c = {"jti": b64u(JTI0), "htm": htm, "htu": htu, "iat": WALL}
    inp = f"{b64u(js(h).encode())}.{b64u(js(c).encode())}"
    return f"{inp}.{b64u(es256(inp.encode()))}"

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
def assertion_body(token, *rest):
    # The JWS alphabet needs no form-encoding; the crate writes it raw.
    b = body(("client_assertion_type", ASSERTION_TYPE))
    b += "&client_assertion=" + token
    for k, v in rest:
        b += f"&{form(k)}={form(v)}"
    return b

vectors = {
    "basic": request(body(), basic("basic-client", "basic-secret")),
    "basic_reserved": request(
        body(("scope", "receipts:read"), ("resource", "https://receipts.example/")),
        basic("dev:1 +%&=x", "s3:cr+t %&=y")),
    "basic_unencoded": request(body(), basic("dev:1 +%&=x", "s3:cr+t %&=y", encoded=False)),
    "post": request(body(("client_id", "post-client"), ("client_secret", "post-secret"))),
    "client_id_only": request(body(("client_id", "mtls-device"), ("scope", "telemetry:write"))),
    "secret_jwt": request(assertion_body(jws("HS256", "jwt-client", URL, hs256), ("scope", "telemetry:write"))),
    "private_key_jwt": request(assertion_body(
        jws("ES256", "pkjwt-client", "https://auth.example.com", es256, kid="fw-key-1"),
        ("scope", "receipts:read"))),
    "dpop": request(body(("scope", "receipts:read")), basic("basic-client", "basic-secret"),
                    dpop=dpop_proof("POST", URL)),
}
os.makedirs(OUT, exist_ok=True)
for name, text in vectors.items():
    with open(os.path.join(OUT, name + ".http"), "w", newline="") as f:
        f.write(text)
    print(f"{name}: {len(text)} bytes")
