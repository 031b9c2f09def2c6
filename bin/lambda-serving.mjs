#!/usr/bin/env node
// The lambda-serving command. In a checkout (src/ and tsx present) it runs the TypeScript sources,
// so it never runs a stale build; in the container image (no src/) it runs the build, dist/.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli.ts', import.meta.url);
let cli;
if (existsSync(source)) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
    cli = await import(source.href);
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
}
cli ??= await import(new URL('../dist/cli.js', import.meta.url).href);
const code = await cli.runCli(process.argv.slice(2), process.env);
if (code !== undefined) process.exitCode = code;
