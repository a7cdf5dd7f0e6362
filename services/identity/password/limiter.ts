/**
 * A FIFO concurrency limiter for password hashing. Hashes run on libuv's thread pool (argon2, bcrypt,
 * PBKDF2), each taking tens of milliseconds of CPU and, for argon2, its memory cost in RAM; without a cap a
 * burst of logins would queue unbounded work on the pool (starving file and DNS I/O that share it) and
 * allocate memory × burst size. Tasks beyond `concurrency` wait in arrival order; beyond `maxQueued` waiting
 * tasks the call fails fast with `UnavailableError` so overload turns into 503s instead of growing latency.
 */

import { InvalidArgumentError, UnavailableError } from "../../../common/errors.js";

/** Options of `createConcurrencyLimiter`. */
export interface ConcurrencyLimiterOptions {
  /** Tasks allowed to run at once; an integer >= 1. */
  readonly concurrency: number;
  /** Tasks allowed to wait; an integer >= 0 or `Infinity`. Default 1024. */
  readonly maxQueued?: number;
}

/** A snapshot of the limiter's load. */
export interface LimiterStats {
  readonly running: number;
  readonly queued: number;
  readonly concurrency: number;
  readonly maxQueued: number;
}

interface Waiter {
  readonly start: () => void;
  readonly cancel: (reason: unknown) => void;
  done: boolean;
}

/** Runs async tasks with at most `concurrency` in flight, starting waiting ones in FIFO order. */
export class ConcurrencyLimiter {
  readonly #concurrency: number;
  readonly #maxQueued: number;
  #running = 0;
  // a FIFO with a moving head: O(1) enqueue and dequeue without Array.shift's copying
  #queue: Waiter[] = [];
  #head = 0;
  #cancelled = 0;

  /** Prefer `createConcurrencyLimiter`. */
  constructor(options: ConcurrencyLimiterOptions) {
    const { concurrency, maxQueued = 1024 } = options;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new InvalidArgumentError(`concurrency must be an integer >= 1, got ${concurrency}`, {
        details: { field: "concurrency" },
      });
    }
    if (!(maxQueued === Infinity || (Number.isInteger(maxQueued) && maxQueued >= 0))) {
      throw new InvalidArgumentError(`maxQueued must be an integer >= 0 or Infinity, got ${maxQueued}`, {
        details: { field: "maxQueued" },
      });
    }
    this.#concurrency = concurrency;
    this.#maxQueued = maxQueued;
  }

  /** The current load. */
  get stats(): LimiterStats {
    return {
      running: this.#running,
      queued: this.#queue.length - this.#head - this.#cancelled,
      concurrency: this.#concurrency,
      maxQueued: this.#maxQueued,
    };
  }

  /**
   * Runs `task` when a slot is free. Rejects with `UnavailableError` when the queue is full, and with the
   * signal's reason when `signal` aborts while the task still waits (a running task is not interrupted).
   */
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#running < this.#concurrency && this.stats.queued === 0) return this.#execute(task);
    if (this.stats.queued >= this.#maxQueued) {
      return Promise.reject(
        new UnavailableError("too many password hashing requests are waiting; retry later", {
          reason: "password_hashing_overloaded",
        }),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => waiter.cancel(signal?.reason);
      const waiter: Waiter = {
        done: false,
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          this.#execute(task).then(resolve, reject);
        },
        cancel: (reason) => {
          if (waiter.done) return;
          waiter.done = true;
          this.#cancelled++;
          reject(reason);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  async #execute<T>(task: () => Promise<T>): Promise<T> {
    this.#running++;
    try {
      return await task();
    } finally {
      this.#running--;
      this.#next();
    }
  }

  #next(): void {
    while (this.#running < this.#concurrency && this.#head < this.#queue.length) {
      const waiter = this.#queue[this.#head++]!;
      if (waiter.done) {
        this.#cancelled--;
        continue;
      }
      waiter.done = true;
      waiter.start();
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** Creates a limiter; throws `InvalidArgumentError` naming a bad option. */
export function createConcurrencyLimiter(options: ConcurrencyLimiterOptions): ConcurrencyLimiter {
  return new ConcurrencyLimiter(options);
}
