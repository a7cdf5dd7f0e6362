/** Tuple stores: the storage contract, its memory/PGlite/PostgreSQL implementations and their migrations. */
export type {
  ChangesResult,
  GarbageCollection,
  DeleteResult,
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
export { createMemoryStore } from "./memory-store.js";
export type { MemoryStoreOptions } from "./memory-store.js";
export { createSqlStore } from "./sql-store.js";
export type { SqlStoreOptions } from "./sql-store.js";
export type { SqlExecutor, SqlQueryable, SqlResult, SqlRow, SqlValue } from "./sql-executor.js";
export { appliedMigrations, assertMigrated, LATEST_MIGRATION_VERSION, migrate, migrations } from "./sql-migrations.js";
export type { Migration, MigrateOptions, MigrateResult } from "./sql-migrations.js";
export { createPgliteStore, DEFAULT_PGLITE_DATA_DIR, openPgliteExecutor, pgliteExecutor } from "./pglite-store.js";
export type { PgliteExecutorOptions, PgliteStoreOptions } from "./pglite-store.js";
export { createPostgresExecutor, createPostgresStore, describeServer, migrateDatabase } from "./postgres-store.js";
export type { PostgresConnectionOptions, PostgresStoreOptions } from "./postgres-store.js";
export { createPageTokenCodec, generatePaginationSecret } from "./page-token.js";
export type { PageCursor, PageTokenCodec, PageTokenCodecOptions } from "./page-token.js";
export { DEFAULT_CHANGES_LIMIT, DEFAULT_PAGE_SIZE, MAX_CHANGES_LIMIT, MAX_PAGE_SIZE } from "./read-plan.js";
export { MAX_BATCH_SIZE } from "./write-plan.js";
export { tupleMatchesFilter } from "./tuple-filter.js";
export { compareTupleKeys, tupleFromKey, tupleKeyOf } from "./tuple-key.js";
export type { TupleKey } from "./tuple-key.js";
