#!/usr/bin/env node
// Real OAuth 2.0 authorization server (oidc-provider 8.8.1) plus a protected "PDF receipt"
// resource server, for the embedded-oauth2 integration tests. See README.md.
//
//   node server.mjs --certs DIR --ready-file FILE [--max-lifetime SECONDS] [--[no-]watch-stdin]
//                   [--chain SHAPE=DIR]... [--host ADDRESS]
//
// Every listener binds 127.0.0.1 (or --host ADDRESS) on an ephemeral port (port 0). When all of them listen, a JSON
// description is written atomically to FILE and `READY FILE` is printed on stdout.
// The process exits on SIGTERM/SIGINT/SIGHUP, when its stdin (if a pipe or socket) reaches EOF,
// and after --max-lifetime seconds if given.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import * as https from 'node:https';
import { parseArgs, format } from 'node:util';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';
import { isIP, isIPv6 } from 'node:net';


const t0 = process.hrtime.bigint();

// ---------------------------------------------------------------------------------------------
// command line
// ---------------------------------------------------------------------------------------------
const { values: args } = parseArgs({
  options: {
    certs: { type: 'string' },
    'ready-file': { type: 'string' },
    'max-lifetime': { type: 'string' },
    'watch-stdin': { type: 'boolean' },
    'no-watch-stdin': { type: 'boolean' },
    quiet: { type: 'boolean' },
    // The address every listener binds (default 127.0.0.1), e.g. the
    // host's end of the emulated device's PPP link in a network namespace.
    host: { type: 'string' },
    // The lifetime of the access tokens for https://receipts.example/ (the
    // receipts service's audience), in seconds; default 300. Short ones
    // make a device renew while it keeps calling the service.
    'access-token-ttl': { type: 'string' },
    // Extra token-endpoint listeners serving other certificate chains:
    // `--chain S=DIR` serves DIR/S.chain.pem with DIR/S.key.pem (the files
    // tests/support/gen-chains.sh writes); ready.chains[S] gives its URL.
    chain: { type: 'string', multiple: true },
  },
  strict: true,
});

if (!args.certs || !args['ready-file']) {
  process.stderr.write('usage: node server.mjs --certs DIR --ready-file FILE [--max-lifetime SECONDS] [--[no-]watch-stdin] [--quiet] [--host ADDRESS] [--access-token-ttl SECONDS]\n');
  process.exit(2);
}
if (args.host !== undefined && !isIP(args.host)) {
  process.stderr.write(`--host: not an IP address: ${args.host}\n`);
  process.exit(2);
}
const RECEIPTS_TTL = args['access-token-ttl'] === undefined ? 300 : Number(args['access-token-ttl']);
if (!Number.isInteger(RECEIPTS_TTL) || RECEIPTS_TTL < 1) {
  process.stderr.write(`--access-token-ttl: not a whole number of seconds >= 1: ${args['access-token-ttl']}\n`);
  process.exit(2);
}

const certsDir = path.resolve(args.certs);
const readyFile = path.resolve(args['ready-file']);
const log = args.quiet ? () => {} : (...m) => process.stderr.write(`[authz-server] ${m.join(' ')}\n`);

// stdout carries exactly one line, `READY <file>`; everything else (including oidc-provider's
// console.info NOTICEs and console.warn WARNINGs) goes to stderr, and nowhere with --quiet.
const toStderr = (...m) => { if (!args.quiet) process.stderr.write(`${format(...m)}\n`); };
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;
console.debug = toStderr;

// Signal handling is installed before anything listens, so a signal at any time exits cleanly (0).
const servers = [];
let stopping = false;
function shutdown(reason) {
  if (stopping) return;
  stopping = true;
  log(`shutting down (${reason})`);
  let open = servers.length;
  if (open === 0) process.exit(0);
  for (const s of servers) {
    s.close(() => { open -= 1; if (open === 0) process.exit(0); });
    s.closeAllConnections?.();
  }
  setTimeout(() => process.exit(0), 1000).unref();
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => shutdown(sig));

// The heavy modules are imported only now, so that a signal during their ~300 ms load already
// finds the handlers above.
const { default: Provider, errors } = await import('oidc-provider');
const jose = await import('jose');

const HOST = args.host ?? '127.0.0.1';
// HOST as it appears in a URL (an IPv6 literal in brackets).
const HOST_URL = isIPv6(HOST) ? `[${HOST}]` : HOST;
const TLS_NAME = 'localhost';

// ---------------------------------------------------------------------------------------------
// fixed test data: resource servers, scopes, clients
// ---------------------------------------------------------------------------------------------
const RESOURCES = {
  'https://receipts.example/': {
    scope: 'receipts:read',
    accessTokenFormat: 'jwt',
    accessTokenTTL: RECEIPTS_TTL,
    jwt: { sign: { alg: 'ES256' } },
  },
  'https://opaque.example/': {
    scope: 'opaque:read',
    accessTokenFormat: 'opaque',
    accessTokenTTL: 300,
  },
  'https://short.example/': {
    scope: 'short:read',
    accessTokenFormat: 'opaque',
    accessTokenTTL: 4,
  },
};
const DEFAULT_RESOURCE = 'https://opaque.example/';
// scopes that belong to no resource server: tokens carrying them have no audience
const PLAIN_SCOPES = ['telemetry:write'];
// scope -> resource indicator
const SCOPE_RESOURCE = new Map(
  Object.entries(RESOURCES).flatMap(([uri, rs]) => rs.scope.split(' ').map((s) => [s, uri])),
);
const ALL_SCOPES = [...SCOPE_RESOURCE.keys(), ...PLAIN_SCOPES];
const NO_TOKEN_TTL = 300; // seconds, for tokens without a resource (plain scopes only)

