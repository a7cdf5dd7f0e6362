/**
 * The permission engine: the schema, a tuple store and an in-memory graph snapshot kept in step with the
 * store's changelog. Writes are validated against the schema before they reach the store; reads evaluate on
 * the snapshot at a revision, never with SQL per hop. Transports (the API issue) call this and nothing below it.
 */
import {
  GatehouseError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  toGatehouseError,
} from "../common/errors.js";
import { CheckCache, type CheckCacheStats } from "./cache/check-cache.js";
import { RevisionClock } from "./cache/revision-clock.js";
import { check, expand, lookupResources, lookupSubjects, type ExpandTree } from "./eval/index.js";
import { resourceCandidates } from "./eval/lookup-resources.js";
import { planSubjects } from "./eval/lookup-subjects.js";
import { paginateBatched } from "./eval/paginate.js";
import { requireRelation } from "./eval/schema-access.js";
import { CheckRunner, type CheckRunnerStats } from "./pool/check-runner.js";
import { EvaluatorPool, type EvaluatorPoolStats } from "./pool/evaluator-pool.js";
import { createOverlayView, GraphSnapshot, type GraphView } from "./graph/index.js";
import { compileSchema, formatDiagnostic, type CompileOptions } from "./schema/compile.js";
import type { CompileResult, Diagnostic, Schema, SchemaLanguage } from "./schema/ir.js";
import { validateTuple } from "./schema/validate-tuple.js";
import type {
  ChangesResult,
  DeleteResult,
  ReadResult,
  StoredSchema,
  Revision,
  TupleFilter,
  TupleStore,
  TupleWrite,
  WriteOptions,
  WriteResult,
} from "./store/tuple-store.js";
import type { RelationTuple, Subject } from "./tuple.js";

/** Options of `openPermissionEngine`. */
export interface PermissionEngineOptions {
  /** Where tuples and schemas live. The engine does not close it. */
  store: TupleStore;
  /** Default depth limit of check, expand and lookups (OpenFGA's 25); a request may ask for less. */
  maxDepth?: number;
  /** OPL operator folding; `keto` (default) is Keto's left-to-right folding. */
  oplPrecedence?: "keto" | "typescript";
  /** OPL in Keto's strict mode (default false: Keto's non-strict default, see `Schema.ketoNonStrict`). */
  oplStrict?: boolean;
  /**
   * Where checks are evaluated: `threads` worker threads (a piscina pool reading the shared snapshot), or 0
   * for this thread (default 0 for the library; `gatehouse serve` uses one per core). `workerFile` and
   * `workerData` substitute the worker (tests). `pool` shares an existing pool (the engine does not close it).
   */
  evaluator?: { threads?: number; workerFile?: URL; workerData?: unknown; pool?: EvaluatorPool };
  /** The check-result cache, bounded by an estimate of its bytes; `maxBytes` 0 disables it. Default 32 MiB. */
  cache?: { maxBytes?: number };
  /**
   * `minimize_latency` reads at the head as of the last multiple of this many milliseconds, so concurrent
   * reads share a revision and cache entries; it never trails the head by more than this. 0 reads at the
   * node's head. Default 5,000 (SpiceDB's quantization interval).
   */
  quantizationMs?: number;
  /**
   * How long older revisions stay readable from memory (`at_exact_snapshot`, older snaptokens). Default one
   * hour. History older than this is compacted away once enough tuples were deleted to make it worthwhile.
   */
  retentionMs?: number;
  /**
   * How long a read carrying a snaptoken newer than this node's snapshot waits for the node to catch up
   * before failing with UNAVAILABLE (`snaptoken_not_replicated`). Default 2,000 ms.
   */
  snaptokenWaitMs?: number;
}

