/**
 * The piscina pool that runs check batches off the main thread. A worker that dies is replaced by piscina;
 * the batch it held is retried once on another worker, then failed with UNAVAILABLE, so a crash costs latency
 * and never a wrong answer.
 */
import { Piscina } from "piscina";
import { UnavailableError } from "../../common/errors.js";
import type { CheckTask } from "./protocol.js";

/** Options of the pool. */
export interface EvaluatorPoolOptions {
  /** Worker threads (>= 1). */
  threads: number;
  /** The worker module (tests substitute one); default the evaluator worker. */
  workerFile?: URL;
  /** Passed to every worker as `workerData` (for a substituted worker). */
  workerData?: unknown;
}

/** Counters for metrics. */
export interface EvaluatorPoolStats {
  readonly threads: number;
  /** Tasks waiting for a free worker inside piscina. */
  readonly queued: number;
  readonly running: number;
  readonly completedTasks: number;
  readonly failedTasks: number;
  readonly retriedTasks: number;
}

/** The worker pool. Threads start on first use. */
export class EvaluatorPool {
  private pool: Piscina<CheckTask, Uint8Array> | undefined;
  private completed = 0;
  private failed = 0;
  private retried = 0;
  private running = 0;

  constructor(private readonly options: EvaluatorPoolOptions) {
    if (!Number.isSafeInteger(options.threads) || options.threads < 1) {
      throw new RangeError(`evaluator threads: ${options.threads} is not a positive integer`);
    }
  }

  get threads(): number {
    return this.options.threads;
  }

  /** Tasks in flight (sent and not answered). */
  get inFlight(): number {
    return this.running;
  }

  /** Evaluates one batch; retries once if the worker dies or throws. */
  async run(task: CheckTask): Promise<Uint8Array> {
    this.running++;
    try {
      try {
        return await this.piscina().run(task);
      } catch {
        this.retried++;
        return await this.piscina().run(task);
      }
    } catch (err) {
      this.failed++;
      throw new UnavailableError(`evaluator worker failed: ${err instanceof Error ? err.message : String(err)}; retry the request`, {
        reason: "evaluator_failed",
      });
    } finally {
      this.running--;
      this.completed++;
    }
  }

  stats(): EvaluatorPoolStats {
    return {
      threads: this.options.threads,
      queued: this.pool?.queueSize ?? 0,
      running: this.running,
      completedTasks: this.completed,
      failedTasks: this.failed,
      retriedTasks: this.retried,
    };
  }

  /** Stops the workers; later runs start new ones. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  private piscina(): Piscina<CheckTask, Uint8Array> {
    if (this.pool === undefined) {
      const { threads } = this.options;
      this.pool = new Piscina<CheckTask, Uint8Array>({
        filename: (this.options.workerFile ?? new URL("./evaluator-worker-entry.mjs", import.meta.url)).href,
        minThreads: threads,
        maxThreads: threads,
        // Batching happens on the main thread; one task per worker at a time keeps batches large under load.
        concurrentTasksPerWorker: 1,
        idleTimeout: 60_000,
        ...(this.options.workerData === undefined ? {} : { workerData: this.options.workerData }),
      });
    }
    return this.pool;
  }
}
