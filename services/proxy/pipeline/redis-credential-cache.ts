/**
 * A `CredentialCache` in Redis, shared by every gateway instance: JSON values with a millisecond TTL under
 * `<keyPrefix><namespace>:<sha256 hex>`. The cache only saves upstream calls, so a Redis outage must never
 * fail or stall a request: while Redis is not ready or errs, calls go to an in-memory fallback, and the outage
 * is logged once (and its end once).
 */
import type { Redis } from "ioredis";
import type { CredentialCache } from "./credential-cache.js";
import { createMemoryCredentialCache, credentialCacheKey } from "./memory-credential-cache.js";

export interface RedisCredentialCacheOptions {
  readonly redis: Redis;
  /** Prepended to every key, e.g. `gatehouse:proxy:cred:`. */
  readonly keyPrefix: string;
  readonly log?: (line: string) => void;
  /** Used while Redis is unavailable. Default: a memory cache of 10 000 entries. */
  readonly fallback?: CredentialCache;
  /** Longest wait for one Redis answer before falling back. Default 200 ms. */
  readonly commandTimeoutMillis?: number;
}

/** During an outage, how often a connected-but-silent Redis is tried again. */
const PROBE_INTERVAL_MILLIS = 1_000;

export function createRedisCredentialCache(options: RedisCredentialCacheOptions): CredentialCache {
  const { redis, keyPrefix } = options;
  const log = options.log ?? (() => {});
  const fallback = options.fallback ?? createMemoryCredentialCache();
  const timeoutMillis = options.commandTimeoutMillis ?? 200;
  let down = false;
  let nextProbeAt = 0;

  const keyOf = (namespace: string, parts: readonly string[]) => `${keyPrefix}${namespace}:${credentialCacheKey(namespace, parts)}`;

  /** Runs a command, or returns `undefined` (after noting the outage) when Redis cannot answer now. */
  async function attempt<T>(run: () => Promise<T>): Promise<{ value: T } | undefined> {
    // During an outage Redis is skipped until it is connected again (with ioredis's offline queue a command
    // sent while disconnected would wait for the reconnect), and a connected Redis that stopped answering is
    // probed at most once per second. A client still making its first connection is tried, within the timeout.
    if (redis.status === "end" || (down && (redis.status !== "ready" || Date.now() < nextProbeAt))) {
      noteOutage(`connection is ${redis.status}`);
      return undefined;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMillis} ms`)), timeoutMillis);
          timer.unref();
        }),
      ]);
      if (down) {
        down = false;
        log("credential cache: Redis answers again; using it");
      }
      return { value };
    } catch (err) {
      if (redis.status === "ready") nextProbeAt = Date.now() + PROBE_INTERVAL_MILLIS;
      noteOutage((err as Error).message);
      return undefined;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }

  function noteOutage(why: string): void {
    if (down) return;
    down = true;
    log(`credential cache: Redis is unavailable (${why}); using the in-memory cache until it answers again`);
  }

  return {
    async get(namespace, parts) {
      const result = await attempt(() => redis.get(keyOf(namespace, parts)));
      if (result === undefined) return fallback.get(namespace, parts);
      if (result.value === null) return undefined;
      try {
        return JSON.parse(result.value) as unknown;
      } catch {
        // Not written by this cache (or truncated): a miss.
        return undefined;
      }
    },
    async set(namespace, parts, value, ttlMillis) {
      if (!(ttlMillis > 0)) return;
      const text = JSON.stringify(value);
      if (text === undefined) return;
      const result = await attempt(() => redis.set(keyOf(namespace, parts), text, "PX", Math.ceil(ttlMillis)));
      if (result === undefined) await fallback.set(namespace, parts, value, ttlMillis);
    },
  };
}
