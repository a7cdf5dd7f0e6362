/**
 * The check-result cache: answers keyed by the request and the revision they were evaluated at, so an entry
 * is never stale, only unused once reads move to newer revisions (LRU evicts it). Bounded by an estimate of
 * the bytes its entries hold, not by a count, since keys vary in length.
 */
import { LRUCache } from "lru-cache";
import type { Subject } from "../tuple.js";

/** Per-entry overhead beyond the key's characters: the LRU's slots, the boxed value, the Map entry. */
const ENTRY_OVERHEAD_BYTES = 64;

/** Counters for metrics. */
export interface CheckCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly entries: number;
  readonly bytes: number;
  readonly maxBytes: number;
}

/** A bounded map from check key to answer. `maxBytes` 0 disables it (every lookup misses, nothing is kept). */
export class CheckCache {
  private readonly lru: LRUCache<string, boolean> | undefined;
  private hits = 0;
  private misses = 0;

  constructor(readonly maxBytes: number) {
    this.lru =
      maxBytes > 0
        ? new LRUCache<string, boolean>({
            maxSize: maxBytes,
            sizeCalculation: (_value, key) => key.length * 2 + ENTRY_OVERHEAD_BYTES,
          })
        : undefined;
  }

  get(key: string): boolean | undefined {
    const value = this.lru?.get(key);
    if (value === undefined) this.misses++;
    else this.hits++;
    return value;
  }

  set(key: string, allowed: boolean): void {
    this.lru?.set(key, allowed);
  }

  /** Forgets everything (the schema changed: the same request may now mean something else). */
  clear(): void {
    this.lru?.clear();
  }

  stats(): CheckCacheStats {
    return {
      hits: this.hits,
      misses: this.misses,
      entries: this.lru?.size ?? 0,
      bytes: this.lru?.calculatedSize ?? 0,
      maxBytes: this.maxBytes,
    };
  }
}

/**
 * The cache key of a check: schema version, revision, depth, the userset and the subject. Free-form parts
 * (ids, and names a request may invent) carry their length, so no choice of characters in one part can make
 * two different checks share a key (a shared cache must not let one caller's answer stand for another's
 * question). One template literal, because this runs for every check, cache hit or not.
 */
export function checkKey(
  schemaVersion: number,
  revision: number,
  depth: number,
  namespace: string,
  object: string,
  relation: string,
  subject: Subject,
): string {
  const head = `${schemaVersion}|${revision}|${depth}|${namespace.length}:${namespace}${relation.length}:${relation}${object.length}:${object}`;
  return subject.kind === "id"
    ? `${head}i${subject.id}`
    : `${head}s${subject.namespace.length}:${subject.namespace}${subject.relation.length}:${subject.relation}${subject.object}`;
}
