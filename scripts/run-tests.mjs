#!/usr/bin/env node
// Runs the test suite with node's test runner (TypeScript through tsx).
//   node scripts/run-tests.mjs [filter...]   e.g. `npm test -- speed` runs files whose path contains "speed"
// Unit tests (test/**/*.test.ts outside test/integration) run first, then the integration tests,
// one file at a time (they share one Kafka broker and one PostgreSQL on a 2-core machine), once
// under each warehouse profile: postgres, then redshift (INSERT bulk path, every statement checked
// against what Redshift refuses). TEST_WAREHOUSE_DIALECT=postgres|redshift runs only one.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

const filters = process.argv.slice(2);
const files = find('test').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  process.stderr.write(`no test files match ${filters.join(' ')}\n`);
  process.exit(1);
}
const unit = files.filter((f) => !f.includes('integration'));
const integration = files.filter((f) => f.includes('integration'));
const args = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', '--test-timeout=300000'];
const env = { ...process.env, KAFKAJS_NO_PARTITIONER_WARNING: '1' };
const dialects = process.env.TEST_WAREHOUSE_DIALECT ? [process.env.TEST_WAREHOUSE_DIALECT] : ['postgres', 'redshift'];
let status = 0;
// every group runs even after a failure; the exit status is the first failure's
const run = (files, extraEnv = {}) => spawnSync(process.execPath, [...args, ...files], { stdio: 'inherit', env: { ...env, ...extraEnv } }).status ?? 1;
if (unit.length > 0) status = run(unit);
for (const dialect of integration.length > 0 ? dialects : []) {
  process.stdout.write(`\n# integration tests, warehouse profile: ${dialect}\n`);
  const r = run(integration, { TEST_WAREHOUSE_DIALECT: dialect });
  status = status || r;
}
process.exit(status);
