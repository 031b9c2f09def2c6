// GET /docs and /docs/json: the OpenAPI document built from the route schemas lists every route.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { Service } from '../../src/service.js';
import { defer } from '../helpers/harness.js';

type Operation = {
  summary?: string; tags?: string[]; security?: unknown[];
  parameters?: Array<{ in: string; name: string; schema: Record<string, unknown> }>;
  responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }>;
};

/** Every route fastify serves, as "METHOD /path/{param}", from printRoutes' tree. */
function servedRoutes(tree: string): string[] {
  const stack: string[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^(.*?)[└├]── (\S+) \(([^)]+)\)$/.exec(line);
    if (!m) continue;
    const depth = Math.round(((m[1] as string).length) / 4);
    stack.length = depth;
    stack.push(m[2] as string);
    const path = stack.join('').replace(/\/\//g, '/').replace(/:(\w+)/g, '{$1}');
    for (const method of (m[3] as string).split(', ')) if (method !== 'HEAD') out.push(`${method} ${path}`);
  }
  return out;
}

test('/docs serves the OpenAPI document, which lists every route with its schema', async (t) => {
  // the service is built, not started: no broker or warehouse is contacted
  const cfg = loadConfig({ KAFKA_BROKERS: '127.0.0.1:1', WAREHOUSE_URL: 'postgres://nobody@127.0.0.1:1/none', LOG_LEVEL: 'silent' });
  const service = new Service(cfg, createLogger('silent'), { defaultMetrics: false });
  defer(t, () => service.warehouse.close());
  defer(t, () => service.app.close());
  await service.app.ready();

  const ui = await service.app.inject('/docs');
  assert.equal(ui.statusCode, 200);
  assert.match(ui.headers['content-type'] as string, /text\/html/);
  assert.match(ui.body, /swagger/i);

  const res = await service.app.inject('/docs/json');
  assert.equal(res.statusCode, 200);
  const doc = res.json() as { openapi: string; paths: Record<string, Record<string, Operation>> };
  assert.match(doc.openapi, /^3\./);

  const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
  const served = servedRoutes(service.app.printRoutes({ commonPrefix: false })).filter((r) => !r.includes(' /docs')).sort();
  assert.deepEqual(documented, served, 'every route but the docs themselves is in the document');
  for (const route of ['GET /v1/counts/{key}', 'GET /v1/counts', 'GET /v1/top', 'POST /v1/flush', 'GET /v1/stats', 'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /']) {
    assert.ok(documented.includes(route), `${route} is documented`);
  }

  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const name = `${method.toUpperCase()} ${path}`;
      assert.ok(op.summary && op.summary.length > 5, `${name} has a summary`);
      assert.ok(op.tags && op.tags.length > 0, `${name} has a tag`);
      const ok = op.responses['200'];
      const schema = ok?.content && Object.values(ok.content)[0]?.schema;
      assert.ok(schema && Object.keys(schema).length > 0, `${name} documents its 200 response schema`);
    }
  }

  const top = doc.paths['/v1/top']?.get as Operation;
  const metric = top.parameters?.find((p) => p.name === 'metric');
  assert.deepEqual(metric?.schema.enum, cfg.view.metrics.map((m) => m.column));
  assert.equal(top.parameters?.find((p) => p.name === 'limit')?.schema.maximum, 1000);
  assert.ok(top.responses['400'], 'bad parameters are documented');
  const one = doc.paths['/v1/counts/{key}']?.get as Operation;
  assert.deepEqual(one.parameters?.map((p) => [p.in, p.name]).sort(), [['path', 'key'], ['query', 'explain']]);
  assert.ok(one.responses['404']);
  const flush = doc.paths['/v1/flush']?.post as Operation;
  assert.deepEqual(flush.security, [{ adminToken: [] }]);
  assert.ok(flush.responses['401'] && flush.responses['403']);
  const stats = doc.paths['/v1/stats']?.get as Operation;
  const statsProps = (stats.responses['200']?.content?.['application/json']?.schema?.properties ?? {}) as Record<string, unknown>;
  for (const p of ['updatesPerSecond', 'lag', 'series', 'batch', 'snapshot', 'rejected']) assert.ok(p in statsProps, `stats documents ${p}`);
  assert.ok(doc.paths['/metrics']?.get?.responses['200']?.content?.['text/plain'], '/metrics is text/plain');
});
