// The client side of jargate's end-to-end test: a real relying party (openid-client) configured
// for private_key_jwt client authentication, PAR and signed request objects (JAR), running the
// authorization-code flow against --issuer, which is jargate's proxy address (--via jargate) or
// oidc-provider itself (--via direct, to prove the flows without jargate).
//
// --mode names the provider configuration behind --issuer (provider.mjs --mode):
//   native  the provider knows JAR, PAR and private_key_jwt (jargate in `passthrough` mode).
//   legacy  it knows none of them, only a client secret (--client-auth post|basic, as given to
//           provider.mjs); jargate in `legacy` mode translates. The provider advertises no PAR
//           endpoint and no request objects; jargate adds them to the discovery document
//           (SPEC §1 `legacy.discovery`), so openid-client runs every flow from discovery alone,
//           with no hand-written metadata.
//
// Cases, each independent, all run even when one fails:
//   discovery                  (via jargate) the JWK Set through jargate is the provider's own,
//                              and so is the discovery document natively; in legacy it is the
//                              provider's plus the PAR endpoint, request objects, the
//                              algorithms and private_key_jwt, every other member unchanged.
//   par_flow                   PAR carrying a request object -> /authorize?request_uri -> login +
//                              consent -> callback -> token exchange with a client assertion ->
//                              ID token verified (signature and claims) -> userinfo.
//   request_by_value_flow      the same with `request=` by value on /authorize, no PAR.
//   outside_parameters         `request=` plus one parameter outside the object that is identical
//                              to its claim and one that is not in it (jargate strips that one).
//   tampered_request_object    /authorize with a request object whose payload was changed after
//                              signing.
//   replayed_client_assertion  par_flow's token request sent again, byte for byte.
//   request_uri_redeemed_twice (legacy via jargate, where jargate keeps pushed requests) one PAR
//                              request_uri used at /authorize twice: the second is refused.
//   missing_request_object     a plain /authorize although the client must sign its requests.
//   dpop_flow                  (native via jargate) par_flow with DPoP proofs at PAR and token:
//                              token_type DPoP, the token's cnf.jkt (introspection) is the
//                              thumbprint of the client's DPoP key, and the token request's
//                              proof sent again with a fresh client assertion is refused by
//                              jargate (invalid_dpop_proof) before the provider sees it.
// Every flow checks what the provider received: at /authorize the query exactly as sent (native),
// or a plain query rebuilt from the request object's claims (legacy: no `request`, no
// `request_uri`); at the token endpoint the names of the body parameters and the Authorization
// scheme (client assertion natively; client_secret_post or client_secret_basic in legacy, and no
// client assertion left).
// --via jargate: the negative cases must get jargate's SPEC §6 error and must not reach the
// provider (its per-path request counts, from provider.mjs's stats route, stay unchanged).
// --via direct: they must be refused by the provider itself (proves the inputs are invalid).
//
// --mode legacy --via direct is the control for the legacy provider alone; its client is a plain
// confidential client with the secret (keys/upstream-client-secret.txt):
//   plain_flow                         a plain authorization request, client_secret_post or
//                                      client_secret_basic at the token endpoint, ID token,
//                                      userinfo.
//   provider_refuses_request_object    a signed request object on /authorize.
//   provider_refuses_par               a pushed authorization request.
//   provider_refuses_client_assertion  a private_key_jwt client assertion at the token endpoint.
// The refusals prove that what succeeds through jargate needed jargate's translation.
//
// Prints one JSON line {"ok":..., "cases":[...]} at the end (no tokens, keys or secrets) and
// exits 1 when any case failed.
//
// usage: node flow.mjs --workdir DIR --issuer URL --provider URL [--via jargate|direct]
//                      [--mode native|legacy] [--client-auth post|basic]

import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import * as jose from 'jose';
import * as client from 'openid-client';

import { authorizeInteractively } from './user-agent.mjs';
import {
  parseOptions, readClientDescription, readJson, requireOptions, workdirPaths,
} from './workdir.mjs';

const USAGE = 'node flow.mjs --workdir DIR --issuer URL --provider URL [--via jargate|direct]'
  + ' [--mode native|legacy] [--client-auth post|basic]';
const LOGIN = 'alice';
const SCOPE = 'openid email';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';
/** jargate's default limits (SPEC §3 [limits]) that openid-client's defaults must satisfy. */
const MAX_ASSERTION_LIFETIME_SECS = 300;
const MAX_REQUEST_OBJECT_LIFETIME_SECS = 3600;
/** jargate's default `par.request_uri_ttl_secs` (SPEC §3), the `expires_in` of its PAR answers. */
const JARGATE_PAR_TTL_SECS = 30;
/** JWT claims jargate drops when it turns a request object into a plain query (SPEC §1). */
const JWT_CLAIMS = ['iss', 'aud', 'exp', 'iat', 'nbf', 'jti'];
/** Every alg jargate verifies (SPEC §4), as its legacy discovery documents advertise them. */
const JARGATE_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];
/** The token request parameters of the authorization-code grant with PKCE (RFC 6749, 7636). */
const CODE_GRANT_PARAMETERS = ['code', 'code_verifier', 'grant_type', 'redirect_uri'];

