import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPgliteStore, pgliteExecutor } from "../../../engine/store/pglite-store.js";
import { createSqlStore } from "../../../engine/store/sql-store.js";
import { parseTuple } from "../../../engine/tuple.js";
import { appliedMigrations, migrations } from "../../../engine/store/sql-migrations.js";
import type { IdentityWithCredentials } from "../model.js";
import { describeIdentityStoreContract } from "./contract.js";
import { createPgliteIdentityStore } from "./pglite-identity-store.js";
import { createSqlIdentityStore } from "./sql-identity-store.js";

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

describeIdentityStoreContract("pglite", async () => {
  await resetSchema();
  return createPgliteIdentityStore({ database: db });
});

function entry(id: string, identifiers: string[] = []): IdentityWithCredentials {
  const t = new Date("2024-01-01T00:00:00.000Z");
  return {
    identity: {
      id,
      schemaId: "default",
      traits: { email: `${id}@example.org` },
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
        : { password: { type: "password", identifiers, config: { hashed_password: "x" }, version: 0, createdAt: t, updatedAt: t } },
  };
}

describe("pglite identity store", () => {
  it("shares one database and executor with the tuple store, and its pagination secret", async () => {
    await resetSchema();
    const executor = pgliteExecutor(db, false);
    const tuples = await createSqlStore({ executor, closeExecutor: false });
    const identities = await createSqlIdentityStore({ executor, closeExecutor: false });
    expect(await appliedMigrations(executor)).toEqual(migrations.map((m) => m.version));
    await tuples.write([{ op: "touch", tuple: parseTuple("doc:1#viewer@anne") }]);
    for (const id of ["a", "b"]) await identities.createIdentity(entry(id, [`${id}@example.org`]));
    await identities.close();
    // The shared executor stays usable for the other store and for a second identity store.
    expect((await tuples.read({})).tuples).toHaveLength(1);
    const again = await createSqlIdentityStore({ executor, closeExecutor: false, migrate: false });
    const token = (await again.listIdentities({ pageSize: 1 })).nextPageToken as string;
    const other = await createSqlIdentityStore({ executor, closeExecutor: false, migrate: false });
    expect((await other.listIdentities({ pageSize: 1, pageToken: token })).items.map((e) => e.identity.id)).toEqual(["b"]);
    await Promise.all([again.close(), other.close(), tuples.close()]);
    expect(db.closed).toBe(false);
  });

  it("refuses an unmigrated database with migrate: false", async () => {
    await resetSchema();
    await expect(createPgliteIdentityStore({ database: db, migrate: false })).rejects.toMatchObject({ code: "precondition_failed" });
    expect(await appliedMigrations(pgliteExecutor(db, false))).toEqual([]);
  });

  it("lays out the identity tables with the constraints that keep identifiers unique", async () => {
    await resetSchema();
    const store = await createPgliteIdentityStore({ database: db });
    await store.close();
    const tables = await db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'identity_%' ORDER BY table_name`,
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual([
      "identity_credential_identifiers",
      "identity_credentials",
      "identity_flows",
      "identity_identities",
      "identity_sessions",
    ]);
    // The primary key, not the store's code, refuses a second holder of an identifier.
    await db.query(`INSERT INTO identity_identities (id, schema_id, traits, state, verifiable_addresses, recovery_addresses, created_at, updated_at)
      VALUES ('a', 's', '{}', 'active', '[]', '[]', now(), now()), ('b', 's', '{}', 'active', '[]', '[]', now(), now())`);
    await db.query(`INSERT INTO identity_credentials (identity_id, type, config, version, created_at, updated_at)
      VALUES ('a', 'password', '{}', 0, now(), now()), ('b', 'password', '{}', 0, now(), now())`);
    await db.query(`INSERT INTO identity_credential_identifiers (type, identifier, identity_id, seq) VALUES ('password', 'x', 'a', 0)`);
    await expect(
      db.query(`INSERT INTO identity_credential_identifiers (type, identifier, identity_id, seq) VALUES ('password', 'x', 'b', 0)`),
    ).rejects.toMatchObject({ code: "23505" });
  });

  it("persists identities, sessions and flows in a data folder across reopen", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gatehouse-identity-pglite-"));
    try {
      const dataDir = join(dir, "data");
      const id = "00000000-0000-4000-8000-000000000001";
      const t = new Date("2024-01-01T00:00:00.000Z");
      const session = {
        id: "s1",
        tokenHash: "h1",
        identityId: id,
        active: true,
        expiresAt: t,
        authenticatedAt: t,
        issuedAt: t,
        aal: "aal1" as const,
        methods: [{ method: "password" as const, aal: "aal1" as const, completedAt: t }],
        devices: [],
      };
      const flow = {
        id: "f1",
        kind: "login" as const,
        type: "api" as const,
        issuedAt: t,
        expiresAt: t,
        requestUrl: "https://example.org/self-service/login/api",
        returnTo: undefined,
        csrfTokenHash: undefined,
        state: { step: 1 },
      };
      const first = await createPgliteIdentityStore({ dataDir });
      await first.createIdentity(entry(id, ["a@example.org"]));
      await first.createSession(session);
      await first.saveFlow(flow);
      await first.close();
      // The tuple store opens the same folder afterwards: one database for both.
      const tuples = await createPgliteStore({ dataDir });
      expect(await tuples.headRevision()).toBe(0);
      await tuples.close();
      const second = await createPgliteIdentityStore({ dataDir });
      try {
        expect(await second.findByCredentialIdentifier("password", "a@example.org")).toStrictEqual(entry(id, ["a@example.org"]));
        expect(await second.getSessionByTokenHash("h1")).toStrictEqual(session);
        expect(await second.getFlow("f1")).toStrictEqual(flow);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