/** Default size of the check cache. */
export const DEFAULT_CHECK_CACHE_BYTES = 32 * 1024 * 1024;
/** Default `quantizationMs`. */
export const DEFAULT_QUANTIZATION_MS = 5_000;
/** Default `retentionMs`. */
export const DEFAULT_RETENTION_MS = 60 * 60 * 1000;
/** Default `snaptokenWaitMs`. */
export const DEFAULT_SNAPTOKEN_WAIT_MS = 2_000;
/** Compaction runs when at least this many tuple versions are dead (and a quarter of all). */
const COMPACT_MIN_DEAD = 10_000;

/** Counters of the evaluation path, for metrics. */
export interface PermissionEngineStats {
  readonly revision: Revision;
  readonly horizon: Revision;
  readonly cache: CheckCacheStats;
  readonly batching: CheckRunnerStats;
  readonly pool: EvaluatorPoolStats | undefined;
  readonly snapshot: { readonly edgeVersions: number; readonly nodes: number; readonly sharedBytes: number };
  /** Full snapshot rebuilds since start (after falling behind the store's changelog horizon). */
  readonly rebuilds: number;
  /** True while a rebuild is in progress (the node keeps serving its previous snapshot meanwhile). */
  readonly rebuilding: boolean;
}

/**
 * How fresh a read must be (SpiceDB's four modes; Zanzibar's zookies). Revisions come from snaptokens.
 * - `minimize_latency`: the node's head as of the last quantization boundary (`quantizationMs`), without
 *   asking the store: fastest, shares cache entries, trails the head by at most one quantum.
 * - `latest_applied`: the node's current head, without asking the store (Keto's reads: a node sees its own
 *   writes at once; other nodes' writes once replicated).
 * - `at_least_as_fresh`: a snapshot at or after `revision` (read-your-writes across nodes).
 * - `at_exact_snapshot`: exactly `revision` (repeatable reads, paging through one state).
 * - `fully_consistent`: the store's head at the time of the call.
 */
export type Consistency =
  | { kind: "minimize_latency" }
  | { kind: "latest_applied" }
  | { kind: "at_least_as_fresh"; revision: Revision }
  | { kind: "at_exact_snapshot"; revision: Revision }
  | { kind: "fully_consistent" };

/** Which revision a read evaluates at, and how deep it may go. */
export interface ReadAt {
  /** Default `minimize_latency`. */
  consistency?: Consistency;
  /** Depth limit for this request; values <= 0 or above the engine's limit mean the engine's limit. */
  maxDepth?: number;
  /** Tuples evaluated as if written, for this request only (never stored); validated like writes. */
  contextualTuples?: readonly RelationTuple[];
}

/** A check request: is `subject` in `namespace:object#relation`? */
export interface CheckRequest {
  namespace: string;
  object: string;
  relation: string;
  subject: Subject;
}

/** The outcome of a check. */
export interface CheckResult {
  allowed: boolean;
  revision: Revision;
}

/** Pagination of lookups. */
export interface LookupPage {
  pageSize?: number;
  cursor?: string;
}

/** Rejects a schema text with every error diagnostic in the message and the details. */
function schemaError(diagnostics: readonly Diagnostic[]): InvalidArgumentError {
  const errors = diagnostics.filter((d) => d.severity === "error");
  const first = errors[0];
  return new InvalidArgumentError(`invalid schema: ${errors.map((d) => formatDiagnostic(d)).join("; ")}`, {
    reason: "invalid_schema",
    details: {
      field: "schema",
      ...(first === undefined ? {} : { line: first.start.line, column: first.start.column }),
      diagnostics: errors,
    },
  });
}

/** The permission engine over one store. Create it with `openPermissionEngine`. */
export class PermissionEngine {
  private schemaValue: Schema | undefined;
  /** The store revision of the schema in use (0: none), to notice schema writes of other nodes. */
  private schemaRevision: Revision;
  private readonly maxDepth: number;
  private readonly commitListeners = new Set<(revision: Revision) => void>();
  private readonly snaptokenWaitMs: number;
  private rebuilds = 0;
  private rebuilding = false;
  private catchingUp: Promise<void> | undefined;
  private queuedCatchUp: Promise<void> | undefined;
  private readonly revisionListeners = new Set<(revision: Revision) => void>();
  private readonly cache: CheckCache;
  private readonly pool: EvaluatorPool | undefined;
  private readonly ownsPool: boolean;
  private runner: CheckRunner;
  private readonly clock: RevisionClock;
  private readonly quantizationMs: number;
  private readonly retentionMs: number;
  /** Tuple versions removed since the last compaction (what compacting could reclaim). */
  private deadVersions = 0;

