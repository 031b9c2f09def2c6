// The HTTP API (fastify). buildApp() wires routes to their collaborators and never listens;
// the service calls listen(). Every route has a JSON schema, from which @fastify/swagger builds
// the OpenAPI document (GET /docs/json, browsable at /docs); merged rows are pre-serialised
// (exact int64 digits) and sent as JSON strings. GET / is the dashboard (./dashboard.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import { LsError } from '../errors.js';
import { LazyChildLogger, type Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Key } from '../speed/decode.js';
import type { View } from '../view.js';
import { registerDashboard } from './dashboard.js';
import { installFastReads, JSON_TYPE, notFoundBody } from './fast-reads.js';
import type { Reads } from './reads.js';
import { statsSchema, type Stats } from './stats.js';

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
  readonly stats: () => Promise<Stats>;
  /** false: every request goes through fastify (tests compare the two paths). Default true. */
  readonly fastReads?: boolean;
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
    description: 'merged value of one key: batch + the speed windows the batch does not cover',
    properties: {
      [view.keyColumn]: { type: ['string', 'null'] },
      ...Object.fromEntries(view.metrics.map((m) => [m.column, { type: 'integer', description: 'int64, exact digits' }])),
    },
  };
}

/** GET /v1/counts/:key?explain=true */
function explainSchema(view: View, row: ReturnType<typeof rowSchema>) {
  const metrics = { type: 'object', properties: Object.fromEntries(view.metrics.map((m) => [m.column, { type: 'integer' }])) };
  return {
    type: 'object',
    description: 'explain=true: the merged value and its parts',
    properties: {
      merged: row,
      batch: { anyOf: [metrics, { type: 'null' }] },
      speed: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            window: { anyOf: [{ type: 'object', properties: { start: { type: 'string' }, end: { type: 'string' } } }, { type: 'null' }] },
            fate: { type: 'string', enum: ['added', 'covered', 'straddling'] },
            version: { type: 'string' }, partition: { type: 'integer' }, offset: { type: 'string' }, metrics,
          },
        },
      },
      watermark: { type: ['string', 'null'] },
      batchLoadedAt: { type: 'string' },
    },
  };
}

const looseObject = { type: 'object', additionalProperties: true };

const readinessSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    status: { type: 'string', enum: ['ready', 'degraded', 'not ready'] },
    notReady: { type: 'array', items: { type: 'string' } },
    degraded: { type: 'array', items: { type: 'string' } },
    batch: looseObject, speed: looseObject, flush: looseObject,
    cacheEntries: { type: 'integer' },
  },
};

export function buildApp(d: AppDeps): FastifyInstance {
  let closing = false;
  const app = Fastify({
    loggerInstance: d.log.child({ component: 'http' }) as FastifyBaseLogger,
    // per-request lines would dominate the log at read rates; latency and errors go to metrics
    logController: new LogController({ disableRequestLogging: true }),
    // each request's logger (bound to its reqId) is made only if something logs on it: an error
    childLoggerFactory: (logger, bindings, opts) => new LazyChildLogger(logger as Logger, bindings, opts) as unknown as FastifyBaseLogger,
    routerOptions: { maxParamLength: MAX_KEY_LENGTH },
    bodyLimit: 1024,
    // unknown parameters are refused (a typo like ?limt=5 must not be silently ignored)
    ajv: { customOptions: { coerceTypes: 'array', allErrors: false, removeAdditional: false } },
  });

  // GET /v1/counts/<plain key> is answered in front of fastify (fast-reads.ts); the rest here.
  // Hooks added to the app do not run for those reads.
  if (d.fastReads !== false) installFastReads(app.server, app.routing, { reads: d.reads, metrics: d.metrics, maxKeyLength: MAX_KEY_LENGTH, closing: () => closing });
  app.addHook('preClose', (done) => { closing = true; done(); });

  // a callback hook, not an async one: no promise per request. (prom-client validates and hashes
  // the labels on every observation even through a labels() child, so children are not cached.)
  app.addHook('onResponse', (req, reply, done) => {
    const labels = { route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) };
    d.metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
    if (reply.statusCode >= 400 && reply.statusCode < 500) d.metrics.httpBadRequests.inc(labels);
    done();
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

  // swagger collects routes with an onRoute hook: it is registered first, and the routes in a
  // plugin after it, so the hook sees every one of them
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'lambda-serving',
        version: 'v1',
        description: 'Serving layer of a Lambda Architecture: batch layer (warehouse) + speed layer (Kafka), merged exactly. Metric values are int64 JSON integers with exact digits.',
      },
      tags: [
        { name: 'reads', description: 'merged values' },
        { name: 'admin', description: 'operations that change state (bearer ADMIN_TOKEN)' },
        { name: 'operations', description: 'health, readiness, metrics, dashboard data' },
        { name: 'dashboard', description: 'the live dashboard page' },
      ],
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'the ADMIN_TOKEN of the instance' } } },
    },
  });
  app.register(swaggerUi, { routePrefix: '/docs' });
  app.register(async (api) => routes(api, d));
  return app;
}

