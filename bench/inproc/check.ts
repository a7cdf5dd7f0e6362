/**
 * Figure 1: in-process check throughput and p50/p99 latency on the Drive dataset, with the cache cold
 * (disabled) and warm (on, a repeated working set), on one thread and through the worker pool.
 *
 * - Throughput: `concurrency` checks in flight (closed loop), counted over a window; many in flight is how
 *   an API server calls the engine and what lets the pool use every core.
 * - Latency: one check at a time, each timed into an HDR histogram, so p50/p99 are a request's own time
 *   (for the pool: including the hop to a worker and back), not time spent queued behind others.
 * - BatchCheck (`checkMany`, 100 per batch) throughput, cold, on one thread and through the pool.
 *
 * The cold workload is 100,000 requests (20,000 in quick mode) cycled in order; with the cache disabled,
 * repeats cost the same as new requests. The warm working set is the first 10,000 requests, checked once
 * before measuring.
 */
import type { CheckRequest } from "../../engine/permission-engine.js";
import type { DriveSize } from "../datasets/drive.js";
import { summarize, type Figure } from "../report-types.js";
import type { BenchContext } from "../support/context.js";
import { cacheHitShare, engineParams, poolThreads, type BenchEngine, type EngineSetup } from "../support/engine.js";
import { measureLatency, measureRate, progress, repeat } from "../support/measure.js";
import { driveOfSize, openDriveEngine } from "./drive-engine.js";

const GROUP = 1;
const CONCURRENCY = 256;
const BATCH = 100;
const BATCHES_IN_FLIGHT = 8;
const WARM_SET = 10_000;

type Temperature = "cold" | "warm";
type Where = "thread" | "pool";

export async function runCheckFigures(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const size of ctx.driveSizes) figures.push(...(await figuresForSize(ctx, size)));
  return figures;
}

async function figuresForSize(ctx: BenchContext, size: DriveSize): Promise<Figure[]> {
  const drive = driveOfSize(size);
  const { requests, kinds } = drive.workload(ctx.quick ? 20_000 : 100_000);
  const warmSet = requests.slice(0, WARM_SET);
  const figures: Figure[] = [];
  const dataset = { dataset: `drive-${size}`, tuples: drive.layout.tuples };
  const mix = kindShares(kinds);

  for (const where of ["thread", "pool"] as const) {
    for (const temperature of ["cold", "warm"] as const) {
      const setup: EngineSetup = {
        threads: where === "pool" ? poolThreads() : 0,
        ...(temperature === "cold" ? { cacheBytes: 0 } : {}),
      };
      progress(`figure 1: drive ${size}, ${temperature} cache, ${where}: opening the engine`);
      const engine = await openDriveEngine(drive, setup);
      try {
        const set = temperature === "cold" ? requests : warmSet;
        if (temperature === "warm") await engine.checkMany(warmSet);
        figures.push(...(await measureSetup(ctx, engine, set, size, temperature, where, { ...dataset, ...mix })));
        if (temperature === "cold") figures.push(await measureBatch(ctx, engine, set, size, where, dataset));
      } finally {
        await engine.close();
      }
    }
  }
  return figures;
}

async function measureSetup(
  ctx: BenchContext,
  engine: BenchEngine,
  set: readonly CheckRequest[],
  size: DriveSize,
  temperature: Temperature,
  where: Where,
  dataset: Record<string, string | number>,
): Promise<Figure[]> {
  const n = set.length;
  const at = (i: number) => set[i % n] as CheckRequest;
  const params = { ...dataset, ...engineParams(engine), requests: n };
  const label = `${temperature} cache, ${where === "pool" ? `pool of ${engine.setup.threads}` : "one thread"}`;

  const rate = await repeat(ctx.runs, () =>
    measureRate(
      async (i) => {
        await engine.check(at(i));
        return 1;
      },
      { concurrency: CONCURRENCY, durationMs: ctx.throughputMs },
    ),
  );
  const p50: number[] = [];
  const p99: number[] = [];
  let allowed = 0;
  let counted = 0;
  for (let run = 0; run < ctx.runs; run++) {
    // Each run starts at a different place in the workload so runs do not replay the same prefix.
    const offset = run * 997;
    const result = await measureLatency((i) => engine.check(at(offset + i)), { durationMs: ctx.latencyMs });
    p50.push(result.p50);
    p99.push(result.p99);
    allowed += result.truthy;
    counted += result.count;
  }
  const id = `${temperature}.${where}.${size}`;
  const figures: Figure[] = [
    { id: `inproc.check.throughput.${id}`, group: GROUP, title: `check throughput, ${label}, drive ${size}`, unit: "checks/s", ...rate, params: { ...params, concurrency: CONCURRENCY, cacheHitShare: cacheHitShare(engine) } },
    { id: `inproc.check.p50.${id}`, group: GROUP, title: `check p50 latency, ${label}, drive ${size}`, unit: "µs", ...summarize(p50), params: { ...params, allowedShare: round(allowed / counted) } },
    { id: `inproc.check.p99.${id}`, group: GROUP, title: `check p99 latency, ${label}, drive ${size}`, unit: "µs", ...summarize(p99), params },
  ];
  if (where === "pool") {
    // The cold goal is per core: the pool's throughput divided by its threads.
    const t = engine.setup.threads;
    figures.push({
      id: `inproc.check.throughput.${temperature}.pool-per-core.${size}`,
      group: GROUP,
      title: `check throughput per core, ${label}, drive ${size}`,
      unit: "checks/s",
      median: rate.median / t,
      min: rate.min / t,
      max: rate.max / t,
      runs: rate.runs,
      params: { ...params, concurrency: CONCURRENCY },
    });
  }
  return figures;
}

async function measureBatch(
  ctx: BenchContext,
  engine: BenchEngine,
  set: readonly CheckRequest[],
  size: DriveSize,
  where: Where,
  dataset: Record<string, string | number>,
): Promise<Figure> {
  const n = set.length;
  const rate = await repeat(ctx.runs, () =>
    measureRate(
      async (i) => {
        const start = (i * BATCH) % n;
        const batch = set.slice(start, start + BATCH);
        await engine.checkMany(batch);
        return batch.length;
      },
      { concurrency: BATCHES_IN_FLIGHT, durationMs: ctx.throughputMs },
    ),
  );
  const label = where === "pool" ? `pool of ${engine.setup.threads}` : "one thread";
  return {
    id: `inproc.checkMany.throughput.cold.${where}.${size}`,
    group: GROUP,
    title: `BatchCheck (${BATCH} per batch) throughput, cold cache, ${label}, drive ${size}`,
    unit: "checks/s",
    ...rate,
    params: { ...dataset, ...engineParams(engine), batch: BATCH, batchesInFlight: BATCHES_IN_FLIGHT },
  };
}

function kindShares(kinds: readonly string[]): Record<string, string> {
  const counts = new Map<string, number>();
  for (const k of kinds) counts.set(k, (counts.get(k) ?? 0) + 1);
  return { workload: [...counts].map(([k, c]) => `${k} ${Math.round((c / kinds.length) * 100)}%`).join(", ") };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