/** Everything the cases share: the client configuration, keys and a log of its requests. */
class Harness {
  constructor(fields) {
    Object.assign(this, fields);
    this.viaJargate = this.via === 'jargate';
    this.legacy = this.mode === 'legacy';
    // jargate translates JAR / PAR / private_key_jwt for the provider (SPEC §1 `legacy`).
    this.translated = this.legacy && this.viaJargate;
    // How the provider sees the client authenticate at its token endpoint.
    this.upstreamAuthMethod = this.legacy
      ? { post: 'client_secret_post', basic: 'client_secret_basic' }[this.clientAuth]
      : 'private_key_jwt';
    // How the client (openid-client) authenticates: a plain secret only in the legacy control.
    this.clientAuthMethod = this.legacy && !this.viaJargate
      ? this.upstreamAuthMethod
      : 'private_key_jwt';
  }

  static async create(options) {
    const description = await readClientDescription(options.workdir);
    const paths = workdirPaths(options.workdir);
    const authJwk = await readJson(paths.authPrivateJwk);
    const jarJwk = await readJson(paths.jarPrivateJwk);
    const authKey = { key: await jose.importJWK(authJwk, authJwk.alg), kid: authJwk.kid };
    const jarKey = { key: await jose.importJWK(jarJwk, jarJwk.alg), kid: jarJwk.kid };
    const harness = new Harness({
      description,
      authKey,
      jarKey,
      issuer: options.issuer,
      providerUrl: options.provider,
      via: options.via,
      mode: options.mode,
      clientAuth: options['client-auth'],
      // Every request openid-client sends (PAR, token, jwks, userinfo) is recorded with its
      // response status for the checks on its client assertions and for the replay case.
      sentRequests: [],
    });
    harness.config = await harness.configure(paths);
    return harness;
  }

  /** The openid-client configuration, from discovery alone (through jargate: also in legacy). */
  async configure(paths) {
    const recordingFetch = async (url, init) => {
      const sent = {
        url: new URL(url), method: init?.method ?? 'GET', body: init?.body?.toString() ?? '',
        // A DPoP proof is single use and proves nothing once used: kept for the replay case.
        dpop: new Headers(init?.headers ?? {}).get('dpop'),
      };
      this.sentRequests.push(sent);
      const response = await fetch(url, init);
      sent.status = response.status;
      if (sent.url.pathname === '/oauth/par') {
        // A PAR answer holds no secret: { request_uri, expires_in }.
        sent.responseBody = await response.clone().text();
      }
      return response;
    };
    const clientMetadata = { id_token_signed_response_alg: 'RS256' };
    let clientAuthentication = client.PrivateKeyJwt(this.authKey);
    if (this.clientAuthMethod !== 'private_key_jwt') {
      // The legacy control: a plain confidential client. The secret stays in this process.
      const secret = (await readFile(paths.upstreamClientSecret, 'utf8')).trim();
      clientAuthentication = this.clientAuthMethod === 'client_secret_basic'
        ? client.ClientSecretBasic(secret)
        : client.ClientSecretPost(secret);
    }
    const fetchOptions = {
      execute: [client.allowInsecureRequests], [client.customFetch]: recordingFetch,
    };
    const config = await client.discovery(
      new URL(this.issuer),
      this.description.client_id,
      clientMetadata,
      clientAuthentication,
      fetchOptions,
    );
    assert.equal(config.serverMetadata().issuer, this.issuer, 'discovered issuer');

    // Verify the ID token's signature too, against the provider's jwks_uri.
    client.enableNonRepudiationChecks(config);
    return config;
  }

  /** Fresh authorization parameters with PKCE, state and nonce. */
  async newAuthorizationRequest() {
    const codeVerifier = client.randomPKCECodeVerifier();
    const checks = {
      pkceCodeVerifier: codeVerifier,
      expectedState: client.randomState(),
      expectedNonce: client.randomNonce(),
      idTokenExpected: true,
    };
    const parameters = {
      redirect_uri: this.description.redirect_uri,
      scope: SCOPE,
      state: checks.expectedState,
      nonce: checks.expectedNonce,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    };
    return { parameters, checks };
  }

  /** A URL to /authorize carrying `client_id` and a signed request object by value. */
  async requestObjectUrl(parameters) {
    return client.buildAuthorizationUrlWithJAR(this.config, parameters, this.jarKey);
  }

  /**
   * The provider's request statistics, read directly (not through jargate): `counts` per
   * "METHOD /path", `last_query`, the raw query string last received per "METHOD /path", and
   * `last_form`, the names of the body parameters last received per "METHOD /path".
   */
  async providerStats() {
    const response = await fetch(new URL('/__e2e/requests', this.providerUrl));
    assert.equal(response.status, 200, 'provider stats route');
    return response.json();
  }

  async providerCounts() {
    return (await this.providerStats()).counts;
  }

  lastSent(method, pathname) {
    const found = this.sentRequests.findLast(
      (request) => request.method === method && request.url.pathname === pathname,
    );
    assert.ok(found, `openid-client sent no ${method} ${pathname}`);
    return found;
  }
}

