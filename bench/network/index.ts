/**
 * Figure 4 of the bench suite: load over the network. `gatehouse serve` runs in one process, the load
 * generator (`loadgen.ts`, grpc-js and connect-node clients, HDR histograms) in one or more others; this
 * module drives both and reports, for gRPC and for Connect:
 *
 * - the no-op RPC on the same server stack (`grpc.health.v1.Health/Check`: same port, sniffer, grpc-js
 *   adapter or connect-node router, metrics and tracing as PermissionService, with no engine behind it): the
 *   ceiling the transport allows;
 * - single Check, in calls/s and as a ratio to that ceiling;
 * - BatchCheck of 100 items, in checks/s;
 * - Check's p50 and p99 latency at half the Check throughput measured in the same run (open loop).
 *
 * Runs interleave the protocols and calls, so drift on the machine shifts them all alike; each figure is the
 * median, min and max over the runs. The goals of the issue (Check >= 85% of the no-op on gRPC, BatchCheck
 * >= 300k checks/s, p99 <= 2 ms at half load) are reported by `describeNetworkGoals`, never asserted.
 *
 * On a 2-core machine the load generator competes with the server for CPU: a Node client spends about as
 * much per unary call as the server does, so the no-op ceiling is largely the client's. The figures carry
 * both processes' CPU use (in cores) so a reader can tell which side saturated.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import * as hdr from "hdr-histogram-js";
import { skippedFigure, summarize, type Figure, type Goal } from "../report-types.js";
import { driveNetworkDataset, type NetworkDataset } from "./dataset.js";
import { histogramSettings, type LoadgenCommand, type LoadgenReply, type Protocol, type Rpc, type RunResult } from "./messages.js";
import { loadDataset, startServerProcess, type LoadedDataset, type ServerProcess } from "./server-process.js";

export type { NetworkDataset, PlainRelationship, PlainSubject } from "./dataset.js";
export type { Protocol } from "./messages.js";
export { driveNetworkDataset, plainOf } from "./dataset.js";

/** Options of `runNetworkFigures`. */
export interface NetworkFigureOptions {
  /** Short runs (about a minute in all on 2 cores) instead of the full measurement. */
  quick: boolean;
  /** Repetitions of every measurement (default 3 quick, 5 full). */
  runs?: number;
  /** Measured seconds per measurement (default 1.2 quick, 5 full), after a warm-up. */
  seconds?: number;
  /** Warm-up seconds before each measurement (default 0.4 quick, 1 full). */
  warmupSeconds?: number;
  /** Calls in flight in the closed-loop runs, over all load generator processes (default 64). */
  concurrency?: number;
  /** gRPC connections per load generator process (default 4). */
  channels?: number;
  /** Load generator processes (default 1: on 2 cores more of them only take CPU from the server). */
  loadgenProcesses?: number;
  /** Protocols to measure (default both). */
  protocols?: readonly Protocol[];
  /** The data and checks (default: the suite's Drive dataset, 10k tuples quick, 100k full; 1,000 checks). */
  dataset?: NetworkDataset;
  /** Items per BatchCheck (default 100, the issue's figure). */
  batchSize?: number;
  /** Writes a V8 CPU profile of the server process into this folder (for profiling, not for figures). */
  serverCpuProfileDir?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

const GROUP = 4;

/** What one load generator process is, from this side. */
interface Loadgen {
  send(command: LoadgenCommand): Promise<LoadgenReply>;
  close(): Promise<void>;
}

function startLoadgen(): Loadgen {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", new URL("./loadgen.ts", import.meta.url).pathname], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  // One command at a time per process, so replies arrive in the order the commands went out.
  const waiting: { resolve: (reply: LoadgenReply) => void; reject: (error: Error) => void }[] = [];
  let gone: Error | undefined;
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  lines.on("line", (line) => {
    if (line.trim() === "") return;
    waiting.shift()?.resolve(JSON.parse(line) as LoadgenReply);
  });
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code) => {
      gone = new Error(`the load generator exited with ${code}`);
      for (const w of waiting.splice(0)) w.reject(gone);
      resolve();
    }),
  );
  return {
    send(command) {
      if (gone !== undefined) return Promise.reject(gone);
      return new Promise((resolve, reject) => {
        waiting.push({ resolve, reject });
        child.stdin?.write(`${JSON.stringify(command)}\n`);
      });
    },
    async close() {
      if (gone !== undefined) return;
      child.stdin?.write(`${JSON.stringify({ type: "exit" } satisfies LoadgenCommand)}\n`);
      child.stdin?.end();
      await exited;
    },
  };
}

