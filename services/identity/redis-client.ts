/**
 * The identity service's Redis connections (flows, session revocations): lazily connecting, without an
 * offline queue, so a command issued while Redis is down fails at once instead of piling up, and with a
 * command timeout, so a Redis that stopped answering fails calls instead of hanging them.
 */
import { Redis } from "ioredis";
import { GatehouseError, UnavailableError } from "../../common/errors.js";

/** Options of `openIdentityRedis`. */
export interface IdentityRedisOptions {
  /** Longest wait for one command's answer. Default 2,000 ms. */
  readonly commandTimeoutMillis?: number;
}

/** Opens a lazy connection (nothing happens until the first command, see `ensureConnected`). */
export function openIdentityRedis(url: string, options: IdentityRedisOptions = {}): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    commandTimeout: options.commandTimeoutMillis ?? 2_000,
    retryStrategy: (attempt) => Math.min(5_000, 200 * attempt),
  });
  // ioredis reports connection problems as "error" events; callers see them as failed commands.
  redis.on("error", () => {});
  return redis;
}

const connecting = new WeakMap<Redis, Promise<void>>();

/**
 * Starts a lazy client's first connection and waits for it; concurrent callers share the attempt. A client
 * that connected before (ready, or reconnecting after a failure) is left to ioredis: without an offline
 * queue its commands fail at once while it is down.
 */
export async function ensureConnected(redis: Redis): Promise<void> {
  let pending = connecting.get(redis);
  if (pending === undefined) {
    if (redis.status !== "wait") return;
    pending = redis.connect().finally(() => connecting.delete(redis));
    connecting.set(redis, pending);
  }
  await pending;
}

/** A short description of a Redis URL for messages (no credentials). */
export function describeRedis(redis: Redis): string {
  const { host, port } = redis.options;
  return `${host ?? "127.0.0.1"}:${port ?? 6379}`;
}

/**
 * Runs Redis commands for a store, connecting first: any failure other than a Gatehouse error becomes
 * `UnavailableError` naming what could not be done and the server, never a silent fallback.
 */
export async function callRedis<T>(redis: Redis, what: string, run: () => Promise<T>): Promise<T> {
  try {
    await ensureConnected(redis);
    return await run();
  } catch (err) {
    if (err instanceof GatehouseError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new UnavailableError(`cannot ${what}: Redis at ${describeRedis(redis)} is unavailable (${reason})`, { cause: err });
  }
}
