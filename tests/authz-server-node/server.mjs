#!/usr/bin/env node
// A second real OAuth 2.0 authorization server for the embedded-oauth2 tests:
// @node-oauth/oauth2-server 5.3.0, client_credentials grant only, on Node's own http module.
// See README.md. Unlike oidc-provider (tests/authz-server/), this library does NOT
// form-urldecode client_secret_basic credentials (RFC 6749 §2.3.1): it takes the base64-decoded
// header as is, cut at the first ':'.
//
//   node server.mjs --ready-file FILE [--max-lifetime SECONDS] [--[no-]watch-stdin] [--quiet]
//
// Listens on 127.0.0.1, port chosen by the OS (port 0). When it listens, a JSON description is
// written atomically to FILE and `READY FILE` is printed on stdout. The process exits on
// SIGTERM/SIGINT/SIGHUP, when its stdin (if a pipe or socket) reaches EOF, and after
// --max-lifetime seconds if given.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import { parseArgs } from 'node:util';
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { createRequire } from 'node:module';

const t0 = process.hrtime.bigint();

// ---------------------------------------------------------------------------------------------
// command line
// ---------------------------------------------------------------------------------------------
const { values: args } = parseArgs({
  options: {
    'ready-file': { type: 'string' },
    'max-lifetime': { type: 'string' },
    'watch-stdin': { type: 'boolean' },
    'no-watch-stdin': { type: 'boolean' },
    quiet: { type: 'boolean' },
  },
  strict: true,
});

if (!args['ready-file']) {
  process.stderr.write('usage: node server.mjs --ready-file FILE [--max-lifetime SECONDS] [--[no-]watch-stdin] [--quiet]\n');
  process.exit(2);
}

const readyFile = path.resolve(args['ready-file']);
const log = args.quiet ? () => {} : (...m) => process.stderr.write(`[authz-server-node] ${m.join(' ')}\n`);

// Signal handling is installed before anything listens, so a signal at any time exits cleanly (0).
let server;
let stopping = false;
function shutdown(reason) {
  if (stopping) return;
  stopping = true;
  log(`shutting down (${reason})`);
  if (!server) process.exit(0);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => shutdown(sig));

// The library is imported only now, so that a signal during its load already finds the handlers.
const { default: OAuth2Server } = await import('@node-oauth/oauth2-server');
const { Request, Response, InvalidScopeError, OAuthError } = OAuth2Server;
const LIBRARY_VERSION = createRequire(import.meta.url)('@node-oauth/oauth2-server/package.json').version;

const HOST = '127.0.0.1';
const TOKEN_PATH = '/token';
const ACCESS_TOKEN_LIFETIME = 3600; // seconds
const MAX_BODY = 16 * 1024; // bytes

// ---------------------------------------------------------------------------------------------
// clients (fixed test data; nothing here is secret)
// ---------------------------------------------------------------------------------------------
const SCOPES = ['telemetry:write', 'status:read'];

const CLIENTS = {
  plain: { client_id: 'plain-client', client_secret: 'plain-secret' },
  // Every character here that RFC 6749 §2.3.1 (application/x-www-form-urlencoded) changes: ' ',
  // '+', '%' in the id; '%', '+', '/', '=', ':', '?' in the secret. No ':' in the id: an
  // unencoded Basic header cannot carry one (RFC 7617 §2: the user-id ends at the first ':').
  reserved: { client_id: 'device 7+x%', client_secret: 's3cr%t+/=:?' },
};

// ---------------------------------------------------------------------------------------------
// in-memory model (client_credentials only)
// ---------------------------------------------------------------------------------------------
const digest = (s) => createHash('sha256').update(s, 'utf8').digest();
const tokens = new Map(); // access token -> { clientId, scope, expiresAt }

const model = {
  // Called with what the library extracted: for Basic, the base64-decoded header split at the
  // first ':', NOT percent-decoded; for client_secret_post, the form-decoded body parameters.
  async getClient(clientId, clientSecret) {
    const c = Object.values(CLIENTS).find((x) => x.client_id === clientId);
    if (!c || typeof clientSecret !== 'string') return null;
    if (!timingSafeEqual(digest(c.client_secret), digest(clientSecret))) return null;
    return { id: c.client_id, grants: ['client_credentials'], accessTokenLifetime: ACCESS_TOKEN_LIFETIME };
  },
  async getUserFromClient(client) {
    // client_credentials: the client acts on its own behalf
    return { id: client.id };
  },
  async saveToken(token, client, user) {
    const unknown = (token.scope || []).filter((s) => !SCOPES.includes(s));
    if (unknown.length > 0) throw new InvalidScopeError(`Invalid scope: ${unknown.join(' ')}`);
    tokens.set(token.accessToken, { clientId: client.id, scope: token.scope, expiresAt: token.accessTokenExpiresAt });
    return { ...token, client, user };
  },
  // a 32-byte random bearer token (the library's default is a SHA-1 hex string)
  async generateAccessToken() {
    return randomBytes(32).toString('base64url');
  },
};