/** One measurement, merged over the load generator processes. */
interface Measurement {
  callsPerSecond: number;
  errors: number;
  firstError: string | undefined;
  p50Millis: number;
  p99Millis: number;
  /** CPU in cores (CPU seconds per wall second), warm-up included. */
  serverCores: number | undefined;
  loadgenCores: number;
  scheduleLagP99Millis: number | undefined;
}

interface Rig {
  server: ServerProcess;
  loadgens: Loadgen[];
  warmupSeconds: number;
  seconds: number;
}

let nextId = 1;

async function measure(
  rig: Rig,
  protocol: Protocol,
  rpc: Rpc,
  concurrency: number,
  rate?: number,
  timing: { warmupSeconds: number; seconds: number } = rig,
): Promise<Measurement> {
  const n = rig.loadgens.length;
  const serverBefore = rig.server.cpuSeconds();
  const wallBefore = performance.now();
  const replies = await Promise.all(
    rig.loadgens.map((loadgen, i) =>
      loadgen.send({
        type: "run",
        id: nextId++,
        protocol,
        rpc,
        // Calls in flight split over the processes as evenly as whole numbers allow.
        concurrency: Math.max(1, Math.floor(concurrency / n) + (i < concurrency % n ? 1 : 0)),
        warmupSeconds: timing.warmupSeconds,
        seconds: timing.seconds,
        ...(rate === undefined ? {} : { rate: rate / n }),
      }),
    ),
  );
  const wallSeconds = (performance.now() - wallBefore) / 1000;
  const serverAfter = rig.server.cpuSeconds();
  const results: RunResult[] = replies.map((reply) => {
    if (reply.type === "error") throw new Error(`load generator: ${reply.message}`);
    if (reply.type !== "result") throw new Error(`load generator: unexpected reply ${reply.type}`);
    return reply;
  });
  const merged = hdr.build(histogramSettings);
  for (const r of results) {
    const part = hdr.decodeFromCompressedBase64(r.histogram);
    merged.add(part);
    part.destroy();
  }
  const lags = results.flatMap((r) => (r.scheduleLagP99Micros === undefined ? [] : [r.scheduleLagP99Micros / 1000]));
  const measurement: Measurement = {
    callsPerSecond: results.reduce((sum, r) => sum + r.calls / r.seconds, 0),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    firstError: results.find((r) => r.firstError !== undefined)?.firstError,
    p50Millis: merged.getValueAtPercentile(50) / 1000,
    p99Millis: merged.getValueAtPercentile(99) / 1000,
    serverCores: serverBefore === undefined || serverAfter === undefined ? undefined : (serverAfter - serverBefore) / wallSeconds,
    loadgenCores: results.reduce((sum, r) => sum + r.cpuSeconds, 0) / timing.seconds,
    scheduleLagP99Millis: lags.length === 0 ? undefined : Math.max(...lags),
  };
  merged.destroy();
  return measurement;
}

/** Samples of one figure over the runs, plus what its params summarize. */
interface Series {
  values: number[];
  errors: number;
  firstError: string | undefined;
  serverCores: number[];
  loadgenCores: number[];
  extra: Map<string, number[]>;
}

function newSeries(): Series {
  return { values: [], errors: 0, firstError: undefined, serverCores: [], loadgenCores: [], extra: new Map() };
}

