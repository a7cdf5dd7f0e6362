/**
 * The benchmark suite (issue 4). Runs the figure groups, prints a table (figure, median, min–max, unit,
 * ratio, goal) and writes the report as JSON. See bench/README.md for what each figure measures.
 *
 *   node --import tsx bench/main.ts [--quick] [--large] [--only 1,3] [--runs N] [--json FILE]
 *     [--oauth2-concurrency C] [--oauth2-seconds S] [--oauth2-store memory|pglite]
 *     [--gateway-concurrency C] [--gateway-seconds S]
 *
 * --quick     small datasets and short windows (the CI smoke test; under 3 minutes on 2 cores)
 * --large     adds the 10M-tuple Drive dataset (needs about 16 GB of memory)
 * --only      figure groups to run, e.g. `--only 1` or `--only 1,5` (default: all of 1..9)
 * --runs      repetitions per measurement (default 3 quick, 5 full); medians, min and max are over them
 * --json      also write the report to FILE
 * --oauth2-*  group 8: requests in flight (default 32), measured seconds per series and round (default 1,
 *             quick 0.4), the store of both OAuth2 servers (default memory)
 * --gateway-* group 9: requests in flight (default 32), measured seconds per series and round (default 1.5,
 *             quick 0.3)
 *
 * Groups 1, 2, 3, 5, 6 and 7 each run in a fresh child process; groups 4 (network), 8 (oauth2) and 9 (gateway)
 * start their own processes.
 * A missed goal never fails the suite; a group that crashes does (exit code 1, after the report is written).
 */
import { existsSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, platform, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { skippedFigure, type BenchReport, type Figure, type MachineInfo } from "./report-types.js";
import { runChild } from "./support/child.js";
import { applyGoals } from "./support/goals.js";
import { progress } from "./support/measure.js";
import { formatTable } from "./support/table.js";

const ALL_GROUPS = [1, 2, 3, 4, 5, 6, 7, 8, 9] as const;

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    large: { type: "boolean", default: false },
    only: { type: "string", multiple: true },
    runs: { type: "string" },
    json: { type: "string" },
    "oauth2-concurrency": { type: "string" },
    "oauth2-seconds": { type: "string" },
    "oauth2-store": { type: "string" },
    "gateway-concurrency": { type: "string" },
    "gateway-seconds": { type: "string" },
  },
});

