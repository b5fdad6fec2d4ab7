// Generates the test client's key material into a work directory (see workdir.mjs):
//   - one key pair for private_key_jwt client authentication (ES256),
//   - one separate key pair for signed request objects / JAR (PS256),
// each written as a private JWK (for the client, flow.mjs), a public SPKI PEM (for jargate's
// clients.json) and together as a public JWK Set (for the authorization server, provider.mjs).
// Key ids are RFC 7638 JWK thumbprints, which is also how jargate names a credential without kid.
// Writes client.json with the client's public description, and the client secret that only the
// `legacy` provider mode uses (the secret jargate presents upstream; random, plus characters that
// need form-encoding).
// Prints one JSON line with the client id and key ids (no key material).
//
// usage: node keys.mjs --workdir DIR [--client-id ID] [--redirect-uri URI]

import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import * as jose from 'jose';

import { parseOptions, requireOptions, workdirPaths } from './workdir.mjs';

const USAGE = 'node keys.mjs --workdir DIR [--client-id ID] [--redirect-uri URI]';
const AUTH_ALG = 'ES256';
const JAR_ALG = 'PS256';
/**
 * Characters appended to the random part of the legacy client secret. Each must be
 * form-urlencoded in a client_secret_post body and in a client_secret_basic header
 * (RFC 6749 §2.3.1, Appendix B), so the secret proves that jargate encodes it on both paths.
 * All are VSCHAR (RFC 6749 Appendix A: %x20-7E), the only characters oidc-provider accepts.
 */
const SECRET_SPECIAL_CHARACTERS = '+/=:%& ~';

async function generateSigningKey(alg, use) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const publicJwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(publicJwk);
  return {
    alg,
    kid,
    publicJwk: { ...publicJwk, kid, alg, use },
    privateJwk: { ...(await jose.exportJWK(privateKey)), kid, alg, use },
    publicPem: await jose.exportSPKI(publicKey),
  };
}

async function main() {
  const options = parseOptions(USAGE, {
    workdir: { type: 'string' },
    'client-id': { type: 'string', default: 'e2e-client' },
    // Nothing listens there: the flow reads the code from the Location header.
    'redirect-uri': { type: 'string', default: 'http://127.0.0.1:9/cb' },
  });
  requireOptions(USAGE, options, ['workdir']);
  const paths = workdirPaths(options.workdir);
  await mkdir(paths.keysDir, { recursive: true, mode: 0o700 });

  const auth = await generateSigningKey(AUTH_ALG, 'sig');
  const jar = await generateSigningKey(JAR_ALG, 'sig');
  const secretFile = { mode: 0o600 };
  await writeFile(paths.authPrivateJwk, JSON.stringify(auth.privateJwk), secretFile);
  await writeFile(paths.jarPrivateJwk, JSON.stringify(jar.privateJwk), secretFile);
  await writeFile(paths.authPublicPem, auth.publicPem);
  await writeFile(paths.jarPublicPem, jar.publicPem);
  const publicJwks = { keys: [auth.publicJwk, jar.publicJwk] };
  await writeFile(paths.clientPublicJwks, JSON.stringify(publicJwks));

  const description = {
    client_id: options['client-id'],
    redirect_uri: options['redirect-uri'],
    auth: { alg: auth.alg, kid: auth.kid, public_pem_file: paths.authPublicPem },
    jar: { alg: jar.alg, kid: jar.kid, public_pem_file: paths.jarPublicPem },
  };
  await writeFile(paths.clientDescription, JSON.stringify(description, null, 2));
  const secret = `${randomBytes(24).toString('base64url')}${SECRET_SPECIAL_CHARACTERS}`;
  await writeFile(paths.upstreamClientSecret, secret, secretFile);
  process.stdout.write(`${JSON.stringify({
    client_id: description.client_id, auth_kid: auth.kid, jar_kid: jar.kid,
  })}\n`);
}

main().catch((error) => {
  process.stderr.write(`keys.mjs: ${error.stack ?? error}\n`);
  process.exit(1);
});
