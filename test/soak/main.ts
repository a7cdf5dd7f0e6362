/**
 * `npm run soak -- [--duration 2m] [--nodes 3] [--chaos] [--concurrency 8] [--seed N]`: runs the cluster
 * soak (see `soak.ts`) against the PostgreSQL of the test suites (`GATEHOUSE_TEST_POSTGRES_URL`, default
 * 127.0.0.1:5432) and Redis (`GATEHOUSE_TEST_REDIS_URL`, default 127.0.0.1:6379), prints its report and
 * exits 1 when it found lost writes or inconsistent answers (or too many failures outside the chaos).
 */
import { parseArgs } from "node:util";
import { isPostgresReachable, postgresAdminUrl } from "../support/postgres.js";
import { formatSoakReport, parseDuration, runSoak } from "./soak.js";

const usage = `Usage: npm run soak -- [--duration 2m] [--nodes 3] [--chaos] [--concurrency 8] [--seed N] [--no-redis]

  --duration     how long the load runs: 120 (seconds), 20s, 2m, 1h, 500ms (default 2m)
  --nodes        gatehouse serve processes on one PostgreSQL database (default 3)
  --chaos        SIGKILL one node about a third in, restart it about half way
  --concurrency  requests in flight (default 8)
  --seed         seed of the load's choices (default random; printed)
  --no-redis     start the nodes without Redis
`;

function positiveInt(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag}: expected a positive whole number, got "${text}"`);
  return n;
}

async function main(): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: process.argv.slice(2),
      options: {
        duration: { type: "string" },
        nodes: { type: "string" },
        chaos: { type: "boolean" },
        concurrency: { type: "string" },
        seed: { type: "string" },
        "no-redis": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  let durationMs: number;
  let nodes: number;
  let concurrency: number;
  let seed: number | undefined;
  try {
    durationMs = values.duration === undefined ? 120_000 : parseDuration(values.duration);
    nodes = positiveInt(values.nodes, "--nodes", 3);
    concurrency = positiveInt(values.concurrency, "--concurrency", 8);
    seed = values.seed === undefined ? undefined : Number(values.seed);
    if (seed !== undefined && (!Number.isInteger(seed) || seed < 0)) throw new Error(`--seed: expected a whole number, got "${values.seed}"`);
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (!(await isPostgresReachable())) {
    process.stderr.write(`soak: PostgreSQL is not reachable at ${postgresAdminUrl()} (set GATEHOUSE_TEST_POSTGRES_URL)\n`);
    return 1;
  }

  // Ctrl-C ends the load early; the run still verifies what it did and cleans up. A second one exits at once.
  const abort = new AbortController();
  let interrupted = 0;
  const onSignal = (): void => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    process.stderr.write("soak: interrupted, finishing early (again to quit now)\n");
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  const report = await runSoak({
    durationMs,
    nodes,
    chaos: values.chaos === true,
    concurrency,
    ...(seed === undefined ? {} : { seed }),
    ...(values["no-redis"] === true ? { redisUrl: null } : {}),
    signal: abort.signal,
    log: (line) => process.stderr.write(`soak: ${line}\n`),
  });
  process.stdout.write(`${formatSoakReport(report)}\n`);
  return report.passed ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`soak: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
}
