#!/usr/bin/env bash
# Smoke test for the integration-test authorization server: generates certs into a temp dir,
# starts server.mjs, checks it with curl / openssl / node, stops it. Exits non-zero on failure.
#
#   bash smoke.sh            (runs `npm ci` first if node_modules/ is missing)
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

for tool in node curl openssl; do
  command -v "$tool" >/dev/null || { echo "smoke: missing tool: $tool" >&2; exit 2; }
done

if [[ ! -d node_modules/oidc-provider ]]; then
  npm ci --no-audit --no-fund >&2 || { echo "smoke: npm ci failed" >&2; exit 2; }
fi

work="$(mktemp -d)"
pid=""
cleanup() {
  exec 3>&- 2>/dev/null || true
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

pass=0
fail=0
ok()  { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+ -- $2}"; fail=$((fail + 1)); }
# check NAME CONDITION-COMMAND... [; detail printed on failure via $detail]
check() {
  local name="$1"; shift
  if "$@"; then ok "$name"; else bad "$name" "${detail:-}"; fi
  detail=""
}

now_ms() { date +%s%3N; }

# jv PATH: print the value at a dotted PATH (".a.b") of the JSON on stdin; strings raw, missing
# values as the empty string (a tiny jq stand-in, so the script needs no jq)
jv() {
  node -e '
    let v; try { v = JSON.parse(require("fs").readFileSync(0, "utf8")); } catch { v = undefined; }
    for (const k of process.argv[1].split(".").filter(Boolean)) v = v == null ? undefined : v[k];
    process.stdout.write(v == null ? "" : typeof v === "string" ? v : JSON.stringify(v));
  ' "$1"
}
export -f jv

# --- certificates -----------------------------------------------------------------------------
bash ./gen-certs.sh "$work/certs" >/dev/null || { echo "FAIL gen-certs"; exit 1; }
CA="$work/certs/ca.pem"

# --- start: stdin is a FIFO held open on fd 3, so closing fd 3 must stop the server --------------
mkfifo "$work/stdin"
t_start=$(now_ms)
node server.mjs --certs "$work/certs" --ready-file "$work/ready.json" \
  <"$work/stdin" >"$work/server.out" 2>"$work/server.err" &
pid=$!
exec 3>"$work/stdin"

for _ in $(seq 1 400); do
  [[ -s "$work/ready.json" ]] && grep -q '^READY ' "$work/server.out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.025
done
t_ready=$(now_ms)
if [[ ! -s "$work/ready.json" ]]; then
  echo "FAIL server did not become ready"; cat "$work/server.err"; exit 1
fi
echo "startup-to-ready: $((t_ready - t_start)) ms (server-internal: $(jv .startup_ms <"$work/ready.json") ms)"
ok "server ready: $(cat "$work/server.out")"

R="$work/ready.json"
j() { jv "$1" <"$R"; }
HTTP="$(j .http)"
HTTPS="$(j .https)"
TOKEN_PATH="$(j .token_path)"
REVOKE_PATH="$(j .revocation_path)"
INTRO_PATH="$(j .introspection_path)"
RH="$(j .receipts_http)"
RS="$(j .receipts_https)"
TLS=(--cacert "$CA" --tlsv1.3)

# token request helper: sets $code, $body, $hdrs
treq() { # URL curl-args...
  local url="$1"; shift
  code=$(curl -s -o "$work/body" -D "$work/hdrs" -w '%{http_code}' "${TLS[@]}" "$@" "$url") || code="curl-exit-$?"
  body="$(cat "$work/body" 2>/dev/null)"
  hdrs="$(cat "$work/hdrs" 2>/dev/null)"
  detail="HTTP $code $body"
}
has_token() { [[ "$code" == 200 ]] && [[ "$(jv .access_token <<<"$body")" != "" ]] && [[ "$(jv .token_type <<<"$body")" == Bearer ]]; }
is_error() { [[ "$code" == "$1" ]] && [[ "$(jv .error <<<"$body")" == "$2" ]]; }

# --- token endpoint -----------------------------------------------------------------------------
treq "$HTTP$TOKEN_PATH" -u basic-client:basic-secret -d grant_type=client_credentials -d scope=opaque:read
check "token: client_secret_basic over http" has_token

treq "$HTTPS$TOKEN_PATH" -u basic-client:basic-secret -d grant_type=client_credentials -d scope=opaque:read
check "token: client_secret_basic over https (TLS 1.3, --cacert ca.pem)" has_token

treq "$HTTPS$TOKEN_PATH" -d grant_type=client_credentials -d client_id=post-client -d client_secret=post-secret -d scope=opaque:read
check "token: client_secret_post over https" has_token

treq "$HTTP$TOKEN_PATH" -d grant_type=client_credentials -d client_id=post-client -d client_secret=post-secret
check "token: no scope, no resource -> default resource token" has_token

# RFC 6749 2.3.1: form-urlencode id and secret, then base64("id:secret"). Computed independently.
RES_ID="$(j .clients.reserved.client_id)"
RES_SECRET="$(j .clients.reserved.client_secret)"
enc_hdr="$(node -e '
  const f = (s) => new URLSearchParams({ x: s }).toString().slice(2);
  process.stdout.write("Basic " + Buffer.from(f(process.argv[1]) + ":" + f(process.argv[2])).toString("base64"));
' "$RES_ID" "$RES_SECRET")"
treq "$HTTPS$TOKEN_PATH" -H "Authorization: $enc_hdr" -d grant_type=client_credentials -d scope=telemetry:write
check "token: reserved-character client ('$RES_ID') with 2.3.1-encoded Basic header" has_token
detail="ready file header '$(j .clients.reserved.basic_authorization)' vs '$enc_hdr'"
check "ready file basic_authorization for reserved client matches 2.3.1 encoding" test "$(j .clients.reserved.basic_authorization)" == "$enc_hdr"

raw_hdr="Basic $(printf '%s:%s' "$RES_ID" "$RES_SECRET" | base64 -w0)"
treq "$HTTP$TOKEN_PATH" -H "Authorization: $raw_hdr" -d grant_type=client_credentials
check "token: reserved-character client with UNencoded Basic header is rejected" \
  bash -c '[[ "$0" == 400 || "$0" == 401 ]]' "$code"

treq "$HTTP$TOKEN_PATH" -u basic-client:wrong-secret -d grant_type=client_credentials
check "token: wrong secret -> 401 invalid_client" is_error 401 invalid_client
detail="headers: $(tr -d '\r' <<<"$hdrs" | grep -i www-authenticate)"
check "token: wrong secret -> WWW-Authenticate: Basic ... error=\"invalid_client\"" \
  grep -qiE '^www-authenticate: Basic .*error="invalid_client"' <<<"$(tr -d '\r' <<<"$hdrs")"

treq "$HTTP$TOKEN_PATH" -d grant_type=client_credentials -d client_id=basic-client -d client_secret=basic-secret
check "token: client_secret_basic client sending its secret in the body -> 401 invalid_client" is_error 401 invalid_client

treq "$HTTP$TOKEN_PATH" -u post-client:post-secret -d grant_type=client_credentials
check "token: client_secret_post client sending a Basic header -> 401 invalid_client" is_error 401 invalid_client

treq "$HTTP$TOKEN_PATH" -u limited-client:limited-secret -d grant_type=client_credentials -d scope=receipts:read
check "token: scope not allowed for the client -> 400 invalid_scope" is_error 400 invalid_scope

treq "$HTTP$TOKEN_PATH" -u basic-client:basic-secret -d grant_type=client_credentials -d scope=admin:everything
check "token: unknown scope -> 400 invalid_scope" is_error 400 invalid_scope

treq "$HTTP$TOKEN_PATH" -u basic-client:basic-secret -d grant_type=client_credentials -d resource=https://unknown.example/
check "token: unknown resource -> 400 invalid_target" is_error 400 invalid_target

treq "$HTTP$TOKEN_PATH" -u basic-client:basic-secret -d grant_type=client_credentials -d resource=https://short.example/ -d scope=short:read
check "token: short-lifetime resource -> expires_in 4" bash -c '[[ "$0" == 200 && "$(jv .expires_in <<<"$1")" == 4 ]]' "$code" "$body"
SHORT_TOKEN="$(jv .access_token <<<"$body")"
t_short=$(now_ms)

# --- client_secret_jwt / private_key_jwt (assertion aud = issuer, and token URL as reached) -----
jwt_out="$(node --input-type=module -e '
  import * as fs from "node:fs";
  import * as jose from "jose";
  const R = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const now = Math.floor(Date.now() / 1000);
  const hs = new TextEncoder().encode(R.clients.jwt.client_secret);
  const pk = await jose.importPKCS8(fs.readFileSync(R.clients.pkjwt.private_key_pem, "utf8"), "ES256");
  const cases = [
    ["client_secret_jwt aud=issuer via http", R.clients.jwt, hs, "HS256", R.issuer, R.http, 200],
    ["client_secret_jwt aud=http token url via http", R.clients.jwt, hs, "HS256", R.http + R.token_path, R.http, 200],
    ["private_key_jwt aud=issuer via http", R.clients.pkjwt, pk, "ES256", R.issuer, R.http, 200],
    ["private_key_jwt aud=https token url via http (other listener) rejected", R.clients.pkjwt, pk, "ES256", R.https + R.token_path, R.http, 401],
  ];
  for (const [name, c, key, alg, aud, base, want] of cases) {
    const a = await new jose.SignJWT({}).setProtectedHeader({ alg, ...(c.kid ? { kid: c.kid } : {}) })
      .setIssuer(c.client_id).setSubject(c.client_id).setAudience(aud).setJti(crypto.randomUUID())
      .setIssuedAt(now).setExpirationTime(now + 60).sign(key);
    const res = await fetch(base + R.token_path, { method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials", scope: "opaque:read",
        client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: a }) });
    const text = await res.text();
    console.log(`${res.status === want ? "PASS" : "FAIL"} token: ${name} -> ${res.status}${res.status === want ? "" : " -- " + text}`);
  }
