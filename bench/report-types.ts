/** The shape every bench figure is reported in, shared by the suite's parts and its table/JSON report. */

/** One measured figure: a statistic over repeated runs. */
export interface Figure {
  /** Stable id, e.g. `inproc.check.warm.pool` or `network.grpc.check`. */
  readonly id: string;
  /** Which numbered figure of the suite it belongs to (1..6). */
  readonly group: number;
  /** What was measured, for the table. */
  readonly title: string;
  /** e.g. `checks/s`, `ms`, `bytes/tuple`, `s`. */
  readonly unit: string;
  /** Median, min and max over `runs` repeated runs. */
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
  /** A side-by-side comparison measured in the same run: this figure's median divided by the peer's median. */
  readonly ratio?: { readonly against: string; readonly value: number };
  /** Dataset, concurrency, thread count, and anything else needed to reproduce it. */
  readonly params?: Readonly<Record<string, string | number | boolean>>;
  /** Set when the figure could not be measured (the peer is missing, …): why. Then the numbers are NaN. */
  readonly skipped?: string;
  /** The goal for this figure, if it has one, and whether this run met it (never a failure). */
  readonly goal?: Goal;
}

/** A target a figure is compared with: `median` (or the ratio's value) `op` `target`. */
export interface Goal {
  /** As the issue words it, e.g. `>= 1,000,000 checks/s`. */
  readonly text: string;
  /** Which number is compared: the figure's median or its ratio. */
  readonly on: "median" | "ratio";
  readonly op: ">=" | "<=" | ">";
  readonly target: number;
  /** Undefined when the figure was skipped. */
  readonly met?: boolean;
}

/** The machine a report was measured on. */
export interface MachineInfo {
  readonly cpus: number;
  readonly model: string;
  /** Total memory in bytes. */
  readonly memory: number;
  readonly node: string;
  readonly platform?: string;
}

/** What `bench/main.ts --json FILE` writes. */
export interface BenchReport {
  readonly machine: MachineInfo;
  readonly figures: readonly Figure[];
  /** How the suite was run (quick, large, runs, groups) and how long it took. */
  readonly run?: Readonly<Record<string, string | number | boolean>>;
  /** Groups that failed (crashed or timed out), as opposed to figures skipped for a missing peer. */
  readonly errors?: readonly string[];
}

/** A figure that could not be measured: NaN numbers and the reason. */
export function skippedFigure(
  base: Pick<Figure, "id" | "group" | "title" | "unit" | "params">,
  reason: string,
): Figure {
  return { ...base, median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: 0, skipped: reason };
}

/** Median, min and max of repeated samples. */
export function summarize(samples: readonly number[]): { median: number; min: number; max: number; runs: number } {
  if (samples.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number, runs: sorted.length };
}