function routes(app: FastifyInstance, d: AppDeps): void {

  const tokenDigest = d.adminToken === undefined ? undefined : sha256(d.adminToken);
  const metricNames = d.view.metrics.map((m) => m.column);
  const row = rowSchema(d.view);

  app.get<{ Params: { key: string }; Querystring: { explain?: boolean } }>('/v1/counts/:key', {
    schema: {
      summary: 'Merged value of one key',
      description: 'batch + speed for one key; explain=true adds its batch part, each speed window (and whether it was added) and the watermark',
      tags: ['reads'],
      params: { type: 'object', required: ['key'], properties: { key: { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH } } },
      querystring: { type: 'object', additionalProperties: false, properties: { explain: { type: 'boolean' } } },
      response: { 200: { anyOf: [row, explainSchema(d.view, row)] }, 404: errorSchema },
    },
  }, (req, reply) => {
    const { key } = req.params;
    // the batch in memory: answered synchronously, without a promise per read
    if (!req.query.explain && d.reads.inMemory) { answerKey(reply, key, d.reads.get(key)?.json); return; }
    return (req.query.explain ? d.reads.explainAsync(key) : d.reads.lookup(key).then((v) => v?.json)).then((body) => answerKey(reply, key, body));
  });

  app.get<{ Querystring: { key?: string[]; nullKey?: boolean } }>('/v1/counts', {
    schema: {
      summary: 'Merged values of several keys',
      description: '?key=a&key=b (at most MAX_KEYS_PER_REQUEST); nullKey=true adds the NULL key',
      tags: ['reads'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          key: { type: 'array', items: { type: 'string', maxLength: MAX_KEY_LENGTH }, maxItems: d.maxKeysPerRequest },
          nullKey: { type: 'boolean' },
        },
      },
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: row }, missing: { type: 'array', items: { type: ['string', 'null'] } } } }, 400: errorSchema },
    },
  }, async (req, reply) => {
    const keys: Key[] = [...new Set(req.query.key ?? [])];
    if (req.query.nullKey) keys.push(null);
    if (keys.length === 0) return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'give at least one key: ?key=a&key=b (or nullKey=true)' });
    const items: string[] = [];
    const missing: Key[] = [];
    for (const k of keys) {
      const v = await d.reads.lookup(k);
      if (v) items.push(v.json);
      else missing.push(k);
    }
    return json(reply, `{"items":[${items.join(',')}],"missing":${JSON.stringify(missing)}}`);
  });

  app.get<{ Querystring: { metric: string; limit: number } }>('/v1/top', {
    schema: {
      summary: 'Top keys by a merged metric',
      tags: ['reads'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          metric: { type: 'string', enum: metricNames, default: metricNames[0] },
          limit: { type: 'integer', minimum: 1, maximum: MAX_TOP, default: 10 },
        },
      },
      response: { 200: { type: 'object', properties: { metric: { type: 'string' }, items: { type: 'array', items: row } } }, 400: errorSchema },
    },
  }, async (req, reply) => json(reply, await d.reads.topAsync(metricNames.indexOf(req.query.metric), req.query.limit)));

  app.post('/v1/flush', {
    schema: {
      summary: 'Write a merged snapshot to the warehouse now',
      description: 'bulk-writes the staging table and swaps it in as the serving table with a checkpoint; answers when it is committed',
      tags: ['admin'],
      security: [{ adminToken: [] }],
      headers: { type: 'object', properties: { authorization: { type: 'string' } } },
      response: {
        200: { type: 'object', properties: { snapshotId: { type: 'string' }, rows: { type: 'integer' }, ms: { type: 'integer' } } },
        401: errorSchema, 403: errorSchema, 503: errorSchema,
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

  app.get('/v1/stats', {
    schema: { summary: 'What the dashboard shows', description: 'rates and lag over the last minutes, batch snapshot, last warehouse snapshot, rejected records by reason', tags: ['operations'], response: { 200: statsSchema } },
  }, async () => d.stats());

  app.get('/healthz', {
    schema: { summary: 'Liveness', tags: ['operations'], response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } } } },
  }, async () => ({ status: 'ok' }));

  app.get('/readyz', {
    schema: {
      summary: 'Readiness, with reasons',
      description: '200 when the batch is loaded and the speed layer has caught up (status ready or degraded, with reasons); else 503 with reasons',
      tags: ['operations'],
      response: { 200: readinessSchema, 503: readinessSchema },
    },
  }, async (_req, reply) => {
    const r = d.readiness();
    const status = r.ready ? (r.degraded.length > 0 ? 'degraded' : 'ready') : 'not ready';
    return reply.code(r.ready ? 200 : 503).send({ status, notReady: r.notReady, degraded: r.degraded, ...r.detail });
  });

  app.get('/metrics', {
    schema: { summary: 'Prometheus metrics', tags: ['operations'], response: { 200: { content: { 'text/plain': { schema: { type: 'string' } } } } } },
  }, async (_req, reply) =>
    reply.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics()));

  registerDashboard(app);
}

function json(reply: FastifyReply, body: string): FastifyReply {
  return reply.type(JSON_TYPE).send(body);
}

/** A merged row (pre-serialised), or 404 when the key is in neither layer. */
function answerKey(reply: FastifyReply, key: string, body: string | undefined): FastifyReply {
  if (body === undefined) return reply.code(404).type(JSON_TYPE).send(notFoundBody(key));
  return json(reply, body);
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
