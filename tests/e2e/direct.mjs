// Runs the e2e flows WITHOUT jargate: keys.mjs, then provider.mjs on a free loopback port with
// its own address as issuer, then flow.mjs --via direct against it. Proves that the provider
// configuration and the client flows work on their own, so a failure through jargate is
// jargate's. Prints flow.mjs's JSON line; exit status is flow.mjs's.
//
// usage: node direct.mjs [--mode native|legacy] [--client-auth post|basic]

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { parseOptions } from './workdir.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const READY_TIMEOUT_MS = 15000;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Runs a node script to completion; stderr passed through, stdout only when `showOutput`. */
function runScript(script, args, { showOutput }) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(HERE, script), ...args], {
      stdio: ['ignore', showOutput ? 'inherit' : 'ignore', 'inherit'],
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 1));
  });
}

/** Starts provider.mjs and resolves with the child once it printed its ready line. */
function startProvider(args) {
  const child = spawn(process.execPath, [join(HERE, 'provider.mjs'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const notReady = () => reject(new Error('provider not ready in time'));
    const timer = setTimeout(notReady, READY_TIMEOUT_MS);
    child.once('exit', (code) => reject(new Error(`provider exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('"ready":true')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

async function main() {
  const usage = 'node direct.mjs [--mode native|legacy] [--client-auth post|basic]';
  const options = parseOptions(usage, {
    mode: { type: 'string', default: 'native' },
    'client-auth': { type: 'string', default: 'post' },
  });
  const modeArgs = ['--mode', options.mode, '--client-auth', options['client-auth']];
  const workdir = await mkdtemp(join(tmpdir(), 'jargate-e2e-direct-'));
  let provider;
  try {
    if (await runScript('keys.mjs', ['--workdir', workdir], { showOutput: false }) !== 0) {
      throw new Error('keys.mjs failed');
    }
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    provider = await startProvider([
      '--workdir', workdir, '--port', String(port), '--issuer', url, ...modeArgs,
    ]);
    process.exitCode = await runScript('flow.mjs', [
      '--workdir', workdir, '--issuer', url, '--provider', url, '--via', 'direct', ...modeArgs,
    ], { showOutput: true });
  } finally {
    provider?.kill('SIGTERM');
    await rm(workdir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`direct.mjs: ${error.stack ?? error}\n`);
  process.exitCode = 1;
});