const HS_SECRET = 'jwt-client-hs256-secret-0123456789abcdefghij'; // 44 bytes >= 32
const FULL = ALL_SCOPES.join(' ');

// client_credentials only; no redirect_uris, no response types
const cc = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };

const CLIENTS = {
  basic: {
    ...cc,
    client_id: 'basic-client',
    client_secret: 'basic-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    scope: FULL,
  },
  post: {
    ...cc,
    client_id: 'post-client',
    client_secret: 'post-secret',
    token_endpoint_auth_method: 'client_secret_post',
    scope: FULL,
  },
  reserved: {
    ...cc,
    client_id: 'dev:1 +%&=x',
    client_secret: 's3:cr+t %&=y',
    token_endpoint_auth_method: 'client_secret_basic',
    scope: FULL,
  },
  reserved_post: {
    // the same kind of characters, sent in the body (form-encoded there like every parameter)
    ...cc,
    client_id: 'dev:2 +%&=x',
    client_secret: 's3:cr+t %&=z',
    token_endpoint_auth_method: 'client_secret_post',
    scope: FULL,
  },
  limited: {
    ...cc,
    client_id: 'limited-client',
    client_secret: 'limited-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'opaque:read',
  },
  jwt: {
    ...cc,
    client_id: 'jwt-client',
    client_secret: HS_SECRET,
    token_endpoint_auth_method: 'client_secret_jwt',
    token_endpoint_auth_signing_alg: 'HS256',
    scope: FULL,
  },
  pkjwt: {
    ...cc,
    client_id: 'pkjwt-client',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    scope: FULL,
    // jwks filled in at startup
  },
  dpop: {
    // every token it gets is DPoP-bound (RFC 9449 §5: dpop_bound_access_tokens)
    ...cc,
    client_id: 'dpop-client',
    client_secret: 'dpop-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    scope: FULL,
    dpop_bound_access_tokens: true,
  },
  dpop_nonce: {
    // the token endpoint asks this client for a server nonce (use_dpop_nonce)
    ...cc,
    client_id: 'dpop-nonce-client',
    client_secret: 'dpop-nonce-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    scope: FULL,
    dpop_bound_access_tokens: true,
  },
  mtls: {
    // RFC 8705 §2.1 tls_client_auth: a certificate from the test CA naming this DNS name;
    // its tokens are bound to the certificate (cnf.x5t#S256)
    ...cc,
    client_id: 'mtls-device',
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_san_dns: 'mtls-device.example',
    tls_client_certificate_bound_access_tokens: true,
    scope: FULL,
  },
  mtls_self: {
    // RFC 8705 §2.2 self_signed_tls_client_auth: the certificate registered in jwks (x5c)
    ...cc,
    client_id: 'self-signed-device',
    token_endpoint_auth_method: 'self_signed_tls_client_auth',
    tls_client_certificate_bound_access_tokens: true,
    scope: FULL,
    // jwks filled in at startup
  },
  receipts_rs: {
    // the receipts resource server's own credentials, used only for introspection
    grant_types: [],
    response_types: [],
    redirect_uris: [],
    client_id: 'receipts-rs',
    client_secret: 'receipts-rs-secret',
    token_endpoint_auth_method: 'client_secret_basic',
  },
};

// ---------------------------------------------------------------------------------------------
// in-memory adapter (no LRU eviction, TTL honoured) that can also look up JWT access tokens
// ---------------------------------------------------------------------------------------------
// oidc-provider does not persist JWT-format access tokens, so by default they can be neither
// introspected nor revoked. To make the receipts (JWT) tokens revocable, the token endpoint
// response is observed (see `persistJwtAccessTokens` below) and the issued token's payload is
// stored under its jti, with an index JWT value -> jti. find(<jwt>) resolves through that index;
// revocation destroys the jti record, after which the JWT no longer introspects as active.
const store = new Map(); // "Model:id" -> { payload, expiresAt }
const jwtIndex = new Map(); // "Model:<jwt>" -> { jti, expiresAt }
const nowMs = () => Date.now();
const looksLikeJwt = (v) => typeof v === 'string' && v.split('.').length === 3;
const JWT_MODELS = new Set(['ClientCredentials', 'AccessToken']);

class TestAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    store.set(this.key(id), {
      payload: structuredClone(payload),
      expiresAt: expiresIn ? nowMs() + expiresIn * 1000 : Infinity,
    });
  }

  static get(key) {
    const entry = store.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= nowMs()) {
      store.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  async find(id) {
    if (JWT_MODELS.has(this.model) && looksLikeJwt(id)) {
      const idx = jwtIndex.get(this.key(id));
      if (!idx) return undefined;
      return TestAdapter.get(this.key(idx.jti));
    }
    return TestAdapter.get(this.key(id));
  }

  async findByUserCode(userCode) {
    for (const [key, { payload }] of store) {
      if (key.startsWith(`${this.model}:`) && payload.userCode === userCode) return payload;
    }
    return undefined;
  }

  async findByUid(uid) {
    for (const [key, { payload }] of store) {
      if (key.startsWith(`${this.model}:`) && payload.uid === uid) return payload;
    }
    return undefined;
  }

  async consume(id) {
    const p = TestAdapter.get(this.key(id));
    if (p) p.consumed = Math.floor(nowMs() / 1000);
  }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const [key, { payload }] of store) {
      if (key.startsWith(`${this.model}:`) && payload.grantId === grantId) store.delete(key);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// TLS material
// ---------------------------------------------------------------------------------------------
function readCert(name) {
  const file = path.join(certsDir, name);
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${file} (run gen-certs.sh ${certsDir} first): ${err.message}`);
  }
}

// TLS 1.3 only; P-256 (secp256r1) is the only key-exchange group offered, matching embedded-tls.
// Node's default TLS 1.3 suites include TLS_AES_128_GCM_SHA256 (the one embedded-tls implements).
const tlsBase = { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ecdhCurve: 'P-256' };
const tlsGood = { ...tlsBase, cert: readCert('server.pem'), key: readCert('server-key.pem') };
const tlsOtherCa = { ...tlsBase, cert: readCert('other-server.pem'), key: readCert('other-server-key.pem') };
const tlsWrongName = { ...tlsBase, cert: readCert('wrong-name.pem'), key: readCert('wrong-name-key.pem') };
// Mutual TLS listeners: a client certificate is asked for, not required (the handshake
// succeeds without one or with a self-signed one). No `ca` option: Node would then send the
// CA with the server's certificate (a chain the device's 1 KiB chain buffer need not hold);
// whether a client certificate chains to the test CA is checked below instead.
const tlsMutual = { ...tlsGood, requestCert: true, rejectUnauthorized: false };
const testCa = new X509Certificate(readCert('ca.pem'));

// ---------------------------------------------------------------------------------------------
// listeners first (port 0), so the issuer can name the real port
// ---------------------------------------------------------------------------------------------
let asHandler = (req, res) => { res.statusCode = 503; res.end(); };
let rsHandler = (req, res) => { res.statusCode = 503; res.end(); };
const asApp = (req, res) => asHandler(req, res);
const rsApp = (req, res) => rsHandler(req, res);

function listen(server) {
  servers.push(server);
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

// Log TLS handshake failures (useful when debugging the embedded client) without crashing.
function onTlsError(label) {
  return (err, socket) => {
    log(`${label}: TLS client error: ${err.code || ''} ${err.message}`);
    socket.destroy();
  };
}

const asHttp = http.createServer(asApp);
const asHttps = https.createServer(tlsGood, asApp);
const asHttpsOtherCa = https.createServer(tlsOtherCa, asApp);
const asHttpsWrongName = https.createServer(tlsWrongName, asApp);
const rsHttp = http.createServer(rsApp);
const rsHttps = https.createServer(tlsGood, rsApp);
const asMtls = https.createServer(tlsMutual, asApp);
const rsMtls = https.createServer(tlsMutual, rsApp);
asMtls.on('tlsClientError', onTlsError('authz mtls'));
rsMtls.on('tlsClientError', onTlsError('receipts mtls'));
asHttps.on('tlsClientError', onTlsError('authz https'));
asHttpsOtherCa.on('tlsClientError', onTlsError('authz https other-ca'));
asHttpsWrongName.on('tlsClientError', onTlsError('authz https wrong-name'));
rsHttps.on('tlsClientError', onTlsError('receipts https'));

const [httpPort, httpsPort, otherCaPort, wrongNamePort, rsHttpPort, rsHttpsPort, mtlsPort, rsMtlsPort] = await Promise.all(
  [asHttp, asHttps, asHttpsOtherCa, asHttpsWrongName, rsHttp, rsHttps, asMtls, rsMtls].map(listen),
);

// `--chain SHAPE=DIR`: the authorization server behind another chain.
const chainListeners = (args.chain || []).map((spec) => {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new Error(`--chain ${spec}: want SHAPE=DIR`);
  const [shape, dir] = [spec.slice(0, eq), spec.slice(eq + 1)];
  const tls = {
    ...tlsBase,
    cert: fs.readFileSync(path.join(dir, `${shape}.chain.pem`)),
    key: fs.readFileSync(path.join(dir, `${shape}.key.pem`)),
    // Weak chains (SHA-1, RSA-1024) are served on purpose: the client
    // must refuse them, so OpenSSL's own floor is lowered here only.
    ciphers: 'TLS_AES_128_GCM_SHA256:DEFAULT:@SECLEVEL=0',
  };
  const server = https.createServer(tls, asApp);
  server.on('tlsClientError', onTlsError(`authz https chain ${shape}`));
  return [shape, server];
});
const chains = {};
for (const [shape, server] of chainListeners) {
  const port = await listen(server);
  chains[shape] = { https: `https://${TLS_NAME}:${port}`, port };
}

const issuer = `https://${TLS_NAME}:${httpsPort}`;
const httpBase = `http://${HOST_URL}:${httpPort}`;
const httpsBase = `https://${TLS_NAME}:${httpsPort}`;

// ---------------------------------------------------------------------------------------------
// keys: provider signing key (ES256) and the pkjwt-client key pair
// ---------------------------------------------------------------------------------------------
const [{ privateKey: opPriv }, { privateKey: pkPriv, publicKey: pkPub }] = await Promise.all([
  jose.generateKeyPair('ES256', { extractable: true }),
  jose.generateKeyPair('ES256', { extractable: true }),
]);
const opJwk = { ...(await jose.exportJWK(opPriv)), alg: 'ES256', use: 'sig' };
opJwk.kid = await jose.calculateJwkThumbprint(opJwk);
const opPublicJwk = { kty: opJwk.kty, crv: opJwk.crv, x: opJwk.x, y: opJwk.y, alg: 'ES256', use: 'sig', kid: opJwk.kid };

const pkPublicJwk = { ...(await jose.exportJWK(pkPub)), alg: 'ES256', use: 'sig' };
pkPublicJwk.kid = await jose.calculateJwkThumbprint(pkPublicJwk);
const pkjwtKeyFile = path.join(certsDir, 'pkjwt-key.pem');
const pkjwtJwkFile = path.join(certsDir, 'pkjwt-key.jwk.json');
fs.writeFileSync(pkjwtKeyFile, await jose.exportPKCS8(pkPriv), { mode: 0o600 });
fs.writeFileSync(
  pkjwtJwkFile,
  `${JSON.stringify({ ...(await jose.exportJWK(pkPriv)), alg: 'ES256', kid: pkPublicJwk.kid }, null, 2)}\n`,
  { mode: 0o600 },
);
CLIENTS.pkjwt.jwks = { keys: [pkPublicJwk] };
const selfClientCert = new X509Certificate(readCert('self-client.pem'));
CLIENTS.mtls_self.jwks = {
  keys: [{ ...(await jose.exportJWK(selfClientCert.publicKey)), x5c: [selfClientCert.raw.toString('base64')] }],
};
// The peer certificate of the TLS connection a request came over (mTLS listeners).
const peerCertificate = (socket) => {
  const peer = socket?.getPeerCertificate?.();
  return peer?.raw ? peer.raw : undefined;
};

// ---------------------------------------------------------------------------------------------
// scope / resource policy (strict, see README "Scopes and resources")
// ---------------------------------------------------------------------------------------------
function requestedScopes(ctx) {
  const { scope } = ctx.oidc.params;
  return scope ? [...new Set(scope.split(' ').filter(Boolean))] : [];
}

function assertClientMayRequest(ctx, client, scopes) {
  const allowed = new Set((client.scope || '').split(' ').filter(Boolean));
  for (const s of scopes) {
    if (!allowed.has(s)) {
      throw new errors.InvalidScope('requested scope is not allowed', s);
    }
  }
}

async function defaultResource(ctx, client, oneOf) {
  if (oneOf) return undefined; // only one resource may be requested; let the grant reject it
  const scopes = requestedScopes(ctx);
  assertClientMayRequest(ctx, client, scopes);
  if (scopes.length === 0) return DEFAULT_RESOURCE;
  const targets = new Set(scopes.map((s) => SCOPE_RESOURCE.get(s) ?? 'plain'));
  if (targets.size > 1) {
    throw new errors.InvalidScope('requested scopes belong to more than one resource; request them separately with a resource parameter');
  }
  const [target] = targets;
  // plain scopes only -> no resource: an audience-less opaque token carrying those scopes
  return target === 'plain' ? undefined : target;
}

async function getResourceServerInfo(ctx, resourceIndicator, client) {
  const rs = RESOURCES[resourceIndicator];
  if (!rs) {
    throw new errors.InvalidTarget(`unknown resource indicator: ${resourceIndicator}`);
  }
  const scopes = requestedScopes(ctx);
  assertClientMayRequest(ctx, client, scopes);
  const rsScopes = new Set(rs.scope.split(' '));
  for (const s of scopes) {
    if (!rsScopes.has(s)) {
      throw new errors.InvalidScope(`scope is not valid for resource ${resourceIndicator}`, s);
    }
  }
  return { ...rs };
}

// ---------------------------------------------------------------------------------------------
// provider
// ---------------------------------------------------------------------------------------------
const provider = new Provider(issuer, {
  adapter: TestAdapter,
  clients: Object.values(CLIENTS),
  jwks: { keys: [opJwk] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'offline_access', ...ALL_SCOPES],
  clientDefaults: {
    grant_types: ['client_credentials'],
    response_types: [],
    id_token_signed_response_alg: 'ES256',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  enabledJWA: {
    clientAuthSigningAlgValues: ['HS256', 'ES256'],
    idTokenSigningAlgValues: ['ES256'],
  },
  clientAuthMethods: [
    'client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt',
    'tls_client_auth', 'self_signed_tls_client_auth',
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // only the receipts resource server (and a token's own client) may introspect
      allowedPolicy: async (ctx, client, token) => client.clientId === CLIENTS.receipts_rs.client_id
        || client.clientId === token.clientId,
    },
    revocation: { enabled: true },
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      selfSignedTlsClientAuth: true,
      tlsClientAuth: true,
      getCertificate(ctx) {
        const raw = peerCertificate(ctx.socket);
        return raw ? new X509Certificate(raw) : undefined;
      },
      certificateAuthorized(ctx) {
        const raw = peerCertificate(ctx.socket);
        if (!raw) return false;
        const cert = new X509Certificate(raw);
        const now = Date.now();
        return cert.checkIssued(testCa) && cert.verify(testCa.publicKey)
          && Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
      },
      certificateSubjectMatches(ctx, property, expected) {
        const raw = peerCertificate(ctx.socket);
        if (!raw || property !== 'tls_client_auth_san_dns') return false;
        return (new X509Certificate(raw).subjectAltName || '').split(', ').includes(`DNS:${expected}`);
      },
    },
    dPoP: {
      enabled: true,
      nonceSecret: randomBytes(32),
      requireNonce: (ctx) => ctx.oidc.client?.clientId === CLIENTS.dpop_nonce.client_id,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource,
      getResourceServerInfo,
      useGrantedResource: async () => false,
    },
  },
  ttl: {
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? NO_TOKEN_TTL,
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL ?? NO_TOKEN_TTL,
    Grant: 3600,
    Session: 3600,
    Interaction: 600,
    IdToken: 600,
  },
  // errors of browser-facing endpoints as JSON (no HTML pages; unused by client_credentials)
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});
provider.proxy = false; // reached directly, never through a proxy: X-Forwarded-* are not trusted

