// HTTP load in its own process: autocannon, `connections` connections, GET <url><prefix><random
// integer in [0, keys)>. Prints {"rps","p50","p99","ok","non2xx","errors","seconds"} as its last line.
import autocannon from 'autocannon';

interface Args { url: string; prefix: string; keys: number; connections: number; seconds: number }

const a = JSON.parse(process.argv[2] ?? '{}') as Args;
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
process.stdout.write(`${JSON.stringify({
  rps: ok / result.duration,
  p50: result.latency.p50,
  p99: result.latency.p99,
  ok,
  non2xx: result.non2xx,
  errors: result.errors,
  seconds: result.duration,
})}\n`);
