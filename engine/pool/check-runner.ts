/**
 * Runs plain checks (no contextual tuples) on the shared graph: cache first, then de-duplication of identical
 * in-flight checks (singleflight, Zanzibar's lock table), then evaluation — inline on this thread, or in
 * micro-batches on the worker pool. Misses that arrive in the same turn of the event loop leave together,
 * and while every worker is busy they keep queueing here, so batches grow with load.
 */
import { InternalError, toGatehouseError, type GatehouseError } from "../../common/errors.js";
import { checkKey, type CheckCache } from "../cache/check-cache.js";
import { maxDepthExceeded, type CheckRequest } from "../eval/check.js";
import { evaluateBatch } from "../eval/fast/batch.js";
import { compileIntSchema, IntSchemaIndex } from "../eval/fast/int-schema.js";
import type { GraphSnapshot } from "../graph/graph-snapshot.js";
import type { Schema } from "../schema/ir.js";
import type { EvaluatorPool } from "./evaluator-pool.js";
import { ITEM_INTS, RESULT_DEPTH_EXCEEDED, RESULT_FALSE, RESULT_TRUE, shareSchema, type CheckTask, type SharedSchema } from "./protocol.js";

/** Largest batch sent to one worker (the measurement: 64–512 per task reached 0.8–2.4M items/s). */
const MAX_BATCH = 512;

interface Job {
  readonly request: CheckRequest;
  readonly revision: number;
  readonly depth: number;
  readonly resolve: (code: number) => void;
  readonly reject: (err: unknown) => void;
}

/** Batch-size counters for metrics. */
export interface CheckRunnerStats {
  /** Checks waiting on this thread for a free worker. */
  readonly pending: number;
  readonly batches: number;
  readonly batchedChecks: number;
  readonly largestBatch: number;
  readonly coalesced: number;
}

/** Options of the runner. */
export interface CheckRunnerOptions {
  readonly snapshot: GraphSnapshot;
  readonly cache: CheckCache;
  /** Undefined: evaluate on this thread. */
  readonly pool?: EvaluatorPool;
}

/**
 * Assigns per-task ids to names the graph has never seen: distinct negative numbers, so two unknown subjects
 * never share a memo entry, and no node can match them.
 */
class TaskIds {
  private unknown: Map<string, number> | undefined;
  private next = -1;

  constructor(private readonly snapshot: GraphSnapshot) {}

  private miss(kind: string, name: string): number {
    this.unknown ??= new Map();
    const key = `${kind}\u0000${name}`;
    let id = this.unknown.get(key);
    if (id === undefined) {
      id = this.next--;
      this.unknown.set(key, id);
    }
    return id;
  }

  type(name: string): number {
    const id = this.snapshot.names.typeId(name);
    return id >= 0 ? id : this.miss("t", name);
  }

  object(name: string): number {
    const id = this.snapshot.names.objectId(name);
    return id >= 0 ? id : this.miss("o", name);
  }

  relation(name: string): number {
    const id = this.snapshot.names.relationId(name);
    return id >= 0 ? id : this.miss("r", name);
  }
}

// Schema versions are unique in the process: workers of a shared pool cache one decoded schema per version.
let lastSchemaVersion = 0;

/**
 * The id of `*`, or a sentinel no per-task id reaches when the graph has none: per-task ids of unknown names
 * start at -1, so -1 would make the first unknown subject look like a wildcard.
 */
const NO_WILDCARD = -(2 ** 30);

function wildcardId(snapshot: GraphSnapshot): number {
  const id = snapshot.names.objectId("*");
  return id >= 0 ? id : NO_WILDCARD;
}

export class CheckRunner {
  private schemaVersion = 0;
  private shared: SharedSchema | undefined;
  private index: IntSchemaIndex | undefined;
  private readonly inflight = new Map<string, Promise<boolean>>();
  private pending: Job[] = [];
  private flushScheduled = false;
  private batches = 0;
  private batchedChecks = 0;
  private largestBatch = 0;
  private coalesced = 0;

