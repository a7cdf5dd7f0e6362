/**
 * Default limits for the login and registration submit path (`POST /self-service/login|registration`),
 * which Kratos OSS leaves to the operator (Ory Network puts these routes in its strictest `public-low`
 * bucket): per identifier, against password guessing on one account, and per client IP, against one
 * client spraying many accounts. The IP rule is checked first, so a request refused for its IP does not
 * use up the identifier's budget (an attacker cannot lock an account out from a throttled address).
 */
import type { Redis } from "ioredis";
import { createRateLimiter, openRateLimitRedis, type RateLimitDecision, type RateLimiter, type RateLimiterStats, type RateLimitRule, type RateLimitStore } from "./rate-limiter.js";

/** The rules of `createSubmitRateLimiter`. */
export interface SubmitRateLimits {
  /** Per normalised identifier (trimmed, lower-cased). Default: 10 attempts per 5 minutes. */
  readonly perIdentifier: readonly RateLimitRule[];
  /** Per client IP. Default: 100 attempts per 5 minutes. */
  readonly perIp: readonly RateLimitRule[];
}

/** The defaults: 10 per identifier and 100 per IP, each per 5 minutes. */
export const DEFAULT_SUBMIT_RATE_LIMITS: SubmitRateLimits = Object.freeze({
  perIdentifier: Object.freeze([Object.freeze({ limit: 10, windowSeconds: 300 })]),
  perIp: Object.freeze([Object.freeze({ limit: 100, windowSeconds: 300 })]),
});

/** Options of `createSubmitRateLimiter`. */
export interface SubmitRateLimiterOptions {
  readonly store: RateLimitStore;
  /** Rules replacing the defaults, per scope. */
  readonly rules?: Partial<SubmitRateLimits>;
  /** The flow kind, separating budgets in a shared Redis (`login`, `registration`). Default `login`. */
  readonly name?: string;
  readonly now?: () => number;
  readonly maxKeys?: number;
  readonly timeoutMillis?: number;
  readonly failOpen?: boolean;
  readonly onError?: (error: Error) => void;
}

/** A decision, with the scope that refused the request. */
export interface SubmitRateLimitDecision extends RateLimitDecision {
  /** Which limit refused the request. */
  readonly scope?: "ip" | "identifier";
}

/** Both limits of the submit path. */
export interface SubmitRateLimiter {
  /**
   * Counts one submission; absent parts are not limited (e.g. no identifier in the body yet). `remaining`
   * is the smaller of the two scopes' (Infinity when neither part was given).
   */
  consume(request: { readonly ip?: string; readonly identifier?: string }): Promise<SubmitRateLimitDecision>;
  stats(): { readonly perIp: RateLimiterStats; readonly perIdentifier: RateLimiterStats };
  close(): Promise<void>;
}

/** Creates the submit path's limiter (one Redis connection for both scopes when given a URL). */
export function createSubmitRateLimiter(options: SubmitRateLimiterOptions): SubmitRateLimiter {
  const name = options.name ?? "login";
  let ownedRedis: Redis | undefined;
  let store = options.store;
  if (store !== "memory" && typeof store.redis === "string") {
    ownedRedis = openRateLimitRedis(store.redis);
    store = { redis: ownedRedis, keyPrefix: store.keyPrefix };
  }
  const common = {
    store,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.maxKeys === undefined ? {} : { maxKeys: options.maxKeys }),
    ...(options.timeoutMillis === undefined ? {} : { timeoutMillis: options.timeoutMillis }),
    ...(options.failOpen === undefined ? {} : { failOpen: options.failOpen }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
  };
  const perIp: RateLimiter = createRateLimiter({ ...common, name: `${name}-ip`, rules: options.rules?.perIp ?? DEFAULT_SUBMIT_RATE_LIMITS.perIp });
  const perIdentifier: RateLimiter = createRateLimiter({
    ...common,
    name: `${name}-identifier`,
    rules: options.rules?.perIdentifier ?? DEFAULT_SUBMIT_RATE_LIMITS.perIdentifier,
  });
  return {
    async consume({ ip, identifier }) {
      let tightest: RateLimitDecision | undefined;
      if (ip !== undefined && ip !== "") {
        const decision = await perIp.consume(ip);
        if (!decision.allowed) return { ...decision, scope: "ip" };
        tightest = decision;
      }
      const normalised = identifier?.trim().toLowerCase();
      if (normalised !== undefined && normalised !== "") {
        const decision = await perIdentifier.consume(normalised);
        if (!decision.allowed) return { ...decision, scope: "identifier" };
        if (tightest === undefined || decision.remaining < tightest.remaining) tightest = decision;
      }
      return tightest ?? { allowed: true, retryAfterSeconds: 0, remaining: Infinity };
    },
    stats: () => ({ perIp: perIp.stats(), perIdentifier: perIdentifier.stats() }),
    async close() {
      await Promise.all([perIp.close(), perIdentifier.close()]);
      ownedRedis?.disconnect();
    },
  };
}
