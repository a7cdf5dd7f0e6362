/**
 * What every figure module receives: the mode of the run and the time budget of one measurement. Quick mode
 * is the CI smoke test (small datasets, short windows); the full mode is what the README's numbers come from.
 */
import type { DriveSize } from "../datasets/drive.js";

export interface BenchContext {
  readonly quick: boolean;
  /** Adds the 10M Drive dataset. */
  readonly large: boolean;
  /** Repetitions of each measurement (the figure's median, min and max are over these). */
  readonly runs: number;
  /** Drive dataset sizes of the in-process figures. */
  readonly driveSizes: readonly DriveSize[];
  /** Measured window of one throughput run. */
  readonly throughputMs: number;
  /** Measured window of one sequential latency run. */
  readonly latencyMs: number;
}

/** The context for a mode; `runs` overrides the mode's default repetitions. */
export function makeContext(options: { quick: boolean; large: boolean; runs?: number }): BenchContext {
  const { quick, large } = options;
  const driveSizes: DriveSize[] = quick ? ["100k"] : large ? ["100k", "1M", "10M"] : ["100k", "1M"];
  return {
    quick,
    large,
    runs: options.runs ?? (quick ? 3 : 5),
    driveSizes,
    throughputMs: quick ? 400 : 2_000,
    latencyMs: quick ? 250 : 1_000,
  };
}

/** The repetitions of an expensive measurement (a bulk load, a fresh process per run): at most 3. */
export function heavyRuns(ctx: BenchContext): number {
  return ctx.quick ? 1 : Math.min(ctx.runs, 3);
}
