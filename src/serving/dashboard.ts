// The live dashboard: one static HTML page and its script (public/), no framework and no build
// step. The page polls the JSON routes (/v1/stats, /v1/top, /v1/counts/:key, /readyz); nothing
// here computes anything. public/ sits two levels above this file both in src/serving/ and in
// dist/serving/, so the same path works from the sources and from the build.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const PUBLIC = new URL('../../public/', import.meta.url);

const ASSETS = [
  { path: '/', file: 'index.html', type: 'text/html; charset=utf-8', summary: 'The live dashboard' },
  { path: '/dashboard.js', file: 'dashboard.js', type: 'text/javascript; charset=utf-8', summary: 'Script of the dashboard' },
] as const;

export function registerDashboard(app: FastifyInstance): void {
  for (const a of ASSETS) {
    const body = readFileSync(new URL(a.file, PUBLIC), 'utf8'); // once, when the app is built
    const mediaType = a.type.split(';')[0] as string;
    app.get(a.path, {
      schema: { summary: a.summary, tags: ['dashboard'], response: { 200: { content: { [mediaType]: { schema: { type: 'string' } } } } } },
    }, async (_req, reply) => reply.type(a.type).header('cache-control', 'no-cache').send(body));
  }
}
