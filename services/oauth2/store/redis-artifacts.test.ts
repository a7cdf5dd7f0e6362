/**
 * Short-lived artifacts in Redis (`withRedisArtifacts`) over the memory store, against a real Redis
 * (127.0.0.1:6379, or `GATEHOUSE_TEST_REDIS_URL`), under a key prefix unique to this run that is deleted
 * afterwards. The whole store contract runs against the wrapper (short-lived models from Redis, the rest from
 * the memory store). Without Redis the suite is skipped with a loud warning, except under `CI=true`, where
 * it fails.
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteRedisKeys, resolveTestRedis } from "../../../test/cluster/harness.js";
import { describeOAuth2StoreContract } from "./contract.js";
import { createMemoryOAuth2Store } from "./memory-oauth2-store.js";
import { ARTIFACT_GRACE_MILLIS, withRedisArtifacts } from "./redis-artifacts.js";

const url = await resolveTestRedis("services/oauth2/store/redis-artifacts.test.ts");
if (url === undefined) console.warn("!!! services/oauth2/store/redis-artifacts.test.ts: the Redis artifact store tests are SKIPPED.\n");

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe.skipIf(url === undefined)("OAuth2 artifacts in Redis", () => {
  const runPrefix = `gatehouse-test:oauth2-artifacts:${randomUUID()}:`;
  let redis: Redis;
  let tests = 0;

  beforeAll(() => {
    redis = new Redis(url as string, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    redis?.disconnect();
    if (url !== undefined) await deleteRedisKeys(url, runPrefix);
  });

  // Each contract test gets a prefix of its own: a fresh, empty artifact store.
  describeOAuth2StoreContract("memory + artifacts in Redis", async () =>
    withRedisArtifacts(createMemoryOAuth2Store(), { redis, keyPrefix: `${runPrefix}${++tests}:` }),
  );

  it("keeps the short-lived models in Redis with a TTL and the others in the wrapped store", async () => {
    const keyPrefix = `${runPrefix}layout:`;
    const inner = createMemoryOAuth2Store();
    const store = withRedisArtifacts(inner, { redis, keyPrefix });
    try {
      await store.upsert("AuthorizationCode", "c1", { jti: "c1", grantId: "g1" }, 60);
      await store.upsert("Session", "s1", { jti: "s1", uid: "u1" }, 600);
      await store.upsert("AccessToken", "t1", { jti: "t1", grantId: "g1" }, 60);
      expect(await inner.find("AuthorizationCode", "c1")).toBeUndefined();
      expect(await inner.find("Session", "s1")).toBeUndefined();
      expect(await inner.find("AccessToken", "t1")).toStrictEqual({ jti: "t1", grantId: "g1" });
      expect((await redis.keys(`${keyPrefix}*`)).sort()).toEqual(
        [`${keyPrefix}artifact:AuthorizationCode:c1`, `${keyPrefix}artifact:Session:s1`, `${keyPrefix}grant:g1`, `${keyPrefix}uid:Session:u1`].sort(),
      );
      const codeTtl = await redis.pttl(`${keyPrefix}artifact:AuthorizationCode:c1`);
      expect(codeTtl).toBeGreaterThan(60_000 + ARTIFACT_GRACE_MILLIS - 5_000);
      expect(codeTtl).toBeLessThanOrEqual(60_000 + ARTIFACT_GRACE_MILLIS);
      const sessionTtl = await redis.pttl(`${keyPrefix}uid:Session:u1`);
      expect(sessionTtl).toBeGreaterThan(600_000 + ARTIFACT_GRACE_MILLIS - 5_000);
      expect(await redis.pttl(`${keyPrefix}grant:g1`)).toBeGreaterThan(60_000);
      // Revoking the grant empties both sides.
      await store.revokeByGrantId("g1");
      expect(await inner.find("AccessToken", "t1")).toBeUndefined();
      expect((await redis.keys(`${keyPrefix}*`)).sort()).toEqual([`${keyPrefix}artifact:Session:s1`, `${keyPrefix}uid:Session:u1`].sort());
      await store.destroy("Session", "s1");
      expect(await redis.keys(`${keyPrefix}*`)).toEqual([]);
    } finally {
      await store.close();
    }
    // A client passed in stays open.
    expect(await redis.ping()).toBe("PONG");
  });

  it("keeps only the models it is told to in Redis", async () => {
    const keyPrefix = `${runPrefix}models:`;
    const inner = createMemoryOAuth2Store();
    const store = withRedisArtifacts(inner, { redis, keyPrefix, models: ["Interaction"] });
    try {
      await store.upsert("Interaction", "i1", { jti: "i1" }, 60);
      await store.upsert("AuthorizationCode", "c1", { jti: "c1" }, 60);
      expect(await inner.find("Interaction", "i1")).toBeUndefined();
      expect(await inner.find("AuthorizationCode", "c1")).toStrictEqual({ jti: "c1" });
      expect(await redis.keys(`${keyPrefix}*`)).toEqual([`${keyPrefix}artifact:Interaction:i1`]);
    } finally {
      await store.close();
    }
  });

  it("lets a second node (another wrapper, its own client) find and consume what the first wrote, once", async () => {
    const keyPrefix = `${runPrefix}shared:`;
    const a = withRedisArtifacts(createMemoryOAuth2Store(), { redis: url as string, keyPrefix });
    const b = withRedisArtifacts(createMemoryOAuth2Store(), { redis: url as string, keyPrefix });
    try {
      await a.upsert("DeviceCode", "d1", { jti: "d1", userCode: "ABCD-1234", grantId: "g" }, 60);
      expect(await b.findByUserCode("DeviceCode", "ABCD-1234")).toStrictEqual({ jti: "d1", userCode: "ABCD-1234", grantId: "g" });
      const results = await Promise.all([a, b, a, b, a, b].map((s) => s.consume("DeviceCode", "d1")));
      expect(results.filter((r) => r)).toHaveLength(1);
      expect((await a.find("DeviceCode", "d1"))?.consumed).toEqual(expect.any(Number));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("fails Redis models with unavailable naming Redis when it is unreachable, and still serves the rest", async () => {
    const store = withRedisArtifacts(createMemoryOAuth2Store(), {
      redis: `redis://127.0.0.1:${await closedPort()}`,
      keyPrefix: `${runPrefix}down:`,
    });
    try {
      const calls: Promise<unknown>[] = [
        store.upsert("AuthorizationCode", "c1", { jti: "c1" }, 60),
        store.find("AuthorizationCode", "c1"),
        store.consume("AuthorizationCode", "c1"),
        store.findByUid("Session", "u1"),
        store.destroy("Interaction", "i1"),
        store.revokeByGrantId("g1"),
      ];
      for (const call of calls) {
        const err = await call.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: "unavailable", message: expect.stringMatching(/Redis at 127\.0\.0\.1:\d+ is unavailable/) });
      }
      await store.upsert("AccessToken", "t1", { jti: "t1" }, 60);
      expect(await store.find("AccessToken", "t1")).toStrictEqual({ jti: "t1" });
      expect((await store.listClients()).items).toEqual([]);
    } finally {
      await store.close();
    }
  });
});
