/**
 * The tuple store over SQL, shared by the PGlite and PostgreSQL backends (and written to suit CockroachDB).
 *
 * Data model (see `sql-migrations.ts`): every version of a tuple is a row with `created_rev` and, once
 * deleted, `deleted_rev`. A read at revision R sees exactly the rows with
 * `created_rev <= R AND (deleted_rev IS NULL OR deleted_rev > R)`; the changelog is the union of inserts
 * (by `created_rev`) and deletes (by `deleted_rev`).
 *
 * Writes bump the single-row revision counter as their first statement. Its row lock serialises writers, so
 * revisions are consecutive, commit order equals revision order (a changelog tailer never sees N+1 before
 * N), and the liveness a write reads under the lock cannot change before it commits. A rejected write rolls
 * back, counter included.
 */
import { InvalidArgumentError, UnavailableError } from "../../common/errors.js";
import type { SchemaLanguage } from "../schema/ir.js";
import type { PageTokenCodec } from "./page-token.js";
import { createPageTokenCodec, generatePaginationSecret } from "./page-token.js";
import { checkNotExpired, cutChanges, finishPage, planRead, resolveChangesArgs } from "./read-plan.js";
import type { SqlExecutor, SqlQueryable, SqlRow, SqlValue } from "./sql-executor.js";
import { toRevision, writeTransaction } from "./sql-executor.js";
import { afterKeyCondition, bind, filterConditions, KEY_COLUMNS, keyValuesList } from "./sql-filter.js";
import { assertMigrated, migrate } from "./sql-migrations.js";
import type { RelationTuple } from "../tuple.js";
import type { TupleKey } from "./tuple-key.js";
import { tupleFromKey, tupleKeyString } from "./tuple-key.js";
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

/** Options of `createSqlStore`. */
export interface SqlStoreOptions {
  /** The database to use. */
  readonly executor: SqlExecutor;
  /** Apply pending migrations at start (default true). With `false`, a database lacking migrations is refused. */
  readonly migrate?: boolean;
  /**
   * HMAC key for page tokens. Default: a random secret generated once per database and kept in
   * `gatehouse_settings`, so every instance sharing the database accepts each other's tokens and a token
   * from another database is refused.
   */
  readonly paginationSecret?: string | Uint8Array;
  /** Whether `close()` also closes the executor (default true). */
  readonly closeExecutor?: boolean;
  /**
   * A PostgreSQL channel every write notifies with its revision, inside its transaction (so the
   * notification is sent on commit, in commit order). Absent: no notifications (PGlite, CockroachDB).
   */
  readonly notifyChannel?: string;
}

/** Deleted versions removed per garbage-collection statement, so no statement holds locks for long. */
const GC_BATCH = 5_000;

/** Keys per multi-row statement: 6 parameters each keeps a statement far below PostgreSQL's 65,535 limit. */
const KEYS_PER_STATEMENT = 1_000;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * A one-slot hand-off between a producer (a cursor in a transaction) and an async generator: the producer
 * waits until its batch is taken, so at most one batch waits in memory, and learns when the consumer quit.
 */
class BatchChannel<T> {
  private slot: T | undefined;
  private finished = false;
  private failure: { error: unknown } | undefined;
  private cancelled = false;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  /** Offers a batch; resolves true once taken, false when the consumer quit. */
  async push(batch: T): Promise<boolean> {
    if (this.cancelled) return false;
    this.slot = batch;
    this.wakeConsumer?.();
    await new Promise<void>((resolve) => {
      this.wakeProducer = resolve;
    });
    return !this.cancelled;
  }

  end(): void {
    this.finished = true;
    this.wakeConsumer?.();
  }

  fail(error: unknown): void {
    this.failure = { error };
    this.wakeConsumer?.();
  }

  /** The next batch, or undefined at the end; rethrows the producer's failure. */
  async next(): Promise<T | undefined> {
    for (;;) {
      if (this.slot !== undefined) {
        const batch = this.slot;
        this.slot = undefined;
        const wake = this.wakeProducer;
        this.wakeProducer = undefined;
        wake?.();
        return batch;
      }
      if (this.failure !== undefined) throw this.failure.error;
      if (this.finished) return undefined;
      await new Promise<void>((resolve) => {
        this.wakeConsumer = resolve;
      });
      this.wakeConsumer = undefined;
    }
  }

