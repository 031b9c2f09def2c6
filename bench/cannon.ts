// HTTP load in its own process, kept running for a figure's runs: reads one JSON job per stdin
// line, {url, prefix, keys, connections, seconds}, runs autocannon with `connections` connections,
// GET <url><prefix><random integer in [0, keys)>, and answers one JSON line:
// {"rps","p50","p99","ok","non2xx","errors","timeouts","seconds"} (rps counts 2xx answers only;
// errors include timeouts, 10 s).
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';

interface Job { url: string; prefix: string; keys: number; connections: number; seconds: number }

async function load(a: Job) {
  const result = await autocannon({
    url: a.url,
    connections: a.connections,
    duration: a.seconds,
    requests: [{
      method: 'GET',
      setupRequest: (req) => ({ ...req, path: `${a.prefix}${Math.floor(Math.random() * a.keys)}` }),
    }],
  });
  const ok = result['2xx'];
  return { rps: ok / result.duration, p50: result.latency.p50, p99: result.latency.p99, ok, non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts, seconds: result.duration };
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  process.stdout.write(`${JSON.stringify(await load(JSON.parse(line) as Job))}\n`);
}