// persist JWT-format access tokens so they can be introspected and revoked (see adapter above)
provider.use(async function persistJwtAccessTokens(ctx, next) {
  await next();
  if (ctx.oidc?.route !== 'token' || ctx.status !== 200) return;
  const value = ctx.body?.access_token;
  const token = ctx.oidc.entities?.ClientCredentials || ctx.oidc.entities?.AccessToken;
  if (!token || !looksLikeJwt(value)) return;
  const claims = jose.decodeJwt(value);
  const payload = {};
  for (const k of token.constructor.IN_PAYLOAD) {
    if (k !== 'format' && token[k] !== undefined) payload[k] = token[k];
  }
  Object.assign(payload, {
    jti: claims.jti, iat: claims.iat, exp: claims.exp, kind: token.kind,
  });
  const ttl = Math.max(1, claims.exp - Math.floor(nowMs() / 1000));
  await new TestAdapter(token.kind).upsert(claims.jti, payload, ttl);
  jwtIndex.set(`${token.kind}:${value}`, { jti: claims.jti, expiresAt: nowMs() + ttl * 1000 });
});

// Enforce each client's registered secret method. oidc-provider itself accepts a client_secret_basic
// client's secret in the body and vice versa (it treats the two as one family); a test server
// should catch a client that sends its secret the wrong way, so such requests get invalid_client.
const requestContext = new AsyncLocalStorage();
provider.use((ctx, next) => requestContext.run(ctx, next));
const originalCompareClientSecret = provider.Client.prototype.compareClientSecret;
provider.Client.prototype.compareClientSecret = function strictCompareClientSecret(actual) {
  const ctx = requestContext.getStore();
  if (ctx) {
    const viaHeader = ctx.headers.authorization !== undefined;
    if (this.clientAuthMethod === 'client_secret_basic' && !viaHeader) return false;
    if (this.clientAuthMethod === 'client_secret_post' && viaHeader) return false;
  }
  return originalCompareClientSecret.call(this, actual);
};

