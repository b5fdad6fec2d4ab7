// An RFC 8705 client for jargate's end-to-end mTLS test: Node's own TLS stack presents the
// client certificate to jargate's `listen.mtls` listener, asks for a client_credentials token
// (tls_client_auth: client_id and the certificate, no secret), introspects it the same way, and
// sends the token request once more without a certificate (jargate must refuse it).
//
// Prints one JSON line:
//   { "token_status": 200, "introspection": { "active": true, "cnf": { "x5t#S256": "..." } },
//     "without_certificate": { "status": 401, "error": "invalid_client" } }
// The token itself is never printed.
//
// usage: node mtls-client.mjs --workdir DIR --port PORT --ca FILE

import { readFile } from 'node:fs/promises';
import { request } from 'node:https';

import {
  parseOptions, readJson, requireOptions, workdirPaths,
} from './workdir.mjs';

const USAGE = 'node mtls-client.mjs --workdir DIR --port PORT --ca FILE';

/** POSTs a form to jargate's mTLS listener; resolves { status, body }. */
function post(tls, port, path, form) {
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      servername: 'localhost',
      port,
      path,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
      },
      ...tls,
    }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed;
        try { parsed = JSON.parse(text); } catch { parsed = { unparsed: text }; }
        resolve({ status: res.statusCode, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main() {
  const options = parseOptions(USAGE, {
    workdir: { type: 'string' }, port: { type: 'string' }, ca: { type: 'string' },
  });
  requireOptions(USAGE, options, ['workdir', 'port', 'ca']);
  const paths = workdirPaths(options.workdir);
  const { client_id: clientId } = await readJson(paths.mtlsClient);
  const port = Number.parseInt(options.port, 10);
  const ca = await readFile(options.ca);
  const withCert = { ca, cert: await readFile(paths.mtlsCert), key: await readFile(paths.mtlsKey) };

  const token = await post(withCert, port, '/oauth/token',
    { grant_type: 'client_credentials', client_id: clientId });
  const accessToken = token.body.access_token;
  const introspection = accessToken
    ? (await post(withCert, port, '/oauth/introspect', { token: accessToken, client_id: clientId })).body
    : token.body;
  const refused = await post({ ca }, port, '/oauth/token',
    { grant_type: 'client_credentials', client_id: clientId });
  process.stdout.write(`${JSON.stringify({
    token_status: token.status,
    introspection: { active: introspection.active, cnf: introspection.cnf, error: introspection.error },
    without_certificate: { status: refused.status, error: refused.body.error },
  })}\n`);
}

main().catch((error) => {
  process.stderr.write(`mtls-client.mjs: ${error.stack ?? error}\n`);
  process.exit(1);
});