  constructor(private readonly options: CheckRunnerOptions) {}

  /** Compiles the schema for the int evaluator and forgets cached answers of the previous one. */
  setSchema(schema: Schema): void {
    const compiled = compileIntSchema(schema, this.options.snapshot.nameInterner());
    this.schemaVersion = ++lastSchemaVersion;
    this.index = new IntSchemaIndex(compiled);
    this.shared = this.options.pool === undefined ? undefined : shareSchema(this.schemaVersion, compiled);
    this.options.cache.clear();
  }

  /**
   * Is the subject in `namespace:object#relation` at `revision`? The request must name a schema relation.
   * A cache hit, or an inline evaluation, answers at once (a boolean, or a thrown error); a pooled miss
   * answers with a promise. Callers on the hot path thereby skip a promise per cache hit.
   */
  check(request: CheckRequest, revision: number, depth: number): boolean | Promise<boolean> {
    const key = this.keyOf(request, revision, depth);
    const cached = this.options.cache.get(key);
    if (cached !== undefined) return cached;
    if (this.options.pool === undefined) {
      return this.settle(key, this.runInline([{ request, revision, depth }])[0] as number, request, depth);
    }
    const running = this.inflight.get(key);
    if (running !== undefined) {
      this.coalesced++;
      return running;
    }
    const promise = this.enqueue(request, revision, depth).then((code) => this.settle(key, code, request, depth));
    this.inflight.set(key, promise);
    const forget = (): void => {
      this.inflight.delete(key);
    };
    promise.then(forget, forget);
    return promise;
  }

  /** Checks every request at one revision; an item's failure is its result, in input order. */
  async checkMany(requests: readonly CheckRequest[], revision: number, depth: number): Promise<Array<boolean | GatehouseError>> {
    if (this.options.pool !== undefined) {
      // Cache hits answer here; only the misses become promises (a warm BatchCheck allocates little).
      const answers = requests.map((r) => this.check(r, revision, depth));
      const results = new Array<boolean | GatehouseError>(answers.length);
      const pending: Promise<void>[] = [];
      answers.forEach((answer, i) => {
        if (typeof answer === "boolean") results[i] = answer;
        else {
          pending.push(
            answer.then(
              (allowed) => {
                results[i] = allowed;
              },
              (err: unknown) => {
                results[i] = toGatehouseError(err);
              },
            ),
          );
        }
      });
      if (pending.length > 0) await Promise.all(pending);
      return results;
    }
    // Inline: the misses go to the evaluator as one batch, so they share its memo.
    const results = new Array<boolean | GatehouseError>(requests.length);
    const misses: number[] = [];
    const keys: string[] = [];
    requests.forEach((request, i) => {
      const key = this.keyOf(request, revision, depth);
      const cached = this.options.cache.get(key);
      if (cached !== undefined) results[i] = cached;
      else {
        misses.push(i);
        keys.push(key);
      }
    });
    if (misses.length > 0) {
      const codes = this.runInline(misses.map((i) => ({ request: requests[i] as CheckRequest, revision, depth })));
      misses.forEach((i, j) => {
        try {
          results[i] = this.settle(keys[j] as string, codes[j] as number, requests[i] as CheckRequest, depth);
        } catch (err) {
          results[i] = toGatehouseError(err);
        }
      });
    }
    return results;
  }

  stats(): CheckRunnerStats {
    return {
      pending: this.pending.length,
      batches: this.batches,
      batchedChecks: this.batchedChecks,
      largestBatch: this.largestBatch,
      coalesced: this.coalesced,
    };
  }

  private keyOf(request: CheckRequest, revision: number, depth: number): string {
    return checkKey(this.schemaVersion, revision, depth, request.namespace, request.object, request.relation, request.subject);
  }

  private settle(key: string, code: number, request: CheckRequest, depth: number): boolean {
    if (code === RESULT_TRUE || code === RESULT_FALSE) {
      const allowed = code === RESULT_TRUE;
      this.options.cache.set(key, allowed);
      return allowed;
    }
    if (code === RESULT_DEPTH_EXCEEDED) throw maxDepthExceeded(request, depth);
    throw new InternalError(`the evaluator failed on ${request.namespace}:${request.object}#${request.relation}`, {
      reason: "evaluator_failed",
    });
  }