provider.on('server_error', (ctx, err) => log('server_error', err.stack || err));

asHandler = provider.callback();

// periodic sweep of expired records
setInterval(() => {
  const n = nowMs();
  for (const [k, v] of store) if (v.expiresAt <= n) store.delete(k);
  for (const [k, v] of jwtIndex) if (v.expiresAt <= n) jwtIndex.delete(k);
}, 30_000).unref();

// ---------------------------------------------------------------------------------------------
// the "PDF receipt" protected resource
// ---------------------------------------------------------------------------------------------
const RECEIPTS_AUD = 'https://receipts.example/';
const RECEIPTS_SCOPE = 'receipts:read';
const localJwks = jose.createLocalJWKSet({ keys: [opPublicJwk] });
const introspectionUrl = `${httpBase}/token/introspection`;
const rsBasic = `Basic ${Buffer.from(
  `${encodeURIComponent(CLIENTS.receipts_rs.client_id)}:${encodeURIComponent(CLIENTS.receipts_rs.client_secret)}`,
).toString('base64')}`;

function sendJson(res, status, body, headers = {}) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(data),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(data);
}

async function introspect(token) {
  const res = await fetch(introspectionUrl, {
    method: 'POST',
    headers: {
      authorization: rsBasic,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    signal: AbortSignal.timeout(5000),
  });
  if (res.status !== 200) throw new Error(`introspection answered ${res.status}`);
  return res.json();
}

// returns { ok: true, info } or { ok: false, status, error, description }
async function validateBearer(token) {
  if (looksLikeJwt(token)) {
    // JWT access token: verify signature, issuer, audience, type and lifetime locally first
    try {
      await jose.jwtVerify(token, localJwks, {
        issuer, audience: RECEIPTS_AUD, typ: 'at+jwt', algorithms: ['ES256'],
      });
    } catch (err) {
      return { ok: false, status: 401, error: 'invalid_token', description: `JWT rejected: ${err.code || err.message}` };
    }
  }
  // every token (JWT or opaque) is then checked at the introspection endpoint: catches revocation
  const info = await introspect(token);
  if (!info.active) {
    return { ok: false, status: 401, error: 'invalid_token', description: 'token is not active (unknown, expired or revoked)' };
  }
  const aud = Array.isArray(info.aud) ? info.aud : (info.aud ? [info.aud] : []);
  if (!aud.includes(RECEIPTS_AUD)) {
    return { ok: false, status: 401, error: 'invalid_token', description: `token audience is not ${RECEIPTS_AUD}` };
  }
  const scopes = new Set((info.scope || '').split(' '));
  if (!scopes.has(RECEIPTS_SCOPE)) {
    return { ok: false, status: 403, error: 'insufficient_scope', description: `scope ${RECEIPTS_SCOPE} required` };
  }
  return { ok: true, info };
}

// DPoP at the resource (RFC 9449 §7): the proof's signature with its embedded key, typ and
// alg, htm/htu of this very request, a recent iat, a jti never seen before, and ath = the hash of
// the token presented. Returns { ok: true, jkt } or { ok: false, description }.
const seenDpopJtis = new Map(); // jti -> expiry (ms)
async function validateDpopProof(req, token) {
  const proof = req.headers.dpop;
  if (typeof proof !== 'string' || proof.includes(',')) {
    return { ok: false, description: 'exactly one DPoP proof required' };
  }
  let payload;
  let protectedHeader;
  try {
    ({ payload, protectedHeader } = await jose.jwtVerify(proof, jose.EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] }));
  } catch (err) {
    return { ok: false, description: `DPoP proof rejected: ${err.code || err.message}` };
  }
  const scheme = req.socket.encrypted ? 'https' : 'http';
  const expected = `${scheme}://${req.headers.host}${new URL(req.url, 'http://x').pathname}`;
  let htu;
  try {
    htu = new URL(payload.htu);
    htu.search = '';
    htu.hash = '';
  } catch {}
  const now = Math.floor(Date.now() / 1000);
  const ath = createHash('sha256').update(token).digest('base64url');
  if (payload.htm !== req.method) return { ok: false, description: 'DPoP proof htm mismatch' };
  if (htu?.href !== expected) return { ok: false, description: `DPoP proof htu mismatch (${payload.htu} for ${expected})` };
  if (typeof payload.iat !== 'number' || Math.abs(now - payload.iat) > 300) return { ok: false, description: 'DPoP proof iat not recent' };
  if (typeof payload.jti !== 'string' || !payload.jti) return { ok: false, description: 'DPoP proof without jti' };
  for (const [jti, until] of seenDpopJtis) if (until < Date.now()) seenDpopJtis.delete(jti);
  if (seenDpopJtis.has(payload.jti)) return { ok: false, description: 'DPoP proof replayed (jti seen before)' };
  seenDpopJtis.set(payload.jti, Date.now() + 600_000);
  if (payload.ath !== ath) return { ok: false, description: 'DPoP proof ath mismatch' };
  return { ok: true, jkt: await jose.calculateJwkThumbprint(protectedHeader.jwk), nonce: payload.nonce };
}
// The receipt service's own DPoP nonce (RFC 9449 §9), asked of receipts whose id starts with
// `n-`; a new one every 50 uses.
let rsNonce = randomBytes(16).toString('base64url');
let rsNonceUses = 0;