const groups = values.only === undefined ? [...ALL_GROUPS] : parseGroups(values.only);
const runs = values.runs === undefined ? undefined : Number(values.runs);
if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1)) usage(`--runs must be a positive integer, got ${values.runs}`);
const oauth2Concurrency = values["oauth2-concurrency"] === undefined ? undefined : Number(values["oauth2-concurrency"]);
if (oauth2Concurrency !== undefined && !(Number.isInteger(oauth2Concurrency) && oauth2Concurrency >= 1)) usage(`--oauth2-concurrency must be a positive integer`);
const oauth2Seconds = values["oauth2-seconds"] === undefined ? undefined : Number(values["oauth2-seconds"]);
if (oauth2Seconds !== undefined && !(Number.isFinite(oauth2Seconds) && oauth2Seconds > 0)) usage(`--oauth2-seconds must be a positive number`);
const oauth2Store = values["oauth2-store"];
if (oauth2Store !== undefined && oauth2Store !== "memory" && oauth2Store !== "pglite") usage(`--oauth2-store must be memory or pglite`);
const gatewayConcurrency = values["gateway-concurrency"] === undefined ? undefined : Number(values["gateway-concurrency"]);
if (gatewayConcurrency !== undefined && !(Number.isInteger(gatewayConcurrency) && gatewayConcurrency >= 1)) usage(`--gateway-concurrency must be a positive integer`);
const gatewaySeconds = values["gateway-seconds"] === undefined ? undefined : Number(values["gateway-seconds"]);
if (gatewaySeconds !== undefined && !(Number.isFinite(gatewaySeconds) && gatewaySeconds > 0)) usage(`--gateway-seconds must be a positive number`);

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: bench/main.ts [--quick] [--large] [--only 1,3] [--runs N] [--json FILE] [--oauth2-concurrency C] [--oauth2-seconds S] [--oauth2-store memory|pglite] [--gateway-concurrency C] [--gateway-seconds S]\n`);
  process.exit(2);
}

function parseGroups(specs: readonly string[]): number[] {
  const out = new Set<number>();
  for (const part of specs.flatMap((s) => s.split(","))) {
    const n = Number(part.trim());
    if (!ALL_GROUPS.includes(n as (typeof ALL_GROUPS)[number])) usage(`--only: no figure group "${part}" (groups are 1..9)`);
    out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}

function machine(): MachineInfo {
  const list = cpus();
  return {
    cpus: availableParallelism(),
    model: list[0]?.model.trim() ?? "unknown",
    memory: totalmem(),
    node: process.version,
    platform: `${platform()}-${process.arch}`,
  };
}

/** The figure ids a group would have produced, for a placeholder when it fails as a whole. */
function failedGroup(group: number, reason: string): Figure {
  return skippedFigure({ id: `group${group}.failed`, group, title: `figure group ${group}`, unit: "" }, reason);
}

/** The network figure (another module): run it when it is present, otherwise record why it is missing. */
async function runNetwork(quick: boolean): Promise<Figure[]> {
  const path = fileURLToPath(new URL("./network/index.ts", import.meta.url));
  const base = { id: "network", group: 4, title: "network load (gRPC, Connect)", unit: "" };
  if (!existsSync(path)) return [skippedFigure(base, "bench/network/index.ts is not present")];
  // A computed specifier: the module is optional, so the suite must compile and run without it.
  const specifier = "./network/index.js";
  const mod = (await import(specifier)) as {
    runNetworkFigures(options: { quick: boolean; runs?: number; log?: (line: string) => void }): Promise<Figure[]>;
    describeNetworkGoals?(figures: readonly Figure[]): string[];
  };
  const figures = await mod.runNetworkFigures({
    quick,
    log: (line) => progress(`figure 4: ${line}`),
    ...(runs === undefined ? {} : { runs }),
  });
  // Goals the network figures carry are shown in the table; the module's own lines only when they carry none.
  if (!figures.some((f) => f.goal !== undefined)) networkGoalLines = mod.describeNetworkGoals?.(figures) ?? [];
  return figures;
}
let networkGoalLines: string[] = [];

const started = performance.now();
const figures: Figure[] = [];
const errors: string[] = [];
const groupScript = fileURLToPath(new URL("./run-group.ts", import.meta.url));
for (const group of groups) {
  const t0 = performance.now();
  progress(`figure group ${group}: start`);
  try {
    if (group === 4) {
      figures.push(...(await runNetwork(values.quick)));
    } else if (group === 8) {
      // Like group 4 it starts its own server processes; the load generator runs here.
      const { runOAuth2Figures } = await import("./oauth2/index.js");
      figures.push(
        ...(await runOAuth2Figures({
          quick: values.quick,
          log: (line) => progress(`figure 8: ${line}`),
          ...(runs === undefined ? {} : { runs }),
          ...(oauth2Concurrency === undefined ? {} : { concurrency: oauth2Concurrency }),
          ...(oauth2Seconds === undefined ? {} : { seconds: oauth2Seconds }),
          ...(oauth2Store === undefined ? {} : { store: oauth2Store }),
        })),
      );
    } else if (group === 9) {
      // Like group 8: the upstream and one gateway per rule count in their own processes, the load generator here.
      const { runGatewayFigures } = await import("./gateway/index.js");
      figures.push(
        ...(await runGatewayFigures({
          quick: values.quick,
          log: (line) => progress(`figure 9: ${line}`),
          ...(runs === undefined ? {} : { runs }),
          ...(gatewayConcurrency === undefined ? {} : { concurrency: gatewayConcurrency }),
          ...(gatewaySeconds === undefined ? {} : { seconds: gatewaySeconds }),
        })),
      );
    } else {
      const args = [`--group`, String(group), ...(values.quick ? ["--quick"] : []), ...(values.large ? ["--large"] : [])];
      if (runs !== undefined) args.push("--runs", String(runs));
      const result = await runChild<Figure[]>(groupScript, args, {
        // Generous: quick groups take well under a minute; full 1M/10M groups take many minutes.
        timeoutMs: values.quick ? 240_000 : 4 * 3_600_000,
        nodeFlags: values.large ? ["--max-old-space-size=16384"] : ["--max-old-space-size=6144"],
      });
      figures.push(...result);
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    errors.push(`group ${group}: ${reason}`);
    figures.push(failedGroup(group, `failed: ${reason}`));
  }
  progress(`figure group ${group}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
const wallSeconds = (performance.now() - started) / 1000;

const withGoals = applyGoals(figures);
const info = machine();
process.stdout.write(
  `Gatehouse bench (${values.quick ? "quick" : values.large ? "full + 10M" : "full"}), ${info.cpus} × ${info.model}, ` +
    `${(info.memory / 2 ** 30).toFixed(1)} GiB, Node ${info.node}; median and min–max over runs\n\n`,
);
process.stdout.write(`${formatTable(withGoals)}\n`);
for (const line of networkGoalLines) process.stdout.write(`network goal: ${line}\n`);
for (const e of errors) process.stdout.write(`ERROR ${e}\n`);
process.stdout.write(`\nwall time ${wallSeconds.toFixed(1)} s\n`);

if (values.json !== undefined) {
  const report: BenchReport = {
    machine: info,
    figures: withGoals,
    run: { quick: values.quick, large: values.large, runs: runs ?? (values.quick ? 3 : 5), groups: groups.join(","), wallSeconds },
    errors,
  };
  writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
}
// The network module or a peer may leave handles open; the report is out.
process.exit(errors.length > 0 ? 1 : 0);
