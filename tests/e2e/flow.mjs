// The client side of jargate's end-to-end test: a real relying party (openid-client) configured
// for private_key_jwt client authentication, PAR and signed request objects (JAR), running the
// authorization-code flow against --issuer, which is jargate's proxy address (--via jargate) or
// oidc-provider itself (--via direct, to prove the flows without jargate).
//
// Cases, each independent, all run even when one fails:
//   par_flow                   PAR carrying a request object -> /authorize?request_uri -> login +
//                              consent -> callback -> token exchange with a client assertion ->
//                              ID token verified (signature and claims) -> userinfo.
//   request_by_value_flow      the same with `request=` by value on /authorize, no PAR.
//   outside_parameters         `request=` plus one parameter outside the object that is identical
//                              to its claim and one that is not in it (jargate strips that one).
//   tampered_request_object    /authorize with a request object whose payload was changed after
//                              signing.
//   replayed_client_assertion  par_flow's token request sent again, byte for byte.
//   missing_request_object     a plain /authorize although the client must sign its requests.
// --via jargate: the negative cases must get jargate's SPEC §6 error and must not reach the
// provider (its per-path request counts, from provider.mjs's stats route, stay unchanged).
// Both flows also check that the provider received /authorize's query exactly as sent.
// --via direct: they must be refused by the provider itself (proves the inputs are invalid).
//
// Prints one JSON line {"ok":..., "cases":[...]} at the end (no tokens or keys) and exits 1 when
// any case failed.
//
// usage: node flow.mjs --workdir DIR --issuer URL --provider URL [--via jargate|direct]

import { strict as assert } from 'node:assert';
import * as jose from 'jose';
import * as client from 'openid-client';

import { authorizeInteractively } from './user-agent.mjs';
import {
  parseOptions, readClientDescription, readJson, requireOptions, workdirPaths,
} from './workdir.mjs';

const USAGE = 'node flow.mjs --workdir DIR --issuer URL --provider URL [--via jargate|direct]';
const LOGIN = 'alice';
const SCOPE = 'openid email';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** jargate's default limits (SPEC §3 [limits]) that openid-client's defaults must satisfy. */
const MAX_ASSERTION_LIFETIME_SECS = 300;
const MAX_REQUEST_OBJECT_LIFETIME_SECS = 3600;

/** Everything the cases share: the client configuration, keys and a log of its requests. */
class Harness {
  constructor({
    config, jarKey, description, issuer, providerUrl, via, sentRequests,
  }) {
    Object.assign(this, {
      config, jarKey, description, issuer, providerUrl, via, sentRequests,
    });
    this.viaJargate = via === 'jargate';
  }