  /** The consumer quit: a waiting producer is released and stops. */
  cancel(): void {
    this.cancelled = true;
    const wake = this.wakeProducer;
    this.wakeProducer = undefined;
    wake?.();
  }
}

/** Rows per fetch of a snapshot scan: large enough that 1M tuples take 50 round trips. */
const SCAN_BATCH = 20_000;

function rowKey(row: SqlRow): TupleKey {
  return [
    String(row["namespace"]),
    String(row["object"]),
    String(row["relation"]),
    String(row["subject_type"]),
    String(row["subject_id"]),
    String(row["subject_relation"]),
  ];
}

/**
 * The page-token secret every store on this database shares (kept in `gatehouse_settings`), so every
 * instance accepts the others' tokens and a token from another database is refused.
 */
export async function databasePaginationSecret(executor: SqlExecutor): Promise<string> {
  // Insert-if-absent then read back: concurrent first starts agree on whichever insert won.
  await executor.query(
    `INSERT INTO gatehouse_settings (name, value) VALUES ('pagination_secret', $1) ON CONFLICT (name) DO NOTHING`,
    [generatePaginationSecret()],
  );
  const result = await executor.query(`SELECT value FROM gatehouse_settings WHERE name = 'pagination_secret'`);
  return String(result.rows[0]?.["value"]);
}

/** What opening any SQL-backed store (tuples, identities, OAuth2) starts from. */
export type SqlStoreStart = Pick<SqlStoreOptions, "executor" | "migrate" | "paginationSecret" | "closeExecutor">;

/**
 * Readies the database of a store being opened: applies pending migrations (with `migrate: false`, refuses a
 * database lacking them) and returns the page-token secret. On failure it closes the executor the store would
 * have owned: a store that failed to start is never returned, so nobody else would close it.
 */
export async function startSqlStore(options: SqlStoreStart): Promise<string | Uint8Array> {
  const { executor } = options;
  try {
    if (options.migrate === false) await assertMigrated(executor);
    else await migrate(executor);
    return options.paginationSecret ?? (await databasePaginationSecret(executor));
  } catch (err) {
    if (options.closeExecutor !== false) await executor.close();
    throw err;
  }
}

