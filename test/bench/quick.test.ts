/**
 * CI smoke test of the bench suite: `bench/main.ts --quick` must finish and report every figure with finite
 * numbers, or with a `skipped` reason where a peer may legitimately be missing (SpiceDB's native library;
 * PostgreSQL when it is unreachable outside CI, the same rule as test/support/postgres.ts). It does not
 * check that any goal is met: goals are reported, never enforced.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BenchReport, Figure } from "../../bench/report-types.js";
import { isPostgresReachable } from "../support/postgres.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TIMEOUT_MS = 5 * 60_000;

/** The ids quick mode must report (group 4's ids belong to the network module and are checked by group). */
const EXPECTED: readonly string[] = [
  ...["cold", "warm"].flatMap((t) =>
    ["thread", "pool"].flatMap((w) => ["throughput", "p50", "p99"].map((k) => `inproc.check.${k}.${t}.${w}.100k`)),
  ),
  "inproc.check.throughput.cold.pool-per-core.100k",
  "inproc.check.throughput.warm.pool-per-core.100k",
  "inproc.checkMany.throughput.cold.thread.100k",
  "inproc.checkMany.throughput.cold.pool.100k",
  ...["resources", "subjects"].flatMap((k) => ["all", "page100"].map((p) => `lookup.${k}.${p}.100k`)),
  ...["pglite", "postgres"].flatMap((s) => [
    `store.write.single.${s}`,
    `store.write.batch1000.${s}`,
    `store.bulkload.${s}.100k`,
    `store.snapshot.${s}.100k`,
  ]),
  "store.rss.perTuple.100k",
  "store.rss.perTuple.1M",
  "store.snapshot.build.100k",
  "store.snapshot.build.1M",
  "casbin.enforce",
  "casbin.enforce.reordered",
  "casbin.gatehouse.check",
  "spicedb.check.10k",
  "spicedb.bulk.10k",
  "spicedb.gatehouse.check.10k",
  "spicedb.gatehouse.batch.10k",
  "identity.hash.argon2id.verify",
  "identity.login.native",
  "identity.noop",
  "identity.whoami",
];
// Group 8 (OAuth2) is left to test/bench/oauth2.test.ts, which checks its setup and a short window of every
// series: its quick run alone would add half a minute of server processes to this already long test.

interface RunOutcome {
  readonly code: number | null;
  readonly output: string;
}

function runQuickBench(jsonFile: string): Promise<RunOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "bench/main.ts", "--quick", "--only", "1,2,3,4,5,6,7", "--json", jsonFile], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const keep = (chunk: Buffer) => {
      // Only the tail matters for a failure message; the progress lines are long.
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS - 10_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function isMeasured(f: Figure): boolean {
  return (
    f.skipped === undefined &&
    Number.isFinite(f.median) &&
    Number.isFinite(f.min) &&
    Number.isFinite(f.max) &&
    f.runs >= 1 &&
    (f.ratio === undefined || Number.isFinite(f.ratio.value))
  );
}

describe("bench --quick (smoke test)", () => {
  let dir: string;
  let outcome: RunOutcome;
  let report: BenchReport;
  let postgresRequired: boolean;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-test-"));
    const file = join(dir, "report.json");
    postgresRequired = process.env["CI"] === "true" || (await isPostgresReachable());
    outcome = await runQuickBench(file);
    try {
      report = JSON.parse(readFileSync(file, "utf8")) as BenchReport;
    } catch (err) {
      throw new Error(`the bench wrote no report (exit code ${outcome.code}): ${(err as Error).message}\n${outcome.output}`);
    }
  }, TIMEOUT_MS);

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("finishes without a failed group", () => {
    expect(report.errors ?? [], outcome.output).toEqual([]);
    expect(outcome.code, outcome.output).toBe(0);
  });

  it("describes the machine", () => {
    expect(report.machine.cpus).toBeGreaterThan(0);
    expect(report.machine.node).toMatch(/^v\d+/);
  });

  it("reports every figure with finite numbers or a reason it was skipped", () => {
    const byId = new Map(report.figures.map((f) => [f.id, f]));
    for (const id of EXPECTED) {
      const f = byId.get(id);
      expect(f, `figure ${id} is missing`).toBeDefined();
      if (f === undefined) continue;
      // Only peers may be missing: SpiceDB's native library, and PostgreSQL where the tests may skip it too.
      const mayBeSkipped = id.startsWith("spicedb.") || (id.includes("postgres") && !postgresRequired);
      if (mayBeSkipped && f.skipped !== undefined) expect(f.skipped.length).toBeGreaterThan(0);
      else expect(isMeasured(f), `figure ${id}: ${JSON.stringify(f)}`).toBe(true);
    }
  });

  it("reports the network figure group (measured or skipped with a reason)", () => {
    const network = report.figures.filter((f) => f.group === 4);
    expect(network.length).toBeGreaterThan(0);
    for (const f of network) expect(isMeasured(f) || (f.skipped ?? "").length > 0, JSON.stringify(f)).toBe(true);
  });

  it("attaches goals without failing on a missed one", () => {
    const withGoals = report.figures.filter((f) => f.goal !== undefined);
    expect(withGoals.length).toBeGreaterThan(0);
    for (const f of withGoals) if (f.skipped === undefined) expect(typeof f.goal?.met, f.id).toBe("boolean");
  });
});