function discoveryUrl(issuer) {
  return `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

async function fetchJson(url) {
  const response = await fetch(url);
  assert.equal(response.status, 200, `GET ${url}`);
  return response.json();
}

/**
 * GET a JSON document from `url` with the Host header `host` (fetch does not let a caller set
 * Host): what the provider answers to a request that jargate forwards with the client's Host.
 */
function getJsonWithHost(url, host) {
  return new Promise((resolve, reject) => {
    const request = httpGet(url, { headers: { host } }, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        try {
          assert.equal(response.statusCode, 200, `GET ${url} (Host: ${host})`);
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (error) {
          reject(error);
        }
      });
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** Differences between two count snapshots: { "POST /oauth/token": 1, ... }. */
function countsDelta(before, after) {
  const delta = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const difference = (after[key] ?? 0) - (before[key] ?? 0);
    if (difference !== 0) delta[key] = difference;
  }
  return delta;
}

/** The `name=value` pieces of a raw query string, sorted; bytes untouched. */
function queryPieces(rawQuery) {
  return rawQuery.split('&').filter((piece) => piece !== '').sort();
}

/** Asserts that the provider's last GET /authorize carried exactly `expectedQuery`'s pieces. */
async function assertProviderQuery(harness, expectedQuery) {
  const received = (await harness.providerStats()).last_query['GET /authorize'] ?? '';
  assert.deepEqual(
    queryPieces(received),
    queryPieces(expectedQuery),
    'the query string the provider received at /authorize (original bytes, order aside)',
  );
}

/**
 * The plain authorization parameters jargate must forward for a request object in legacy mode
 * (SPEC §1): every claim but the JWT ones; strings as they are, others as compact JSON.
 */
function translatedParameters(requestObject) {
  const claims = jose.decodeJwt(requestObject);
  return Object.entries(claims)
    .filter(([name]) => !JWT_CLAIMS.includes(name))
    .map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)]);
}

/**
 * Legacy via jargate: asserts that the provider's last GET /authorize carried a plain query with
 * exactly the request object's translated parameters, `client_id` first, and the authorization
 * `parameters` the client signed among them. Returns the parameter names received.
 */
async function assertProviderTranslatedQuery(harness, requestObject, parameters) {
  const received = (await harness.providerStats()).last_query['GET /authorize'] ?? '';
  const receivedPairs = [...new URLSearchParams(received)];
  const names = receivedPairs.map(([name]) => name);
  const context = `received names: ${names.join(', ')}`;
  assert.ok(!names.includes('request'), `the provider received a request object: ${context}`);
  assert.ok(!names.includes('request_uri'), `the provider received a request_uri: ${context}`);
  assert.equal(new Set(names).size, names.length, `a parameter repeated: ${context}`);
  assert.equal(names[0], 'client_id', `client_id first (SPEC §1): ${context}`);
  const byName = Object.fromEntries(receivedPairs);
  assert.equal(byName.client_id, harness.description.client_id, 'forwarded client_id');
  assert.equal(byName.response_type, 'code', 'forwarded response_type');
  for (const [name, value] of Object.entries(parameters)) {
    assert.equal(byName[name], value, `forwarded ${name}`);
  }
  const sortPairs = (pairs) => pairs.map((pair) => JSON.stringify(pair)).sort();
  assert.deepEqual(
    sortPairs(receivedPairs),
    sortPairs(translatedParameters(requestObject)),
    'the provider received exactly the request object\'s claims minus the JWT claims',
  );
  return names;
}

/**
 * Asserts how the client authenticated at the provider's token endpoint, from the names of the
 * body parameters the provider parsed and the Authorization scheme. Returns that record.
 */
async function assertProviderTokenRequest(harness) {
  const form = (await harness.providerStats()).last_form['POST /oauth/token'];
  assert.ok(form, 'the provider recorded no token request');
  const names = new Set(form.names);
  const context = JSON.stringify(form);
  for (const name of CODE_GRANT_PARAMETERS) {
    assert.ok(names.has(name), `token request without ${name}: ${context}`);
  }
  const expectPresent = (name, present) => assert.equal(
    names.has(name),
    present,
    `token request ${present ? 'without' : 'with'} ${name} (${harness.upstreamAuthMethod}): ${
      context}`,
  );
  switch (harness.upstreamAuthMethod) {
    case 'private_key_jwt':
      expectPresent('client_assertion', true);
      expectPresent('client_assertion_type', true);
      expectPresent('client_secret', false);
      assert.equal(form.authorization_scheme, null, `Authorization header: ${context}`);
      break;
    case 'client_secret_post':
      expectPresent('client_id', true);
      expectPresent('client_secret', true);
      expectPresent('client_assertion', false);
      expectPresent('client_assertion_type', false);
      assert.equal(form.authorization_scheme, null, `Authorization header: ${context}`);
      break;
    case 'client_secret_basic':
      // The id and secret travel in the header only (jargate removes the body's client_id).
      expectPresent('client_id', false);
      expectPresent('client_secret', false);
      expectPresent('client_assertion', false);
      expectPresent('client_assertion_type', false);
      assert.equal(form.authorization_scheme, 'Basic', `Authorization header: ${context}`);
      break;
    default:
      assert.fail(`unknown upstream client authentication ${harness.upstreamAuthMethod}`);
  }
  return form;
}

/** Checks a client assertion against jargate's rules that openid-client's defaults must meet. */
function checkClientAssertion(harness, assertion) {
  const header = jose.decodeProtectedHeader(assertion);
  const claims = jose.decodeJwt(assertion);
  const clientId = harness.description.client_id;
  assert.equal(header.alg, harness.description.auth.alg, 'assertion alg');
  assert.equal(header.kid, harness.description.auth.kid, 'assertion kid');
  assert.equal(claims.iss, clientId, 'assertion iss');
  assert.equal(claims.sub, clientId, 'assertion sub');
  assert.equal(claims.aud, harness.issuer, 'assertion aud is the issuer identifier');
  assert.ok(typeof claims.jti === 'string' && claims.jti.length <= 64, 'assertion jti');
  const lifetime = claims.exp - Math.max(claims.iat ?? 0, claims.nbf ?? 0);
  assert.ok(
    lifetime > 0 && lifetime <= MAX_ASSERTION_LIFETIME_SECS,
    `assertion lifetime ${lifetime}`,
  );
  return { alg: header.alg, lifetime_secs: lifetime };
}

/** Checks a request object against jargate's rules that openid-client's defaults must meet. */
function checkRequestObject(harness, requestObject) {
  const header = jose.decodeProtectedHeader(requestObject);
  const claims = jose.decodeJwt(requestObject);
  const clientId = harness.description.client_id;
  assert.equal(header.alg, harness.description.jar.alg, 'request object alg');
  assert.equal(header.kid, harness.description.jar.kid, 'request object kid');
  assert.equal(claims.client_id, clientId, 'request object client_id');
  assert.equal(claims.iss, clientId, 'request object iss');
  assert.equal(claims.aud, harness.issuer, 'request object aud is the issuer identifier');
  assert.equal(claims.response_type, 'code', 'request object response_type');
  assert.notEqual(claims.sub, clientId, 'request object must not carry sub = client_id');
  assert.equal(typeof claims.exp, 'number', 'request object exp');
  const lifetime = claims.exp - Math.max(claims.iat ?? 0, claims.nbf ?? 0);
  assert.ok(
    lifetime > 0 && lifetime <= MAX_REQUEST_OBJECT_LIFETIME_SECS,
    `request object lifetime ${lifetime}`,
  );
  return { alg: header.alg, typ: header.typ, lifetime_secs: lifetime };
}

/**
 * Checks openid-client's PAR exchange: 201 with a PAR `request_uri` (RFC 9126 §2.2), answered by
 * jargate itself in legacy mode (its URN with 128 random bits, its TTL).
 */
function checkParResponse(harness, parRequest, authorizationUrl) {
  assert.equal(parRequest.status, 201, 'PAR status');
  const body = JSON.parse(parRequest.responseBody);
  assert.ok(
    body.request_uri?.startsWith(REQUEST_URI_PREFIX),
    `PAR request_uri: ${body.request_uri}`,
  );
  assert.equal(authorizationUrl.searchParams.get('request_uri'), body.request_uri,
    'the authorization URL carries the pushed request_uri');
  assert.equal(typeof body.expires_in, 'number', 'PAR expires_in');
  if (harness.translated) {
    assert.equal(body.expires_in, JARGATE_PAR_TTL_SECS, 'jargate\'s PAR expires_in');
    const random = body.request_uri.slice(REQUEST_URI_PREFIX.length);
    assert.match(random, /^[A-Za-z0-9_-]{22,}$/, 'at least 128 random bits, base64url');
  }
  return { status: parRequest.status, expires_in: body.expires_in };
}

/**
 * From an authorization URL to verified tokens: interactive login and consent, callback, token
 * exchange (private_key_jwt, or the plain secret in the legacy control), ID token signature and
 * claims, userinfo.
 */
async function completeAuthorization(harness, authorizationUrl, checks) {
  const { callbackUrl, trail } = await authorizeInteractively(
    authorizationUrl,
    harness.description.redirect_uri,
    { login: LOGIN },
  );
  const callbackError = callbackUrl.searchParams.get('error');
  assert.equal(callbackError, null, `authorization error: ${callbackError}: ${
    callbackUrl.searchParams.get('error_description')}`);

  const tokens = await client.authorizationCodeGrant(harness.config, callbackUrl, checks);
  const tokenRequest = harness.lastSent('POST', '/oauth/token');
  const tokenForm = new URLSearchParams(tokenRequest.body);
  let assertion;
  if (harness.clientAuthMethod === 'private_key_jwt') {
    assert.equal(tokenForm.get('client_assertion_type'), ASSERTION_TYPE, 'assertion type');
    assertion = checkClientAssertion(harness, tokenForm.get('client_assertion'));
  }
  const providerTokenRequest = await assertProviderTokenRequest(harness);

  // authorizationCodeGrant verified the ID token (signature via enableNonRepudiationChecks,
  // iss, aud, exp, iat, nonce); the claims are checked here once more, explicitly.
  const idToken = tokens.claims();
  assert.ok(idToken, 'an ID token was issued');
  assert.equal(idToken.iss, harness.issuer, 'ID token iss');
  assert.deepEqual([idToken.aud].flat(), [harness.description.client_id], 'ID token aud');
  assert.equal(idToken.sub, LOGIN, 'ID token sub');
  assert.equal(idToken.nonce, checks.expectedNonce, 'ID token nonce');
  assert.equal(tokens.token_type.toLowerCase(), 'bearer', 'token_type');
  assert.equal(typeof tokens.access_token, 'string', 'access token');

  const userinfo = await client.fetchUserInfo(harness.config, tokens.access_token, idToken.sub);
  assert.equal(userinfo.email, `${LOGIN}@example.test`, 'userinfo email');

  return {
    trail,
    token_request: tokenRequest,
    details: {
      id_token: { sub: idToken.sub, aud: idToken.aud, iss: idToken.iss },
      scope: tokens.scope,
      client_assertion: assertion,
      provider_token_request: providerTokenRequest,
      userinfo_email: userinfo.email,
    },
  };
}

/** Asserts that a positive flow reached the provider through each of `expectedPaths`. */
function assertReachedProvider(delta, expectedPaths) {
  for (const path of expectedPaths) {
    assert.ok((delta[path] ?? 0) >= 1, `the provider never saw ${path}: ${JSON.stringify(delta)}`);
  }
}

/**
 * Asserts a refusal. Through jargate: SPEC §6 status, JSON body with `error`, no-store, and the
 * provider saw nothing. Directly: the provider refused (no authorization code, no tokens) with
 * `expected.providerError` when given.
 */
async function assertRefused(harness, response, countsBefore, expected) {
  const text = await response.text();
  const observed = {
    status: response.status,
    content_type: response.headers.get('content-type'),
    cache_control: response.headers.get('cache-control'),
    body: text.slice(0, 300),
  };
  const delta = countsDelta(countsBefore, await harness.providerCounts());
  if (harness.viaJargate) {
    const context = JSON.stringify(observed);
    assert.equal(response.status, expected.status, `status: ${context}`);
    assert.match(observed.content_type ?? '', /^application\/json/i, `content type: ${context}`);
    assert.match(observed.cache_control ?? '', /no-store/i, `cache-control: ${context}`);
    const body = JSON.parse(text);
    assert.equal(body.error, expected.error, `error: ${context}`);
    assert.equal(typeof body.error_description, 'string', `error_description: ${context}`);
    assert.deepEqual(delta, {}, 'the provider received the refused request');
    return { ...observed, body, provider_requests_delta: delta };
  }
  const location = response.headers.get('location');
  if (location) {
    const redirect = new URL(location, harness.issuer);
    assert.ok(redirect.searchParams.has('error'), `provider redirected without error: ${location}`);
    assert.ok(!redirect.searchParams.has('code'), 'provider issued a code');
    observed.redirect_error = redirect.searchParams.get('error');
  } else {
    assert.ok(response.status >= 400, `provider accepted: ${JSON.stringify(observed)}`);
  }
  if (expected.providerError) {
    let error = observed.redirect_error;
    if (error === undefined) {
      try {
        error = JSON.parse(text).error;
      } catch {
        // Not JSON (an error page): no error code to compare, the check below fails.
      }
    }
    assert.equal(error, expected.providerError,
      `the provider's error: ${JSON.stringify(observed)}`);
  }
  return { ...observed, provider_requests_delta: delta };
}

