/**
 * The storage contract every tuple store (memory, PGlite, PostgreSQL) implements and the shared contract
 * suite (`contract.ts`) checks. Stores persist tuples and schemas and stamp each write with a revision;
 * they do not know the schema's rules (validation happens before a write reaches the store).
 */
import type { RelationTuple, Subject } from "../tuple.js";
import type { SchemaLanguage } from "../schema/ir.js";

/** A revision: a strictly increasing write counter. Revision 0 is the empty store. */
export type Revision = number;

/**
 * One change in a write batch.
 * - `touch`: insert, idempotent when the tuple exists (Keto's insert).
 * - `create`: insert, fails the whole batch with `already_exists` when the tuple exists.
 * - `delete`: delete, a no-op when the tuple is missing.
 */
export interface TupleWrite {
  readonly op: "touch" | "create" | "delete";
  readonly tuple: RelationTuple;
}

/**
 * Selects tuples. Every field left out matches anything. `subject` matches one subject exactly;
 * `subjectNamespace` / `subjectRelation` match parts of subject sets (bare ids never match them).
 */
export interface TupleFilter {
  readonly namespace?: string;
  readonly object?: string;
  readonly relation?: string;
  readonly subject?: Subject;
  readonly subjectNamespace?: string;
  readonly subjectRelation?: string;
}

/** A condition a write requires (SpiceDB's preconditions): some tuple must (not) match `filter`. */
export interface WritePrecondition {
  readonly kind: "must_match" | "must_not_match";
  readonly filter: TupleFilter;
}

/** Options of a write. */
export interface WriteOptions {
  /** Checked inside the write's transaction; when one fails, nothing is written. */
  readonly preconditions?: readonly WritePrecondition[];
}

/** The outcome of a write: the revision that now contains it. */
export interface WriteResult {
  readonly revision: Revision;
}

/** The outcome of a delete by filter. */
export interface DeleteResult {
  readonly revision: Revision;
  /** How many live tuples were deleted. */
  readonly deleted: number;
}

/** Options of a paginated read. */
export interface ReadOptions {
  /** Read as of this revision (default: the head revision at the time of the first page). */
  readonly revision?: Revision;
  /** Tuples per page; default 100, at most 1,000. */
  readonly pageSize?: number;
  /** The `nextPageToken` of the previous page. */
  readonly pageToken?: string;
}

/** One page of tuples. */
export interface ReadResult {
  readonly tuples: readonly RelationTuple[];
  /** Present when more tuples follow; pass it back as `pageToken`. */
  readonly nextPageToken: string | undefined;
  /** The revision the page was read at (all pages of one listing share it). */
  readonly revision: Revision;
}

/** One entry of the changelog. */
export interface TupleChange {
  readonly revision: Revision;
  readonly op: "insert" | "delete";
  readonly tuple: RelationTuple;
}

/** A page of the changelog. */
export interface ChangesResult {
  /** Changes with `afterRevision < revision <= untilRevision`, in revision order. */
  readonly changes: readonly TupleChange[];
  /** The highest revision covered by this page; read on from here. */
  readonly untilRevision: Revision;
  /** True when more changes exist after `untilRevision` (the page hit its limit). */
  readonly more: boolean;
  /**
   * The revision of the latest stored schema (0 when none): schema writes take revisions but carry no tuple
   * changes, so a node tailing the changelog learns from this that it must re-read the schema.
   */
  readonly schemaRevision: Revision;
}

/** The outcome of `collectGarbage`. */
export interface GarbageCollection {
  /**
   * The changelog horizon: changes after this revision are kept, so `changes(after)` needs `after >=
   * horizon`, and reads need a revision at or after it (older ones fail with `revision_expired`).
   */
  readonly horizon: Revision;
  /** How many deleted tuple versions this run removed. */
  readonly removedVersions: number;
}

/** A stored schema. */
export interface StoredSchema {
  readonly text: string;
  readonly language: SchemaLanguage;
  /** The revision of the write that stored it. */
  readonly revision: Revision;
}

/** A revisioned, transactional tuple store. */
export interface TupleStore {
  /** The latest committed revision. */
  headRevision(): Promise<Revision>;

  /**
   * Applies a batch atomically under one new revision. Within a batch, later changes to the same tuple win.
   * Throws `already_exists` for a `create` of an existing tuple and `precondition_failed` for a failed
   * precondition; nothing of a rejected batch is applied.
   */
  write(writes: readonly TupleWrite[], options?: WriteOptions): Promise<WriteResult>;

  /** Deletes every live tuple matching the filter, under one new revision. */
  deleteByFilter(filter: TupleFilter, options?: WriteOptions): Promise<DeleteResult>;

  /**
   * Reads tuples matching the filter at a revision, in a stable order, with keyset pagination. A page token
   * that was altered or comes from another store fails with `invalid_argument`.
   */
  read(filter: TupleFilter, options?: ReadOptions): Promise<ReadResult>;

  /**
   * Every tuple live at `revision`, in no particular order, in batches of `batchSize` (default 20,000): the
   * bulk read that builds a snapshot, without page tokens or the page-size limit of `read`. Leaving the loop
   * early ends the scan.
   */
  scan(revision: Revision, batchSize?: number): AsyncIterable<RelationTuple[]>;

  /**
   * Reads the changelog after a revision, at most `limit` changes (default 1,000) but never a partial
   * revision. An `afterRevision` older than the changelog horizon fails with `revision_expired` (the caller
   * must rebuild from `scan`).
   */
  changes(afterRevision: Revision, limit?: number): Promise<ChangesResult>;

  /**
   * Forgets history committed more than `retentionMillis` ago: deleted tuple versions no longer visible at
   * any revision from the new horizon on are removed and the horizon moves up. Never touches a live tuple or
   * anything a read at or after the horizon sees. Safe to run from several nodes at once.
   */
  collectGarbage(retentionMillis: number): Promise<GarbageCollection>;

  /** The changelog horizon (0 until garbage was collected). */
  changelogHorizon(): Promise<Revision>;

  /** Stores a schema under a new revision. */
  writeSchema(text: string, language: SchemaLanguage): Promise<WriteResult>;

  /** The latest stored schema, if any. */
  readSchema(): Promise<StoredSchema | undefined>;

  /** Releases connections and files. */
  close(): Promise<void>;
}
