/** The identity store on PostgreSQL over a `pg` pool (see `engine/store/postgres-store.ts` for the executor). */
import type { PostgresConnectionOptions } from "../../../engine/store/postgres-store.js";
import { createPostgresExecutor } from "../../../engine/store/postgres-store.js";
import type { IdentityStore } from "./identity-store.js";
import { createSqlIdentityStore } from "./sql-identity-store.js";

/** Options of `createPostgresIdentityStore`. */
export interface PostgresIdentityStoreOptions extends PostgresConnectionOptions {
  /** Apply pending migrations at start (default true). */
  readonly migrate?: boolean;
  /** HMAC key for page tokens; default: the random secret kept in the database (see `SqlIdentityStoreOptions`). */
  readonly paginationSecret?: string | Uint8Array;
}

/**
 * Opens the identity store on its own PostgreSQL pool (closed by `close()`). To share a pool with the tuple
 * store, build the executor once and use `createSqlIdentityStore({ executor, closeExecutor: false })`.
 */
export async function createPostgresIdentityStore(options: PostgresIdentityStoreOptions): Promise<IdentityStore> {
  const executor = createPostgresExecutor(options);
  return createSqlIdentityStore({
    executor,
    ...(options.migrate === undefined ? {} : { migrate: options.migrate }),
    ...(options.paginationSecret === undefined ? {} : { paginationSecret: options.paginationSecret }),
  });
}
