/**
 * Rate limiting for the identity service's abuse-prone endpoints (login and registration submissions), in
 * memory (one node) or in Redis (every node shares one budget per key).
 *
 * Algorithm: a **sliding window log**. Each key keeps the times of its allowed requests within the longest
 * window; a request is allowed when, for every rule, fewer than `limit` requests were allowed in the last
 * `windowSeconds`, and only allowed requests are recorded (a client that keeps hammering while denied is
 * not locked out longer than the window). Why a log rather than the alternatives:
 * - it is exact: never more than `limit` in *any* window of that length (a fixed window lets 2×limit
 *   through around a boundary; GCRA lets `limit` through at once and then one every window/limit, so up
 *   to ~2×limit in the first window, which is the wrong shape for "10 login attempts per 5 minutes");
 * - `Retry-After` is exact: the moment the oldest counted request leaves the window;
 * - the state per key is at most `max(limit)` timestamps, which for the rules it is meant for (10 per
 *   identifier, 100 per IP) is small, and idle keys hold nothing (memory: evicted; Redis: the key expires).
 *
 * Memory store: a `Map` in least-recently-used order, capped at `maxKeys` (default 100,000). Keys idle for
 * longer than the longest window are dropped as they reach the front; beyond the cap the least recently
 * used key is evicted even if active (counted in `stats().evictions`: a spray of distinct keys can then
 * reset another key's budget, the price of bounded memory). Keys longer than 200 characters are hashed.
 *
 * Redis store: one sorted set per key (`<keyPrefix><name>:<sha256(key)>`, so identifiers such as e-mail
 * addresses are not stored in clear), updated by one Lua script, which Redis runs atomically, so concurrent
 * nodes share the budget exactly. Times come from the calling node's clock (NTP-synchronised nodes differ
 * by far less than a window). The set expires after the longest window.
 *
 * Redis down: the limiter **fails open** (allows the request) unless `failOpen: false`. Every such answer
 * increments `stats().failOpen`, and `stats().degraded` is true until a Redis call succeeds again;
 * `stats().lastError` says why and `onError` is called. Expose these as metrics/health (a limiter that
 * silently allows everything is a security control that is off). A call that takes longer than
 * `timeoutMillis` (default 250 ms) is answered as if Redis were down.
 */
