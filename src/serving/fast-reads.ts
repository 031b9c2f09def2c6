// The hot read, GET /v1/counts/<key>, answered before fastify routes the request (and before its
// hooks: a hook added to the app does not run for these reads). A read that
// merges in memory takes ~10 us of our own work; fastify's routing, hooks and reply object took
// ~25 us more a request (bench: cold reads at 0.75-0.77x a bare node:http server with fastify
// answering, 0.92-0.94x with this). It answers only the plainest form of the route and hands
// every other request to fastify untouched, so there is one behaviour to reason about:
//   - a GET without a body, `/v1/counts/` then a key of printable ASCII other than
//     % ? / ; # " \ (nothing to decode, no query string, no path below it), at most
//     maxKeyLength long;
//   - the batch in memory (MERGE_STRATEGY=in-process), fastify not closing (it answers 503 then);
//   - the key known (200, the pre-serialised row) or unknown (404, the body the route sends:
//     notFoundBody; counted as a bad request, as fastify's hook counts it). A merge that throws
//     (an int64 overflow) goes to fastify, which answers it as an error (the cache miss is then
//     counted twice).
// The answers carry the same status, content-type and body as fastify's, and are counted in
// lambda_serving_http_request_duration_seconds under the route's own labels.
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Metrics } from '../metrics.js';
import type { Reads } from './reads.js';

const COUNTS_PREFIX = '/v1/counts/';
export const JSON_TYPE = 'application/json; charset=utf-8';

/** The 404 body of GET /v1/counts/:key, the same from either path. */
export function notFoundBody(key: string): string {
  return JSON.stringify({ statusCode: 404, error: 'Not Found', message: `unknown key "${key.slice(0, 200)}"` });
}

export interface FastReadsDeps {
  readonly reads: Reads;
  readonly metrics: Metrics;
  readonly maxKeyLength: number;
  /** True once fastify is closing: every request then goes to fastify (503). */
  readonly closing: () => boolean;
}

/** The key of a request the fast path may answer, or undefined. */
export function plainKey(req: IncomingMessage, maxKeyLength: number): string | undefined {
  const url = req.url;
  if (req.method !== 'GET' || url === undefined || !url.startsWith(COUNTS_PREFIX)) return undefined;
  if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined) return undefined;
  const n = url.length - COUNTS_PREFIX.length;
  if (n < 1 || n > maxKeyLength) return undefined;
  for (let i = COUNTS_PREFIX.length; i < url.length; i++) {
    const c = url.charCodeAt(i);
    // printable ASCII; not % ? / ; # " \ (escapes, query, path, delimiters, JSON escapes)
    if (c <= 0x20 || c >= 0x7f || c === 0x25 || c === 0x3f || c === 0x2f || c === 0x3b || c === 0x23 || c === 0x22 || c === 0x5c) return undefined;
  }
  return url.slice(COUNTS_PREFIX.length);
}

/** Puts the fast path in front of fastify's request handler (`routing`) on the server fastify made
 * (with its own settings: timeouts, limits, bindings). Servers fastify adds later for other
 * addresses of the host (HOST=localhost: ::1 and 127.0.0.1) answer through fastify alone. */
export function installFastReads(server: Server, routing: RequestListener, d: FastReadsDeps): void {
  if (!server.listeners('request').includes(routing)) throw new Error('fast reads: fastify\'s request handler is not on its server');
  server.removeListener('request', routing);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!answer(d, req, res)) routing(req, res);
  });
}

/** The route's metric labels, as fastify's onResponse hook gives them. */
const OK = { route: '/v1/counts/:key', status: '200' };
const NOT_FOUND = { route: '/v1/counts/:key', status: '404' };

function answer(d: FastReadsDeps, req: IncomingMessage, res: ServerResponse): boolean {
  const started = performance.now();
  if (!d.reads.inMemory || d.closing()) return false;
  const key = plainKey(req, d.maxKeyLength);
  if (key === undefined) return false;
  let row: string | undefined;
  try {
    row = d.reads.get(key)?.json;
  } catch {
    return false; // fastify answers it (and logs it) as the route's error
  }
  const body = row ?? notFoundBody(key);
  res.writeHead(row === undefined ? 404 : 200, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(body) });
  res.end(body);
  d.metrics.httpDuration.observe(row === undefined ? NOT_FOUND : OK, (performance.now() - started) / 1000);
  if (row === undefined) d.metrics.httpBadRequests.inc(NOT_FOUND);
  return true;
}
