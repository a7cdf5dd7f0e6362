/**
 * Flows in Redis (`withRedisFlows`) over the memory store, against a real Redis (127.0.0.1:6379, or
 * `GATEHOUSE_TEST_REDIS_URL`), under a key prefix unique to this run that is deleted afterwards. The whole
 * store contract runs against the wrapper (flows from Redis, the rest from the memory store). Without Redis
 * the suite is skipped with a loud warning, except under `CI=true`, where it fails.
 */
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteRedisKeys, resolveTestRedis } from "../../../test/cluster/harness.js";
import type { StoredFlow } from "../model.js";
import { describeIdentityStoreContract } from "./contract.js";
import { createMemoryIdentityStore } from "./memory-identity-store.js";
import { FLOW_GRACE_MILLIS, withRedisFlows } from "./redis-flows.js";

const url = await resolveTestRedis("services/identity/store/redis-flows.test.ts");
if (url === undefined) console.warn("!!! services/identity/store/redis-flows.test.ts: the Redis flow store tests are SKIPPED.\n");

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function flow(overrides: Partial<StoredFlow> = {}): StoredFlow {
  const now = new Date();
  return {
    id: randomUUID(),
    kind: "registration",
    type: "api",
    issuedAt: now,
    expiresAt: new Date(now.getTime() + 60_000),
    requestUrl: "http://127.0.0.1:4433/self-service/registration/api",
    returnTo: undefined,
    csrfTokenHash: undefined,
    state: { schemaId: "default" },
    ...overrides,
  };
}

describe.skipIf(url === undefined)("identity flows in Redis", () => {
  const runPrefix = `gatehouse-test:identity-flows:${randomUUID()}:`;
  let redis: Redis;
  let tests = 0;

  beforeAll(() => {
    redis = new Redis(url as string, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    redis?.disconnect();
    if (url !== undefined) await deleteRedisKeys(url, runPrefix);
  });

  // Each contract test gets a prefix of its own: a fresh, empty flow store.
  describeIdentityStoreContract(
    "memory + flows in Redis",
    async () => withRedisFlows(createMemoryIdentityStore(), { redis, keyPrefix: `${runPrefix}${++tests}:` }),
    (store) => store.close(),
    { expiredFlows: "ttl" },
  );

  it("keeps one key per flow, expiring an hour after the flow (a used flow: an hour from now)", async () => {
    const keyPrefix = `${runPrefix}layout:`;
    const inner = createMemoryIdentityStore();
    const store = withRedisFlows(inner, { redis, keyPrefix });
    try {
      const live = flow();
      const used = flow({ expiresAt: new Date(0) });
      await store.saveFlow(live);
      await store.saveFlow(used);
      expect((await redis.keys(`${keyPrefix}*`)).sort()).toEqual([`${keyPrefix}flow:${live.id}`, `${keyPrefix}flow:${used.id}`].sort());
      const liveTtl = await redis.pttl(`${keyPrefix}flow:${live.id}`);
      expect(liveTtl).toBeGreaterThan(60_000 + FLOW_GRACE_MILLIS - 5_000);
      expect(liveTtl).toBeLessThanOrEqual(60_000 + FLOW_GRACE_MILLIS);
      const usedTtl = await redis.pttl(`${keyPrefix}flow:${used.id}`);
      expect(usedTtl).toBeGreaterThan(FLOW_GRACE_MILLIS - 5_000);
      expect(usedTtl).toBeLessThanOrEqual(FLOW_GRACE_MILLIS);
      // Not in the wrapped store.
      expect(await inner.getFlow(live.id)).toBeUndefined();
    } finally {
      await store.close();
    }
    // A client passed in stays open.
    expect(await redis.ping()).toBe("PONG");
  });

  it("lets a second node (another wrapper, another memory store) find a flow the first saved", async () => {
    const keyPrefix = `${runPrefix}shared:`;
    const a = withRedisFlows(createMemoryIdentityStore(), { redis: url as string, keyPrefix });
    const b = withRedisFlows(createMemoryIdentityStore(), { redis: url as string, keyPrefix });
    try {
      const saved = flow({ type: "browser", csrfTokenHash: "abc", returnTo: "http://127.0.0.1/app" });
      await a.saveFlow(saved);
      expect(await b.getFlow(saved.id)).toStrictEqual(saved);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("fails flow calls with unavailable naming Redis when it is unreachable, and still serves identities", async () => {
    const store = withRedisFlows(createMemoryIdentityStore(), { redis: `redis://127.0.0.1:${await closedPort()}`, keyPrefix: `${runPrefix}down:` });
    try {
      for (const call of [store.saveFlow(flow()), store.getFlow(randomUUID()), store.saveFlow(flow())]) {
        const err = await call.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: "unavailable", message: expect.stringMatching(/Redis at 127\.0\.0\.1:\d+ is unavailable/) });
      }
      expect(await store.listIdentities()).toMatchObject({ items: [] });
    } finally {
      await store.close();
    }
  });
});
