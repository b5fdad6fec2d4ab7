// A real OpenID Connect authorization server (oidc-provider) for jargate's end-to-end tests.
//
// Listens on 127.0.0.1:--port. Its issuer (--issuer) is the URL clients reach it by, i.e.
// jargate's proxy address when jargate is in front (jargate forwards Host unchanged), or its own
// address when the client talks to it directly. Endpoint paths match jargate's default [paths].
//
// Modes (--mode), one provider configuration each:
//   native  JAR, PAR and private_key_jwt enabled natively: the upstream of jargate's
//           `passthrough` mode. The client authenticates with private_key_jwt (keys from
//           keys/client.public.jwks.json) and must sign its request objects.
//   legacy  none of them: plain authorization requests and a client secret only (the secret in
//           keys/upstream-client-secret.txt): the upstream of jargate's `legacy` mode. With
//           --client-auth post (the default) the one client authentication method enabled and
//           registered is client_secret_post; with --client-auth basic, client_secret_basic.
//   mtls    RFC 8705 behind jargate's `listen.mtls`: tls_client_auth (the client of
//           mtls-client.json, by subject DN), the client_credentials grant and certificate-bound
//           access tokens. The certificate is read from jargate's RFC 9440 `Client-Cert` header
//           (features.mTLS.getCertificate); it counts as CA-verified because jargate forwards a
//           certificate only once it verified it (the provider is reachable through jargate only).
//           (oidc-provider itself accepts a secret either way once one of them is registered,
//           so the tests check which one was used from the recorded request shape below.)
//
// Every request is counted per "METHOD /path" before the provider sees it (the uid in interaction
// and resume paths counted as ":uid"); GET /__e2e/requests (not counted) returns
//   { "counts": { "POST /oauth/token": 1, ... },
//     "last_query": { "GET /authorize": "<raw query>", ... },
//     "last_form": { "POST /oauth/token": { "names": ["client_id", ...],
//                                           "authorization_scheme": "Basic" | null } } }
// so tests can prove that a request jargate refused never reached the provider, and see exactly
// which query string jargate forwarded and how the client authenticated at the token endpoint.
// `last_form` keeps the NAMES of the body parameters the provider parsed (sorted, repeated names
// once) and the scheme word of an Authorization header, never a value: no secret is recorded.
//
// Prints one JSON line {"ready":true,...} to stdout once listening. Logs no secrets.
//
// usage: node provider.mjs --workdir DIR --port PORT --issuer URL [--mode native|legacy|mtls]
//                          [--client-auth post|basic]

import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import * as jose from 'jose';
import Provider from 'oidc-provider';

import {
  parseOptions, readClientDescription, readJson, requireOptions, workdirPaths,
} from './workdir.mjs';

const USAGE = 'node provider.mjs --workdir DIR --port PORT --issuer URL [--mode native|legacy|mtls]'
  + ' [--client-auth post|basic]';
const STATS_PATH = '/__e2e/requests';
/** Interaction and resume paths carry a per-request uid; they are counted as one path each. */
const UID_PATH = /^\/(interaction|authorize)\/[^/]+/;

/** Endpoint paths, equal to jargate's [paths] defaults (SPEC §3). */
const ROUTES = {
  authorization: '/authorize',
  pushed_authorization_request: '/oauth/par',
  token: '/oauth/token',
  revocation: '/oauth/revoke',
  introspection: '/oauth/introspect',
  userinfo: '/userinfo',
  jwks: '/.well-known/jwks.json',
  end_session: '/oidc/logout',
};

/** Test accounts: any login is accepted by the dev interactions; claims derive from it. */
async function findAccount(_ctx, sub) {
  return {
    accountId: sub,
    async claims() {
      return { sub, email: `${sub}@example.test`, email_verified: true };
    },
  };
}

/** Provider settings shared by every mode. */
function baseConfiguration(signingJwk) {
  return {
    routes: ROUTES,
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    findAccount,
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
  };
}

/** `native`: JAR + PAR + private_key_jwt, the upstream of jargate's passthrough mode. */
async function nativeConfiguration(workdir, client, signingJwk) {
  const base = baseConfiguration(signingJwk);
  const clientJwks = await readJson(workdirPaths(workdir).clientPublicJwks);
  return {
    ...base,
    clientAuthMethods: ['private_key_jwt'],
    enabledJWA: {
      clientAuthSigningAlgValues: [client.auth.alg],
      requestObjectSigningAlgValues: [client.jar.alg],
    },
    features: {
      ...base.features,
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: false },
      requestObjects: { enabled: true, requireSignedRequestObject: false },
      // DPoP-bound tokens (RFC 9449) for flow.mjs's dpop_flow; no nonces.
      dPoP: { enabled: true },
    },
    clients: [{
      client_id: client.client_id,
      redirect_uris: [client.redirect_uri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: client.auth.alg,
      request_object_signing_alg: client.jar.alg,
      require_signed_request_object: true,
      // false so that a request object may also come by value on /authorize.
      require_pushed_authorization_requests: false,
      // The provider picks keys by kid and alg; jargate keeps the two uses apart itself.
      jwks: clientJwks,
    }],
  };
}

/** Client secret authentication methods of the `legacy` mode, by --client-auth. */
const SECRET_METHODS = { post: 'client_secret_post', basic: 'client_secret_basic' };

/**
 * `legacy`: no JAR, no PAR, one client secret method only; the upstream of jargate's legacy mode.
 */