import { createHash, randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { InvalidArgumentError } from "../../../common/errors.js";

/** At most `limit` requests per key in any `windowSeconds`. */
export interface RateLimitRule {
  readonly limit: number;
  readonly windowSeconds: number;
}

/** The answer to one `consume`. */
export interface RateLimitDecision {
  readonly allowed: boolean;
  /** When denied: seconds until a request would be allowed (≥ 1; use as `Retry-After`). 0 when allowed. */
  readonly retryAfterSeconds: number;
  /** Requests left in the tightest rule after this one (0 when denied). */
  readonly remaining: number;
}

/** Counters to expose as metrics. */
export interface RateLimiterStats {
  readonly store: "memory" | "redis";
  readonly allowed: number;
  readonly denied: number;
  /** Memory: keys held now. */
  readonly keys: number;
  /** Memory: active keys evicted because `maxKeys` was reached. */
  readonly evictions: number;
  /** Redis: requests answered without Redis (allowed when failing open, denied otherwise). */
  readonly failOpen: number;
  /** Redis: the last call to Redis failed (cleared by the next success). */
  readonly degraded: boolean;
  readonly lastError: string | undefined;
}

/** A rate limiter. */
export interface RateLimiter {
  /** Counts one request for `key` if the rules allow it. */
  consume(key: string): Promise<RateLimitDecision>;
  /** Forgets `key` (e.g. an identifier's budget after an administrator unlocks it). */
  reset(key: string): Promise<void>;
  stats(): RateLimiterStats;
  /** Closes a Redis connection the limiter opened itself (one passed in is left open). */
  close(): Promise<void>;
}

/** Where the counts live. */
export type RateLimitStore =
  | "memory"
  | {
      /** A connected (or lazily connecting) ioredis client, or a `redis://` URL to open one. */
      readonly redis: Redis | string;
      /** Prefix of every key, e.g. `gatehouse:`; limiters sharing Redis and prefix share budgets per `name`. */
      readonly keyPrefix: string;
    };

/** Options of `createRateLimiter`. */
export interface RateLimiterOptions {
  readonly store: RateLimitStore;
  /** Every rule applies to every key; a request is allowed only when all allow it. */
  readonly rules: RateLimitRule | readonly RateLimitRule[];
  /** Separates limiters sharing a Redis prefix (e.g. `login-identifier`, `login-ip`). Default `default`. */
  readonly name?: string;
  /** The clock, in milliseconds. Default `Date.now`. */
  readonly now?: () => number;
  /** Memory: most keys held. Default 100,000. */
  readonly maxKeys?: number;
  /** Redis: longest wait for an answer before failing open (or closed). Default 250 ms. */
  readonly timeoutMillis?: number;
  /** Redis: allow requests when Redis cannot answer. Default true. */
  readonly failOpen?: boolean;
  /** Redis: called on each failed call (e.g. to log, rate-limited by the caller). */
  readonly onError?: (error: Error) => void;
}

interface Rule {
  readonly limit: number;
  readonly windowMillis: number;
}

function checkRules(rules: RateLimitRule | readonly RateLimitRule[]): Rule[] {
  const list = Array.isArray(rules) ? (rules as readonly RateLimitRule[]) : [rules as RateLimitRule];
  if (list.length === 0) throw new InvalidArgumentError("rules: at least one rule is needed", { details: { field: "rules" } });
  return list.map((rule, i) => {
    if (!Number.isInteger(rule.limit) || rule.limit < 1 || rule.limit > 1_000_000) {
      throw new InvalidArgumentError(`rules[${i}].limit must be an integer from 1 to 1000000, got ${rule.limit}`, { details: { field: `rules[${i}].limit` } });
    }
    const windowMillis = Math.round(rule.windowSeconds * 1000);
    if (!Number.isFinite(rule.windowSeconds) || windowMillis < 1 || rule.windowSeconds > 31 * 86_400) {
      throw new InvalidArgumentError(`rules[${i}].windowSeconds must be more than 0 and at most 31 days, got ${rule.windowSeconds}`, {
        details: { field: `rules[${i}].windowSeconds` },
      });
    }
    return { limit: rule.limit, windowMillis };
  });
}

const toSeconds = (millis: number): number => Math.max(1, Math.ceil(millis / 1000));

/**
 * The decision for a log of allowed times (ascending, all within the longest window) at `now`: allowed
 * when every rule has room; else the wait until the entry that must leave each full window has left it.
 */
function decide(log: readonly number[], rules: readonly Rule[], now: number): { allowed: boolean; waitMillis: number; remaining: number } {
  let waitMillis = 0;
  let remaining = Infinity;
  for (const rule of rules) {
    const since = now - rule.windowMillis;
    let first = log.length;
    while (first > 0 && (log[first - 1] as number) > since) first--;
    const count = log.length - first;
    if (count >= rule.limit) waitMillis = Math.max(waitMillis, (log[first + count - rule.limit] as number) + rule.windowMillis - now);
    else remaining = Math.min(remaining, rule.limit - count - 1);
  }
  return waitMillis > 0 ? { allowed: false, waitMillis, remaining: 0 } : { allowed: true, waitMillis: 0, remaining };
}

function memoryKey(key: string): string {
  return key.length <= 200 ? key : `sha256:${createHash("sha256").update(key).digest("base64url")}`;
}

function createMemoryLimiter(rules: readonly Rule[], options: RateLimiterOptions): RateLimiter {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 100_000;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new InvalidArgumentError(`maxKeys must be an integer >= 1, got ${maxKeys}`, { details: { field: "maxKeys" } });
  const longest = Math.max(...rules.map((r) => r.windowMillis));
  // Insertion order is recency order: a key is deleted and re-inserted on every use.
  const logs = new Map<string, number[]>();
  let allowed = 0;
  let denied = 0;
  let evictions = 0;

  /** Drops keys idle for longer than the longest window from the least recently used end. */
  function sweep(at: number): void {
    for (const [key, log] of logs) {
      if (log.length > 0 && (log[log.length - 1] as number) > at - longest) return;
      logs.delete(key);
    }
  }

  return {
    async consume(rawKey) {
      const at = now();
      sweep(at);
      const key = memoryKey(rawKey);
      const log = logs.get(key) ?? [];
      let expired = 0;
      while (expired < log.length && (log[expired] as number) <= at - longest) expired++;
      if (expired > 0) log.splice(0, expired);
      const verdict = decide(log, rules, at);
      if (verdict.allowed) {
        log.push(at);
        allowed++;
      } else denied++;
      logs.delete(key);
      if (log.length > 0) logs.set(key, log);
      while (logs.size > maxKeys) {
        const oldest = logs.keys().next().value as string;
        logs.delete(oldest);
        evictions++;
      }
      return { allowed: verdict.allowed, retryAfterSeconds: verdict.allowed ? 0 : toSeconds(verdict.waitMillis), remaining: verdict.remaining };
    },
    async reset(key) {
      logs.delete(memoryKey(key));
    },
    stats: () => ({ store: "memory", allowed, denied, keys: logs.size, evictions, failOpen: 0, degraded: false, lastError: undefined }),
    async close() {
      logs.clear();
    },
  };
}

/**
 * KEYS[1]: the sorted set (score = time in ms, member = time + random suffix).
 * ARGV: now, member, rule count, then limit and window (ms) per rule.
 * Returns {allowed (0/1), wait ms, remaining}. Only allowed requests are added.
 */
const SLIDING_LOG_SCRIPT = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[3])
local longest = 0
for i = 1, n do
  local w = tonumber(ARGV[3 + 2 * i])
  if w > longest then longest = w end
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - longest)
local wait = 0
local remaining = -1
for i = 1, n do
  local limit = tonumber(ARGV[2 + 2 * i])
  local w = tonumber(ARGV[3 + 2 * i])
  local since = '(' .. tostring(now - w)
  local count = redis.call('ZCOUNT', key, since, '+inf')
  if count >= limit then
    local entry = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', count - limit, 1)
    local until_free = tonumber(entry[2]) + w - now
    if until_free > wait then wait = until_free end
  else
    local left = limit - count - 1
    if remaining < 0 or left < remaining then remaining = left end
  end