  private constructor(
    private readonly store: TupleStore,
    private snapshot: GraphSnapshot,
    schema: Schema | undefined,
    schemaRevision: Revision,
    private readonly options: PermissionEngineOptions,
  ) {
    this.maxDepth = options.maxDepth ?? 25;
    this.schemaRevision = schemaRevision;
    this.snaptokenWaitMs = nonNegative(options.snaptokenWaitMs ?? DEFAULT_SNAPTOKEN_WAIT_MS, "snaptokenWaitMs");
    this.quantizationMs = nonNegative(options.quantizationMs ?? DEFAULT_QUANTIZATION_MS, "quantizationMs");
    this.retentionMs = nonNegative(options.retentionMs ?? DEFAULT_RETENTION_MS, "retentionMs");
    this.clock = new RevisionClock(Math.max(this.quantizationMs, this.retentionMs) + 1000);
    this.clock.record(snapshot.revision);
    this.cache = new CheckCache(nonNegative(options.cache?.maxBytes ?? DEFAULT_CHECK_CACHE_BYTES, "cache.maxBytes"));
    const threads = options.evaluator?.threads ?? 0;
    this.ownsPool = options.evaluator?.pool === undefined;
    this.pool =
      options.evaluator?.pool ??
      (threads > 0
        ? new EvaluatorPool({
            threads,
            ...(options.evaluator?.workerFile === undefined ? {} : { workerFile: options.evaluator.workerFile }),
            ...(options.evaluator?.workerData === undefined ? {} : { workerData: options.evaluator.workerData }),
          })
        : undefined);
    this.runner = new CheckRunner({ snapshot, cache: this.cache, ...(this.pool === undefined ? {} : { pool: this.pool }) });
    this.setSchema(schema);
  }

  /** Loads the stored schema and builds the snapshot at the store's head. */
  static async open(options: PermissionEngineOptions): Promise<PermissionEngine> {
    const { store } = options;
    const stored = await store.readSchema();
    let schema: Schema | undefined;
    if (stored !== undefined) {
      const compiled = compileSchema(stored.text, compileOptions(stored.language, options));
      if (compiled.schema === undefined) throw schemaError(compiled.diagnostics);
      schema = compiled.schema;
    }
    const snapshot = await buildSnapshot(store);
    return new PermissionEngine(store, snapshot, schema, stored?.revision ?? 0, options);
  }

  /** Stops the evaluator pool. The store is the caller's to close. */
  async close(): Promise<void> {
    if (this.ownsPool) await this.pool?.close();
  }

  /** Counters of the cache, the batching and the pool. */
  stats(): PermissionEngineStats {
    return {
      revision: this.snapshot.revision,
      horizon: this.snapshot.horizon,
      cache: this.cache.stats(),
      batching: this.runner.stats(),
      pool: this.pool?.stats(),
      snapshot: this.snapshot.stats(),
      rebuilds: this.rebuilds,
      rebuilding: this.rebuilding,
    };
  }

  private setSchema(schema: Schema | undefined): void {
    // (Also called after a rebuild, to compile the schema against the new snapshot's names.)
    this.schemaValue = schema;
    if (schema !== undefined) this.runner.setSchema(schema);
  }

  /** The current schema, if one was written. */
  get schema(): Schema | undefined {
    return this.schemaValue;
  }

  /** The revision the snapshot has applied. */
  get revision(): Revision {
    return this.snapshot.revision;
  }