/**
 * Asserts what the provider received at /authorize: the query as sent (native), or the request
 * object's parameters as a plain query (legacy via jargate). Returns the forwarded names.
 */
async function assertProviderAuthorization(harness, authorizationUrl, requestObject, parameters) {
  if (harness.translated) {
    return assertProviderTranslatedQuery(harness, requestObject, parameters);
  }
  const sent = authorizationUrl.search.slice(1);
  await assertProviderQuery(harness, sent);
  return [...new URLSearchParams(sent).keys()];
}

/** Case: PAR with a request object, then the whole code flow. */
async function parFlow(harness) {
  const { parameters, checks } = await harness.newAuthorizationRequest();
  const countsBefore = await harness.providerCounts();
  const { searchParams: jarParameters } = await harness.requestObjectUrl(parameters);
  const authorizationUrl = await client.buildAuthorizationUrlWithPAR(harness.config, jarParameters);
  assert.ok(authorizationUrl.searchParams.get('request_uri')
    ?.startsWith(REQUEST_URI_PREFIX), 'PAR request_uri');

  const parRequest = harness.lastSent('POST', '/oauth/par');
  const par = checkParResponse(harness, parRequest, authorizationUrl);
  const parForm = new URLSearchParams(parRequest.body);
  const requestObject = parForm.get('request');
  const requestObjectChecks = checkRequestObject(harness, requestObject);
  const parAssertion = checkClientAssertion(harness, parForm.get('client_assertion'));

  const completed = await completeAuthorization(harness, authorizationUrl, checks);
  const forwarded = await assertProviderAuthorization(
    harness, authorizationUrl, requestObject, parameters,
  );
  const delta = countsDelta(countsBefore, await harness.providerCounts());
  if (harness.translated) {
    assertReachedProvider(delta, ['GET /authorize', 'POST /oauth/token']);
    assert.equal(delta['POST /oauth/par'], undefined, 'jargate answers PAR itself');
  } else {
    assertReachedProvider(delta, ['POST /oauth/par', 'GET /authorize', 'POST /oauth/token']);
  }
  harness.parFlowTokenRequest = completed.token_request;
  return {
    ...completed.details,
    par,
    request_object: requestObjectChecks,
    par_client_assertion: parAssertion,
    forwarded_authorization_parameters: forwarded,
    trail: completed.trail,
    provider_requests_delta: delta,
  };
}

