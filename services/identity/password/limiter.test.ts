import { describe, expect, it } from "vitest";
import { InvalidArgumentError, UnavailableError } from "../../../common/errors.js";
import { createConcurrencyLimiter } from "./limiter.js";

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe("ConcurrencyLimiter", () => {
  it("runs at most `concurrency` tasks and starts waiting ones in FIFO order", async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 2 });
    const gates = Array.from({ length: 6 }, () => deferred());
    const started: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const results = gates.map((gate, i) =>
      limiter.run(async () => {
        started.push(i);
        running++;
        maxRunning = Math.max(maxRunning, running);
        await gate.promise;
        running--;
        return i * 10;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    expect(limiter.stats).toEqual({ running: 2, queued: 4, concurrency: 2, maxQueued: 1024 });

    // finishing out of order still starts the waiting tasks in arrival order
    gates[1]!.resolve();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.resolve();
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    for (const gate of gates) gate.resolve();
    expect(await Promise.all(results)).toEqual([0, 10, 20, 30, 40, 50]);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(maxRunning).toBe(2);
    expect(limiter.stats).toMatchObject({ running: 0, queued: 0 });
  });

  it("frees the slot when a task fails", async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 1 });
    const failing = limiter.run(async () => {
      throw new Error("boom");
    });
    const next = limiter.run(async () => "ok");
    await expect(failing).rejects.toThrow("boom");
    expect(await next).toBe("ok");
    expect(limiter.stats.running).toBe(0);
  });

  it("rejects with UnavailableError beyond maxQueued", async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueued: 2 });
    const gate = deferred();
    const running = limiter.run(() => gate.promise);
    const waiting = [limiter.run(async () => 1), limiter.run(async () => 2)];
    const rejected = limiter.run(async () => 3);
    await expect(rejected).rejects.toBeInstanceOf(UnavailableError);
    await expect(rejected).rejects.toMatchObject({ reason: "password_hashing_overloaded" });
    gate.resolve();
    await running;
    expect(await Promise.all(waiting)).toEqual([1, 2]);
  });

  it("with maxQueued 0 only runs what fits", async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 1, maxQueued: 0 });
    const gate = deferred();
    const first = limiter.run(() => gate.promise);
    await expect(limiter.run(async () => 1)).rejects.toBeInstanceOf(UnavailableError);
    gate.resolve();
    await first;
    expect(await limiter.run(async () => 2)).toBe(2);
  });

  it("drops a waiting task whose signal aborts, and never runs it", async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 1 });
    const gate = deferred();
    const first = limiter.run(() => gate.promise);
    const controller = new AbortController();
    let ran = false;
    const aborted = limiter.run(async () => {
      ran = true;
    }, controller.signal);
    const after = limiter.run(async () => "after");
    expect(limiter.stats.queued).toBe(2);
    controller.abort(new Error("gone"));
    await expect(aborted).rejects.toThrow("gone");
    expect(limiter.stats.queued).toBe(1);
    gate.resolve();
    await first;
    expect(await after).toBe("after");
    expect(ran).toBe(false);
    expect(limiter.stats).toMatchObject({ running: 0, queued: 0 });
    // an already-aborted signal fails at once
    await expect(limiter.run(async () => 1, AbortSignal.abort(new Error("early")))).rejects.toThrow("early");
  });

  it("keeps FIFO order through many tasks", async () => {
    const limiter = createConcurrencyLimiter({ concurrency: 3, maxQueued: Infinity });
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 3000 }, (_, i) =>
        limiter.run(async () => {
          order.push(i);
          await tick();
        }),
      ),
    );
    expect(order).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  });

  it("rejects bad options", () => {
    expect(() => createConcurrencyLimiter({ concurrency: 0 })).toThrow(InvalidArgumentError);
    expect(() => createConcurrencyLimiter({ concurrency: 1, maxQueued: 1.5 })).toThrow(InvalidArgumentError);
  });
});
