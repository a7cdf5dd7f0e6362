/**
 * The bench's view of the permission engine: opened with a pool size and a cache size, with check, BatchCheck
 * (`checkMany`), counters and close in one place, so every figure configures and releases it the same way.
 */
import { availableParallelism } from "node:os";
import { PermissionEngine, type CheckRequest, type PermissionEngineStats } from "../../engine/permission-engine.js";
import type { TupleStore } from "../../engine/store/index.js";

/** How the engine is configured for a measurement. */
export interface EngineSetup {
  /** Worker threads evaluating checks; 0 = the calling thread. */
  readonly threads: number;
  /** Check cache size in bytes; 0 disables it; undefined leaves the engine's default. */
  readonly cacheBytes?: number;
}

/** An engine opened for a measurement. */
export interface BenchEngine {
  readonly engine: PermissionEngine;
  readonly setup: EngineSetup;
  /** One check; true when allowed. */
  check(request: CheckRequest): Promise<boolean>;
  /** BatchCheck; an item's error is thrown (the bench's workloads have none). */
  checkMany(requests: CheckRequest[]): Promise<boolean[]>;
  stats(): PermissionEngineStats;
  /** Stops the engine's pool. The store is the caller's. */
  close(): Promise<void>;
}

/** The thread count of "through the pool": one worker per core. */
export function poolThreads(): number {
  return availableParallelism();
}

/** Opens an engine over `store` with the setup's pool and cache options. */
export async function openBenchEngine(store: TupleStore, setup: EngineSetup): Promise<BenchEngine> {
  const engine = await PermissionEngine.open({
    store,
    evaluator: { threads: setup.threads },
    ...(setup.cacheBytes === undefined ? {} : { cache: { maxBytes: setup.cacheBytes } }),
  });
  return {
    engine,
    setup,
    async check(request) {
      return (await engine.check(request)).allowed;
    },
    async checkMany(requests) {
      const { results } = await engine.checkMany(requests);
      return results.map((r) => {
        if (r instanceof Error) throw r;
        return r;
      });
    },
    stats: () => engine.stats(),
    close: () => engine.close(),
  };
}

/** Figure params describing an engine setup. */
export function engineParams(e: BenchEngine): Record<string, string | number | boolean> {
  return { threads: e.setup.threads, cacheBytes: e.setup.cacheBytes ?? "default" };
}

/** The cache's hit share since the engine opened, for the warm figures' params. */
export function cacheHitShare(e: BenchEngine): number {
  const { hits, misses } = e.stats().cache;
  return hits + misses === 0 ? 0 : Math.round((hits / (hits + misses)) * 1000) / 1000;
}