' "$R" 2>&1)"
echo "$jwt_out"
pass=$((pass + $(grep -c '^PASS' <<<"$jwt_out")))
fail=$((fail + $(grep -c '^FAIL' <<<"$jwt_out")))
grep -qE '^(PASS|FAIL)' <<<"$jwt_out" || bad "client assertion checks ran" "$jwt_out"

# --- protected resource -------------------------------------------------------------------------
treq "$HTTPS$TOKEN_PATH" -u basic-client:basic-secret -d grant_type=client_credentials \
  -d resource=https://receipts.example/ -d scope=receipts:read
check "token: receipts resource" has_token
RT="$(jv .access_token <<<"$body")"
detail="token: $RT"
check "receipts token is a JWT (typ at+jwt, aud https://receipts.example/)" node -e '
  const [h, p] = process.argv[1].split(".").slice(0, 2).map((x) => JSON.parse(Buffer.from(x, "base64url")));
  process.exit(h.typ === "at+jwt" && p.aud === "https://receipts.example/" ? 0 : 1);' "$RT"

treq "$RS/receipts/r-1001" -H "Authorization: Bearer $RT"
check "receipt over https with receipts token -> 200" bash -c '[[ "$0" == 200 && "$(jv .receipt <<<"$1")" == r-1001 && "$(jv .format <<<"$1")" == pdf ]]' "$code" "$body"
treq "$RH/receipts/r-1001" -H "Authorization: Bearer $RT"
check "receipt over http with receipts token -> 200" test "$code" == 200

