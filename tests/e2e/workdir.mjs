// Shared layout of an e2e work directory and small helpers used by keys.mjs, provider.mjs and
// flow.mjs. The work directory is created per test run (the Rust test uses a temp dir); it holds
// the client's key pairs and a public description of the test client (client.json). Nothing in
// client.json is secret; private keys and the legacy-mode client secret live only in keys/ (mode
// 0600 files).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** File names inside a work directory. */
export function workdirPaths(workdir) {
  const keys = join(workdir, 'keys');
  return {
    keysDir: keys,
    clientDescription: join(workdir, 'client.json'),
    clientPublicJwks: join(keys, 'client.public.jwks.json'),
    authPrivateJwk: join(keys, 'auth.private.jwk.json'),
    authPublicPem: join(keys, 'auth.public.pem'),
    jarPrivateJwk: join(keys, 'jar.private.jwk.json'),
    jarPublicPem: join(keys, 'jar.public.pem'),
    // `legacy` mode only: the secret jargate presents upstream (client_secret_post).
    upstreamClientSecret: join(keys, 'upstream-client-secret.txt'),
    // `mtls` mode only (written by tests/e2e.rs): { client_id, subject_dn } of the
    // tls_client_auth client, and its certificate and key (PEM) for mtls-client.mjs.
    mtlsClient: join(workdir, 'mtls-client.json'),
    mtlsCert: join(keys, 'mtls-client.cert.pem'),
    mtlsKey: join(keys, 'mtls-client.key.pem'),
  };
}

/**
 * Reads client.json: { client_id, redirect_uri, auth: { alg, kid, public_pem_file },
 * jar: { alg, kid, public_pem_file } }.
 */
export async function readClientDescription(workdir) {
  return readJson(workdirPaths(workdir).clientDescription);
}

export async function readJson(path) {
  return JSON.parse(await readFile(path, 'utf8'));
}

/** Parses `--name value` options; every listed option is a string; exits with usage on error. */
export function parseOptions(usage, options) {
  try {
    const { values } = parseArgs({ options, strict: true, allowPositionals: false });
    return values;
  } catch (error) {
    process.stderr.write(`${error.message}\nusage: ${usage}\n`);
    process.exit(2);
  }
}

/** Exits with usage unless every name in `names` is set in `values`. */
export function requireOptions(usage, values, names) {
  const missing = names.filter((name) => values[name] === undefined);
  if (missing.length > 0) {
    process.stderr.write(`missing --${missing.join(', --')}\nusage: ${usage}\n`);
    process.exit(2);
  }
}
