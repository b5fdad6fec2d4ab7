// How a Node authorization server reads a forwarded request: Express's routing path (the
// target's pathname), `qs` for the query (Express's "extended" query parser), body-parser's
// urlencoded (extended, qs) and JSON parsers for the body, and the lenient Basic decoding
// most Node servers use (`Buffer.from(x, "base64")`).
//
// Long-running: one JSON line per request on stdin ({"raw": base64}), one JSON line per answer
// on stdout. Fails at once when the npm packages are missing (`npm ci --prefix
// tests/it/differential`), so the differential tests fail instead of skipping.

import { createRequire } from "node:module";
import { Readable } from "node:stream";
import readline from "node:readline";

const require = createRequire(import.meta.url);
const qs = require("qs");
const bodyParser = require("body-parser");

function splitRequest(raw) {
  const end = raw.indexOf("\r\n\r\n");
  const head = raw.subarray(0, end).toString("latin1").split("\r\n");
  const [method, target] = head[0].split(" ");
  const headers = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(":");
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method, target, headers, body: raw.subarray(end + 4) };
}

function dechunk(body) {
  const out = [];
  let rest = body;
  for (;;) {
    const i = rest.indexOf("\r\n");
    const size = parseInt(rest.subarray(0, i).toString().split(";")[0], 16);
    if (!size) return Buffer.concat(out);
    out.push(rest.subarray(i + 2, i + 2 + size));
    rest = rest.subarray(i + 4 + size);
  }
}

// name -> [values], flattening qs's nested objects back to bracket names.
function flatten(value, prefix, out) {
  if (Array.isArray(value)) {
    for (const v of value) flatten(v, prefix, out);
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}[${k}]` : k, out);
  } else {
    (out[prefix] ??= []).push(String(value));
  }
  return out;
}

function parseBody(parser, req) {
  return new Promise((resolve) => {
    parser(req, {}, (err) => resolve(err ? { error: String(err) } : req.body));
  });
}

function assertionSub(token) {
  try {
    return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).sub ?? null;
  } catch {
    return null;
  }
}

async function view(raw) {
  const { method, target, headers, body: rawBody } = splitRequest(raw);
  const body = headers["transfer-encoding"] ? dechunk(rawBody) : rawBody;
  const url = new URL(target, "http://upstream");
  const query = target.includes("?") ? target.slice(target.indexOf("?") + 1) : "";
  const params = flatten(qs.parse(query), "", {});
  const req = Readable.from([body]);
  req.headers = { ...headers, "content-length": String(body.length) };
  delete req.headers["transfer-encoding"];
  req.method = method;
  let parsed = await parseBody(bodyParser.urlencoded({ extended: true }), req);
  if (req._body !== true) parsed = await parseBody(bodyParser.json(), req);
  if (parsed && parsed.error) return { error: parsed.error };
  flatten(parsed ?? {}, "", params);
  let client = null;
  const auth = headers.authorization ?? "";
  const m = /^basic\s+(.*)$/i.exec(auth);
  // RFC 6749 §2.3.1: the id is form-encoded inside the Basic credentials.
  if (m) client = decodeURIComponent(Buffer.from(m[1], "base64").toString().split(":")[0].replaceAll("+", " "));
  if (client === null && params.client_id) client = params.client_id.at(-1);
  if (client === null && params.client_assertion) client = assertionSub(params.client_assertion.at(-1));
  return { node: { path: url.pathname, params, client } };
}

console.log(JSON.stringify({ ready: "node" }));
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  let answer;
  try {
    answer = await view(Buffer.from(JSON.parse(line).raw, "base64"));
  } catch (e) {
    answer = { error: String(e) };
  }
  console.log(JSON.stringify(answer));
}
