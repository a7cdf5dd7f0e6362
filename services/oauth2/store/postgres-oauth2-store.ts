/** The OAuth2 store on PostgreSQL over a `pg` pool (see `engine/store/postgres-store.ts` for the executor). */
import type { PostgresConnectionOptions } from "../../../engine/store/postgres-store.js";
import { createPostgresExecutor } from "../../../engine/store/postgres-store.js";
import type { OAuth2Store } from "./oauth2-store.js";
import { createSqlOAuth2Store } from "./sql-oauth2-store.js";

/** Options of `createPostgresOAuth2Store`. */
export interface PostgresOAuth2StoreOptions extends PostgresConnectionOptions {
  /** Apply pending migrations at start (default true). */
  readonly migrate?: boolean;
  /** HMAC key for page tokens; default: the random secret kept in the database (see `SqlOAuth2StoreOptions`). */
  readonly paginationSecret?: string | Uint8Array;
}

/**
 * Opens the OAuth2 store on its own PostgreSQL pool (closed by `close()`). To share a pool with the other
 * stores, build the executor once and use `createSqlOAuth2Store({ executor, closeExecutor: false })`.
 */
export async function createPostgresOAuth2Store(options: PostgresOAuth2StoreOptions): Promise<OAuth2Store> {
  const executor = createPostgresExecutor(options);
  return createSqlOAuth2Store({
    executor,
    ...(options.migrate === undefined ? {} : { migrate: options.migrate }),
    ...(options.paginationSecret === undefined ? {} : { paginationSecret: options.paginationSecret }),
  });
}