/** Case: request object by value on /authorize. */
async function requestByValueFlow(harness) {
  const { parameters, checks } = await harness.newAuthorizationRequest();
  const countsBefore = await harness.providerCounts();
  const authorizationUrl = await harness.requestObjectUrl(parameters);
  assert.deepEqual(
    [...authorizationUrl.searchParams.keys()].sort(),
    ['client_id', 'request'],
    'by-value authorization URL parameters',
  );
  const requestObject = authorizationUrl.searchParams.get('request');
  const requestObjectChecks = checkRequestObject(harness, requestObject);

  const completed = await completeAuthorization(harness, authorizationUrl, checks);
  const forwarded = await assertProviderAuthorization(
    harness, authorizationUrl, requestObject, parameters,
  );
  const delta = countsDelta(countsBefore, await harness.providerCounts());
  assertReachedProvider(delta, ['GET /authorize', 'POST /oauth/token']);
  assert.equal(delta['POST /oauth/par'], undefined, 'no PAR in the by-value flow');
  return {
    ...completed.details,
    request_object: requestObjectChecks,
    forwarded_authorization_parameters: forwarded,
    trail: completed.trail,
    provider_requests_delta: delta,
  };
}

/**
 * Case: parameters outside a request object (jargate's default `outside_parameters = "strip"`,
 * SPEC §5): one identical to the object's claim is forwarded, one absent from the object is
 * dropped. Directly, the provider receives both. In legacy mode the forwarded query is rebuilt
 * from the object alone. Only the forwarded query is checked; the interaction it starts is left
 * unfinished.
 */