function amountFor(id) {
  let h = 0;
  for (const ch of id) h = (h * 31 + ch.codePointAt(0)) % 100000;
  return Math.round(100 + h) / 100; // 1.00 .. 1000.99, deterministic per id
}

rsHandler = async (req, res) => {
  try {
    const url = new URL(req.url, 'http://receipts.invalid');
    if (url.pathname === '/health') {
      sendJson(res, 200, { ok: true });
      return;
    }
    // RFC 9728: protected resource metadata, at the well-known path inserted before the
    // resource's path; `resource` is the URL the client called (§3.3)
    const origin = `${req.socket.encrypted ? 'https' : 'http'}://${req.headers.host}`;
    const prm = '/.well-known/oauth-protected-resource';
    if (url.pathname.startsWith(`${prm}/receipts/`)) {
      sendJson(res, 200, {
        resource: `${origin}${url.pathname.slice(prm.length)}`,
        authorization_servers: [issuer],
        bearer_methods_supported: ['header'],
        scopes_supported: [RECEIPTS_SCOPE],
      });
      return;
    }
    const m = /^\/receipts\/([A-Za-z0-9._~-]{1,64})$/.exec(url.pathname);
    if (!m) {
      sendJson(res, 404, { error: 'not_found' });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' });
      return;
    }
    const authz = req.headers.authorization;
    const dm = authz && /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authz);
    if (dm) {
      const dpopError = (error, description) => sendJson(
        res,
        401,
        { error, error_description: description },
        { 'www-authenticate': `DPoP error="${error}", algs="ES256"` },
      );
      const proof = await validateDpopProof(req, dm[1]);
      if (!proof.ok) {
        dpopError('invalid_dpop_proof', proof.description);
        return;
      }
      if (m[1].startsWith('n-') && proof.nonce !== rsNonce) {
        sendJson(
          res,
          401,
          { error: 'use_dpop_nonce', error_description: 'Resource server requires nonce in DPoP proof' },
          { 'www-authenticate': 'DPoP error="use_dpop_nonce", algs="ES256"', 'dpop-nonce': rsNonce },
        );
        return;
      }
      if (m[1].startsWith('n-') && (rsNonceUses += 1) >= 50) {
        rsNonce = randomBytes(16).toString('base64url');
        rsNonceUses = 0;
      }
      const result = await validateBearer(dm[1]);
      if (!result.ok) {
        dpopError(result.error, result.description);
        return;
      }
      if (!result.info.cnf?.jkt || result.info.cnf.jkt !== proof.jkt) {
        dpopError('invalid_token', 'the token is not bound to the key that signed the proof');
        return;
      }
      sendJson(res, 200, {
        receipt: m[1], format: 'pdf', amount: amountFor(m[1]), currency: 'EUR', client_id: result.info.client_id, jkt: proof.jkt,
      });
      return;
    }
    const bm = authz && /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authz);
    if (!authz || !/^bearer(\s|$)/i.test(authz)) {
      sendJson(res, 401, { message: 'bearer token required' }, {
        'www-authenticate': `Bearer resource_metadata="${origin}${prm}${url.pathname}"`,
      });
      return;
    }
    if (!bm) {
      sendJson(res, 401, { error: 'invalid_token', error_description: 'malformed bearer token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      return;
    }
    const result = await validateBearer(bm[1]);
    const x5t = result.ok ? result.info.cnf?.['x5t#S256'] : undefined;
    if (x5t) {
      // a certificate-bound token (RFC 8705 §3): only over a connection with that certificate
      const raw = peerCertificate(req.socket);
      const have = raw ? createHash('sha256').update(raw).digest('base64url') : undefined;
      if (have !== x5t) {
        sendJson(
          res,
          401,
          { error: 'invalid_token', error_description: 'certificate-bound token without its client certificate' },
          { 'www-authenticate': 'Bearer error="invalid_token"' },
        );
        return;
      }
    }
    if (result.ok && result.info.cnf?.jkt) {
      // a DPoP-bound token without its proof (RFC 9449 §7.2)
      sendJson(
        res,
        401,
        { error: 'invalid_token', error_description: 'DPoP-bound token presented as a bearer token' },
        { 'www-authenticate': 'DPoP error="invalid_token", algs="ES256"' },
      );
      return;
    }
    if (!result.ok) {
      const scopeParam = result.error === 'insufficient_scope' ? `, scope="${RECEIPTS_SCOPE}"` : '';
      sendJson(
        res,
        result.status,
        { error: result.error, error_description: result.description },
        { 'www-authenticate': `Bearer error="${result.error}"${scopeParam}` },
      );
      return;
    }
    sendJson(res, 200, {
      receipt: m[1], format: 'pdf', amount: amountFor(m[1]), currency: 'EUR', client_id: result.info.client_id,
    });
  } catch (err) {
    log('receipts error', err.stack || err);
    sendJson(res, 500, { error: 'server_error' });
  }
};