  /** Compiles, validates and stores a schema; returns its diagnostics (warnings) and the new revision. */
  async writeSchema(
    text: string,
    language?: SchemaLanguage,
  ): Promise<WriteResult & { diagnostics: readonly Diagnostic[] }> {
    const compiled = compileSchema(text, compileOptions(language, this.options));
    if (compiled.schema === undefined) throw schemaError(compiled.diagnostics);
    const result = await this.store.writeSchema(text, compiled.language);
    this.setSchema(compiled.schema);
    this.schemaRevision = Math.max(this.schemaRevision, result.revision);
    this.committed(result.revision);
    await this.catchUp();
    return { revision: result.revision, diagnostics: compiled.diagnostics };
  }

  /** Validates every tuple against the schema, then writes the batch atomically. */
  async write(writes: readonly TupleWrite[], options?: WriteOptions): Promise<WriteResult> {
    const schema = this.requireSchema();
    writes.forEach((w, i) => {
      // Deletes of tuples the schema no longer allows must stay possible, so only inserts are type-checked.
      if (w.op !== "delete") validateTuple(schema, w.tuple, `tuples[${i}]`);
    });
    const result = await this.store.write(writes, options);
    this.committed(result.revision);
    await this.catchUp();
    return result;
  }

  /** Deletes every tuple matching the filter. */
  async deleteByFilter(filter: TupleFilter, options?: WriteOptions): Promise<DeleteResult> {
    const result = await this.store.deleteByFilter(filter, options);
    this.committed(result.revision);
    await this.catchUp();
    return result;
  }

