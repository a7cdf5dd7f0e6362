/**
 * The in-memory tuple store: for tests, examples and single-process development. It keeps every version of
 * every tuple (multi-version concurrency by revision) so reads at older revisions and the changelog work
 * exactly as in the SQL stores, until `collectGarbage` forgets history older than the retention.
 */
import { InvalidArgumentError, UnavailableError } from "../../common/errors.js";
import type { SchemaLanguage } from "../schema/ir.js";
import { createPageTokenCodec } from "./page-token.js";
import { checkNotExpired, cutChanges, finishPage, planRead, resolveChangesArgs } from "./read-plan.js";
import { tupleMatchesFilter } from "./tuple-filter.js";
import type { RelationTuple } from "../tuple.js";
import { compareTupleKeys, tupleFromKey, tupleKeyString } from "./tuple-key.js";
import type {
  ChangesResult,
  DeleteResult,
  GarbageCollection,
  ReadOptions,
  ReadResult,
  Revision,
  StoredSchema,
  TupleChange,
  TupleFilter,
  TupleStore,
  TupleWrite,
  WriteOptions,
  WritePrecondition,
  WriteResult,
} from "./tuple-store.js";
import type { KeyedTuple } from "./write-plan.js";
import {
  checkPrecondition,
  keyBatch,
  planBatch,
  validateFilter,
  validatePreconditions,
  validateSchemaWrite,
} from "./write-plan.js";

/** Options of `createMemoryStore`. */
export interface MemoryStoreOptions {
  /** HMAC key for page tokens. Default: a random key per store, so tokens only work with the store that issued them. */
  readonly paginationSecret?: string | Uint8Array;
}

/** One version of a tuple: live from `createdRev` until `deletedRev` (exclusive), if set. */
interface Version {
  readonly k: KeyedTuple;
  readonly createdRev: Revision;
  deletedRev: Revision | undefined;
}

