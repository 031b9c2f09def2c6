// The HTTP API (fastify). buildApp() wires routes to their collaborators and never listens;
// the service calls listen(). Every route has a JSON schema; merged rows are pre-serialised
// (exact int64 digits) and sent as JSON strings.
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { LsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Key } from '../speed/decode.js';
import type { View } from '../view.js';
import type { Reads } from './reads.js';

export interface Readiness {
  readonly ready: boolean;
  readonly degraded: readonly string[];
  readonly notReady: readonly string[];
  readonly detail: Record<string, unknown>;
}

export interface AppDeps {
  readonly view: View;
  readonly reads: Reads;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly adminToken: string | undefined;
  readonly maxKeysPerRequest: number;
  readonly readiness: () => Readiness;
  readonly flush: () => Promise<{ snapshotId: string; rows: number; ms: number }>;
}

const MAX_KEY_LENGTH = 4096;
const MAX_TOP = 1000;

const errorSchema = {
  type: 'object',
  properties: { statusCode: { type: 'integer' }, error: { type: 'string' }, message: { type: 'string' }, code: { type: 'string' } },
};

function rowSchema(view: View) {
  return {
    type: 'object',
    properties: {
      [view.keyColumn]: { type: ['string', 'null'] },
      ...Object.fromEntries(view.metrics.map((m) => [m.column, { type: 'integer', description: 'int64, exact digits' }])),
    },
  };
}

export function buildApp(d: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: d.log.child({ component: 'http' }) as FastifyBaseLogger,
    // per-request lines would dominate the log at read rates; latency and errors go to metrics
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: MAX_KEY_LENGTH },
    bodyLimit: 1024,
    // unknown parameters are refused (a typo like ?limt=5 must not be silently ignored)
    ajv: { customOptions: { coerceTypes: 'array', allErrors: false, removeAdditional: false } },
  });
  const tokenDigest = d.adminToken === undefined ? undefined : sha256(d.adminToken);
  const metricNames = d.view.metrics.map((m) => m.column);
  const row = rowSchema(d.view);

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    const status = String(reply.statusCode);
    d.metrics.httpDuration.observe({ route, status }, reply.elapsedTime / 1000);
    if (reply.statusCode >= 400 && reply.statusCode < 500) d.metrics.httpBadRequests.inc({ route, status });
  });

  app.setErrorHandler((err: { statusCode?: number; validation?: unknown; message: string }, req, reply) => {
    // an LsError that may pass (a flush postponed, a warehouse down) is 503: try again later
    const status = err.statusCode ?? (err instanceof LsError && err.retryable ? 503 : 500);
    if (status >= 500) req.log.error({ err }, 'request failed');
    // our own errors say what went wrong (e.g. an int64 overflow of a merged key); others do not leak
    const message = err.validation ? `invalid request: ${err.message}` : status < 500 || err instanceof LsError ? err.message : 'internal error';
    const code = err instanceof LsError ? { code: err.code } : {};
    return reply.code(status).send({ statusCode: status, error: status === 503 ? 'Service Unavailable' : status >= 500 ? 'Internal Server Error' : 'Bad Request', message, ...code });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${req.method} ${req.url.split('?')[0]}` }));

  const json = (reply: FastifyReply, body: string) => reply.type('application/json; charset=utf-8').send(body);

  app.get<{ Params: { key: string }; Querystring: { explain?: boolean } }>('/v1/counts/:key', {
    schema: {
      params: { type: 'object', required: ['key'], properties: { key: { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH } } },
      querystring: { type: 'object', additionalProperties: false, properties: { explain: { type: 'boolean' } } },
      response: { 200: row, 404: errorSchema },
    },
  }, async (req, reply) => {
    const { key } = req.params;
    const body = req.query.explain ? d.reads.explain(key) : d.reads.get(key)?.json;
    if (body === undefined) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `unknown key "${key.slice(0, 200)}"` });
    return json(reply, body);
  });

  app.get<{ Querystring: { key?: string[]; nullKey?: boolean } }>('/v1/counts', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          key: { type: 'array', items: { type: 'string', maxLength: MAX_KEY_LENGTH }, maxItems: d.maxKeysPerRequest },
          nullKey: { type: 'boolean' },
        },
      },
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: row }, missing: { type: 'array', items: { type: ['string', 'null'] } } } } },
    },
  }, async (req, reply) => {
    const keys: Key[] = [...new Set(req.query.key ?? [])];
    if (req.query.nullKey) keys.push(null);
    if (keys.length === 0) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'give at least one key: ?key=a&key=b (or nullKey=true)' });
    const items: string[] = [];
    const missing: Key[] = [];
    for (const k of keys) {
      const v = d.reads.get(k);
      if (v) items.push(v.json);
      else missing.push(k);
    }
    return json(reply, `{"items":[${items.join(',')}],"missing":${JSON.stringify(missing)}}`);
  });

  app.get<{ Querystring: { metric: string; limit: number } }>('/v1/top', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          metric: { type: 'string', enum: metricNames, default: metricNames[0] },
          limit: { type: 'integer', minimum: 1, maximum: MAX_TOP, default: 10 },
        },
      },
      response: { 200: { type: 'object', properties: { metric: { type: 'string' }, items: { type: 'array', items: row } } } },
    },
  }, async (req, reply) => json(reply, d.reads.top(metricNames.indexOf(req.query.metric), req.query.limit)));

  app.post('/v1/flush', {
    schema: {
      headers: { type: 'object', properties: { authorization: { type: 'string' } } },
      response: {
        200: { type: 'object', properties: { snapshotId: { type: 'string' }, rows: { type: 'integer' }, ms: { type: 'integer' } } },
        401: errorSchema, 403: errorSchema,
      },
    },
  }, async (req, reply) => {
    if (tokenDigest === undefined) {
      return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'POST /v1/flush is disabled: ADMIN_TOKEN is not set' });
    }
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m || !timingSafeEqual(sha256(m[1] as string), tokenDigest)) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, error: 'Unauthorized', message: 'a valid "Authorization: Bearer <ADMIN_TOKEN>" header is required' });
    }
    return d.flush();
  });

  app.get('/healthz', {}, async () => ({ status: 'ok' }));

  app.get('/readyz', {}, async (_req, reply) => {
    const r = d.readiness();
    const status = r.ready ? (r.degraded.length > 0 ? 'degraded' : 'ready') : 'not ready';
    return reply.code(r.ready ? 200 : 503).send({ status, notReady: r.notReady, degraded: r.degraded, ...r.detail });
  });

  app.get('/metrics', {}, async (_req, reply) =>
    reply.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics()));

  return app;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
