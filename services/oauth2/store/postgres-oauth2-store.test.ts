import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTempDatabase, resetPublicSchema, shouldRunPostgresSuite } from "../../../test/support/postgres.js";
import type { TempDatabase } from "../../../test/support/postgres.js";
import { createPostgresExecutor } from "../../../engine/store/postgres-store.js";
import { describeOAuth2StoreContract } from "./contract.js";
import { createPostgresOAuth2Store } from "./postgres-oauth2-store.js";
import { createSqlOAuth2Store } from "./sql-oauth2-store.js";

const run = await shouldRunPostgresSuite("services/oauth2/store/postgres-oauth2-store.test.ts");

describe.skipIf(!run)("postgres OAuth2 store", () => {
  let temp: TempDatabase;
  beforeAll(async () => {
    temp = await createTempDatabase();
  });
  afterAll(async () => {
    await temp?.drop();
  });

  describeOAuth2StoreContract("postgres", async () => {
    await resetPublicSchema(temp.connectionString);
    return createPostgresOAuth2Store({ connectionString: temp.connectionString, maxConnections: 5 });
  });

  it("consumes once across stores on separate pools (as separate processes would)", async () => {
    await resetPublicSchema(temp.connectionString);
    const stores = await Promise.all(
      [0, 1, 2].map(() => createPostgresOAuth2Store({ connectionString: temp.connectionString, maxConnections: 4 })),
    );
    try {
      for (let round = 0; round < 5; round++) {
        await stores[0]!.upsert("AuthorizationCode", `code-${round}`, { jti: `code-${round}`, grantId: "g" }, 60);
        const results = await Promise.all(stores.flatMap((s) => [0, 1, 2, 3].map(() => s.consume("AuthorizationCode", `code-${round}`))));
        expect(results.filter((r) => r)).toHaveLength(1);
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it("agrees on keysVersion across stores and bumps it under concurrent key writes", async () => {
    await resetPublicSchema(temp.connectionString);
    const [a, b] = await Promise.all([0, 1].map(() => createPostgresOAuth2Store({ connectionString: temp.connectionString, maxConnections: 4 })));
    try {
      const before = await a!.keysVersion();
      const createdAt = new Date("2024-01-01T00:00:00.000Z");
      await Promise.all(
        Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a! : b!).addKey({ set: "s", kid: `k${i}`, jwk: { kty: "oct" }, createdAt })),
      );
      expect(await b!.keysVersion()).toBe(before + 8);
      expect(await a!.deleteKeys("s")).toBe(8);
      expect(await b!.keysVersion()).toBe(before + 9);
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });

  it("shares a pool with closeExecutor: false and leaves it open", async () => {
    await resetPublicSchema(temp.connectionString);
    const executor = createPostgresExecutor({ connectionString: temp.connectionString, maxConnections: 2 });
    try {
      const store = await createSqlOAuth2Store({ executor, closeExecutor: false });
      await store.upsert("Grant", "g1", { jti: "g1" }, undefined);
      await store.close();
      const result = await executor.query(`SELECT model, id, payload FROM oauth2_artifacts`);
      expect(result.rows).toEqual([{ model: "Grant", id: "g1", payload: '{"jti":"g1"}' }]);
    } finally {
      await executor.close();
    }
  });

  it("refuses an unmigrated database when migrate is false", async () => {
    await resetPublicSchema(temp.connectionString);
    await expect(createPostgresOAuth2Store({ connectionString: temp.connectionString, migrate: false })).rejects.toMatchObject({
      code: "precondition_failed",
    });
  });

  it("reports an unreachable server as unavailable", async () => {
    await expect(
      createPostgresOAuth2Store({ connectionString: "postgres://gatehouse:hunter2@127.0.0.1:1/gatehouse", connectionTimeoutMillis: 1_000 }),
    ).rejects.toMatchObject({ code: "unavailable" });
  });
});
