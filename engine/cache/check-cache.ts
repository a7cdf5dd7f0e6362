/**
 * The check-result cache: answers keyed by the request and the revision they were evaluated at, so an entry
 * is never stale, only unused once reads move to newer revisions (LRU evicts it). Bounded by an estimate of
 * the bytes its entries hold, not by a count, since keys vary in length.
 */
import { LRUCache } from "lru-cache";

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

  get enabled(): boolean {
    return this.lru !== undefined;
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

/** The cache key of a check at a revision and depth (unit separators keep ids with any characters apart). */
export function checkKey(
  revision: number,
  depth: number,
  namespace: string,
  object: string,
  relation: string,
  subjectKey: string,
): string {
  return `${revision}\u001f${depth}\u001f${namespace}\u001f${object}\u001f${relation}\u001f${subjectKey}`;
}
