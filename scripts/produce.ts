// npm run produce -- --rate N [--topic T] [--brokers B] [--partitions P] [--duration D] [--mode totals|deltas] [--bad-every N]
// Writes Spark-format speed updates to a real Kafka topic, for demos and load: the records of the
// embedded generator (src/embedded/generator.ts). Same as `lambda-serving produce`.
import { runCli } from '../src/cli.js';

const code = await runCli(['produce', ...process.argv.slice(2)], {});
process.exitCode = code ?? 0;