// ---------------------------------------------------------------------------------------------
// ready file
// ---------------------------------------------------------------------------------------------
const tokenAuds = (base) => `${base}/token`;
const ready = {
  issuer,
  pid: process.pid,
  http: httpBase,
  http_port: httpPort,
  https: httpsBase,
  https_port: httpsPort,
  https_host: TLS_NAME,
  https_other_ca: `https://${TLS_NAME}:${otherCaPort}`,
  https_other_ca_port: otherCaPort,
  https_wrong_name: `https://${TLS_NAME}:${wrongNamePort}`,
  https_wrong_name_port: wrongNamePort,
  https_wrong_name_cert_name: 'wrong.example',
  chains,
  listen_address: HOST,
  token_path: '/token',
  revocation_path: '/token/revocation',
  introspection_path: '/token/introspection',
  jwks_path: '/jwks',
  discovery_path: '/.well-known/openid-configuration',
  token_endpoint: `${issuer}/token`,
  // aud values accepted in client_secret_jwt / private_key_jwt assertions (oidc-provider checks
  // issuer, token endpoint and current endpoint, the latter two built from the URL the request
  // actually reached: scheme + Host header + path). So: the issuer always works; a token-URL aud
  // must match the listener used. Given as a string or inside an array.
  client_assertion_audiences: {
    any_listener: [issuer],
    via_http: [issuer, tokenAuds(httpBase)],
    via_https: [issuer, tokenAuds(httpsBase)],
    rule: 'issuer, or scheme://<Host header>/token of the listener the request was sent to (for introspection/revocation also that endpoint URL)',
  },
  receipts_http: `http://${HOST_URL}:${rsHttpPort}`,
  receipts_http_port: rsHttpPort,
  receipts_https: `https://${TLS_NAME}:${rsHttpsPort}`,
  receipts_https_port: rsHttpsPort,
  // mutual TLS (RFC 8705): client certificates asked for on these listeners
  mtls_port: mtlsPort,
  receipts_mtls_port: rsMtlsPort,
  receipts_path_prefix: '/receipts/',
  receipts_resource: RECEIPTS_AUD,
  receipts_scope: RECEIPTS_SCOPE,
  tls: {
    versions: ['TLSv1.3'], groups: ['P-256'], includes_cipher_suite: 'TLS_AES_128_GCM_SHA256',
  },
  certs_dir: certsDir,
  ca_pem: path.join(certsDir, 'ca.pem'),
  ca_der: path.join(certsDir, 'ca.der'),
  other_ca_pem: path.join(certsDir, 'other-ca.pem'),
  other_ca_der: path.join(certsDir, 'other-ca.der'),
  resources: Object.fromEntries(Object.entries(RESOURCES).map(([uri, rs]) => [uri, {
    scope: rs.scope, format: rs.accessTokenFormat, ttl: rs.accessTokenTTL,
  }])),
  default_resource: DEFAULT_RESOURCE,
  plain_scopes: PLAIN_SCOPES,
  plain_scope_token_ttl: NO_TOKEN_TTL,
  clients: {
    basic: { ...pick(CLIENTS.basic) },
    post: { ...pick(CLIENTS.post) },
    reserved: {
      ...pick(CLIENTS.reserved),
      // RFC 6749 2.3.1: application/x-www-form-urlencoded before base64
      basic_authorization: `Basic ${Buffer.from(`${formEncode(CLIENTS.reserved.client_id)}:${formEncode(CLIENTS.reserved.client_secret)}`).toString('base64')}`,
    },
    reserved_post: { ...pick(CLIENTS.reserved_post) },
    limited: { ...pick(CLIENTS.limited) },
    jwt: { ...pick(CLIENTS.jwt), alg: 'HS256' },
    pkjwt: {
      ...pick(CLIENTS.pkjwt),
      alg: 'ES256',
      kid: pkPublicJwk.kid,
      private_key_pem: pkjwtKeyFile,
      private_key_jwk: pkjwtJwkFile,
      public_jwk: pkPublicJwk,
    },
    dpop: { ...pick(CLIENTS.dpop), dpop_bound_access_tokens: true },
    dpop_nonce: { ...pick(CLIENTS.dpop_nonce), dpop_bound_access_tokens: true, dpop_nonce_required: true },
    mtls: {
      ...pick(CLIENTS.mtls),
      cert_der: path.join(certsDir, 'client.der'),
      key_pem: path.join(certsDir, 'client-key.pem'),
      other_cert_der: path.join(certsDir, 'client2.der'),
      other_key_pem: path.join(certsDir, 'client2-key.pem'),
    },
    mtls_self: {
      ...pick(CLIENTS.mtls_self),
      cert_der: path.join(certsDir, 'self-client.der'),
      key_pem: path.join(certsDir, 'self-client-key.pem'),
    },
    receipts_rs: { ...pick(CLIENTS.receipts_rs), purpose: 'introspection only' },
  },
};