end
if wait > 0 then return {0, wait, 0} end
redis.call('ZADD', key, now, ARGV[2])
redis.call('PEXPIRE', key, longest)
return {1, 0, remaining}
`;
const SLIDING_LOG_SHA = createHash("sha1").update(SLIDING_LOG_SCRIPT).digest("hex");

/** Opens the limiter's own connection: lazy, no offline queue (a command while disconnected fails at once). */
export function openRateLimitRedis(url: string): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: (attempt) => Math.min(5_000, 200 * attempt),
  });
  // ioredis reports connection problems as "error" events; the limiter records them through its calls.
  redis.on("error", () => {});
  return redis;
}

function createRedisLimiter(rules: readonly Rule[], options: RateLimiterOptions, store: Exclude<RateLimitStore, "memory">): RateLimiter {
  const now = options.now ?? Date.now;
  const timeoutMillis = options.timeoutMillis ?? 250;
  const failOpen = options.failOpen ?? true;
  const owned = typeof store.redis === "string";
  const redis = typeof store.redis === "string" ? openRateLimitRedis(store.redis) : store.redis;
  const prefix = `${store.keyPrefix}${options.name ?? "default"}:`;
  const ruleArgs = rules.flatMap((r) => [r.limit, r.windowMillis]);
  const tightest = Math.min(...rules.map((r) => r.limit));
  let connecting: Promise<void> | undefined;
  let closed = false;
  let allowed = 0;
  let denied = 0;
  let failures = 0;
  let degraded = false;
  let lastError: string | undefined;

  const redisKey = (key: string): string => `${prefix}${createHash("sha256").update(key).digest("base64url").slice(0, 32)}`;

  /** Connects a lazy client (ours, or one passed in that was never connected); concurrent calls share the attempt. */
  async function ready(): Promise<void> {
    if (closed) throw new Error("the rate limiter is closed");
    if (connecting === undefined && (redis.status === "wait" || (owned && redis.status === "end"))) {
      connecting = redis.connect().finally(() => {
        connecting = undefined;
      });
    }
    if (connecting !== undefined) await connecting;
  }

  async function run(key: string, at: number, member: string): Promise<[number, number, number]> {
    await ready();
    const args = [at, member, rules.length, ...ruleArgs];
    try {
      return (await redis.evalsha(SLIDING_LOG_SHA, 1, key, ...args)) as [number, number, number];
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return (await redis.eval(SLIDING_LOG_SCRIPT, 1, key, ...args)) as [number, number, number];
    }
  }

  function withTimeout<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMillis} ms`)), timeoutMillis);
      timer.unref();
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  return {
    async consume(key) {
      const at = Math.floor(now());
      try {
        const [ok, wait, remaining] = await withTimeout(run(redisKey(key), at, `${at}:${randomBytes(6).toString("base64url")}`));
        degraded = false;
        if (ok === 1) {
          allowed++;
          return { allowed: true, retryAfterSeconds: 0, remaining: Number(remaining) };
        }
        denied++;
        return { allowed: false, retryAfterSeconds: toSeconds(Number(wait)), remaining: 0 };
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        failures++;
        degraded = true;
        lastError = error.message;
        options.onError?.(error);
        if (failOpen) {
          allowed++;
          return { allowed: true, retryAfterSeconds: 0, remaining: tightest };
        }
        denied++;
        return { allowed: false, retryAfterSeconds: 1, remaining: 0 };
      }
    },
    async reset(key) {
      await ready();
      await redis.del(redisKey(key));
    },
    stats: () => ({ store: "redis", allowed, denied, keys: 0, evictions: 0, failOpen: failures, degraded, lastError }),
    async close() {
      closed = true;
      if (owned) redis.disconnect();
    },
  };
}

/** Creates a limiter; throws `InvalidArgumentError` naming a bad rule or option. */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const rules = checkRules(options.rules);
  return options.store === "memory" ? createMemoryLimiter(rules, options) : createRedisLimiter(rules, options, options.store);
}