const oauth = new OAuth2Server({ model, accessTokenLifetime: ACCESS_TOKEN_LIFETIME });

// periodic sweep of expired tokens
setInterval(() => {
  const now = new Date();
  for (const [k, v] of tokens) if (v.expiresAt <= now) tokens.delete(k);
}, 60_000).unref();

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------
function sendJson(res, status, body, headers = {}) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(data),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(data);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function tokenEndpoint(req, res, url) {
  const raw = await readBody(req);
  const body = {};
  if (/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] || '')) {
    for (const [k, v] of new URLSearchParams(raw)) {
      // RFC 6749 §3.2: parameters MUST NOT be included more than once
      if (Object.hasOwn(body, k)) {
        sendJson(res, 400, { error: 'invalid_request', error_description: `Invalid request: duplicate parameter \`${k}\`` });
        return;
      }
      body[k] = v;
    }
  }
  const request = new Request({
    headers: req.headers,
    method: req.method,
    query: Object.fromEntries(url.searchParams),
    body,
  });
  const response = new Response({ headers: {} });
  try {
    await oauth.token(request, response);
  } catch (err) {
    // The library puts the error (and any WWW-Authenticate) into `response`, except for the
    // checks it makes before that (method POST, form content type): those only throw.
    if (!response.body?.error) {
      response.status = err instanceof OAuthError ? err.code : 500;
      response.body = err instanceof OAuthError
        ? { error: err.name, error_description: err.message }
        : { error: 'server_error' };
    }
    log(`${req.method} ${url.pathname} -> ${response.status} ${err.name}: ${err.message}`);
  }
  sendJson(res, response.status, response.body, response.headers);
}

const handler = async (req, res) => {
  try {
    const url = new URL(req.url, 'http://authz.invalid');
    if (url.pathname === '/health') {
      sendJson(res, 200, { ok: true });
    } else if (url.pathname === TOKEN_PATH) {
      await tokenEndpoint(req, res, url);
    } else {
      sendJson(res, 404, { error: 'not_found' });
    }
  } catch (err) {
    if (err.status === 413) {
      sendJson(res, 413, { error: 'invalid_request', error_description: 'body too large' });
      return;
    }
    log('server error', err.stack || err);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
  }
};

server = http.createServer(handler);
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, HOST, resolve);
});
const port = server.address().port;
const base = `http://${HOST}:${port}`;

// ---------------------------------------------------------------------------------------------
// ready file
// ---------------------------------------------------------------------------------------------
// RFC 6749 §2.3.1: application/x-www-form-urlencoded ('+' for space) before base64
const formEncode = (s) => new URLSearchParams({ x: s }).toString().slice(2);
const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

const ready = {
  server: '@node-oauth/oauth2-server',
  server_version: LIBRARY_VERSION,
  pid: process.pid,
  http: base,
  http_port: port,
  listen_address: HOST,
  token_path: TOKEN_PATH,
  token_endpoint: `${base}${TOKEN_PATH}`,
  grant_types: ['client_credentials'],
  auth_methods: ['client_secret_basic', 'client_secret_post'],
  basic_credentials_form_decoded: false,
  access_token_lifetime: ACCESS_TOKEN_LIFETIME,
  scopes: SCOPES,
  clients: Object.fromEntries(Object.entries(CLIENTS).map(([name, c]) => [name, {
    client_id: c.client_id,
    client_secret: c.client_secret,
    // every client may use either method (the library has no per-client method)
    auth_methods: ['client_secret_basic', 'client_secret_post'],
    scope: SCOPES.join(' '),
    // what this server accepts, and what §2.3.1 says (accepted only when the two are equal)
    basic_authorization: basic(c.client_id, c.client_secret),
    basic_authorization_rfc6749: basic(formEncode(c.client_id), formEncode(c.client_secret)),
  }])),
};
ready.startup_ms = Number((process.hrtime.bigint() - t0) / 1000000n);

fs.mkdirSync(path.dirname(readyFile), { recursive: true });
const tmp = `${readyFile}.${process.pid}.tmp`;
fs.writeFileSync(tmp, `${JSON.stringify(ready, null, 2)}\n`);
fs.renameSync(tmp, readyFile);
process.stdout.write(`READY ${readyFile}\n`);
log(`@node-oauth/oauth2-server ${LIBRARY_VERSION}; token endpoint ${ready.token_endpoint}; ready in ${ready.startup_ms} ms`);

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