function pick(c) {
  return {
    client_id: c.client_id,
    ...(c.client_secret ? { client_secret: c.client_secret } : {}),
    auth_method: c.token_endpoint_auth_method,
    ...(c.scope !== undefined ? { scope: c.scope } : {}),
  };
}

function formEncode(s) {
  return new URLSearchParams({ x: s }).toString().slice(2);
}

ready.startup_ms = Number((process.hrtime.bigint() - t0) / 1000000n);

fs.mkdirSync(path.dirname(readyFile), { recursive: true });
const tmp = `${readyFile}.${process.pid}.tmp`;
fs.writeFileSync(tmp, `${JSON.stringify(ready, null, 2)}\n`);
fs.renameSync(tmp, readyFile);
process.stdout.write(`READY ${readyFile}\n`);
log(`issuer ${issuer}; http ${httpBase}; receipts ${ready.receipts_http} / ${ready.receipts_https}; ready in ${ready.startup_ms} ms`);

// ---------------------------------------------------------------------------------------------
// lifetime
// ---------------------------------------------------------------------------------------------
// Watch stdin only when it is a pipe/socket (a parent holding the other end); /dev/null or a TTY
// would otherwise end the server immediately or never.
let watchStdin;
if (args['watch-stdin']) watchStdin = true;
else if (args['no-watch-stdin']) watchStdin = false;
else {
  try {
    const st = fs.fstatSync(0);
    watchStdin = st.isFIFO() || st.isSocket();
  } catch {
    watchStdin = false;
  }
}
if (watchStdin) {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.on('data', () => {});
  process.stdin.resume();
}

if (args['max-lifetime']) {
  const secs = Number(args['max-lifetime']);
  if (secs > 0) setTimeout(() => shutdown('max lifetime reached'), secs * 1000).unref();
}
