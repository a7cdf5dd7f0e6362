/** The identity store on embedded PGlite (see `engine/store/pglite-store.ts` for the executor). */
import type { PgliteExecutorOptions } from "../../../engine/store/pglite-store.js";
import { openPgliteExecutor } from "../../../engine/store/pglite-store.js";
import type { IdentityStore } from "./identity-store.js";
import { createSqlIdentityStore } from "./sql-identity-store.js";

/** Options of `createPgliteIdentityStore`. */
export interface PgliteIdentityStoreOptions extends PgliteExecutorOptions {
  /** Apply pending migrations at start (default true). */
  readonly migrate?: boolean;
  /** HMAC key for page tokens; default: the random secret kept in the database (see `SqlIdentityStoreOptions`). */
  readonly paginationSecret?: string | Uint8Array;
}

/**
 * Opens the identity store on a PGlite data folder, or on an already-open instance (`database`, then left
 * open by `close()`). To share one PGlite with the tuple store, pass the same `database` to both.
 */
export async function createPgliteIdentityStore(options: PgliteIdentityStoreOptions = {}): Promise<IdentityStore> {
  const executor = await openPgliteExecutor(options);
  return createSqlIdentityStore({
    executor,
    ...(options.migrate === undefined ? {} : { migrate: options.migrate }),
    ...(options.paginationSecret === undefined ? {} : { paginationSecret: options.paginationSecret }),
  });
}
