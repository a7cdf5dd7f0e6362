/**
 * Figure 4 on its own: load over the network against `gatehouse serve`, printed as a table.
 *
 *   npx tsx bench/network/main.ts [--quick] [--runs N] [--seconds S] [--warmup S] [--concurrency C]
 *     [--channels K] [--loadgen-processes P] [--protocols grpc,connect] [--batch-size B]
 *     [--server-cpu-prof DIR] [--json]
 *
 * `--server-cpu-prof DIR` writes a V8 CPU profile of the server process into DIR when it stops (for
 * profiling only; the profiler itself slows the server down).
 */
import { parseArgs } from "node:util";
import type { Figure } from "../report-types.js";
import { describeNetworkGoals, runNetworkFigures, type NetworkFigureOptions, type Protocol } from "./index.js";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    runs: { type: "string" },
    seconds: { type: "string" },
    warmup: { type: "string" },
    concurrency: { type: "string" },
    channels: { type: "string" },
    "loadgen-processes": { type: "string" },
    protocols: { type: "string" },
    "batch-size": { type: "string" },
    "server-cpu-prof": { type: "string" },
    json: { type: "boolean", default: false },
  },
});

function positive(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: expected a positive number, got ${raw}`);
  return n;
}

function protocolsOf(raw: string | undefined): Protocol[] | undefined {
  if (raw === undefined) return undefined;
  return raw.split(",").map((p) => {
    if (p !== "grpc" && p !== "connect") throw new Error(`--protocols: expected grpc and/or connect, got ${p}`);
    return p;
  });
}

const optional = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };

const options: NetworkFigureOptions = {
  quick: values.quick,
  ...optional("runs", positive("runs", values.runs)),
  ...optional("seconds", positive("seconds", values.seconds)),
  ...optional("warmupSeconds", positive("warmup", values.warmup)),
  ...optional("concurrency", positive("concurrency", values.concurrency)),
  ...optional("channels", positive("channels", values.channels)),
  ...optional("loadgenProcesses", positive("loadgen-processes", values["loadgen-processes"])),
  ...optional("protocols", protocolsOf(values.protocols)),
  ...optional("batchSize", positive("batch-size", values["batch-size"])),
  ...optional("serverCpuProfileDir", values["server-cpu-prof"]),
  log: (line) => process.stderr.write(`${line}\n`),
};

function format(value: number, unit: string): string {
  if (Number.isNaN(value)) return "-";
  return unit === "ms" ? value.toFixed(3) : Math.round(value).toLocaleString("en-US");
}

/** What a reader needs next to a figure to trust it: the load point and whether the generator kept up. */
function note(f: Figure): string {
  const p = f.params ?? {};
  if (typeof p.targetRate === "number") {
    const lag = typeof p.scheduleLagP99Ms === "number" ? `, generator lag p99 ${p.scheduleLagP99Ms.toFixed(1)} ms` : "";
    return `at ${Math.round(p.targetRate)}/s${lag}`;
  }
  if (typeof p.serverCpuPerCallVsNoop === "number") return `server CPU/call ${p.serverCpuPerCallVsNoop.toFixed(2)} x no-op`;
  if (typeof p.serverCpuMicrosPerCheck === "number") return `${p.serverCpuMicrosPerCheck.toFixed(1)} µs server CPU/check`;
  return "";
}

function table(figures: readonly Figure[]): string {
  const rows = figures.map((f) => [
    f.id,
    f.skipped === undefined ? `${format(f.median, f.unit)} ${f.unit}` : `skipped: ${f.skipped}`,
    f.skipped === undefined ? `${format(f.min, f.unit)} - ${format(f.max, f.unit)}` : "",
    f.ratio === undefined ? "" : `${f.ratio.value.toFixed(2)} x no-op`,
    [f.params?.serverCores, f.params?.loadgenCores].every((c) => c !== undefined)
      ? `${String(f.params?.serverCores)} / ${String(f.params?.loadgenCores)}`
      : "",
    typeof f.params?.serverCpuMicrosPerCall === "number" ? f.params.serverCpuMicrosPerCall.toFixed(0) : "",
    note(f),
  ]);
  const header = ["figure", "median", "min - max", "ratio", "cores srv/gen", "srv CPU µs/call", "note"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join("  ").trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

// Exit through process.exit on a signal, so that the server child is killed by its "exit" hook.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));

const started = performance.now();
const figures = await runNetworkFigures(options);
const wall = (performance.now() - started) / 1000;
if (values.json) {
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
} else {
  const first = figures[0];
  const p = first?.params ?? {};
  process.stdout.write(
    `Figure 4: load over the network (gatehouse serve, ${String(p.dataset)}, ${String(p.tuples)} tuples, ` +
      `${String(p.allowedFraction)} of checks allowed)\n` +
      `${String(first?.runs)} runs x ${String(p.seconds)} s (+${String(p.warmupSeconds)} s warm-up), ` +
      `${String(figures.find((f) => f.params?.concurrency !== undefined)?.params?.concurrency)} in flight, ` +
      `${String(p.loadgenProcesses)} load generator process(es); wall ${wall.toFixed(1)} s\n\n`,
  );
  process.stdout.write(`${table(figures)}\n\n`);
  for (const goal of describeNetworkGoals(figures)) process.stdout.write(`${goal}\n`);
}
