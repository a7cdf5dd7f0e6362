/**
 * The in-process `CredentialCache`: an LRU map with a time-to-live per entry. Keys are SHA-256 hashes, so no
 * credential is kept as a key; values are kept as JSON text, so a caller that changes what it got (a mutator
 * extending `session.extra`) cannot change what the next request gets.
 */
import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { CredentialCache } from "./credential-cache.js";

export interface MemoryCredentialCacheOptions {
  /** Entries kept at most (least recently used go first). Default 10 000. */
  readonly maxEntries?: number;
  /** A millisecond clock for the time-to-live (tests move it). Default lru-cache's (`performance.now`). */
  readonly now?: () => number;
}

/**
 * The SHA-256 (hex) of the namespace and the parts, each prefixed with its byte length so that
 * `["a","bc"]` and `["ab","c"]` never collide.
 */
export function credentialCacheKey(namespace: string, parts: readonly string[]): string {
  const hash = createHash("sha256");
  for (const piece of [namespace, ...parts]) {
    hash.update(`${Buffer.byteLength(piece, "utf8")}:`);
    hash.update(piece, "utf8");
  }
  return hash.digest("hex");
}

export function createMemoryCredentialCache(options: MemoryCredentialCacheOptions = {}): CredentialCache {
  const max = options.maxEntries ?? 10_000;
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxEntries must be a positive integer, got ${max}`);
  const now = options.now;
  const lru = new LRUCache<string, string>({
    max,
    // Expired entries are dropped when read; no timers per entry.
    ttlAutopurge: false,
    // A moved clock must be read on every call, not once per millisecond.
    ...(now === undefined ? {} : { perf: { now }, ttlResolution: 0 }),
  });
  return {
    async get(namespace, parts) {
      const text = lru.get(credentialCacheKey(namespace, parts));
      if (text === undefined) return undefined;
      return JSON.parse(text) as unknown;
    },
    async set(namespace, parts, value, ttlMillis) {
      if (!(ttlMillis > 0)) return;
      const text = JSON.stringify(value);
      if (text === undefined) return;
      lru.set(credentialCacheKey(namespace, parts), text, { ttl: Math.ceil(ttlMillis) });
    },
  };
}
