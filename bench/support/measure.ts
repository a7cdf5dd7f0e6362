/**
 * Timing primitives shared by the figures: a closed-loop rate with many operations in flight, sequential
 * per-request latency into an HDR histogram, and repetition into median/min/max.
 */
import * as hdr from "hdr-histogram-js";
import { summarize } from "../report-types.js";

/** Median, min, max and run count of samples (re-exported for figure modules). */
export type Summary = ReturnType<typeof summarize>;

/**
 * Runs `op` from `concurrency` loops at once until `durationMs` has passed and returns units per second.
 * `op(i)` gets a global sequence number (to pick the i-th request) and returns how many units it did (1 for a
 * check, the batch size for a batch). A short warm-up runs first and is not counted, so JIT tiers and pool
 * start-up do not land in the measured window.
 */
export async function measureRate(
  op: (sequence: number) => Promise<number>,
  options: { concurrency: number; durationMs: number; warmupMs?: number },
): Promise<number> {
  let sequence = 0;
  const loop = async (until: number, count: { units: number }): Promise<void> => {
    while (performance.now() < until) {
      // Awaited first: `count.units += await op()` would read the total before the await and lose the
      // increments other loops made meanwhile.
      const units = await op(sequence++);
      count.units += units;
    }
  };
  const warmup = options.warmupMs ?? Math.min(200, options.durationMs / 4);
  if (warmup > 0) {
    const until = performance.now() + warmup;
    const ignored = { units: 0 };
    await Promise.all(Array.from({ length: options.concurrency }, () => loop(until, ignored)));
  }
  const counted = { units: 0 };
  const start = performance.now();
  const until = start + options.durationMs;
  await Promise.all(Array.from({ length: options.concurrency }, () => loop(until, counted)));
  const elapsed = performance.now() - start;
  return (counted.units / elapsed) * 1000;
}

/** A latency distribution: percentiles in microseconds. */
export interface LatencyResult {
  readonly p50: number;
  readonly p99: number;
  readonly count: number;
  /** How many `op` calls returned true (for an allowed share). */
  readonly truthy: number;
}

/**
 * Calls `op` one at a time (nothing else in flight, so the time is the request's own, not queueing) for
 * `durationMs` or `maxCount` calls, recording each call's time in nanoseconds into an HDR histogram.
 */
export async function measureLatency(
  op: (sequence: number) => Promise<boolean>,
  options: { durationMs: number; maxCount?: number; warmupCount?: number },
): Promise<LatencyResult> {
  // 1 ns to 60 s at 3 significant digits: a warm cache hit takes about a microsecond, a lookup up to seconds.
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60e9, numberOfSignificantValueDigits: 3 });
  const warmup = options.warmupCount ?? 50;
  for (let i = 0; i < warmup; i++) await op(i);
  const maxCount = options.maxCount ?? Number.POSITIVE_INFINITY;
  const until = performance.now() + options.durationMs;
  let count = 0;
  let truthy = 0;
  try {
    for (let i = warmup; count < maxCount; i++) {
      const t0 = performance.now();
      if (await op(i)) truthy++;
      const t1 = performance.now();
      histogram.recordValue(Math.max(1, Math.round((t1 - t0) * 1e6)));
      count++;
      if (t1 >= until) break;
    }
    return {
      p50: histogram.getValueAtPercentile(50) / 1000,
      p99: histogram.getValueAtPercentile(99) / 1000,
      count,
      truthy,
    };
  } finally {
    histogram.destroy();
  }
}

/** Runs `sample` `runs` times (one after the other) and summarizes the results. */
export async function repeat(runs: number, sample: (run: number) => Promise<number>): Promise<Summary> {
  const samples: number[] = [];
  for (let run = 0; run < runs; run++) samples.push(await sample(run));
  return summarize(samples);
}

/** Wall time of `fn` in milliseconds, with its result. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** Prints a progress line on stderr (stdout carries the table). */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