async function legacyConfiguration(workdir, client, signingJwk, { clientAuth }) {
  const base = baseConfiguration(signingJwk);
  const method = SECRET_METHODS[clientAuth];
  if (!method) {
    throw new Error(`unknown --client-auth ${clientAuth}; one of ${Object.keys(SECRET_METHODS)}`);
  }
  const secret = (await readFile(workdirPaths(workdir).upstreamClientSecret, 'utf8')).trim();
  return {
    ...base,
    clientAuthMethods: [method],
    features: {
      ...base.features,
      pushedAuthorizationRequests: { enabled: false },
      requestObjects: { enabled: false },
    },
    clients: [{
      client_id: client.client_id,
      client_secret: secret,
      redirect_uris: [client.redirect_uri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: method,
    }],
  };
}

/** The certificate jargate forwarded: RFC 9440 `Client-Cert: :<base64 DER>:`. */
function forwardedCertificate(ctx) {
  const match = /^:([A-Za-z0-9+/]+=*):$/.exec(ctx.get('client-cert') ?? '');
  return match ? new X509Certificate(Buffer.from(match[1], 'base64')) : undefined;
}

/** `mtls`: tls_client_auth and certificate-bound tokens, the certificate from jargate. */
async function mtlsConfiguration(workdir, _client, signingJwk) {
  const base = baseConfiguration(signingJwk);
  const mtlsClient = await readJson(workdirPaths(workdir).mtlsClient);
  return {
    ...base,
    clientAuthMethods: ['tls_client_auth'],
    features: {
      ...base.features,
      clientCredentials: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: true,
        getCertificate: forwardedCertificate,
        certificateAuthorized: (ctx) => forwardedCertificate(ctx) !== undefined,
        // Node writes a subject as the registry does: one RDN per line, in certificate order.
        certificateSubjectMatches: (ctx, property, expected) => property === 'tls_client_auth_subject_dn'
          && forwardedCertificate(ctx)?.subject === expected,
      },
    },
    clients: [{
      client_id: mtlsClient.client_id,
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_auth_subject_dn: mtlsClient.subject_dn,
      tls_client_certificate_bound_access_tokens: true,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    }],
  };
}

const MODES = { native: nativeConfiguration, legacy: legacyConfiguration, mtls: mtlsConfiguration };

/** The provider's own ID token signing key, new at every start. */
async function generateProviderSigningJwk() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  const kid = await jose.calculateJwkThumbprint(jwk);
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}

/** The "METHOD /path" key a request is counted under. */
function requestKey(method, url) {
  const { pathname } = new URL(url, 'http://placeholder');
  return `${method} ${pathname.replace(UID_PATH, '/$1/:uid')}`;
}

/** What the provider parsed from request bodies, per "METHOD /path": names only, no values. */
const lastForms = new Map();

/**
 * Provider middleware recording, after the provider handled a request with a body, the names of
 * the body parameters it parsed and the scheme of an Authorization header (no values).
 */
async function recordFormNames(ctx, next) {
  await next();
  const body = ctx.oidc?.body;
  if (ctx.method !== 'POST' || !body || typeof body !== 'object') return;
  const authorization = ctx.get('authorization');
  lastForms.set(requestKey(ctx.method, ctx.originalUrl), {
    names: Object.keys(body).sort(),
    authorization_scheme: authorization ? authorization.split(' ')[0] : null,
  });
}

/** Wraps the provider's request handler with per-path request counting and the stats route. */
function countingHandler(providerHandler) {
  const counts = new Map();
  const lastQueries = new Map();
  return (req, res) => {
    const { pathname } = new URL(req.url, 'http://placeholder');
    if (req.method === 'GET' && pathname === STATS_PATH) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({
        counts: Object.fromEntries(counts),
        last_query: Object.fromEntries(lastQueries),
        last_form: Object.fromEntries(lastForms),
      }));
      return;
    }
    const key = requestKey(req.method, req.url);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const queryStart = req.url.indexOf('?');
    lastQueries.set(key, queryStart === -1 ? '' : req.url.slice(queryStart + 1));
    providerHandler(req, res);
  };
}

async function main() {
  const options = parseOptions(USAGE, {
    workdir: { type: 'string' },
    port: { type: 'string' },
    issuer: { type: 'string' },
    mode: { type: 'string', default: 'native' },
    'client-auth': { type: 'string', default: 'post' },
  });
  requireOptions(USAGE, options, ['workdir', 'port', 'issuer']);
  const buildConfiguration = MODES[options.mode];
  if (!buildConfiguration) {
    throw new Error(`unknown --mode ${options.mode}; one of ${Object.keys(MODES).join(', ')}`);
  }
  const port = Number.parseInt(options.port, 10);

  const client = await readClientDescription(options.workdir);
  const configuration = await buildConfiguration(
    options.workdir,
    client,
    await generateProviderSigningJwk(),
    { clientAuth: options['client-auth'] },
  );
  const provider = new Provider(options.issuer, configuration);
  provider.use(recordFormNames);
  provider.on('server_error', (_ctx, error) => {
    process.stderr.write(`provider server_error: ${error.stack ?? error}\n`);
  });
  for (const event of ['authorization.error', 'pushed_authorization_request.error',
    'grant.error', 'introspection.error', 'revocation.error', 'userinfo.error']) {
    provider.on(event, (_ctx, error) => {
      process.stderr.write(`provider ${event}: ${error.name}: ${error.message}`
        + `${error.error_description ? ` (${error.error_description})` : ''}\n`);
    });
  }

  const server = createServer(countingHandler(provider.callback()));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  process.stdout.write(`${JSON.stringify({
    ready: true,
    mode: options.mode,
    client_auth: configuration.clientAuthMethods,
    port,
    issuer: provider.issuer,
  })}\n`);

  const shutdown = () => server.close(() => process.exit(0));
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((error) => {
  process.stderr.write(`provider.mjs: ${error.stack ?? error}\n`);
  process.exit(1);
});