/** Opens a tuple store on an SQL database, migrating it first unless `migrate: false`. */
export async function createSqlStore(options: SqlStoreOptions): Promise<TupleStore> {
  const { executor } = options;
  const codec: PageTokenCodec = createPageTokenCodec({ secret: await startSqlStore(options) });
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new UnavailableError("the tuple store is closed");
  }

  async function headOf(q: SqlQueryable): Promise<Revision> {
    const result = await q.query(`SELECT revision FROM gatehouse_revision WHERE id = 1`);
    return toRevision(result.rows[0]?.["revision"]);
  }

  /** A write transaction, retried on serialisation conflicts (`writeTransaction` in sql-executor.ts). */
  const writeTx = <T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> => writeTransaction(executor, fn);

  const notifyChannel = options.notifyChannel;
  if (notifyChannel !== undefined && !/^[a-z_][a-z0-9_]*$/.test(notifyChannel)) {
    throw new Error(`notifyChannel must be a lower-case SQL identifier, got "${notifyChannel}"`);
  }
  // One round trip takes the writer lock and the revision, records the commit time and queues the
  // notification (PostgreSQL sends it on commit, and drops it on rollback).
  const nextRevisionSql = `WITH bumped AS (
      UPDATE gatehouse_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision
    ), stamped AS (
      INSERT INTO gatehouse_commits (revision) SELECT revision FROM bumped RETURNING revision
    )
    SELECT revision${notifyChannel === undefined ? "" : `, pg_notify('${notifyChannel}', revision::text) AS notified`} FROM stamped`;

  /** Takes the writer lock and the new revision (rolled back with the transaction if it fails). */
  async function nextRevision(tx: SqlQueryable): Promise<Revision> {
    const result = await tx.query(nextRevisionSql);
    return toRevision(result.rows[0]?.["revision"]);
  }

  async function horizonOf(q: SqlQueryable): Promise<Revision> {
    const result = await q.query(`SELECT value FROM gatehouse_settings WHERE name = 'changelog_horizon'`);
    const value = result.rows[0]?.["value"];
    return value === undefined ? 0 : toRevision(Number(value));
  }

  async function anyLive(q: SqlQueryable, filter: TupleFilter): Promise<boolean> {
    const params: SqlValue[] = [];
    const where = ["deleted_rev IS NULL", ...filterConditions(filter, params)].join(" AND ");
    const result = await q.query(`SELECT 1 AS found FROM gatehouse_tuples WHERE ${where} LIMIT 1`, params);
    return result.rows.length > 0;
  }

  async function checkPreconditions(q: SqlQueryable, preconditions: readonly WritePrecondition[]): Promise<void> {
    for (const [i, p] of preconditions.entries()) checkPrecondition(p, i, await anyLive(q, p.filter));
  }

  /** The key strings of the given tuples that are live now. */
  async function liveAmong(tx: SqlQueryable, tuples: readonly KeyedTuple[]): Promise<Set<string>> {
    const live = new Set<string>();
    for (const part of chunks(tuples, KEYS_PER_STATEMENT)) {
      const params: SqlValue[] = [];
      const values = keyValuesList(
        part.map((k) => k.key),
        params,
      );
      const result = await tx.query(
        `SELECT ${KEY_COLUMNS} FROM gatehouse_tuples WHERE deleted_rev IS NULL AND (${KEY_COLUMNS}) IN (VALUES ${values})`,
        params,
      );
      for (const row of result.rows) live.add(tupleKeyString(rowKey(row)));
    }
    return live;
  }

  async function markDeleted(tx: SqlQueryable, tuples: readonly KeyedTuple[], revision: Revision): Promise<void> {
    for (const part of chunks(tuples, KEYS_PER_STATEMENT)) {
      const params: SqlValue[] = [revision];
      const values = keyValuesList(
        part.map((k) => k.key),
        params,
      );
      await tx.query(
        `UPDATE gatehouse_tuples SET deleted_rev = $1::bigint WHERE deleted_rev IS NULL AND (${KEY_COLUMNS}) IN (VALUES ${values})`,
        params,
      );
    }
  }

  async function insertRows(tx: SqlQueryable, tuples: readonly KeyedTuple[], revision: Revision): Promise<void> {
    for (const part of chunks(tuples, KEYS_PER_STATEMENT)) {
      const params: SqlValue[] = [revision];
      const values = keyValuesList(
        part.map((k) => k.key),
        params,
        ["$1::bigint"],
      );
      await tx.query(`INSERT INTO gatehouse_tuples (${KEY_COLUMNS}, created_rev) VALUES ${values}`, params);
    }
  }

  /** Changes in `(after, until]` in changelog order (revision, deletes first, key), at most `limit` if given. */
  async function fetchChanges(after: Revision, until: Revision, limit: number | undefined): Promise<TupleChange[]> {
    const params: SqlValue[] = [after, until];
    const limitClause = limit === undefined ? "" : ` LIMIT ${bind(params, limit)}`;
    const result = await executor.query(
      `SELECT rev, op, ${KEY_COLUMNS} FROM (
         SELECT created_rev AS rev, 1 AS op, ${KEY_COLUMNS} FROM gatehouse_tuples
           WHERE created_rev > $1::bigint AND created_rev <= $2::bigint
         UNION ALL
         SELECT deleted_rev AS rev, 0 AS op, ${KEY_COLUMNS} FROM gatehouse_tuples
           WHERE deleted_rev > $1::bigint AND deleted_rev <= $2::bigint
       ) AS changes
       ORDER BY rev, op, ${KEY_COLUMNS}${limitClause}`,
      params,
    );
    return result.rows.map((row) => ({
      revision: toRevision(row["rev"]),
      op: toRevision(row["op"]) === 0 ? "delete" : "insert",
      tuple: tupleFromKey(rowKey(row)),
    }));
  }

  /** The changes in `(after, head]`, at most `max` unless one revision alone is bigger (then that revision whole). */
  async function changesPage(after: Revision, head: Revision, max: number): Promise<Omit<ChangesResult, "schemaRevision">> {
    const cut = cutChanges(await fetchChanges(after, head, max + 1), max);
    if (cut.kind === "complete") return { changes: cut.changes, untilRevision: head, more: false };
    if (cut.kind === "partial") return { changes: cut.changes, untilRevision: cut.untilRevision, more: true };
    const whole = await fetchChanges(cut.revision - 1, cut.revision, undefined);
    const more = (await fetchChanges(cut.revision, head, 1)).length > 0;
    return { changes: whole, untilRevision: cut.revision, more };
  }

  return {
    async headRevision() {
      ensureOpen();
      return headOf(executor);
    },

    async write(writes: readonly TupleWrite[], writeOptions: WriteOptions = {}): Promise<WriteResult> {
      ensureOpen();
      const preconditions = writeOptions.preconditions ?? [];
      validatePreconditions(preconditions);
      const { keyed, distinct } = keyBatch(writes);
      // An empty batch changes nothing and is not given a revision of its own (preconditions still apply).
      if (writes.length === 0) {
        await checkPreconditions(executor, preconditions);
        return { revision: await headOf(executor) };
      }
      return writeTx(async (tx) => {
        const revision = await nextRevision(tx);
        await checkPreconditions(tx, preconditions);
        const plan = planBatch(writes, keyed, await liveAmong(tx, [...distinct.values()]));
        await markDeleted(tx, plan.deletes, revision);
        await insertRows(tx, plan.inserts, revision);
        return { revision };
      });
    },

    async deleteByFilter(filter: TupleFilter, writeOptions: WriteOptions = {}): Promise<DeleteResult> {
      ensureOpen();
      validateFilter(filter, "filter");
      const preconditions = writeOptions.preconditions ?? [];
      validatePreconditions(preconditions);
      return writeTx(async (tx) => {
        const revision = await nextRevision(tx);
        await checkPreconditions(tx, preconditions);
        const params: SqlValue[] = [revision];
        const where = ["deleted_rev IS NULL", ...filterConditions(filter, params)].join(" AND ");
        const result = await tx.query(`UPDATE gatehouse_tuples SET deleted_rev = $1::bigint WHERE ${where}`, params);
        return { revision, deleted: result.rowCount };
      });
    },

    async read(filter: TupleFilter, readOptions: ReadOptions = {}): Promise<ReadResult> {
      ensureOpen();
      const plan = await planRead(filter, readOptions, codec, () => headOf(executor));
      const params: SqlValue[] = [plan.revision];
      const conds = [
        "created_rev <= $1::bigint",
        "(deleted_rev IS NULL OR deleted_rev > $1::bigint)",
        ...filterConditions(filter, params),
      ];
      if (plan.after !== undefined) conds.push(afterKeyCondition(plan.after, params));
      const limit = bind(params, plan.pageSize + 1);
      const result = await executor.query(
        `SELECT ${KEY_COLUMNS} FROM gatehouse_tuples WHERE ${conds.join(" AND ")} ORDER BY ${KEY_COLUMNS} LIMIT ${limit}`,
        params,
      );
      // After the fetch, as in `changes`: a listing at a collected revision would silently miss tuples.
      checkNotExpired(plan.revision, await horizonOf(executor), readOptions.pageToken ? "page_token" : "revision");
      return finishPage(result.rows.map(rowKey), plan, codec, filter);
    },

    async *scan(revision: Revision, batchSize = SCAN_BATCH): AsyncIterable<RelationTuple[]> {
      ensureOpen();
      // One cursor over an unordered query: a single sequential scan, whatever the planner's statistics say
      // (keyset pages ordered by the key went from 2.5 s to 16 s for 1M rows when the table was not analysed
      // after a bulk load). The transaction is held open while the consumer works through the batches.
      const channel = new BatchChannel<RelationTuple[]>();
      const producer = executor
        .transaction(async (tx) => {
          checkNotExpired(revision, await horizonOf(tx), "revision");
          await tx.query(
            `DECLARE gatehouse_scan NO SCROLL CURSOR FOR SELECT ${KEY_COLUMNS} FROM gatehouse_tuples
             WHERE created_rev <= $1::bigint AND (deleted_rev IS NULL OR deleted_rev > $1::bigint)`,
            [revision],
          );
          for (;;) {
            const result = await tx.query(`FETCH FORWARD ${Math.max(1, Math.floor(batchSize))} FROM gatehouse_scan`);
            if (result.rows.length === 0) break;
            if (!(await channel.push(result.rows.map((row) => tupleFromKey(rowKey(row)))))) break;
          }
          await tx.query("CLOSE gatehouse_scan");
        })
        .then(
          () => channel.end(),
          (err: unknown) => channel.fail(err),
        );
      try {
        for (;;) {
          const batch = await channel.next();
          if (batch === undefined) break;
          yield batch;
        }
      } finally {
        channel.cancel();
        await producer;
      }
    },

    async changes(afterRevision: Revision, limit?: number): Promise<ChangesResult> {
      ensureOpen();
      // Every revision up to the head we read is committed (writers commit in revision order), so the window
      // (after, head] is final and safe to page through.
      const head = await headOf(executor);
      const max = resolveChangesArgs(afterRevision, limit, head);
      const page = await changesPage(afterRevision, head, max);
      // Checked after the fetch: the collector raises the horizon before it deletes, so a fetch that missed
      // deleted rows always sees the raised horizon here.
      const meta = await executor.query(
        `SELECT (SELECT value FROM gatehouse_settings WHERE name = 'changelog_horizon') AS horizon,
                (SELECT MAX(revision) FROM gatehouse_schemas) AS schema_revision`,
      );
      const row = meta.rows[0] ?? {};
      checkNotExpired(afterRevision, toRevision(Number(row["horizon"] ?? 0)), "after_revision");
      const schemaRevision = row["schema_revision"] === null || row["schema_revision"] === undefined ? 0 : toRevision(row["schema_revision"]);
      return { ...page, schemaRevision };
    },

    async collectGarbage(retentionMillis: number): Promise<GarbageCollection> {
      ensureOpen();
      if (!Number.isSafeInteger(retentionMillis) || retentionMillis < 0) {
        throw new InvalidArgumentError(`retentionMillis must be a non-negative integer, got ${retentionMillis}`, {
          details: { field: "retentionMillis" },
        });
      }
      const cutoff = await executor.query(
        `SELECT COALESCE(MAX(revision), 0) AS revision FROM gatehouse_commits
         WHERE committed_at < now() - ($1::bigint * INTERVAL '1 millisecond')`,
        [retentionMillis],
      );
      const wanted = toRevision(cutoff.rows[0]?.["revision"]);
      // Raise the horizon first (never lower it), then delete: a reader that could miss deleted rows sees it.
      await executor.query(
        `UPDATE gatehouse_settings SET value = $1 WHERE name = 'changelog_horizon' AND CAST(value AS BIGINT) < $2::bigint`,
        [String(wanted), wanted],
      );
      const horizon = await horizonOf(executor);
      let removedVersions = 0;
      for (;;) {
        const result = await executor.query(
          `DELETE FROM gatehouse_tuples WHERE (${KEY_COLUMNS}, created_rev) IN (
             SELECT ${KEY_COLUMNS}, created_rev FROM gatehouse_tuples WHERE deleted_rev <= $1::bigint LIMIT ${GC_BATCH}
           )`,
          [horizon],
        );
        removedVersions += result.rowCount;
        if (result.rowCount < GC_BATCH) break;
      }
      await executor.query(`DELETE FROM gatehouse_commits WHERE revision < $1::bigint`, [horizon]);
      // Schemas replaced before the horizon can no longer be the schema of any readable revision.
      await executor.query(
        `DELETE FROM gatehouse_schemas WHERE revision < (SELECT MAX(revision) FROM gatehouse_schemas WHERE revision <= $1::bigint)`,
        [horizon],
      );
      return { horizon, removedVersions };
    },

    async changelogHorizon(): Promise<Revision> {
      ensureOpen();
      return horizonOf(executor);
    },

    async writeSchema(text: string, language: SchemaLanguage): Promise<WriteResult> {
      ensureOpen();
      validateSchemaWrite(text, language);
      return writeTx(async (tx) => {
        const revision = await nextRevision(tx);
        await tx.query(`INSERT INTO gatehouse_schemas (revision, language, text) VALUES ($1::bigint, $2, $3)`, [
          revision,
          language,
          text,
        ]);
        return { revision };
      });
    },

    async readSchema(): Promise<StoredSchema | undefined> {
      ensureOpen();
      const result = await executor.query(
        `SELECT revision, language, text FROM gatehouse_schemas ORDER BY revision DESC LIMIT 1`,
      );
      const row = result.rows[0];
      if (row === undefined) return undefined;
      return {
        revision: toRevision(row["revision"]),
        language: String(row["language"]) as SchemaLanguage,
        text: String(row["text"]),
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      if (options.closeExecutor !== false) await executor.close();
    },
  };
}
