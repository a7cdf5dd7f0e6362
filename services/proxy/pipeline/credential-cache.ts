/**
 * Short-lived cache of what credentials resolved to (sessions, introspection results, client-credentials
 * tokens, hydrator answers). Keys are SHA-256 hashes of the credential and everything that shapes the
 * answer, so no credential is held in memory as a key or written to Redis.
 */
export interface CredentialCache {
  /** The value stored under `parts` (hashed together), or undefined when absent or expired. */
  get(namespace: string, parts: readonly string[]): Promise<unknown>;
  /** Stores a JSON-serialisable value for `ttlMillis` (values <= 0 are not stored). */
  set(namespace: string, parts: readonly string[], value: unknown, ttlMillis: number): Promise<void>;
}