  private enqueue(request: CheckRequest, revision: number, depth: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.pending.push({ request, revision, depth, resolve, reject });
      this.scheduleFlush();
    });
  }

  private runInline(jobs: readonly Pick<Job, "request" | "revision" | "depth">[]): Uint8Array {
    const revision = (jobs[0] as Job).revision;
    const { snapshot } = this.options;
    return evaluateBatch(this.requireIndex(), snapshot.intGraph(), {
      revision,
      wildcardObject: wildcardId(snapshot),
      items: this.encodeItems(jobs),
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends pending checks to free workers, spreading them evenly, at most MAX_BATCH per task. */
  private flush(): void {
    const pool = this.options.pool as EvaluatorPool;
    // Two tasks per worker: one running, one queued behind it, so a worker never waits for the main thread.
    let free = pool.threads * 2 - pool.inFlight;
    while (this.pending.length > 0 && free > 0) {
      // Spread over the threads, not over the queue slots: a worker gains nothing from two small tasks.
      const size = Math.min(MAX_BATCH, Math.ceil(this.pending.length / Math.min(free, pool.threads)));
      const revision = (this.pending[0] as Job).revision;
      const jobs: Job[] = [];
      const rest: Job[] = [];
      for (const job of this.pending) {
        if (jobs.length < size && job.revision === revision) jobs.push(job);
        else rest.push(job);
      }
      this.pending = rest;
      free--;
      this.dispatch(pool, jobs, revision);
    }
  }

  private dispatch(pool: EvaluatorPool, jobs: Job[], revision: number): void {
    let task: CheckTask;
    try {
      task = this.encode(jobs, revision).task;
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    this.batches++;
    this.batchedChecks += jobs.length;
    this.largestBatch = Math.max(this.largestBatch, jobs.length);
    pool.run(task).then(
      (codes) => {
        jobs.forEach((job, i) => job.resolve(codes[i] as number));
        if (this.pending.length > 0) this.scheduleFlush();
      },
      (err: unknown) => {
        for (const job of jobs) job.reject(err);
        if (this.pending.length > 0) this.scheduleFlush();
      },
    );
  }

  private encode(jobs: readonly Pick<Job, "request" | "depth">[], revision: number): { task: CheckTask } {
    const { snapshot } = this.options;
    const task: CheckTask = {
      layout: snapshot.layout,
      schema: this.requireShared(),
      revision,
      wildcardObject: wildcardId(snapshot),
      items: this.encodeItems(jobs),
    };
    return { task };
  }

  /** The id form of the checks (7 ints each); names the graph never saw get per-batch negative ids. */
  private encodeItems(jobs: readonly Pick<Job, "request" | "depth">[]): Int32Array {
    const ids = new TaskIds(this.options.snapshot);
    const items = new Int32Array(jobs.length * ITEM_INTS);
    jobs.forEach(({ request, depth }, i) => {
      const base = i * ITEM_INTS;
      items[base] = ids.type(request.namespace);
      items[base + 1] = ids.object(request.object);
      items[base + 2] = ids.relation(request.relation);
      const s = request.subject;
      if (s.kind === "id") {
        items[base + 3] = 0;
        items[base + 4] = ids.object(s.id);
        items[base + 5] = 0;
      } else {
        items[base + 3] = ids.type(s.namespace);
        items[base + 4] = ids.object(s.object);
        items[base + 5] = ids.relation(s.relation);
      }
      items[base + 6] = depth;
    });
    return items;
  }

  private requireShared(): SharedSchema {
    if (this.shared === undefined) throw new InternalError("the check runner has no schema", { reason: "no_schema" });
    return this.shared;
  }

  private requireIndex(): IntSchemaIndex {
    if (this.index === undefined) throw new InternalError("the check runner has no schema", { reason: "no_schema" });
    return this.index;
  }
}
