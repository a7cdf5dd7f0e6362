import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgliteExecutor } from "../../../engine/store/pglite-store.js";
import { appliedMigrations, migrations } from "../../../engine/store/sql-migrations.js";
import { createSqlIdentityStore } from "../../identity/store/sql-identity-store.js";
import { describeOAuth2StoreContract, testClient } from "./contract.js";
import { createPgliteOAuth2Store } from "./pglite-oauth2-store.js";
import { createSqlOAuth2Store } from "./sql-oauth2-store.js";

// One in-memory PGlite for the whole file (starting one takes seconds); each test gets an empty schema.
let db: PGlite;
beforeAll(async () => {
  db = await PGlite.create("memory://");
});
afterAll(async () => {
  await db.close();
});

async function resetSchema(): Promise<void> {
  await db.exec("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;");
}

describeOAuth2StoreContract("pglite", async () => {
  await resetSchema();
  return createPgliteOAuth2Store({ database: db });
});


describe("pglite OAuth2 store", () => {
  it("shares one database and executor with the identity store, and its pagination secret", async () => {
    await resetSchema();
    const executor = pgliteExecutor(db, false);
    const identities = await createSqlIdentityStore({ executor, closeExecutor: false });
    const first = await createSqlOAuth2Store({ executor, closeExecutor: false });
    expect(await appliedMigrations(executor)).toEqual(migrations.map((m) => m.version));
    for (const id of ["a", "b"]) await first.createClient(testClient(id));
    const token = (await first.listClients({ pageSize: 1 })).nextPageToken as string;
    await first.close();
    const second = await createSqlOAuth2Store({ executor, closeExecutor: false, migrate: false });
    expect((await second.listClients({ pageSize: 1, pageToken: token })).items.map((c) => c.client_id)).toEqual(["b"]);
    await Promise.all([second.close(), identities.close()]);
    expect(db.closed).toBe(false);
  });

  it("refuses an unmigrated database with migrate: false", async () => {
    await resetSchema();
    await expect(createPgliteOAuth2Store({ database: db, migrate: false })).rejects.toMatchObject({ code: "precondition_failed" });
    expect(await appliedMigrations(pgliteExecutor(db, false))).toEqual([]);
  });

  it("lays out the OAuth2 tables; the primary keys refuse duplicates and the payload text is kept verbatim", async () => {
    await resetSchema();
    const store = await createPgliteOAuth2Store({ database: db });
    try {
      const tables = await db.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'oauth2_%' ORDER BY table_name`,
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual(["oauth2_artifacts", "oauth2_clients", "oauth2_consents", "oauth2_keys"]);
      await store.upsert("AuthorizationCode", "c1", { b: 1, a: { z: [1.50, "x"] }, grantId: "g1" }, 60);
      expect(await store.consume("AuthorizationCode", "c1")).toBe(true);
      const row = await db.query<{ payload: string; grant_id: string; consumed_at: Date | null }>(
        `SELECT payload, grant_id, consumed_at FROM oauth2_artifacts WHERE model = 'AuthorizationCode' AND id = 'c1'`,
      );
      expect(row.rows[0]?.payload).toBe('{"b":1,"a":{"z":[1.5,"x"]},"grantId":"g1"}');
      expect(row.rows[0]?.grant_id).toBe("g1");
      expect(row.rows[0]?.consumed_at).toBeInstanceOf(Date);
      await expect(
        db.query(`INSERT INTO oauth2_keys (set_name, kid, jwk, created_at) VALUES ('s', 'k', '{}', now()), ('s', 'k', '{}', now())`),
      ).rejects.toMatchObject({ code: "23505" });
    } finally {
      await store.close();
    }
  });

  it("persists artifacts, clients, consents and keys in a data folder across reopen", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gatehouse-oauth2-pglite-"));
    try {
      const dataDir = join(dir, "data");
      const t = new Date("2024-01-01T00:00:00.000Z");
      const consent = {
        id: "c1",
        subject: "user-1",
        clientId: "app",
        grantId: "g1",
        session: { id_token: { email: "a@example.org" } },
        grantedScopes: ["openid"],
        grantedAudience: [],
        remember: true,
        handledAt: t,
      };
      const first = await createPgliteOAuth2Store({ dataDir });
      await first.upsert("RefreshToken", "r1", { jti: "r1", grantId: "g1" }, 3_600);
      await first.createClient(testClient("app"));
      await first.putConsent(consent);
      await first.addKey({ set: "s", kid: "k1", jwk: { kty: "oct", k: "secret" }, createdAt: t });
      const version = await first.keysVersion();
      await first.close();
      const second = await createPgliteOAuth2Store({ dataDir });
      try {
        expect(await second.find("RefreshToken", "r1")).toStrictEqual({ jti: "r1", grantId: "g1" });
        expect(await second.getClient("app")).toStrictEqual(testClient("app"));
        expect(await second.findRememberedConsent("user-1", "app")).toStrictEqual(consent);
        expect(await second.listKeys("s")).toStrictEqual([{ set: "s", kid: "k1", jwk: { kty: "oct", k: "secret" }, createdAt: t }]);
        expect(await second.keysVersion()).toBe(version);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