async function outsideParameters(harness) {
  const { parameters } = await harness.newAuthorizationRequest();
  const authorizationUrl = await harness.requestObjectUrl(parameters);
  const signedQuery = authorizationUrl.search.slice(1);
  const identical = new URLSearchParams({ scope: parameters.scope }).toString();
  const extra = new URLSearchParams({ ui_locales: 'de' }).toString();
  const sentQuery = `${signedQuery}&${identical}&${extra}`;

  const countsBefore = await harness.providerCounts();
  const sentUrl = new URL(authorizationUrl);
  sentUrl.search = sentQuery;
  const response = await fetch(sentUrl, { redirect: 'manual' });
  await response.body?.cancel();
  const delta = countsDelta(countsBefore, await harness.providerCounts());
  assert.equal(delta['GET /authorize'], 1, `forwarded to the provider (status ${response.status})`);
  assert.equal(response.status, 303, 'the provider starts an interaction');
  let forwarded;
  if (harness.translated) {
    forwarded = await assertProviderTranslatedQuery(
      harness, authorizationUrl.searchParams.get('request'), parameters,
    );
    assert.ok(!forwarded.includes('ui_locales'), 'the outside parameter was dropped');
  } else {
    const expectedQuery = harness.viaJargate ? `${signedQuery}&${identical}` : sentQuery;
    await assertProviderQuery(harness, expectedQuery);
    forwarded = queryPieces(expectedQuery).map((piece) => piece.split('=')[0]);
  }
  return {
    sent_parameters: queryPieces(sentQuery).map((piece) => piece.split('=')[0]),
    forwarded_parameters: forwarded,
    status: response.status,
  };
}

/** Case: a request object whose payload was changed after it was signed. */
async function tamperedRequestObject(harness) {
  const { parameters } = await harness.newAuthorizationRequest();
  const authorizationUrl = await harness.requestObjectUrl(parameters);
  const [header, payload, signature] = authorizationUrl.searchParams.get('request').split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  claims.scope = `${claims.scope} offline_access`;
  const tamperedPayload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  authorizationUrl.searchParams.set('request', `${header}.${tamperedPayload}.${signature}`);

  const countsBefore = await harness.providerCounts();
  const response = await fetch(authorizationUrl, { redirect: 'manual' });
  return assertRefused(harness, response, countsBefore, {
    status: 400, error: 'invalid_request_object',
  });
}

/** Case: par_flow's token request (client assertion included) sent a second time. */
async function replayedClientAssertion(harness) {
  const original = harness.parFlowTokenRequest;
  assert.ok(original, 'par_flow did not complete a token request to replay');
  const countsBefore = await harness.providerCounts();
  const response = await fetch(original.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
      accept: 'application/json',
    },
    body: original.body,
    redirect: 'manual',
  });
  return assertRefused(harness, response, countsBefore, { status: 401, error: 'invalid_client' });
}

/**
 * Case (legacy via jargate): a request_uri from jargate's PAR is expanded once; the provider
 * receives the first use as a plain query (its interaction is left unfinished) and never sees
 * the second, which jargate refuses.
 */
async function requestUriRedeemedTwice(harness) {
  const { parameters } = await harness.newAuthorizationRequest();
  const { searchParams: jarParameters } = await harness.requestObjectUrl(parameters);
  const authorizationUrl = await client.buildAuthorizationUrlWithPAR(harness.config, jarParameters);
  const requestObject = new URLSearchParams(harness.lastSent('POST', '/oauth/par').body)
    .get('request');

  let countsBefore = await harness.providerCounts();
  const first = await fetch(authorizationUrl, { redirect: 'manual' });
  await first.body?.cancel();
  const delta = countsDelta(countsBefore, await harness.providerCounts());
  assert.deepEqual(delta, { 'GET /authorize': 1 }, `first use forwarded (status ${first.status})`);
  assert.equal(first.status, 303, 'the provider starts an interaction on the first use');
  await assertProviderTranslatedQuery(harness, requestObject, parameters);

  countsBefore = await harness.providerCounts();
  const second = await fetch(authorizationUrl, { redirect: 'manual' });
  const refused = await assertRefused(harness, second, countsBefore, {
    status: 400, error: 'invalid_request_uri',
  });
  return {
    first_use: { status: first.status, provider_requests_delta: delta },
    second_use: refused,
  };
}

/** Case: a plain authorization request from a client that must use request objects. */
async function missingRequestObject(harness) {
  const { parameters } = await harness.newAuthorizationRequest();
  const authorizationUrl = client.buildAuthorizationUrl(harness.config, parameters);
  const countsBefore = await harness.providerCounts();
  const response = await fetch(authorizationUrl, { redirect: 'manual' });
  return assertRefused(harness, response, countsBefore, { status: 400, error: 'invalid_request' });
}