  /** Is the subject in `namespace:object#relation`? Depth exhaustion is an error, never a deny. */
  check(request: CheckRequest, at: ReadAt = {}): Promise<CheckResult> {
    try {
      if (at.contextualTuples !== undefined && at.contextualTuples.length > 0) return this.checkWithContext(request, at);
      requireRelation(this.requireSchema(), request.namespace, request.relation);
      // The hot path stays synchronous up to the answer: a cache hit costs one promise, not a chain of them.
      const revision = this.revisionNow(at);
      if (revision === undefined) return this.resolveRevision(at).then((r) => this.checkAt(request, r, at));
      return this.checkAt(request, revision, at);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private checkAt(request: CheckRequest, revision: Revision, at: ReadAt): Promise<CheckResult> {
    const answer = this.runner.check(request, revision, this.depth(at));
    if (typeof answer === "boolean") return Promise.resolve({ allowed: answer, revision });
    return answer.then((allowed) => ({ allowed, revision }));
  }

  /** Contextual tuples exist for this request only, so they are evaluated here on an overlay, uncached. */
  private async checkWithContext(request: CheckRequest, at: ReadAt): Promise<CheckResult> {
    const { view, revision } = await this.viewFor(at);
    const allowed = check(this.requireSchema(), view, request, { maxDepth: this.depth(at) });
    return { allowed, revision };
  }

  /**
   * Checks many requests at one revision (BatchCheck). A failure that belongs to one item (an unknown
   * namespace or relation, max depth) is that item's result; a failure of the whole request (consistency,
   * invalid contextual tuples) is thrown.
   */
  async checkMany(
    requests: readonly CheckRequest[],
    at: ReadAt = {},
  ): Promise<{ results: Array<boolean | GatehouseError>; revision: Revision }> {
    const schema = this.requireSchema();
    const depth = this.depth(at);
    if (at.contextualTuples !== undefined && at.contextualTuples.length > 0) {
      const { view, revision } = await this.viewFor(at);
      const results = requests.map((request) => {
        try {
          return check(schema, view, request, { maxDepth: depth });
        } catch (err) {
          return toGatehouseError(err);
        }
      });
      return { results, revision };
    }
    const revision = await this.resolveRevision(at);
    const results: Array<boolean | GatehouseError> = new Array<boolean | GatehouseError>(requests.length);
    const valid: CheckRequest[] = [];
    const positions: number[] = [];
    requests.forEach((request, i) => {
      try {
        requireRelation(schema, request.namespace, request.relation);
        valid.push(request);
        positions.push(i);
      } catch (err) {
        results[i] = toGatehouseError(err);
      }
    });
    const answers = await this.runner.checkMany(valid, revision, depth);
    answers.forEach((answer, j) => {
      results[positions[j] as number] = answer;
    });
    return { results, revision };
  }

  /** The userset tree of `namespace:object#relation`, at most `maxNodes` nodes (default 4,000; then truncated). */
  async expand(
    request: { namespace: string; object: string; relation: string },
    at: ReadAt & { maxNodes?: number } = {},
  ): Promise<{ tree: ExpandTree; revision: Revision }> {
    const { view, revision } = await this.viewFor(at);
    const tree = expand(this.requireSchema(), view, request, {
      maxDepth: this.depth(at),
      ...(at.maxNodes === undefined ? {} : { maxNodes: at.maxNodes }),
    });
    return { tree, revision };
  }

  /** Objects of `namespace` on which the subject has `relation`, sorted, paginated. */
  async lookupResources(
    request: { namespace: string; relation: string; subject: Subject },
    page: LookupPage = {},
    at: ReadAt = {},
  ): Promise<{ objects: string[]; nextCursor: string | undefined; revision: Revision }> {
    const { view, revision } = await this.viewFor(at);
    const schema = this.requireSchema();
    const depth = this.depth(at);
    if (hasContext(at)) {
      const result = lookupResources(schema, view, request, { maxDepth: depth, ...page });
      return { objects: result.objects, nextCursor: result.nextCursor, revision };
    }
    // Candidates come from a walk on this thread; their checks go to the evaluator in batches (the pool).
    const { namespace, relation, subject } = request;
    const candidates = resourceCandidates(schema, view, request);
    const result = await paginateBatched(candidates, page, (ids) =>
      this.runner.checkMany(ids.map((object) => ({ namespace, object, relation, subject })), revision, depth),
    );
    return { objects: result.ids, nextCursor: result.nextCursor, revision };
  }

  /**
   * Subjects of a type that have `relation` on the object, sorted, paginated. A covering wildcard is listed
   * as `type:*` (OpenFGA's ListUsers); `listWildcardMembers` lists every known covered subject instead.
   */
  async lookupSubjects(
    request: { namespace: string; object: string; relation: string; subjectNamespace: string; subjectRelation?: string },
    page: LookupPage & { listWildcardMembers?: boolean } = {},
    at: ReadAt = {},
  ): Promise<{ subjects: Subject[]; nextCursor: string | undefined; revision: Revision }> {
    const { view, revision } = await this.viewFor(at);
    const schema = this.requireSchema();
    const depth = this.depth(at);
    if (hasContext(at)) {
      const result = lookupSubjects(schema, view, request, { maxDepth: depth, ...page });
      return { subjects: result.subjects, nextCursor: result.nextCursor, revision };
    }
    const { namespace, object, relation } = request;
    const plan = planSubjects(schema, view, request, page);
    const confirm = (ids: readonly string[]) =>
      this.runner.checkMany(ids.map((id) => ({ namespace, object, relation, subject: plan.make(id) })), revision, depth);
    if (plan.everyone === "unless-wildcard-allowed") {
      const [star] = await confirm(["*"]);
      if (star instanceof Error) throw star;
      if (star !== true) plan.addKnown();
    } else if (plan.everyone === "always") plan.addKnown();
    const result = await paginateBatched(plan.candidates, page, confirm);
    return { subjects: result.ids.map(plan.make), nextCursor: result.nextCursor, revision };
  }

  /**
   * Lists stored tuples matching the filter, a page at a time. The first page reads at the consistency's
   * revision; later pages carry their revision in the page token, so a listing is one consistent state.
   * A filter naming a namespace the schema lacks is `not_found` (Keto answers 404).
   */
  async read(
    filter: TupleFilter,
    page: { pageSize?: number; pageToken?: string } = {},
    at: ReadAt = {},
  ): Promise<ReadResult> {
    const schema = this.schemaValue;
    if (schema !== undefined && filter.namespace !== undefined && !schema.types.has(filter.namespace)) {
      throw new NotFoundError(`namespace "${filter.namespace}" is not defined in the schema`, {
        reason: "namespace_not_found",
        details: { field: "namespace", namespace: filter.namespace },
      });
    }
    if (page.pageToken !== undefined && page.pageToken !== "") {
      return this.store.read(filter, { pageToken: page.pageToken, ...(page.pageSize === undefined ? {} : { pageSize: page.pageSize }) });
    }
    const revision = await this.resolveRevision(at);
    return this.store.read(filter, { revision, ...(page.pageSize === undefined ? {} : { pageSize: page.pageSize }) });
  }

  /** The stored schema text and language, as written (not the compiled IR). */
  storedSchema(): Promise<StoredSchema | undefined> {
    return this.store.readSchema();
  }

  /**
   * Reads the changelog after `afterRevision` (Watch). A revision older than the store keeps is the store's
   * error; the page never splits a revision.
   */
  changes(afterRevision: Revision, limit?: number): Promise<ChangesResult> {
    return this.store.changes(afterRevision, limit);
  }

  /**
   * Calls `listener` with the new revision each time the snapshot advances (after this engine's writes or a
   * catch-up). Returns the function that unsubscribes. Listeners must not throw.
   */
  onRevision(listener: (revision: Revision) => void): () => void {
    this.revisionListeners.add(listener);
    return () => this.revisionListeners.delete(listener);
  }

  /**
   * Calls `listener` with the revision of each write this engine committed to the store, right after the
   * commit (before this node applied it): what a node announces to the others. Listeners must not throw.
   */
  onCommit(listener: (revision: Revision) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  private committed(revision: Revision): void {
    for (const listener of this.commitListeners) listener(revision);
  }

  /**
   * Applies the store's changelog to the snapshot up to the store's head, re-reading the schema when
   * another node changed it. A node that fell behind the store's changelog horizon rebuilds its snapshot
   * from a full scan instead. Concurrent callers share one run.
   */
  catchUp(): Promise<void> {
    // A run in progress may have read the head before the caller learned of a newer write, so a caller
    // arriving meanwhile needs a run that starts after it. All such callers share one queued run: a burst of
    // checks waiting for a fresh snaptoken costs two catch-ups, not one per check.
    if (this.catchingUp === undefined) return this.runCatchUp();
    this.queuedCatchUp ??= this.catchingUp
      .then(ignore, ignore)
      .then(() => {
        this.queuedCatchUp = undefined;
        return this.runCatchUp();
      });
    return this.queuedCatchUp;
  }

  private async runCatchUp(): Promise<void> {
    while (this.catchingUp !== undefined) await this.catchingUp.then(ignore, ignore);
    this.catchingUp = (async () => {
      for (;;) {
        let page: ChangesResult;
        try {
          page = await this.store.changes(this.snapshot.revision, 10_000);
        } catch (err) {
          if (!(err instanceof GatehouseError && err.reason === "revision_expired")) throw err;
          await this.rebuild();
          continue;
        }
        if (page.schemaRevision > this.schemaRevision) await this.reloadSchema();
        if (page.untilRevision > this.snapshot.revision) {
          this.snapshot.apply(page.changes, page.untilRevision);
          for (const change of page.changes) if (change.op === "delete") this.deadVersions++;
        }
        if (!page.more) break;
      }
    })();
    const before = this.snapshot.revision;
    try {
      await this.catchingUp;
    } finally {
      this.catchingUp = undefined;
    }
    if (this.snapshot.revision > before) {
      this.clock.record(this.snapshot.revision);
      this.compactIfWorthwhile();
      for (const listener of this.revisionListeners) listener(this.snapshot.revision);
    }
  }

  /**
   * Replaces the snapshot with one built from a full scan at the store's head (the changelog this node
   * needed was garbage collected). Reads keep using the old snapshot until the new one is complete; checks
   * in flight finish on the runner they started on.
   */
  private async rebuild(): Promise<void> {
    this.rebuilding = true;
    try {
      const snapshot = await buildSnapshot(this.store);
      const runner = new CheckRunner({ snapshot, cache: this.cache, ...(this.pool === undefined ? {} : { pool: this.pool }) });
      this.snapshot = snapshot;
      this.runner = runner;
      this.deadVersions = 0;
      this.setSchema(this.schemaValue);
      this.rebuilds++;
    } finally {
      this.rebuilding = false;
    }
  }

  /** Loads the store's current schema (written by another node). A schema that no longer compiles is kept out. */
  private async reloadSchema(): Promise<void> {
    const stored = await this.store.readSchema();
    if (stored === undefined) return;
    this.schemaRevision = stored.revision;
    const compiled = compileSchema(stored.text, compileOptions(stored.language, this.options));
    // Every writer validated it with the same compiler; if this node's OPL settings differ, keep serving the
    // previous schema rather than stopping replication.
    if (compiled.schema !== undefined) this.setSchema(compiled.schema);
  }

  /**
   * Forgets snapshot history older than the retention window: revisions before the head at `now -
   * retentionMs` become unreadable (`revision_expired`). Returns the new horizon. Called on its own when
   * enough deleted versions pile up; public for operators and tests.
   */
  compactHistory(): Revision {
    const horizon = this.clock.headAt(Date.now() - this.retentionMs);
    if (horizon !== undefined && horizon > this.snapshot.horizon) {
      this.snapshot.compact(horizon);
      this.deadVersions = 0;
    }
    return this.snapshot.horizon;
  }

  private compactIfWorthwhile(): void {
    const { edgeVersions } = this.snapshot.stats();
    if (this.deadVersions >= COMPACT_MIN_DEAD && this.deadVersions * 4 >= edgeVersions) this.compactHistory();
  }

  /** The view a read evaluates on: the snapshot at the consistency's revision, plus contextual tuples. */
  private async viewFor(at: ReadAt): Promise<{ view: GraphView; revision: Revision }> {
    const schema = this.requireSchema();
    const extra = at.contextualTuples ?? [];
    extra.forEach((t, i) => validateTuple(schema, t, `contextual_tuples[${i}]`));
    const revision = await this.resolveRevision(at);
    return { view: createOverlayView(this.snapshot.at(revision), extra), revision };
  }

  /**
   * The revision a read with this consistency evaluates at, without evaluating anything (to pin one
   * revision for a batch, or to stamp an empty answer).
   */
  resolveConsistency(consistency: Consistency | undefined): Promise<Revision> {
    return this.resolveRevision(consistency === undefined ? {} : { consistency });
  }

  /** Compiles a schema with this engine's OPL settings without storing it (ValidateSchema). */
  validateSchema(text: string, language?: SchemaLanguage): CompileResult & { language: SchemaLanguage } {
    return compileSchema(text, compileOptions(language, this.options));
  }

  private async resolveRevision(at: ReadAt): Promise<Revision> {
    const consistency = at.consistency ?? { kind: "minimize_latency" };
    switch (consistency.kind) {
      case "minimize_latency":
        return this.quantizedRevision();
      case "latest_applied":
        return this.snapshot.revision;
      case "fully_consistent":
        await this.catchUp();
        return this.snapshot.revision;
      case "at_least_as_fresh":
      case "at_exact_snapshot": {
        const wanted = consistency.revision;
        if (wanted > this.snapshot.revision) await this.awaitRevision(wanted, `consistency.${consistency.kind}`);
        if (consistency.kind === "at_exact_snapshot") {
          this.snapshot.checkHorizon(wanted);
          return wanted;
        }
        // SpiceDB's rule: the later of the token and the quantized revision, so fresh-enough reads still share.
        return Math.max(wanted, this.quantizedRevision());
      }
    }
  }

  /**
   * Waits, at most `snaptokenWaitMs`, until the snapshot has applied `wanted`. The store is the source of
   * truth: catching up from it either reaches the token, or proves the token names a revision no write has
   * produced (`snaptoken_ahead`), or cannot finish in time (store unreachable, a rebuild): then the read
   * fails with UNAVAILABLE rather than answer from an older state.
   */
  private async awaitRevision(wanted: Revision, field: string): Promise<void> {
    let failure: unknown;
    let finished = false;
    const attempt = this.catchUp().then(
      () => {
        finished = true;
      },
      (err: unknown) => {
        failure = err;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([attempt, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.snaptokenWaitMs)))]);
    clearTimeout(timer);
    if (wanted <= this.snapshot.revision) return;
    if (finished) {
      throw new InvalidArgumentError(
        `${field}: the snaptoken names revision ${wanted}, ahead of the store's head ${this.snapshot.revision}`,
        { details: { field }, reason: "snaptoken_ahead" },
      );
    }
    const why = failure === undefined ? "" : `: ${failure instanceof Error ? failure.message : String(failure)}`;
    throw new UnavailableError(
      `${field}: the snaptoken's revision ${wanted} is not yet replicated to this node (applied revision ${this.snapshot.revision}) after waiting ${this.snaptokenWaitMs} ms${why}; retry, or ask another node`,
      { reason: "snaptoken_not_replicated", details: { field, revision: wanted, applied: this.snapshot.revision }, cause: failure },
    );
  }

  /** The revision of a consistency that needs no store round trip, or undefined when it may need one. */
  private revisionNow(at: ReadAt): Revision | undefined {
    const consistency = at.consistency;
    if (consistency === undefined || consistency.kind === "minimize_latency") return this.quantizedRevision();
    if (consistency.kind === "latest_applied") return this.snapshot.revision;
    return undefined;
  }

  /** The head as of the last quantization boundary, never older than the snapshot's horizon. */
  private quantizedRevision(): Revision {
    const revision = this.clock.quantized(this.quantizationMs) ?? this.snapshot.revision;
    return Math.min(this.snapshot.revision, Math.max(revision, this.snapshot.horizon));
  }

  private depth(at: ReadAt): number {
    // Keto's rule: a request depth <= 0 or above the limit means the limit.
    const asked = at.maxDepth ?? 0;
    return asked <= 0 || asked > this.maxDepth ? this.maxDepth : asked;
  }

  private requireSchema(): Schema {
    if (this.schemaValue === undefined) {
      throw new NotFoundError("no schema has been written yet; write one with WriteSchema first", { reason: "no_schema" });
    }
    return this.schemaValue;
  }
}

function ignore(): void {}

/** Builds a snapshot of the store at its head, streaming the tuples in. */
async function buildSnapshot(store: TupleStore): Promise<GraphSnapshot> {
  const head = await store.headRevision();
  const snapshot = new GraphSnapshot();
  for await (const tuples of store.scan(head)) snapshot.load(tuples, head);
  // An empty store yields no batch: the snapshot must still stand at the store's head.
  snapshot.load([], head);
  return snapshot;
}

function compileOptions(language: SchemaLanguage | undefined, engine: PermissionEngineOptions): CompileOptions {
  const options: CompileOptions = {};
  if (language !== undefined) options.language = language;
  if (engine.oplPrecedence !== undefined) options.oplPrecedence = engine.oplPrecedence;
  if (engine.oplStrict !== undefined) options.oplStrict = engine.oplStrict;
  return options;
}

function hasContext(at: ReadAt): boolean {
  return at.contextualTuples !== undefined && at.contextualTuples.length > 0;
}

function nonNegative(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${field}: ${value} is not a non-negative integer`, { details: { field } });
  }
  return value;
}

/** Opens a permission engine over a store: loads the schema, builds the snapshot. */
export function openPermissionEngine(options: PermissionEngineOptions): Promise<PermissionEngine> {
  return PermissionEngine.open(options);
}