/**
 * Server CPU per answered call, in microseconds. On a machine where the load generator and the server share
 * the cores, throughput mostly says who got more CPU; the server's cost per call does not depend on that.
 */
function perCall(m: Measurement): number | undefined {
  return m.serverCores === undefined || m.callsPerSecond === 0 ? undefined : (m.serverCores / m.callsPerSecond) * 1e6;
}

function divide(x: number | undefined, by: number): number | undefined {
  return x === undefined ? undefined : x / by;
}

function add(series: Series, value: number, m: Measurement, extra: Record<string, number | undefined> = {}): void {
  series.values.push(value);
  series.errors += m.errors;
  series.firstError ??= m.firstError;
  if (m.serverCores !== undefined) series.serverCores.push(m.serverCores);
  // Open-loop runs report the generator's CPU over the measured window, closed-loop ones too.
  series.loadgenCores.push(m.loadgenCores);
  for (const [key, v] of Object.entries(extra)) {
    if (v === undefined) continue;
    const list = series.extra.get(key) ?? [];
    list.push(v);
    series.extra.set(key, list);
  }
}

const protocolLabel: Record<Protocol, string> = { grpc: "gRPC", connect: "Connect" };
const transportOf: Record<Protocol, string> = {
  grpc: "gRPC over h2c to the plane's grpc-js server; client @grpc/grpc-js",
  connect: "Connect (binary) over HTTP/1.1 to the plane's connect-node handler; client connect-node",
};

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Measures figure 4 against a fresh `gatehouse serve` process and returns its figures. */
export async function runNetworkFigures(options: NetworkFigureOptions): Promise<Figure[]> {
  const runs = options.runs ?? (options.quick ? 3 : 5);
  const seconds = options.seconds ?? (options.quick ? 1.2 : 5);
  const warmupSeconds = options.warmupSeconds ?? (options.quick ? 0.4 : 1);
  const prewarmSeconds = options.quick ? 0.7 : 2;
  const concurrency = options.concurrency ?? 64;
  const channels = options.channels ?? 4;
  const processes = Math.max(1, options.loadgenProcesses ?? 1);
  const protocols = options.protocols ?? (["grpc", "connect"] as const);
  const batchSize = options.batchSize ?? 100;
  const log = options.log ?? (() => {});
  const dataset = options.dataset ?? driveNetworkDataset(options.quick ? 10_000 : 100_000);

  // The generators compile and start while the server does.
  const loadgens = Array.from({ length: processes }, () => startLoadgen());
  let server: ServerProcess | undefined;
  const series = new Map<string, Series>();
  const seriesOf = (id: string): Series => {
    let s = series.get(id);
    if (s === undefined) series.set(id, (s = newSeries()));
    return s;
  };
  let loaded: LoadedDataset;
  try {
    server = await startServerProcess(options.serverCpuProfileDir === undefined ? {} : { cpuProfileDir: options.serverCpuProfileDir });
    log(`gatehouse serve: pid ${server.pid}, read plane 127.0.0.1:${server.readPort}`);
    loaded = await loadDataset(server, dataset);
    log(`loaded ${dataset.name}: ${loaded.tuples} tuples, ${loaded.checks} checks (${Math.round(loaded.allowedFraction * 100)}% allowed)`);
    for (const loadgen of loadgens) {
      const reply = await loadgen.send({ type: "setup", host: "127.0.0.1", port: server.readPort, checks: dataset.checks, batchSize, channels });
      if (reply.type !== "ready") throw new Error(`load generator setup failed: ${reply.type === "error" ? reply.message : reply.type}`);
    }
    const rig: Rig = { server, loadgens, warmupSeconds, seconds };
    // A fresh server runs cold code at first (modules just compiled by tsx, functions not yet optimized by
    // the JIT), and the first measurement of a protocol came out up to 2x low: one untimed pass over every
    // call first, so that run 1 measures the same warm server as the others.
    for (const protocol of protocols) {
      for (const rpc of ["noop", "check", "batch"] as const) {
        await measure(rig, protocol, rpc, concurrency, undefined, { warmupSeconds: 0, seconds: prewarmSeconds });
      }
    }
    for (let run = 0; run < runs; run++) {
      for (const protocol of protocols) {
        const noop = await measure(rig, protocol, "noop", concurrency);
        add(seriesOf(`network.${protocol}.noop`), noop.callsPerSecond, noop, { p99Ms: noop.p99Millis, serverCpuMicrosPerCall: perCall(noop) });
        const check = await measure(rig, protocol, "check", concurrency);
        add(seriesOf(`network.${protocol}.check`), check.callsPerSecond, check, { p99Ms: check.p99Millis, serverCpuMicrosPerCall: perCall(check) });
        const batch = await measure(rig, protocol, "batch", concurrency);
        add(seriesOf(`network.${protocol}.batch${batchSize}`), batch.callsPerSecond * batchSize, batch, {
          p99Ms: batch.p99Millis,
          serverCpuMicrosPerCall: perCall(batch),
          serverCpuMicrosPerCheck: divide(perCall(batch), batchSize),
        });
        // Half of this run's own maximum, so the load point follows the machine's state.
        const rate = check.callsPerSecond / 2;
        const half = await measure(rig, protocol, "check", concurrency, rate);
        const extra = { targetRate: rate, achievedRate: half.callsPerSecond, scheduleLagP99Ms: half.scheduleLagP99Millis };
        add(seriesOf(`network.${protocol}.check.p50_at_half_load`), half.p50Millis, half, extra);
        add(seriesOf(`network.${protocol}.check.p99_at_half_load`), half.p99Millis, half, extra);
        log(
          `run ${run + 1}/${runs} ${protocolLabel[protocol]}: no-op ${Math.round(noop.callsPerSecond)}/s, check ${Math.round(check.callsPerSecond)}/s, ` +
            `batch ${Math.round(batch.callsPerSecond * batchSize)} checks/s, at ${Math.round(rate)}/s p50 ${half.p50Millis.toFixed(3)} ms p99 ${half.p99Millis.toFixed(3)} ms`,
        );
      }
    }
  } finally {
    await Promise.allSettled(loadgens.map((l) => l.close()));
    await server?.stop();
  }

  const common = {
    dataset: dataset.name,
    tuples: loaded.tuples,
    distinctChecks: loaded.checks,
    allowedFraction: round(loaded.allowedFraction, 3),
    warmupSeconds,
    seconds,
    loadgenProcesses: processes,
  };
  const figures: Figure[] = [];
  const figure = (
    id: string,
    protocol: Protocol,
    title: string,
    unit: string,
    params: Record<string, string | number | boolean>,
    goal?: Omit<Goal, "met">,
    ratioAgainst?: string,
  ): void => {
    const s = seriesOf(id);
    const stats = summarize(s.values);
    const cpu = {
      ...(s.serverCores.length === 0 ? {} : { serverCores: round(summarize(s.serverCores).median, 2) }),
      loadgenCores: round(summarize(s.loadgenCores).median, 2),
    };
    const extra = Object.fromEntries([...s.extra].map(([key, values]) => [key, round(summarize(values).median, 3)]));
    const allParams = { protocol: protocolLabel[protocol], transport: transportOf[protocol], ...common, ...params, ...cpu, ...extra };
    if (s.errors > 0 || s.values.length === 0) {
      const reason = s.errors > 0 ? `${s.errors} calls failed, first: ${s.firstError ?? "?"}` : "not measured";
      figures.push({ ...skippedFigure({ id, group: GROUP, title, unit, params: { ...allParams, errors: s.errors } }, reason), ...(goal === undefined ? {} : { goal }) });
      return;
    }
    const peer = ratioAgainst === undefined ? undefined : series.get(ratioAgainst);
    const peerMedian = peer === undefined || peer.errors > 0 ? undefined : summarize(peer.values).median;
    const ratio = ratioAgainst === undefined || peerMedian === undefined ? undefined : { against: ratioAgainst, value: stats.median / peerMedian };
    const compared = goal === undefined ? undefined : goal.on === "ratio" ? ratio?.value : stats.median;
    figures.push({
      id,
      group: GROUP,
      title,
      unit,
      ...stats,
      ...(ratio === undefined ? {} : { ratio }),
      params: allParams,
      ...(goal === undefined ? {} : { goal: compared === undefined ? goal : { ...goal, met: meets(compared, goal) } }),
    });
  };
  for (const protocol of protocols) {
    const p = protocolLabel[protocol];
    const closed = { concurrency, ...(protocol === "grpc" ? { channels: channels * processes } : { connections: concurrency }) };
    figure(`network.${protocol}.noop`, protocol, `${p} no-op RPC (grpc.health.v1.Health/Check, same stack), closed loop`, "calls/s", closed);
    // Where the client, not the server, is the bottleneck the calls/s ratio tends to 1 whatever the server
    // does; the ratio of the server's CPU per call says how much the engine adds to the transport's cost.
    const cpuPerCall = (id: string): number | undefined => {
      const values = series.get(id)?.extra.get("serverCpuMicrosPerCall");
      return values === undefined ? undefined : summarize(values).median;
    };
    const noopCpu = cpuPerCall(`network.${protocol}.noop`);
    const checkCpu = cpuPerCall(`network.${protocol}.check`);
    figure(
      `network.${protocol}.check`,
      protocol,
      `${p} Check, closed loop`,
      "calls/s",
      { ...closed, ...(noopCpu === undefined || checkCpu === undefined ? {} : { serverCpuPerCallVsNoop: round(checkCpu / noopCpu, 2) }) },
      // The issue sets the ceiling goal for gRPC; Connect's ratio is reported without one.
      protocol === "grpc" ? { text: ">= 85% of the no-op RPC", on: "ratio", op: ">=", target: 0.85 } : undefined,
      `network.${protocol}.noop`,
    );
    figure(`network.${protocol}.batch${batchSize}`, protocol, `${p} BatchCheck(${batchSize}), closed loop`, "checks/s", { ...closed, batchSize }, {
      text: ">= 300,000 checks/s per process",
      on: "median",
      op: ">=",
      target: 300_000,
    });
    for (const q of ["p50", "p99"] as const) {
      figure(
        `network.${protocol}.check.${q}_at_half_load`,
        protocol,
        `${p} Check ${q} latency at half the max Check rate, open loop`,
        "ms",
        { maxInFlight: concurrency },
        q === "p99" ? { text: "<= 2 ms at half of the max throughput", on: "median", op: "<=", target: 2 } : undefined,
      );
    }
  }
  return figures;
}

function meets(value: number, goal: Omit<Goal, "met">): boolean {
  switch (goal.op) {
    case ">=":
      return value >= goal.target;
    case "<=":
      return value <= goal.target;
    case ">":
      return value > goal.target;
  }
}

/** The issue's goals against the figures, one line each: reported, never asserted. */
export function describeNetworkGoals(figures: readonly Figure[]): string[] {
  return figures.flatMap((f) => {
    if (f.goal === undefined) return [];
    const value = f.goal.on === "ratio" ? f.ratio?.value : f.median;
    const shown = value === undefined || Number.isNaN(value) ? "-" : f.goal.on === "ratio" || f.unit === "ms" ? value.toFixed(3) : Math.round(value).toString();
    const verdict = f.goal.met === undefined ? "not measured" : f.goal.met ? "met" : "NOT met";
    return [`${f.id}: ${shown}${f.goal.on === "ratio" ? " of the no-op" : ` ${f.unit}`} (goal ${f.goal.text}): ${verdict}`];
  });
}