/**
 * Case (via jargate): the JWK Set reaches the client exactly as the provider serves it for
 * jargate's Host (jargate forwards Host unchanged), and so does the discovery document natively.
 * In legacy mode the document is the provider's, which advertises none of PAR, request objects
 * or private_key_jwt, plus what jargate provides (SPEC §1 `discovery`), every other member kept.
 */
async function discovery(harness) {
  const { host } = new URL(harness.issuer);
  const throughJargate = await fetchJson(discoveryUrl(harness.issuer));
  const fromProvider = await getJsonWithHost(discoveryUrl(harness.providerUrl), host);
  let expected = fromProvider;
  if (harness.legacy) {
    assert.equal(fromProvider.pushed_authorization_request_endpoint, undefined, 'provider: no PAR');
    assert.notEqual(fromProvider.request_parameter_supported, true, 'provider: no request objects');
    assert.deepEqual(fromProvider.token_endpoint_auth_methods_supported,
      [harness.upstreamAuthMethod], 'the legacy provider\'s one client authentication method');
    expected = {
      ...fromProvider,
      pushed_authorization_request_endpoint: `${harness.issuer.replace(/\/$/, '')}/oauth/par`,
      request_parameter_supported: true,
      request_object_signing_alg_values_supported: JARGATE_ALGS,
      token_endpoint_auth_signing_alg_values_supported: JARGATE_ALGS,
      token_endpoint_auth_methods_supported: [harness.upstreamAuthMethod, 'private_key_jwt'],
    };
  }
  assert.deepEqual(throughJargate, expected, 'discovery document through jargate');
  assert.equal(throughJargate.issuer, harness.issuer, 'issuer');
  // The configuration openid-client discovered is the one the flows use.
  assert.deepEqual(
    harness.config.serverMetadata().pushed_authorization_request_endpoint,
    throughJargate.pushed_authorization_request_endpoint,
    'openid-client discovered the PAR endpoint',
  );
  const jwksPath = new URL(throughJargate.jwks_uri).pathname;
  assert.deepEqual(
    await fetchJson(new URL(jwksPath, harness.issuer)),
    await getJsonWithHost(new URL(jwksPath, harness.providerUrl), host),
    'JWK Set through jargate',
  );
  return {
    token_endpoint_auth_methods_supported: throughJargate.token_endpoint_auth_methods_supported,
    pushed_authorization_request_endpoint:
      throughJargate.pushed_authorization_request_endpoint ?? null,
    request_parameter_supported: throughJargate.request_parameter_supported ?? null,
  };
}

/** Legacy control case: a plain code flow with the client secret, no JAR, PAR or assertion. */
async function plainFlow(harness) {
  const { parameters, checks } = await harness.newAuthorizationRequest();
  const countsBefore = await harness.providerCounts();
  const authorizationUrl = client.buildAuthorizationUrl(harness.config, parameters);
  const completed = await completeAuthorization(harness, authorizationUrl, checks);
  await assertProviderQuery(harness, authorizationUrl.search.slice(1));
  const delta = countsDelta(countsBefore, await harness.providerCounts());
  assertReachedProvider(delta, ['GET /authorize', 'POST /oauth/token']);
  return { ...completed.details, trail: completed.trail, provider_requests_delta: delta };
}

/** Legacy control case: the provider refuses a request object. */
async function providerRefusesRequestObject(harness) {
  const { parameters } = await harness.newAuthorizationRequest();
  const authorizationUrl = await harness.requestObjectUrl(parameters);
  const countsBefore = await harness.providerCounts();
  const response = await fetch(authorizationUrl, { redirect: 'manual' });
  return assertRefused(harness, response, countsBefore, { providerError: 'request_not_supported' });
}

/** Legacy control case: the provider has no PAR endpoint. */
async function providerRefusesPar(harness) {
  const { parameters } = await harness.newAuthorizationRequest();
  const { searchParams } = await harness.requestObjectUrl(parameters);
  const body = new URLSearchParams(searchParams);
  body.set('client_assertion_type', ASSERTION_TYPE);
  body.set('client_assertion', await signClientAssertion(harness));
  const countsBefore = await harness.providerCounts();
  const response = await fetch(new URL('/oauth/par', harness.issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  assert.equal(response.status, 404, 'no PAR route at the legacy provider');
  return assertRefused(harness, response, countsBefore, {});
}

/** Legacy control case: the provider refuses private_key_jwt at its token endpoint. */
async function providerRefusesClientAssertion(harness) {
  const countsBefore = await harness.providerCounts();
  const response = await fetch(new URL('/oauth/token', harness.issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: 'not-a-code',
      redirect_uri: harness.description.redirect_uri,
      code_verifier: client.randomPKCECodeVerifier(),
      client_id: harness.description.client_id,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await signClientAssertion(harness),
    }),
  });
  return assertRefused(harness, response, countsBefore, { providerError: 'invalid_client' });
}

