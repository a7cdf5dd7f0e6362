/**
 * The Redis credential cache against a real Redis (127.0.0.1:6379, or `GATEHOUSE_TEST_REDIS_URL`), under a key
 * prefix unique to this run that is deleted afterwards. Without Redis the suite is skipped with a loud
 * warning, except under `CI=true`, where it fails.
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveTestRedis, testRedisUrl } from "../../../test/cluster/harness.js";
import { closedPort } from "./authorizers/test-support.js";
import { createMemoryCredentialCache } from "./memory-credential-cache.js";
import { createRedisCredentialCache } from "./redis-credential-cache.js";

const REDIS_URL = testRedisUrl();
const reachable = (await resolveTestRedis("redis-credential-cache.test")) !== undefined;
if (!reachable) console.warn("!!! redis-credential-cache.test: the Redis credential cache tests are SKIPPED.\n");

describe.skipIf(!reachable)("redis credential cache", () => {
  const keyPrefix = `gatehouse-test:cred-cache:${randomUUID()}:`;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
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

  it("stores JSON under <prefix><namespace>:<sha256> with a PX TTL, never the credential", async () => {
    const cache = createRedisCredentialCache({ redis, keyPrefix });
    await cache.set("authn.cookie_session", ["GET", "http://kratos/sessions/whoami", "cookie\u0000session=top-secret"], { subject: "u1", extra: { a: 1 } }, 60_000);
    expect(await cache.get("authn.cookie_session", ["GET", "http://kratos/sessions/whoami", "cookie\u0000session=top-secret"])).toEqual({ subject: "u1", extra: { a: 1 } });
    expect(await cache.get("authn.cookie_session", ["GET", "http://kratos/sessions/whoami", "cookie\u0000session=other"])).toBeUndefined();
    const keys = await redis.keys(`${keyPrefix}*`);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(new RegExp(`^${keyPrefix}authn\\.cookie_session:[0-9a-f]{64}$`));
    expect(keys[0]).not.toContain("top-secret");
    expect(await redis.get(keys[0]!)).not.toContain("top-secret");
    const ttl = await redis.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it("expires entries after their TTL and skips TTLs <= 0", async () => {
    const cache = createRedisCredentialCache({ redis, keyPrefix });
    await cache.set("ns", ["short"], true, 50);
    await cache.set("ns", ["zero"], true, 0);
    expect(await cache.get("ns", ["short"])).toBe(true);
    await new Promise((r) => setTimeout(r, 120));
    expect(await cache.get("ns", ["short"])).toBeUndefined();
    expect(await cache.get("ns", ["zero"])).toBeUndefined();
  });

  it("treats a value it cannot parse as a miss", async () => {
    const cache = createRedisCredentialCache({ redis, keyPrefix });
    await cache.set("ns", ["x"], 1, 60_000);
    const [key] = await redis.keys(`${keyPrefix}ns:*`);
    await redis.set(key!, "{not json", "PX", 60_000);
    expect(await cache.get("ns", ["x"])).toBeUndefined();
  });

  it("shares entries between gateway instances", async () => {
    const a = createRedisCredentialCache({ redis, keyPrefix });
    const other = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const b = createRedisCredentialCache({ redis: other, keyPrefix });
      await a.set("shared", ["k"], { from: "a" }, 60_000);
      expect(await b.get("shared", ["k"])).toEqual({ from: "a" });
    } finally {
      other.disconnect();
    }
  });
});

describe("redis credential cache while Redis is down", () => {
  it("falls back to memory, logs the outage once, and never fails the call", async () => {
    const port = await closedPort();
    const dead = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 50 });
    dead.on("error", () => {});
    const logs: string[] = [];
    const fallback = createMemoryCredentialCache();
    const cache = createRedisCredentialCache({ redis: dead, keyPrefix: "gatehouse-test:dead:", log: (l) => logs.push(l), fallback, commandTimeoutMillis: 100 });
    try {
      await cache.set("ns", ["k"], { v: 1 }, 60_000);
      expect(await cache.get("ns", ["k"])).toEqual({ v: 1 });
      expect(await fallback.get("ns", ["k"])).toEqual({ v: 1 });
      await cache.get("ns", ["other"]);
      expect(logs).toHaveLength(1);
      expect(logs[0]).toMatch(/credential cache: Redis is unavailable/);
    } finally {
      dead.disconnect();
    }
  });

  it("does not wait on a connected Redis that stopped answering more than once per second", async () => {
    // A server that answers the connection handshake (HELLO, CLIENT SETINFO) with +OK, then nothing.
    let answering = true;
    const silent = createServer((socket) =>
      socket.on("data", (data) => {
        if (answering) socket.write("+OK\r\n".repeat(data.toString().split("\r\n").filter((line) => line.startsWith("*")).length));
      }),
    );
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    const hung = new Redis({ host: "127.0.0.1", port, enableReadyCheck: false, maxRetriesPerRequest: 0 });
    hung.on("error", () => {});
    const logs: string[] = [];
    const cache = createRedisCredentialCache({ redis: hung, keyPrefix: "gatehouse-test:hung:", log: (l) => logs.push(l), commandTimeoutMillis: 100 });
    try {
      await new Promise<void>((resolve) => hung.once("ready", () => resolve()));
      answering = false;
      let started = performance.now();
      expect(await cache.get("ns", ["k"])).toBeUndefined();
      expect(performance.now() - started).toBeGreaterThanOrEqual(90);
      started = performance.now();
      await cache.set("ns", ["k"], 1, 60_000);
      expect(await cache.get("ns", ["k"])).toBe(1);
      expect(performance.now() - started).toBeLessThan(50);
      expect(logs).toEqual([expect.stringMatching(/unavailable \(no answer within 100 ms\)/)]);
    } finally {
      hung.disconnect();
      silent.close();
    }
  });

  it.skipIf(!reachable)("logs the recovery once Redis answers again", async () => {
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0 });
    redis.on("error", () => {});
    const logs: string[] = [];
    const cache = createRedisCredentialCache({ redis, keyPrefix: `gatehouse-test:cred-cache:${randomUUID()}:`, log: (l) => logs.push(l) });
    try {
      await redis.connect();
      redis.disconnect();
      await cache.get("ns", ["k"]);
      await redis.connect();
      expect(await cache.get("ns", ["k"])).toBeUndefined();
      expect(logs).toEqual([expect.stringMatching(/unavailable/), "credential cache: Redis answers again; using it"]);
    } finally {
      redis.disconnect();
    }
  });
});