function visibleAt(v: Version, revision: Revision): boolean {
  return v.createdRev <= revision && (v.deletedRev === undefined || v.deletedRev > revision);
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** Creates an empty in-memory tuple store at revision 0. */
export function createMemoryStore(options: MemoryStoreOptions = {}): TupleStore {
  const codec = createPageTokenCodec(options.paginationSecret === undefined ? {} : { secret: options.paginationSecret });
  let head: Revision = 0;
  let closed = false;
  let schema: StoredSchema | undefined;
  const live = new Map<string, Version>();
  const versions: Version[] = [];
  // Secondary indexes for the two common lookups (forward by object, reverse by subject); both keep history.
  const byObject = new Map<string, Version[]>();
  const bySubject = new Map<string, Version[]>();
  const log: TupleChange[] = [];
  // When each revision was committed (in revision order), for garbage collection by age.
  let commits: { revision: Revision; at: number }[] = [];
  let horizon: Revision = 0;

  function nextRevision(): Revision {
    const revision = ++head;
    commits.push({ revision, at: Date.now() });
    return revision;
  }

  function ensureOpen(): void {
    if (closed) throw new UnavailableError("the tuple store is closed");
  }

  function candidates(filter: TupleFilter): readonly Version[] {
    if (filter.namespace !== undefined && filter.object !== undefined) {
      return byObject.get(`${filter.namespace}\u0000${filter.object}`) ?? [];
    }
    const s = filter.subject;
    if (s !== undefined) {
      const key = s.kind === "id" ? `\u0000${s.id}\u0000` : `${s.namespace}\u0000${s.object}\u0000${s.relation}`;
      return bySubject.get(key) ?? [];
    }
    return versions;
  }

  function liveMatching(filter: TupleFilter): Version[] {
    return candidates(filter).filter((v) => v.deletedRev === undefined && tupleMatchesFilter(v.k.tuple, filter));
  }

  function checkPreconditions(preconditions: readonly WritePrecondition[]): void {
    preconditions.forEach((p, i) => checkPrecondition(p, i, liveMatching(p.filter).length > 0));
  }

  /** Applies a net change set under a new revision and logs it (deletes first, each group in key order). */
  function commit(inserts: readonly KeyedTuple[], deletes: readonly Version[]): Revision {
    const revision = nextRevision();
    const sortedDeletes = [...deletes].sort((a, b) => compareTupleKeys(a.k.key, b.k.key));
    for (const v of sortedDeletes) {
      v.deletedRev = revision;
      live.delete(v.k.id);
      log.push({ revision, op: "delete", tuple: tupleFromKey(v.k.key) });
    }
    const sortedInserts = [...inserts].sort((a, b) => compareTupleKeys(a.key, b.key));
    for (const k of sortedInserts) {
      // Store a private copy so later mutation of the caller's objects cannot change history.
      const own: KeyedTuple = { tuple: tupleFromKey(k.key), key: k.key, id: k.id };
      const v: Version = { k: own, createdRev: revision, deletedRev: undefined };
      live.set(k.id, v);
      versions.push(v);
      push(byObject, `${k.key[0]}\u0000${k.key[1]}`, v);
      push(bySubject, `${k.key[3]}\u0000${k.key[4]}\u0000${k.key[5]}`, v);
      log.push({ revision, op: "insert", tuple: tupleFromKey(k.key) });
    }
    return revision;
  }

  return {
    async headRevision() {
      ensureOpen();
      return head;
    },

    async write(writes: readonly TupleWrite[], writeOptions: WriteOptions = {}): Promise<WriteResult> {
      ensureOpen();
      const preconditions = writeOptions.preconditions ?? [];
      validatePreconditions(preconditions);
      const { keyed, distinct } = keyBatch(writes);
      checkPreconditions(preconditions);
      // An empty batch changes nothing and is not given a revision of its own.
      if (writes.length === 0) return { revision: head };
      const liveIds = new Set<string>();
      for (const id of distinct.keys()) if (live.has(id)) liveIds.add(id);
      const plan = planBatch(writes, keyed, liveIds);
      const deletes = plan.deletes.map((k) => live.get(k.id) as Version);
      return { revision: commit(plan.inserts, deletes) };
    },

    async deleteByFilter(filter: TupleFilter, writeOptions: WriteOptions = {}): Promise<DeleteResult> {
      ensureOpen();
      validateFilter(filter, "filter");
      const preconditions = writeOptions.preconditions ?? [];
      validatePreconditions(preconditions);
      checkPreconditions(preconditions);
      const doomed = liveMatching(filter);
      return { revision: commit([], doomed), deleted: doomed.length };
    },

    async read(filter: TupleFilter, readOptions: ReadOptions = {}): Promise<ReadResult> {
      ensureOpen();
      const plan = await planRead(filter, readOptions, codec, async () => head);
      checkNotExpired(plan.revision, horizon, readOptions.pageToken ? "page_token" : "revision");
      const after = plan.after;
      const keys = candidates(filter)
        .filter(
          (v) =>
            visibleAt(v, plan.revision) &&
            tupleMatchesFilter(v.k.tuple, filter) &&
            (after === undefined || compareTupleKeys(v.k.key, after) > 0),
        )
        .map((v) => v.k.key)
        .sort(compareTupleKeys)
        .slice(0, plan.pageSize + 1);
      return finishPage(keys, plan, codec, filter);
    },

    async *scan(revision: Revision, batchSize = 20_000): AsyncIterable<RelationTuple[]> {
      ensureOpen();
      checkNotExpired(revision, horizon, "revision");
      const keys = candidates({})
        .filter((v) => visibleAt(v, revision))
        .map((v) => v.k.key)
        .sort(compareTupleKeys);
      for (let i = 0; i < keys.length; i += batchSize) yield keys.slice(i, i + batchSize).map(tupleFromKey);
    },

    async changes(afterRevision: Revision, limit?: number): Promise<ChangesResult> {
      ensureOpen();
      const max = resolveChangesArgs(afterRevision, limit, head);
      checkNotExpired(afterRevision, horizon, "after_revision");
      const schemaRevision = schema?.revision ?? 0;
      // Binary search for the first change after `afterRevision` (the log is in revision order).
      let lo = 0;
      let hi = log.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((log[mid] as TupleChange).revision <= afterRevision) lo = mid + 1;
        else hi = mid;
      }
      const cut = cutChanges(log.slice(lo, lo + max + 1), max);
      if (cut.kind === "complete") return { changes: cut.changes, untilRevision: head, more: false, schemaRevision };
      if (cut.kind === "partial") return { changes: cut.changes, untilRevision: cut.untilRevision, more: true, schemaRevision };
      let end = lo;
      while (end < log.length && (log[end] as TupleChange).revision === cut.revision) end++;
      return { changes: log.slice(lo, end), untilRevision: cut.revision, more: end < log.length, schemaRevision };
    },

    async collectGarbage(retentionMillis: number): Promise<GarbageCollection> {
      ensureOpen();
      if (!Number.isSafeInteger(retentionMillis) || retentionMillis < 0) {
        throw new InvalidArgumentError(`retentionMillis must be a non-negative integer, got ${retentionMillis}`, {
          details: { field: "retentionMillis" },
        });
      }
      const cutoff = Date.now() - retentionMillis;
      for (const c of commits) if (c.at < cutoff && c.revision > horizon) horizon = c.revision;
      const collectable = (v: Version): boolean => v.deletedRev !== undefined && v.deletedRev <= horizon;
      const before = versions.length;
      const kept = versions.filter((v) => !collectable(v));
      versions.length = 0;
      versions.push(...kept);
      for (const index of [byObject, bySubject]) {
        for (const [key, list] of index) {
          const rest = list.filter((v) => !collectable(v));
          if (rest.length === 0) index.delete(key);
          else index.set(key, rest);
        }
      }
      let firstKept = 0;
      while (firstKept < log.length && (log[firstKept] as TupleChange).revision <= horizon) firstKept++;
      log.splice(0, firstKept);
      commits = commits.filter((c) => c.revision >= horizon);
      return { horizon, removedVersions: before - versions.length };
    },

    async changelogHorizon(): Promise<Revision> {
      ensureOpen();
      return horizon;
    },

    async writeSchema(text: string, language: SchemaLanguage): Promise<WriteResult> {
      ensureOpen();
      validateSchemaWrite(text, language);
      const revision = nextRevision();
      schema = { text, language, revision };
      return { revision };
    },

    async readSchema() {
      ensureOpen();
      return schema;
    },

    async close() {
      closed = true;
    },
  };
}
