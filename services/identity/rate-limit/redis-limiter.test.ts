/**
 * The Redis rate limiter against a real Redis (127.0.0.1:6379, or `GATEHOUSE_TEST_REDIS_URL`), under a key
 * prefix unique to this run that is deleted afterwards. Without Redis the suite is skipped with a loud
 * warning, except under `CI=true`, where it fails.
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRateLimiter, createSubmitRateLimiter, type RateLimiter } from "./index.js";

const REDIS_URL = process.env["GATEHOUSE_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";

async function redisReachable(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

const reachable = await redisReachable(REDIS_URL);
if (!reachable) {
  if (process.env["CI"] === "true") throw new Error(`redis-limiter.test: Redis is not reachable at ${REDIS_URL} (required under CI=true)`);
  console.warn(`\n!!! redis-limiter.test: Redis is not reachable at ${REDIS_URL}; the Redis rate limiter tests are SKIPPED.\n`);
}

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.skipIf(!reachable)("redis rate limiter", () => {
  const keyPrefix = `gatehouse-test:rate-limit:${randomUUID()}:`;
  let redis: Redis;
  const opened: RateLimiter[] = [];
  const limiter = (options: Omit<Parameters<typeof createRateLimiter>[0], "store"> & { store?: Parameters<typeof createRateLimiter>[0]["store"] }) => {
    const created = createRateLimiter({ store: { redis: REDIS_URL, keyPrefix }, ...options });
    opened.push(created);
    return created;
  };

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    await Promise.all(opened.map((l) => l.close()));
    // Delete every key of this run.
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${keyPrefix.replace(/[*?[\]\\]/g, "\\$&")}*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
    const [, left] = await redis.scan("0", "MATCH", `${keyPrefix}*`, "COUNT", 1000);
    expect(left).toEqual([]);
    redis.disconnect();
  });

  it("allows up to the limit, then denies with Retry-After, and the window slides (injected clock)", async () => {
    let now = 1_700_000_000_000;
    const l = limiter({ name: "semantics", rules: { limit: 3, windowSeconds: 60 }, now: () => now });
    expect(await l.consume("k")).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 2 });
    now += 10_000;
    expect(await l.consume("k")).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 1 });
    now += 10_000;
    expect(await l.consume("k")).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 });
    expect(await l.consume("k")).toEqual({ allowed: false, retryAfterSeconds: 40, remaining: 0 });
    now += 40_000;
    expect(await l.consume("k")).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 });
    expect(await l.consume("k")).toEqual({ allowed: false, retryAfterSeconds: 10, remaining: 0 });
    expect(l.stats()).toMatchObject({ store: "redis", allowed: 4, denied: 2, failOpen: 0, degraded: false });
  });

  it("stores hashed keys under the prefix and name, expiring after the longest window", async () => {
    const l = limiter({ name: "layout", rules: [{ limit: 5, windowSeconds: 2 }, { limit: 50, windowSeconds: 30 }] });
    await l.consume("ada@example.com");
    const keys = await redis.keys(`${keyPrefix}layout:*`);
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toContain("ada");
    const ttl = await redis.pttl(keys[0] as string);
    expect(ttl).toBeGreaterThan(25_000);
    expect(ttl).toBeLessThanOrEqual(30_000);
    expect(await redis.zcard(keys[0] as string)).toBe(1);
    await l.reset("ada@example.com");
    expect(await redis.exists(keys[0] as string)).toBe(0);
  });

  it("keeps keys and limiter names apart", async () => {
    const a = limiter({ name: "iso-a", rules: { limit: 1, windowSeconds: 60 } });
    const b = limiter({ name: "iso-b", rules: { limit: 1, windowSeconds: 60 } });
    expect((await a.consume("x")).allowed).toBe(true);
    expect((await a.consume("x")).allowed).toBe(false);
    expect((await a.consume("y")).allowed).toBe(true);
    expect((await b.consume("x")).allowed).toBe(true);
  });

  it("shares one budget between two limiter instances (two nodes), also under concurrency", async () => {
    const nodeA = limiter({ name: "shared", rules: { limit: 20, windowSeconds: 60 } });
    const nodeB = limiter({ name: "shared", rules: { limit: 20, windowSeconds: 60 } });
    const decisions = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? nodeA : nodeB).consume("victim")));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(20);
    expect(decisions.filter((d) => !d.allowed).every((d) => d.retryAfterSeconds >= 59 && d.retryAfterSeconds <= 60)).toBe(true);
    expect(nodeA.stats().allowed + nodeB.stats().allowed).toBe(20);
    // The remainders handed out were distinct: each allowed request saw the count before it.
    expect(new Set(decisions.filter((d) => d.allowed).map((d) => d.remaining)).size).toBe(20);
  });

  it("recovers from a flushed script cache (NOSCRIPT)", async () => {
    const l = limiter({ name: "noscript", rules: { limit: 2, windowSeconds: 60 } });
    expect((await l.consume("k")).allowed).toBe(true);
    await redis.script("FLUSH");
    expect((await l.consume("k")).allowed).toBe(true);
    expect((await l.consume("k")).allowed).toBe(false);
    expect(l.stats().failOpen).toBe(0);
  });

  it("works with a client passed in, which close() leaves open", async () => {
    const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const l = createRateLimiter({ store: { redis: client, keyPrefix }, name: "passed", rules: { limit: 1, windowSeconds: 60 } });
    expect((await l.consume("k")).allowed).toBe(true);
    expect((await l.consume("k")).allowed).toBe(false);
    await l.close();
    expect(await client.ping()).toBe("PONG");
    client.disconnect();
  });

  it("the submit limiter shares one connection for both scopes", async () => {
    const submit = createSubmitRateLimiter({ store: { redis: REDIS_URL, keyPrefix }, name: "login", rules: { perIdentifier: [{ limit: 2, windowSeconds: 60 }] } });
    expect((await submit.consume({ ip: "192.0.2.1", identifier: "Ada@example.com" })).allowed).toBe(true);
    expect((await submit.consume({ ip: "192.0.2.2", identifier: "ada@example.com" })).allowed).toBe(true);
    expect(await submit.consume({ ip: "192.0.2.3", identifier: "ADA@example.com" })).toMatchObject({ allowed: false, scope: "identifier" });
    expect(await redis.keys(`${keyPrefix}login-ip:*`)).toHaveLength(3);
    expect(await redis.keys(`${keyPrefix}login-identifier:*`)).toHaveLength(1);
    await submit.close();
  });

  it("fails open when Redis is unreachable, counting it and flagging degraded", async () => {
    const port = await closedPort();
    const errors: string[] = [];
    const l = createRateLimiter({
      store: { redis: `redis://127.0.0.1:${port}`, keyPrefix },
      rules: { limit: 1, windowSeconds: 60 },
      onError: (e) => errors.push(e.message),
    });
    for (let i = 0; i < 3; i++) expect(await l.consume("k")).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 1 });
    expect(l.stats()).toMatchObject({ store: "redis", failOpen: 3, degraded: true, allowed: 3, denied: 0 });
    expect(l.stats().lastError).toEqual(expect.any(String));
    expect(errors).toHaveLength(3);
    await l.close();

    const closed = createRateLimiter({ store: { redis: `redis://127.0.0.1:${port}`, keyPrefix }, rules: { limit: 1, windowSeconds: 60 }, failOpen: false });
    expect(await closed.consume("k")).toEqual({ allowed: false, retryAfterSeconds: 1, remaining: 0 });
    expect(closed.stats()).toMatchObject({ failOpen: 1, degraded: true, denied: 1 });
    await closed.close();
  });

  it("fails open when Redis does not answer in time, and clears degraded on the next success", async () => {
    // A server that accepts connections and never answers.
    const sockets = new Set<import("node:net").Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => {});
    const l = createRateLimiter({ store: { redis: client, keyPrefix }, rules: { limit: 1, windowSeconds: 60 }, timeoutMillis: 100 });
    const started = Date.now();
    expect((await l.consume("k")).allowed).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(l.stats()).toMatchObject({ degraded: true, failOpen: 1 });
    expect(l.stats().lastError).toMatch(/did not answer within 100 ms/);
    client.disconnect();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));

    const healthy = limiter({ name: "recover", rules: { limit: 5, windowSeconds: 60 }, timeoutMillis: 2_000 });
    expect((await healthy.consume("k")).allowed).toBe(true);
    expect(healthy.stats().degraded).toBe(false);
  });
});