/** Case (native via jargate): a DPoP-bound token through jargate, then a replayed proof. */
async function dpopFlow(harness) {
  const { parameters, checks } = await harness.newAuthorizationRequest();
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const DPoP = client.getDPoPHandle(harness.config, keyPair);
  const { searchParams: jarParameters } = await harness.requestObjectUrl(parameters);
  const authorizationUrl = await client.buildAuthorizationUrlWithPAR(
    harness.config, jarParameters, { DPoP },
  );
  assert.ok(harness.lastSent('POST', '/oauth/par').dpop, 'a DPoP proof at PAR');
  const { callbackUrl } = await authorizeInteractively(
    authorizationUrl, harness.description.redirect_uri, { login: LOGIN },
  );
  const tokens = await client.authorizationCodeGrant(
    harness.config, callbackUrl, checks, undefined, { DPoP },
  );
  assert.equal(tokens.token_type.toLowerCase(), 'dpop', 'token_type');
  const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey));
  const introspection = await client.tokenIntrospection(harness.config, tokens.access_token);
  assert.equal(introspection.active, true, 'introspection: active');
  assert.equal(introspection.cnf?.jkt, jkt, 'cnf.jkt is the DPoP key thumbprint');

  const tokenRequest = harness.lastSent('POST', '/oauth/token');
  assert.ok(tokenRequest.dpop, 'a DPoP proof at the token endpoint');
  const form = new URLSearchParams(tokenRequest.body);
  form.set('client_assertion', await signClientAssertion(harness));
  const countsBefore = await harness.providerCounts();
  const response = await fetch(tokenRequest.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded;charset=UTF-8',
      accept: 'application/json',
      dpop: tokenRequest.dpop,
    },
    body: form.toString(),
    redirect: 'manual',
  });
  const refused = await assertRefused(harness, response, countsBefore, {
    status: 400, error: 'invalid_dpop_proof',
  });
  return { token_type: tokens.token_type, cnf_jkt_matches: true, replayed_proof: refused };
}

/** A client assertion as openid-client makes them (RFC 7523 §3), for the legacy control. */
async function signClientAssertion(harness) {
  const clientId = harness.description.client_id;
  return new jose.SignJWT({})
    .setProtectedHeader({ alg: harness.description.auth.alg, kid: harness.authKey.kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(harness.issuer)
    .setJti(client.randomState())
    .setIssuedAt()
    .setExpirationTime('60s')
    .sign(harness.authKey.key);
}

const NATIVE_CASES = [
  ['par_flow', parFlow],
  ['request_by_value_flow', requestByValueFlow],
  ['outside_parameters', outsideParameters],
  ['tampered_request_object', tamperedRequestObject],
  ['replayed_client_assertion', replayedClientAssertion],
  ['missing_request_object', missingRequestObject],
];

/** The cases for a provider mode and a route to it. */
function casesFor(mode, via) {
  if (mode === 'legacy' && via === 'direct') {
    return [
      ['plain_flow', plainFlow],
      ['provider_refuses_request_object', providerRefusesRequestObject],
      ['provider_refuses_par', providerRefusesPar],
      ['provider_refuses_client_assertion', providerRefusesClientAssertion],
    ];
  }
  const cases = [...NATIVE_CASES];
  if (via === 'jargate') {
    cases.unshift(['discovery', discovery]);
    if (mode === 'native') {
      cases.push(['dpop_flow', dpopFlow]);
    }
  }
  if (mode === 'legacy') {
    // After replayed_client_assertion, before missing_request_object.
    cases.splice(cases.length - 1, 0, ['request_uri_redeemed_twice', requestUriRedeemedTwice]);
  }
  return cases;
}

function describeError(error) {
  const parts = [error.message];
  if (error.code) parts.push(`code=${error.code}`);
  if (error.error) parts.push(`error=${error.error}`);
  if (error.error_description) parts.push(`error_description=${error.error_description}`);
  if (error.status) parts.push(`status=${error.status}`);
  if (error.cause?.message) parts.push(`cause=${error.cause.message}`);
  return parts.join('; ');
}

async function main() {
  const options = parseOptions(USAGE, {
    workdir: { type: 'string' },
    issuer: { type: 'string' },
    provider: { type: 'string' },
    via: { type: 'string', default: 'jargate' },
    mode: { type: 'string', default: 'native' },
    'client-auth': { type: 'string', default: 'post' },
  });
  requireOptions(USAGE, options, ['workdir', 'issuer', 'provider']);
  if (!['jargate', 'direct'].includes(options.via)) {
    throw new Error(`--via must be jargate or direct, not ${options.via}`);
  }
  if (!['native', 'legacy'].includes(options.mode)) {
    throw new Error(`--mode must be native or legacy, not ${options.mode}`);
  }
  if (!['post', 'basic'].includes(options['client-auth'])) {
    throw new Error(`--client-auth must be post or basic, not ${options['client-auth']}`);
  }

  const harness = await Harness.create(options);
  const results = [];
  for (const [name, run] of casesFor(options.mode, options.via)) {
    try {
      results.push({ name, ok: true, details: await run(harness) });
    } catch (error) {
      results.push({ name, ok: false, error: describeError(error) });
    }
  }
  const ok = results.every((result) => result.ok);
  process.stdout.write(`${JSON.stringify({
    ok,
    via: options.via,
    mode: options.mode,
    upstream_client_auth: harness.upstreamAuthMethod,
    issuer: options.issuer,
    passed: results.filter((result) => result.ok).length,
    failed: results.filter((result) => !result.ok).length,
    cases: results,
    provider_requests: await harness.providerCounts(),
  })}\n`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((error) => {
  process.stdout.write(`${JSON.stringify({ ok: false, error: describeError(error) })}\n`);
  process.exitCode = 1;
});
