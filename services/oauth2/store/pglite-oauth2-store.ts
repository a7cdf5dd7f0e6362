/** The OAuth2 store on embedded PGlite (see `engine/store/pglite-store.ts` for the executor). */
import type { PgliteExecutorOptions } from "../../../engine/store/pglite-store.js";
import { openPgliteExecutor } from "../../../engine/store/pglite-store.js";
import type { OAuth2Store } from "./oauth2-store.js";
import { createSqlOAuth2Store } from "./sql-oauth2-store.js";

/** Options of `createPgliteOAuth2Store`. */
export interface PgliteOAuth2StoreOptions extends PgliteExecutorOptions {
  /** Apply pending migrations at start (default true). */
  readonly migrate?: boolean;
  /** HMAC key for page tokens; default: the random secret kept in the database (see `SqlOAuth2StoreOptions`). */
  readonly paginationSecret?: string | Uint8Array;
}

/**
 * Opens the OAuth2 store on a PGlite data folder, or on an already-open instance (`database`, then left open
 * by `close()`). To share one PGlite with the tuple and identity stores, pass the same `database` to all.
 */
export async function createPgliteOAuth2Store(options: PgliteOAuth2StoreOptions = {}): Promise<OAuth2Store> {
  const executor = await openPgliteExecutor(options);
  return createSqlOAuth2Store({
    executor,
    ...(options.migrate === undefined ? {} : { migrate: options.migrate }),
    ...(options.paginationSecret === undefined ? {} : { paginationSecret: options.paginationSecret }),
  });
}