treq "$HTTP$TOKEN_PATH" -u basic-client:basic-secret -d grant_type=client_credentials -d scope=opaque:read
OT="$(jv .access_token <<<"$body")"
treq "$RH/receipts/r-1001" -H "Authorization: Bearer $OT"
check "receipt with token for another audience -> 401 invalid_token" \
  bash -c '[[ "$0" == 401 ]] && grep -qi "^www-authenticate: Bearer error=\"invalid_token\"" <<<"$(tr -d "\r" <<<"$1")"' "$code" "$hdrs"

treq "$HTTP$INTRO_PATH" -u receipts-rs:receipts-rs-secret -d "token=$RT"
check "introspection (receipts-rs) of receipts JWT -> active" bash -c '[[ "$(jv .active <<<"$0")" == true ]]' "$body"

treq "$HTTPS$REVOKE_PATH" -u basic-client:basic-secret -d "token=$RT" -d token_type_hint=access_token
check "revocation by the owning client -> 200" test "$code" == 200

treq "$RS/receipts/r-1001" -H "Authorization: Bearer $RT"
detail="HTTP $code; $(tr -d '\r' <<<"$hdrs" | grep -i www-authenticate)"
check "receipt after revocation -> 401 Bearer error=\"invalid_token\"" \
  bash -c '[[ "$0" == 401 ]] && grep -qi "^www-authenticate: Bearer error=\"invalid_token\"" <<<"$(tr -d "\r" <<<"$1")"' "$code" "$hdrs"

