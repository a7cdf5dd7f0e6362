import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTempDatabase, resetPublicSchema, shouldRunPostgresSuite } from "../../../test/support/postgres.js";
import type { TempDatabase } from "../../../test/support/postgres.js";
import { createPostgresExecutor, createPostgresStore } from "../../../engine/store/postgres-store.js";
import { parseTuple } from "../../../engine/tuple.js";
import type { IdentityWithCredentials } from "../model.js";
import { describeIdentityStoreContract } from "./contract.js";
import { createPostgresIdentityStore } from "./postgres-identity-store.js";
import { createSqlIdentityStore } from "./sql-identity-store.js";

const run = await shouldRunPostgresSuite("services/identity/store/postgres-identity-store.test.ts");

function entry(id: string, identifiers: string[] = []): IdentityWithCredentials {
  const t = new Date("2024-01-01T00:00:00.000Z");
  return {
    identity: {
      id,
      schemaId: "default",
      traits: {},
      state: "active",
      stateChangedAt: undefined,
      metadataPublic: undefined,
      metadataAdmin: undefined,
      externalId: undefined,
      verifiableAddresses: [],
      recoveryAddresses: [],
      createdAt: t,
      updatedAt: t,
    },
    credentials:
      identifiers.length === 0
        ? {}
        : { password: { type: "password", identifiers, config: {}, version: 0, createdAt: t, updatedAt: t } },
  };
}

describe.skipIf(!run)("postgres identity store", () => {
  let temp: TempDatabase;
  beforeAll(async () => {
    temp = await createTempDatabase();
  });
  afterAll(async () => {
    await temp?.drop();
  });

  describeIdentityStoreContract("postgres", async () => {
    await resetPublicSchema(temp.connectionString);
    return createPostgresIdentityStore({ connectionString: temp.connectionString, maxConnections: 5 });
  });

  it("starts concurrent identity and tuple stores on a fresh database that agree on one pagination secret", async () => {
    await resetPublicSchema(temp.connectionString);
    const [a, b] = await Promise.all([0, 1].map(() => createPostgresIdentityStore({ connectionString: temp.connectionString, maxConnections: 2 })));
    const tuples = await createPostgresStore({ connectionString: temp.connectionString, maxConnections: 2 });
    try {
      for (const id of ["1", "2"]) await a!.createIdentity(entry(id));
      await tuples.write([{ op: "touch", tuple: parseTuple("doc:1#viewer@anne") }]);
      const token = (await a!.listIdentities({ pageSize: 1 })).nextPageToken as string;
      expect((await b!.listIdentities({ pageSize: 1, pageToken: token })).items.map((e) => e.identity.id)).toEqual(["2"]);
    } finally {
      await Promise.all([a!.close(), b!.close(), tuples.close()]);
    }
  });

  it("shares a pool with closeExecutor: false and leaves it open", async () => {
    await resetPublicSchema(temp.connectionString);
    const executor = createPostgresExecutor({ connectionString: temp.connectionString, maxConnections: 2 });
    try {
      const store = await createSqlIdentityStore({ executor, closeExecutor: false });
      await store.createIdentity(entry("1", ["a"]));
      await store.close();
      const result = await executor.query(`SELECT identifier FROM identity_credential_identifiers`);
      expect(result.rows).toEqual([{ identifier: "a" }]);
    } finally {
      await executor.close();
    }
  });

  it("refuses an unmigrated database when migrate is false", async () => {
    await resetPublicSchema(temp.connectionString);
    await expect(createPostgresIdentityStore({ connectionString: temp.connectionString, migrate: false })).rejects.toMatchObject({
      code: "precondition_failed",
    });
  });

  it("reports an unreachable server as unavailable", async () => {
    await expect(
      createPostgresIdentityStore({ connectionString: "postgres://gatehouse:hunter2@127.0.0.1:1/gatehouse", connectionTimeoutMillis: 1_000 }),
    ).rejects.toMatchObject({ code: "unavailable" });
  });
});