  static async create(options) {
    const description = await readClientDescription(options.workdir);
    const paths = workdirPaths(options.workdir);
    const authJwk = await readJson(paths.authPrivateJwk);
    const jarJwk = await readJson(paths.jarPrivateJwk);
    const authKey = { key: await jose.importJWK(authJwk, authJwk.alg), kid: authJwk.kid };
    const jarKey = { key: await jose.importJWK(jarJwk, jarJwk.alg), kid: jarJwk.kid };

    // Every request openid-client sends (PAR, token, jwks, userinfo) is recorded for the checks
    // on its client assertions and for the replay case.
    const sentRequests = [];
    const recordingFetch = (url, init) => {
      sentRequests.push({
        url: new URL(url), method: init?.method ?? 'GET', body: init?.body?.toString() ?? '',
      });
      return fetch(url, init);
    };
    const config = await client.discovery(
      new URL(options.issuer),
      description.client_id,
      { id_token_signed_response_alg: 'RS256' },
      client.PrivateKeyJwt(authKey),
      { execute: [client.allowInsecureRequests], [client.customFetch]: recordingFetch },
    );
    // Verify the ID token's signature too, against the provider's jwks_uri.
    client.enableNonRepudiationChecks(config);
    assert.equal(config.serverMetadata().issuer, options.issuer, 'discovered issuer');

    return new Harness({
      config,
      jarKey,
      description,
      issuer: options.issuer,
      providerUrl: options.provider,
      via: options.via,
      sentRequests,
    });
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
   * "METHOD /path" and `last_query`, the raw query string last received per "METHOD /path".
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
 * From an authorization URL to verified tokens: interactive login and consent, callback, token
 * exchange (private_key_jwt), ID token signature and claims, userinfo.
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
  assert.equal(tokenForm.get('client_assertion_type'), ASSERTION_TYPE, 'assertion type');
  const assertion = checkClientAssertion(harness, tokenForm.get('client_assertion'));

  // authorizationCodeGrant verified the ID token (signature via enableNonRepudiationChecks,
  // iss, aud, exp, iat, nonce); the claims are checked here once more, explicitly.
  const idToken = tokens.claims();
  assert.ok(idToken, 'an ID token was issued');
  assert.equal(idToken.iss, harness.issuer, 'ID token iss');
  assert.deepEqual([idToken.aud].flat(), [harness.description.client_id], 'ID token aud');
  assert.equal(idToken.sub, LOGIN, 'ID token sub');
  assert.equal(idToken.nonce, checks.expectedNonce, 'ID token nonce');
  assert.equal(tokens.token_type.toLowerCase(), 'bearer', 'token_type');

  const userinfo = await client.fetchUserInfo(harness.config, tokens.access_token, idToken.sub);
  assert.equal(userinfo.email, `${LOGIN}@example.test`, 'userinfo email');

  return {
    trail,
    token_request: tokenRequest,
    details: {
      id_token: { sub: idToken.sub, aud: idToken.aud, iss: idToken.iss },
      scope: tokens.scope,
      client_assertion: assertion,
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
 * provider saw nothing. Directly: the provider refused (no authorization code, no tokens).
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
  return { ...observed, provider_requests_delta: delta };
}

/** Case: PAR with a request object, then the whole code flow. */
async function parFlow(harness) {
  const { parameters, checks } = await harness.newAuthorizationRequest();
  const countsBefore = await harness.providerCounts();
  const { searchParams: jarParameters } = await harness.requestObjectUrl(parameters);
  const authorizationUrl = await client.buildAuthorizationUrlWithPAR(harness.config, jarParameters);
  assert.ok(authorizationUrl.searchParams.get('request_uri')
    ?.startsWith('urn:ietf:params:oauth:request_uri:'), 'PAR request_uri');

  const parRequest = harness.lastSent('POST', '/oauth/par');
  const parForm = new URLSearchParams(parRequest.body);
  const requestObject = checkRequestObject(harness, parForm.get('request'));
  const parAssertion = checkClientAssertion(harness, parForm.get('client_assertion'));

  const completed = await completeAuthorization(harness, authorizationUrl, checks);
  await assertProviderQuery(harness, authorizationUrl.search.slice(1));
  const delta = countsDelta(countsBefore, await harness.providerCounts());
  assertReachedProvider(delta, ['POST /oauth/par', 'GET /authorize', 'POST /oauth/token']);
  harness.parFlowTokenRequest = completed.token_request;
  return {
    ...completed.details,
    request_object: requestObject,
    par_client_assertion: parAssertion,
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
  const requestObject = checkRequestObject(harness, authorizationUrl.searchParams.get('request'));

  const completed = await completeAuthorization(harness, authorizationUrl, checks);
  await assertProviderQuery(harness, authorizationUrl.search.slice(1));
  const delta = countsDelta(countsBefore, await harness.providerCounts());
  assertReachedProvider(delta, ['GET /authorize', 'POST /oauth/token']);
  assert.equal(delta['POST /oauth/par'], undefined, 'no PAR in the by-value flow');
  return {
    ...completed.details,
    request_object: requestObject,
    trail: completed.trail,
    provider_requests_delta: delta,
  };
}

/**
 * Case: parameters outside a request object (jargate's default `outside_parameters = "strip"`,
 * SPEC §5): one identical to the object's claim is forwarded, one absent from the object is
 * dropped. Directly, the provider receives both. Only the forwarded query is checked; the
 * interaction it starts is left unfinished.
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
  const expectedQuery = harness.viaJargate ? `${signedQuery}&${identical}` : sentQuery;
  await assertProviderQuery(harness, expectedQuery);
  return {
    sent_parameters: queryPieces(sentQuery).map((piece) => piece.split('=')[0]),
    forwarded_parameters: queryPieces(expectedQuery).map((piece) => piece.split('=')[0]),
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

/** Case: a plain authorization request from a client that must use request objects. */
async function missingRequestObject(harness) {
  const { parameters } = await harness.newAuthorizationRequest();
  const authorizationUrl = client.buildAuthorizationUrl(harness.config, parameters);
  const countsBefore = await harness.providerCounts();
  const response = await fetch(authorizationUrl, { redirect: 'manual' });
  return assertRefused(harness, response, countsBefore, { status: 400, error: 'invalid_request' });
}

const CASES = [
  ['par_flow', parFlow],
  ['request_by_value_flow', requestByValueFlow],
  ['outside_parameters', outsideParameters],
  ['tampered_request_object', tamperedRequestObject],
  ['replayed_client_assertion', replayedClientAssertion],
  ['missing_request_object', missingRequestObject],
];

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
  });
  requireOptions(USAGE, options, ['workdir', 'issuer', 'provider']);
  if (!['jargate', 'direct'].includes(options.via)) {
    throw new Error(`--via must be jargate or direct, not ${options.via}`);
  }

  const harness = await Harness.create(options);
  const results = [];
  for (const [name, run] of CASES) {
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