treq "$RS/receipts/r-1001"
detail="HTTP $code; $(tr -d '\r' <<<"$hdrs" | grep -i www-authenticate)"
check "receipt without token -> 401 WWW-Authenticate: Bearer" \
  bash -c '[[ "$0" == 401 ]] && grep -qix "www-authenticate: Bearer" <<<"$(tr -d "\r" <<<"$1")"' "$code" "$hdrs"

# --- TLS ----------------------------------------------------------------------------------------
tls_probe() { # port -> prints s_client summary
  openssl s_client -connect "127.0.0.1:$1" -servername localhost -tls1_3 -groups P-256 \
    -ciphersuites TLS_AES_128_GCM_SHA256 -CAfile "$CA" -verify_hostname localhost -brief </dev/null 2>&1
}
for which in https_port receipts_https_port; do
  out="$(tls_probe "$(j ".$which")")"
  detail="$(tr '\n' ' ' <<<"$out")"
  check "openssl s_client ($which): TLSv1.3 + TLS_AES_128_GCM_SHA256 + P-256, verified" bash -c '
    grep -q "Protocol version: TLSv1.3" <<<"$0" && grep -q "Ciphersuite: TLS_AES_128_GCM_SHA256" <<<"$0" &&
    grep -q "Verification: OK" <<<"$0" && grep -qE "(Negotiated TLS1.3 group|Server Temp Key): (secp256r1|prime256v1|ECDH, (P-256|prime256v1))" <<<"$0"' "$out"
done

code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" --tls-max 1.2 "$HTTPS/jwks"); rc=$?
detail="curl rc=$rc code=$code"
check "TLS 1.2 is refused" test "$rc" -ne 0

code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" --tlsv1.3 "$(j .https_other_ca)/jwks"); rc=$?
detail="curl rc=$rc code=$code"
check "other-CA listener is rejected with ca.pem (curl exit 60)" test "$rc" -eq 60
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/certs/other-ca.pem" --tlsv1.3 "$(j .https_other_ca)/jwks"); rc=$?
detail="curl rc=$rc code=$code"
check "other-CA listener is accepted with other-ca.pem" test "$code" == 200

code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" --tlsv1.3 "$(j .https_wrong_name)/jwks"); rc=$?
detail="curl rc=$rc code=$code"
check "wrong-name listener is rejected for host localhost (curl exit 60)" test "$rc" -eq 60

# --- short token expiry -------------------------------------------------------------------------
wait_ms=$((5200 - ($(now_ms) - t_short)))
if ((wait_ms > 0)); then sleep "$(awk "BEGIN{print $wait_ms/1000}")"; fi
treq "$HTTP$INTRO_PATH" -u basic-client:basic-secret -d "token=$SHORT_TOKEN"
check "short-lifetime token is inactive after 5 s" bash -c '[[ "$(jv .active <<<"$0")" == false ]]' "$body"

# --- shutdown -----------------------------------------------------------------------------------
exec 3>&-
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then bad "server exits when its stdin closes"; else ok "server exits when its stdin closes"; wait "$pid" 2>/dev/null; pid=""; fi

rm -f "$work/ready2.json"
node server.mjs --certs "$work/certs" --ready-file "$work/ready2.json" </dev/null >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 400); do [[ -s "$work/ready2.json" ]] && break; sleep 0.025; done
kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then bad "server exits on SIGTERM"; else wait "$pid"; rc=$?; pid=""; detail="exit $rc"; check "server exits on SIGTERM (status 0)" test "$rc" -eq 0; fi

if grep -q 'server_error' "$work/server.err"; then bad "no server_error in server log" "$(cat "$work/server.err")"; fi

echo "smoke: $pass passed, $fail failed"
[[ $fail -eq 0 ]]
