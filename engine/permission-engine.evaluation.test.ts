/**
 * The evaluation path behind check: consistency modes and quantization, the retention window, the result
 * cache and singleflight, and a worker pool that loses workers.
 */
import { afterEach, describe, expect, it } from "vitest";
import { GatehouseError, InvalidArgumentError, UnavailableError } from "../common/errors.js";
import { openPermissionEngine, type PermissionEngine, type PermissionEngineOptions } from "./permission-engine.js";
import { createMemoryStore } from "./store/index.js";
import { parseSubject, parseTuple } from "./tuple.js";

const model = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type doc
  relations
    define viewer: [user, group#member]`;

const touch = (...tuples: string[]) => tuples.map((t) => ({ op: "touch" as const, tuple: parseTuple(t) }));
const remove = (...tuples: string[]) => tuples.map((t) => ({ op: "delete" as const, tuple: parseTuple(t) }));
const canView = (user: string, doc = "1") => ({ namespace: "doc", object: doc, relation: "viewer", subject: parseSubject(user) });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const open: PermissionEngine[] = [];
async function engineWith(options: Omit<PermissionEngineOptions, "store">): Promise<PermissionEngine> {
  const engine = await openPermissionEngine({ ...options, store: createMemoryStore() });
  open.push(engine);
  await engine.writeSchema(model);
  return engine;
}
afterEach(async () => {
  for (const engine of open.splice(0)) await engine.close();
});

describe("consistency", () => {
  it("at_least_as_fresh sees a write at once; minimize_latency shares the quantized revision", async () => {
    const engine = await engineWith({ quantizationMs: 3_600_000 });
    const { revision } = await engine.write(touch("doc:1#viewer@user:anne"));
    const fresh = await engine.check(canView("user:anne"), { consistency: { kind: "at_least_as_fresh", revision } });
    expect(fresh).toEqual({ allowed: true, revision });
    // Inside one quantum, minimize_latency keeps reading the head as of the quantum's start.
    const quick = await engine.check(canView("user:anne"));
    expect(quick.allowed).toBe(false);
    expect(quick.revision).toBeLessThan(revision);
    expect(await engine.check(canView("user:anne"), { consistency: { kind: "latest_applied" } })).toEqual({ allowed: true, revision });
    expect(await engine.check(canView("user:anne"), { consistency: { kind: "fully_consistent" } })).toEqual({ allowed: true, revision });
  });

  it("minimize_latency never reads a revision older than the head one quantum ago", async () => {
    const quantum = 60;
    const engine = await engineWith({ quantizationMs: quantum });
    const acknowledged: { at: number; revision: number }[] = [];
    const end = Date.now() + 8 * quantum;
    let i = 0;
    while (Date.now() < end) {
      const { revision } = await engine.write(touch(`doc:${i++}#viewer@user:anne`));
      acknowledged.push({ at: Date.now(), revision });
      const now = Date.now();
      const read = await engine.check(canView("user:anne", "0"));
      const bound = Math.max(0, ...acknowledged.filter((a) => a.at <= now - quantum).map((a) => a.revision));
      expect(read.revision).toBeGreaterThanOrEqual(bound);
      await sleep(5);
    }
    // And it does see the writes once a quantum has passed.
    await sleep(quantum + 10);
    const last = acknowledged[acknowledged.length - 1] as { revision: number };
    expect((await engine.check(canView("user:anne", "0"))).revision).toBeGreaterThanOrEqual(last.revision);
  });

  it("at_exact_snapshot reads history inside the retention window and fails clearly outside it", async () => {
    const engine = await engineWith({ quantizationMs: 0, retentionMs: 0 });
    const { revision: r1 } = await engine.write(touch("doc:1#viewer@user:anne"));
    await engine.write(remove("doc:1#viewer@user:anne"));
    expect((await engine.check(canView("user:anne"), { consistency: { kind: "at_exact_snapshot", revision: r1 } })).allowed).toBe(true);
    const horizon = engine.compactHistory();
    expect(horizon).toBeGreaterThan(r1);
    const err = await engine.check(canView("user:anne"), { consistency: { kind: "at_exact_snapshot", revision: r1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as GatehouseError).reason).toBe("revision_expired");
    expect((err as GatehouseError).message).toContain(`horizon ${horizon}`);
    expect((await engine.check(canView("user:anne"), { consistency: { kind: "latest_applied" } })).allowed).toBe(false);
  });

  it("keeps history for the retention window", async () => {
    const engine = await engineWith({ quantizationMs: 0, retentionMs: 3_600_000 });
    const { revision: r1 } = await engine.write(touch("doc:1#viewer@user:anne"));
    await engine.write(remove("doc:1#viewer@user:anne"));
    engine.compactHistory();
    expect((await engine.check(canView("user:anne"), { consistency: { kind: "at_exact_snapshot", revision: r1 } })).allowed).toBe(true);
  });
});

describe("result cache and singleflight", () => {
  it("answers a repeated check from the cache and shares identical in-flight checks", async () => {
    const engine = await engineWith({ quantizationMs: 0, evaluator: { threads: 1 } });
    await engine.write(touch("group:eng#member@user:anne", "doc:1#viewer@group:eng#member"));
    const results = await Promise.all(Array.from({ length: 50 }, () => engine.check(canView("user:anne"))));
    expect(results.every((r) => r.allowed)).toBe(true);
    const first = engine.stats();
    expect(first.batching.coalesced).toBe(49);
    expect(first.batching.batchedChecks).toBe(1);
    await engine.check(canView("user:anne"));
    const second = engine.stats();
    expect(second.cache.hits).toBe(first.cache.hits + 1);
    expect(second.batching.batchedChecks).toBe(1);
  });

  it("never serves an answer from before a write to a read at a newer revision", async () => {
    const engine = await engineWith({ quantizationMs: 0 });
    expect((await engine.check(canView("user:anne"))).allowed).toBe(false);
    await engine.write(touch("doc:1#viewer@user:anne"));
    expect((await engine.check(canView("user:anne"))).allowed).toBe(true);
  });

  it("forgets cached answers when the schema changes", async () => {
    const engine = await engineWith({ quantizationMs: 0 });
    await engine.write(touch("doc:1#viewer@user:anne"));
    expect((await engine.check(canView("user:anne"))).allowed).toBe(true);
    await engine.writeSchema(model.replace("define viewer: [user, group#member]", "define viewer: [group#member]"));
    // The tuple is still stored, but the new schema no longer lets a user be a direct viewer.
    expect((await engine.check(canView("user:anne"))).allowed).toBe(false);
  });

  it("with the cache disabled, evaluates every time", async () => {
    const engine = await engineWith({ quantizationMs: 0, cache: { maxBytes: 0 } });
    await engine.write(touch("doc:1#viewer@user:anne"));
    await engine.check(canView("user:anne"));
    await engine.check(canView("user:anne"));
    expect(engine.stats().cache).toMatchObject({ hits: 0, entries: 0 });
  });
});

describe("the worker pool", () => {
  const crashingWorker = new URL("../test/support/crashing-evaluator-worker.mjs", import.meta.url);

  it("batches concurrent checks into few worker tasks and agrees with the calling thread", async () => {
    const pooled = await engineWith({ quantizationMs: 0, evaluator: { threads: 2 }, cache: { maxBytes: 0 } });
    const inline = await engineWith({ quantizationMs: 0, cache: { maxBytes: 0 } });
    const tuples = [
      ...Array.from({ length: 30 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`),
      "group:g30#member@user:deep",
      ...Array.from({ length: 200 }, (_, i) => `doc:${i}#viewer@group:g${i % 31}#member`),
    ];
    await pooled.write(touch(...tuples));
    await inline.write(touch(...tuples));
    const questions = Array.from({ length: 400 }, (_, i) => canView(i % 3 === 0 ? "user:deep" : `user:u${i}`, String(i % 250)));
    const viaPool = await pooled.checkMany(questions, { maxDepth: 40 });
    const viaInline = await inline.checkMany(questions, { maxDepth: 40 });
    expect(viaPool.results).toEqual(viaInline.results);
    expect(viaPool.results.filter((r) => r === true).length).toBeGreaterThan(50);
    const { batching } = pooled.stats();
    expect(batching.batchedChecks).toBe(400);
    expect(batching.batches).toBeLessThanOrEqual(8);
  });

  it("confirms lookup candidates in the pool, page by page, as the calling thread does", async () => {
    const pooled = await engineWith({ quantizationMs: 0, evaluator: { threads: 2 } });
    const inline = await engineWith({ quantizationMs: 0 });
    const tuples = [
      "group:eng#member@user:anne",
      "group:eng#member@user:bob",
      ...Array.from({ length: 300 }, (_, i) => `doc:${String(i).padStart(3, "0")}#viewer@${i % 2 === 0 ? "group:eng#member" : `user:u${i}`}`),
    ];
    await pooled.write(touch(...tuples));
    await inline.write(touch(...tuples));
    const pages = async (engine: PermissionEngine): Promise<string[][]> => {
      const out: string[][] = [];
      let cursor: string | undefined;
      do {
        const page = await engine.lookupResources({ namespace: "doc", relation: "viewer", subject: parseSubject("user:anne") }, { pageSize: 40, ...(cursor === undefined ? {} : { cursor }) });
        out.push(page.objects);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return out;
    };
    const viaPool = await pages(pooled);
    expect(viaPool).toEqual(await pages(inline));
    expect(viaPool.flat()).toHaveLength(150);
    expect(viaPool.map((p) => p.length)).toEqual([40, 40, 40, 30]);
    const subjects = await pooled.lookupSubjects({ namespace: "doc", object: "000", relation: "viewer", subjectNamespace: "user" }, { pageSize: 0 });
    expect(subjects.subjects.map((s) => (s.kind === "set" ? s.object : s.id))).toEqual(["anne", "bob"]);
    expect(pooled.stats().batching.batchedChecks).toBeGreaterThan(150);
  });

  it("replaces a worker that dies and retries its batch once", async () => {
    const crashes = new Int32Array(new SharedArrayBuffer(4));
    const engine = await engineWith({ quantizationMs: 0, evaluator: { threads: 1, workerFile: crashingWorker, workerData: { crashes } } });
    await engine.write(touch("doc:1#viewer@user:anne"));
    Atomics.store(crashes, 0, 1);
    expect((await engine.check(canView("user:anne"))).allowed).toBe(true);
    expect(engine.stats().pool).toMatchObject({ retriedTasks: 1, failedTasks: 0 });
  });

  it("fails the requests of a batch that kills two workers cleanly, then keeps answering", async () => {
    const crashes = new Int32Array(new SharedArrayBuffer(4));
    const engine = await engineWith({ quantizationMs: 0, evaluator: { threads: 1, workerFile: crashingWorker, workerData: { crashes } } });
    await engine.write(touch("doc:1#viewer@user:anne"));
    Atomics.store(crashes, 0, 2);
    const err = await engine.check(canView("user:anne")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/evaluator worker failed/);
    expect((await engine.check(canView("user:anne"))).allowed).toBe(true);
  });
});
