// One figure group in a fresh process (fresh heap, its own peak RSS, nothing left from the others):
//   node --expose-gc --import tsx bench/figure.ts <group> <options JSON> <result file>
// Writes {"figures":[...],"info":{...}} to the result file; its own schema/topics/groups are
// removed before it exits.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { Scope, type Figure, type Options } from './lib.js';
import { batchLoad } from './batchload.js';
import { flush } from './flush.js';
import { freshness } from './freshness.js';
import { ingest } from './ingest.js';
import { memory } from './memory.js';
import { reads } from './reads.js';

export interface GroupResult { figures: Figure[]; info?: Record<string, number> }
export type Group = (o: Options, scope: Scope) => Promise<GroupResult>;

export const GROUPS: Record<string, Group> = { ingest, reads, flush, batchload: batchLoad, memory, freshness };

async function main(): Promise<void> {
  const [name, optsJson, out] = process.argv.slice(2);
  const group = GROUPS[name ?? ''];
  if (!group || optsJson === undefined || out === undefined) throw new Error(`usage: figure.ts <${Object.keys(GROUPS).join('|')}> <options> <out>`);
  const o = JSON.parse(optsJson) as Options;
  const scope = new Scope(`${o.prefix}_${name}`);
  let result: GroupResult;
  try {
    result = await group(o, scope);
  } finally {
    await scope.close();
  }
  writeFileSync(out, JSON.stringify(result));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main().then(
  () => process.exit(0), // kafkajs/pg timers must not keep a finished figure alive
  (err: unknown) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exit(1); },
);
