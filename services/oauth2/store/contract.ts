/**
 * The shared contract suite every `OAuth2Store` must pass. A test file calls `describeOAuth2StoreContract`
 * with a factory; each test gets a fresh, empty store.
 *
 * The models used are oidc-provider's, so a store keeping some of them elsewhere (Redis) is exercised on
 * both sides: `AuthorizationCode`, `DeviceCode`, `Session` and `Interaction` are short-lived models,
 * `AccessToken`, `RefreshToken` and `Grant` are not.
 */
import { allPages, expectError, tamper } from "../../../engine/store/contract-helpers.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { HydraClient } from "../clients/hydra-client.js";
import type { ArtifactPayload, ConsentRecord, OAuth2Store, StoredKey } from "./oauth2-store.js";

/** A valid client for store tests (a confidential web app), with `overrides` applied. */
export function testClient(id: string, overrides: Partial<HydraClient> = {}): HydraClient {
  return {
    client_id: id,
    client_name: `Client ${id}`,
    client_secret: "$pbkdf2-sha256$i=25000,l=32$c2FsdA$aGFzaA",
    redirect_uris: ["https://app.example.org/callback"],
    post_logout_redirect_uris: [],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    scope: "openid offline_access",
    audience: [],
    token_endpoint_auth_method: "client_secret_basic",
    subject_type: "public",
    allowed_cors_origins: [],
    skip_consent: false,
    metadata: {},
    owner: "",
    contacts: [],
    client_uri: "",
    logo_uri: "",
    policy_uri: "",
    tos_uri: "",
    created_at: "2024-02-29T12:34:56Z",
    updated_at: "2024-02-29T12:34:56Z",
    ...overrides,
  };
}

/** Registers the contract tests for one store implementation. */
export function describeOAuth2StoreContract(
  name: string,
  /** Opens a fresh, empty store (called before each test). */
  open: () => Promise<OAuth2Store>,
  /** Disposes of a store after each test; default `store.close()`. */
  close: (store: OAuth2Store) => Promise<void> = (store) => store.close(),
): void {
  describe(`OAuth2Store contract: ${name}`, () => {
    let store: OAuth2Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await close(store);
    });

    // ---- fixtures ----

    const T0 = new Date("2024-02-29T12:34:56.789Z");
    const minutes = (n: number): Date => new Date(T0.getTime() + n * 60_000);
    const nowSeconds = (): number => Math.floor(Date.now() / 1000);

    /** An access-token-like payload with nested JSON, unicode and every JSON type. */
    function payload(jti: string, overrides: Record<string, unknown> = {}): ArtifactPayload {
      return {
        jti,
        kind: "AccessToken",
        iat: 1_709_210_096,
        exp: 1_709_213_696,
        accountId: "zoë@exämple.org",
        clientId: "app-1",
        grantId: "grant-1",
        scope: "openid offline_access",
        claims: { id_token: { email: { essential: true }, name: null }, rejected: [] },
        extra: { nested: [1, 2.5, -3e-7, true, false, null, { deep: "日本語 👩🏽‍💻 \"quoted\" \\ \n" }], nul: "zero\u0000byte" },
        ...overrides,
      };
    }


    /** A client with every optional field, nested metadata and unicode. */
    function fullClient(id: string): HydraClient {
      return testClient(id, {
        client_name: "Zoë's ÄPP 日本語 👩🏽‍💻",
        rotated_secrets: ["$pbkdf2-sha256$old1", "$pbkdf2-sha256$old2"],
        redirect_uris: ["https://app.example.org/cb", "http://127.0.0.1:8080/cb"],
        post_logout_redirect_uris: ["https://app.example.org/bye"],
        grant_types: ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"],
        response_types: ["code", "id_token", "code id_token"],
        audience: ["https://api.example.org"],
        token_endpoint_auth_method: "private_key_jwt",
        token_endpoint_auth_signing_alg: "ES256",
        jwks: { keys: [{ kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", kid: "k1" }] },
        subject_type: "pairwise",
        sector_identifier_uri: "https://app.example.org/sector.json",
        userinfo_signed_response_alg: "RS256",
        request_object_signing_alg: "RS256",
        request_uris: ["https://app.example.org/request.jwt"],
        frontchannel_logout_uri: "https://app.example.org/fc",
        frontchannel_logout_session_required: true,
        backchannel_logout_uri: "https://app.example.org/bc",
        backchannel_logout_session_required: false,
        allowed_cors_origins: ["https://app.example.org"],
        access_token_strategy: "jwt",
        skip_consent: true,
        skip_logout_consent: true,
        metadata: { tier: "gold", limits: { rpm: 600, burst: [1, 2.5, null] }, tags: ["a", "b"], ünï: "cödé" },
        owner: "team-42",
        contacts: ["ops@example.org"],
        client_uri: "https://app.example.org",
        logo_uri: "https://app.example.org/logo.png",
        policy_uri: "https://app.example.org/policy",
        tos_uri: "https://app.example.org/tos",
        lifespans: { authorization_code_grant_access_token_lifespan: "1h0m0s", refresh_token_grant_refresh_token_lifespan: "720h0m0s" },
      });
    }

    /** A remembered consent; an override of `undefined` leaves that optional field out. */
    function consent(id: string, overrides: { [K in keyof ConsentRecord]?: ConsentRecord[K] | undefined } = {}): ConsentRecord {
      const record: Record<string, unknown> = {
        id,
        subject: "user-1",
        clientId: "app-1",
        grantId: `grant-${id}`,
        loginSessionId: "login-1",
        session: {
          access_token: { role: "admin", nested: { list: [1, 2, 3] } },
          id_token: { email: "zoë@exämple.org", verified: true },
        },
        grantedScopes: ["openid", "offline_access"],
        grantedAudience: ["https://api.example.org"],
        remember: true,
        handledAt: T0,
        expiresAt: minutes(60 * 24 * 365 * 50),
        ...overrides,
      };
      for (const field of Object.keys(record)) if (record[field] === undefined) delete record[field];
      return record as unknown as ConsentRecord;
    }

    function key(set: string, kid: string, overrides: Partial<StoredKey> = {}): StoredKey {
      return {
        set,
        kid,
        jwk: { kty: "EC", crv: "P-256", alg: "ES256", use: "sig", kid, x: "x-value", y: "y-value", d: "private-d" },
        createdAt: T0,
        ...overrides,
      };
    }

    const clientIds = async (options: Parameters<OAuth2Store["listClients"]>[0] = {}): Promise<string[]> =>
      (await store.listClients(options)).items.map((c) => c.client_id);
    const consentIds = async (subject: string, options: Parameters<OAuth2Store["listConsents"]>[1] = {}): Promise<string[]> =>
      (await store.listConsents(subject, options)).items.map((c) => c.id);
    const kids = async (set: string): Promise<string[]> => (await store.listKeys(set)).map((k) => k.kid);

    // ---- artifacts ----

    describe("artifacts", () => {
      it("round-trips payloads exactly (nested JSON, unicode, key order) for every model", async () => {
        const models = ["AccessToken", "RefreshToken", "Grant", "AuthorizationCode", "Session", "Interaction", "DeviceCode"];
        for (const model of models) await store.upsert(model, `${model}-1`, payload(`${model}-1`, { kind: model }), 3_600);
        for (const model of models) {
          const got = await store.find(model, `${model}-1`);
          expect(got).toStrictEqual(payload(`${model}-1`, { kind: model }));
          expect(JSON.stringify(got)).toBe(JSON.stringify(payload(`${model}-1`, { kind: model })));
        }
        // Without an expiry a record stays.
        await store.upsert("Grant", "forever", { jti: "forever" }, undefined);
        expect(await store.find("Grant", "forever")).toStrictEqual({ jti: "forever" });
      });

      it("keeps models apart and finds nothing absent", async () => {
        await store.upsert("AccessToken", "same", payload("a"), 60);
        await store.upsert("AuthorizationCode", "same", payload("b"), 60);
        expect((await store.find("AccessToken", "same"))?.jti).toBe("a");
        expect((await store.find("AuthorizationCode", "same"))?.jti).toBe("b");
        expect(await store.find("RefreshToken", "same")).toBeUndefined();
        expect(await store.find("AccessToken", "other")).toBeUndefined();
        expect(await store.find("AccessToken", "nul\u0000id")).toBeUndefined();
        expect(await store.find("AccessToken", "")).toBeUndefined();
      });

      it("replaces a record upserted again, with its indexes", async () => {
        await store.upsert("Session", "s1", { jti: "s1", uid: "uid-old", accountId: "a" }, 60);
        await store.upsert("Session", "s1", { jti: "s1", uid: "uid-new", accountId: "b" }, 60);
        expect(await store.find("Session", "s1")).toStrictEqual({ jti: "s1", uid: "uid-new", accountId: "b" });
        expect(await store.findByUid("Session", "uid-new")).toStrictEqual({ jti: "s1", uid: "uid-new", accountId: "b" });
        expect(await store.findByUid("Session", "uid-old")).toBeUndefined();
        await store.upsert("AuthorizationCode", "c1", payload("c1", { grantId: "g-old" }), 60);
        await store.upsert("AuthorizationCode", "c1", payload("c1", { grantId: "g-new" }), 60);
        await store.revokeByGrantId("g-old");
        expect((await store.find("AuthorizationCode", "c1"))?.grantId).toBe("g-new");
      });

      it("returns copies: mutating what was passed in or handed out changes nothing stored", async () => {
        const p = payload("t1");
        await store.upsert("AccessToken", "t1", p, 60);
        await store.upsert("Session", "s1", { ...payload("s1"), uid: "u1" }, 60);
        (p["claims"] as Record<string, unknown>)["changed"] = true;
        const got = (await store.find("AccessToken", "t1")) as Record<string, unknown>;
        (got["extra"] as { nested: unknown[] }).nested.push("more");
        got["scope"] = "changed";
        const bySession = (await store.findByUid("Session", "u1")) as Record<string, unknown>;
        bySession["accountId"] = "changed";
        expect(await store.find("AccessToken", "t1")).toStrictEqual(payload("t1"));
        expect(await store.findByUid("Session", "u1")).toStrictEqual({ ...payload("s1"), uid: "u1" });
      });

      it("finds sessions by uid and device codes by user code, within their model", async () => {
        await store.upsert("Session", "s1", { jti: "s1", uid: "uid-1", accountId: "a" }, 60);
        await store.upsert("Session", "s2", { jti: "s2", uid: "uid-2", accountId: "b" }, 60);
        await store.upsert("DeviceCode", "d1", { jti: "d1", userCode: "ABCD-EFGH", grantId: "g1" }, 60);
        await store.upsert("AccessToken", "a1", { jti: "a1", uid: "uid-3", userCode: "WXYZ-0000" }, 60);
        expect(await store.findByUid("Session", "uid-2")).toStrictEqual({ jti: "s2", uid: "uid-2", accountId: "b" });
        expect(await store.findByUid("Session", "uid-9")).toBeUndefined();
        expect(await store.findByUid("DeviceCode", "uid-1")).toBeUndefined();
        expect(await store.findByUid("Session", "uid-3")).toBeUndefined();
        expect(await store.findByUid("AccessToken", "uid-3")).toStrictEqual({ jti: "a1", uid: "uid-3", userCode: "WXYZ-0000" });
        expect(await store.findByUserCode("DeviceCode", "ABCD-EFGH")).toStrictEqual({ jti: "d1", userCode: "ABCD-EFGH", grantId: "g1" });
        expect(await store.findByUserCode("DeviceCode", "abcd-efgh")).toBeUndefined();
        expect(await store.findByUserCode("Session", "ABCD-EFGH")).toBeUndefined();
        expect(await store.findByUserCode("AccessToken", "WXYZ-0000")).toMatchObject({ jti: "a1" });
        await store.destroy("Session", "s1");
        expect(await store.findByUid("Session", "uid-1")).toBeUndefined();
      });

      it("treats an artifact written already expired as absent everywhere", async () => {
        for (const model of ["AccessToken", "AuthorizationCode"]) {
          await store.upsert(model, "gone", payload("gone", { uid: "u-gone", userCode: "UC-GONE" }), -5);
          await store.upsert(model, "zero", payload("zero"), 0);
          expect(await store.find(model, "gone")).toBeUndefined();
          expect(await store.find(model, "zero")).toBeUndefined();
          expect(await store.findByUid(model, "u-gone")).toBeUndefined();
          expect(await store.findByUserCode(model, "UC-GONE")).toBeUndefined();
          expect(await store.consume(model, "gone")).toBe(false);
        }
      });

      it("expires artifacts on time: an artifact of 1 s is gone after 1.1 s, a longer one stays", async () => {
        await store.upsert("AccessToken", "short", payload("short"), 1);
        await store.upsert("AuthorizationCode", "short", payload("short"), 1);
        await store.upsert("Session", "short", { jti: "short", uid: "u-short" }, 1);
        await store.upsert("DeviceCode", "short", { jti: "short", userCode: "UC-SHORT" }, 1);
        await store.upsert("AccessToken", "long", payload("long"), 60);
        expect(await store.find("AccessToken", "short")).toBeDefined();
        expect(await store.find("AuthorizationCode", "short")).toBeDefined();
        await new Promise((resolve) => setTimeout(resolve, 1_100));
        expect(await store.find("AccessToken", "short")).toBeUndefined();
        expect(await store.find("AuthorizationCode", "short")).toBeUndefined();
        expect(await store.findByUid("Session", "u-short")).toBeUndefined();
        expect(await store.findByUserCode("DeviceCode", "UC-SHORT")).toBeUndefined();
        expect(await store.consume("AuthorizationCode", "short")).toBe(false);
        expect(await store.find("AccessToken", "long")).toStrictEqual(payload("long"));
      });

      it("consumes once: the payload then says when, later consumes are false", async () => {
        for (const model of ["AuthorizationCode", "RefreshToken"]) {
          await store.upsert(model, "c1", payload("c1"), 60);
          const before = nowSeconds();
          expect(await store.consume(model, "c1")).toBe(true);
          const after = nowSeconds();
          const got = (await store.find(model, "c1")) as ArtifactPayload;
          expect(got.consumed).toBeGreaterThanOrEqual(before - 1);
          expect(got.consumed).toBeLessThanOrEqual(after + 1);
          expect({ ...got, consumed: undefined }).toStrictEqual({ ...payload("c1"), consumed: undefined });
          expect(await store.consume(model, "c1")).toBe(false);
          expect(await store.consume(model, "absent")).toBe(false);
          // A payload written consumed (as oidc-provider saves a loaded, consumed token) stays consumed.
          await store.upsert(model, "c2", payload("c2", { consumed: 1_709_210_100 }), 60);
          expect(await store.find(model, "c2")).toStrictEqual(payload("c2", { consumed: 1_709_210_100 }));
          expect(await store.consume(model, "c2")).toBe(false);
        }
      });

      it("lets exactly one of 10 concurrent consumes win", async () => {
        for (const model of ["AuthorizationCode", "RefreshToken", "DeviceCode"]) {
          await store.upsert(model, "race", payload("race"), 60);
          const results = await Promise.all(Array.from({ length: 10 }, () => store.consume(model, "race")));
          expect(results.filter((r) => r)).toHaveLength(1);
          expect((await store.find(model, "race"))?.consumed).toEqual(expect.any(Number));
        }
      });

      it("destroys one record and leaves the others", async () => {
        for (const model of ["AccessToken", "AuthorizationCode"]) {
          await store.upsert(model, "x", payload("x"), 60);
          await store.upsert(model, "y", payload("y"), 60);
          await store.destroy(model, "x");
          await store.destroy(model, "never-existed");
          expect(await store.find(model, "x")).toBeUndefined();
          expect(await store.find(model, "y")).toStrictEqual(payload("y"));
          expect(await store.consume(model, "x")).toBe(false);
        }
      });

      it("revokes a grant: its access and refresh tokens and codes go, nothing else", async () => {
        const of = (grantId: string, jti: string): ArtifactPayload => payload(jti, { grantId });
        for (const g of ["g1", "g2"]) {
          await store.upsert("AccessToken", `at-${g}`, of(g, `at-${g}`), 60);
          await store.upsert("AccessToken", `at2-${g}`, of(g, `at2-${g}`), undefined);
          await store.upsert("RefreshToken", `rt-${g}`, of(g, `rt-${g}`), 60);
          await store.upsert("AuthorizationCode", `ac-${g}`, of(g, `ac-${g}`), 60);
          await store.upsert("DeviceCode", `dc-${g}`, { ...of(g, `dc-${g}`), userCode: `UC-${g}` }, 60);
        }
        await store.upsert("Grant", "g1", { jti: "g1", accountId: "a", clientId: "app-1" }, 60);
        await store.upsert("Session", "s1", { jti: "s1", uid: "u1" }, 60);
        await store.revokeByGrantId("g1");
        for (const id of ["at-g1", "at2-g1"]) expect(await store.find("AccessToken", id)).toBeUndefined();
        expect(await store.find("RefreshToken", "rt-g1")).toBeUndefined();
        expect(await store.find("AuthorizationCode", "ac-g1")).toBeUndefined();
        expect(await store.find("DeviceCode", "dc-g1")).toBeUndefined();
        expect(await store.findByUserCode("DeviceCode", "UC-g1")).toBeUndefined();
        for (const id of ["at-g2", "at2-g2"]) expect((await store.find("AccessToken", id))?.grantId).toBe("g2");
        expect((await store.find("RefreshToken", "rt-g2"))?.grantId).toBe("g2");
        expect((await store.find("AuthorizationCode", "ac-g2"))?.grantId).toBe("g2");
        expect((await store.findByUserCode("DeviceCode", "UC-g2"))?.jti).toBe("dc-g2");
        expect(await store.find("Grant", "g1")).toMatchObject({ jti: "g1" });
        expect(await store.findByUid("Session", "u1")).toMatchObject({ jti: "s1" });
        await store.revokeByGrantId("never-existed");
        // A later artifact of the revoked grant id is a new one and is kept.
        await store.upsert("AccessToken", "late", of("g1", "late"), 60);
        expect(await store.find("AccessToken", "late")).toBeDefined();
      });

      it("destroys a subject's records of one model, counting the unexpired ones", async () => {
        for (const model of ["Session", "AccessToken"]) {
          await store.upsert(model, "a1", { jti: "a1", uid: "u-a1", accountId: "alice" }, 60);
          await store.upsert(model, "a2", { jti: "a2", uid: "u-a2", accountId: "alice" }, undefined);
          await store.upsert(model, "a3", { jti: "a3", accountId: "alice" }, -5);
          await store.upsert(model, "b1", { jti: "b1", uid: "u-b1", accountId: "bob" }, 60);
        }
        // Moved to another account: no longer alice's.
        await store.upsert("Session", "b2", { jti: "b2", accountId: "alice" }, 60);
        await store.upsert("Session", "b2", { jti: "b2", accountId: "bob" }, 60);
        expect(await store.destroyByAccountId("Session", "alice")).toBe(2);
        for (const id of ["a1", "a2", "a3"]) expect(await store.find("Session", id)).toBeUndefined();
        expect(await store.findByUid("Session", "u-a1")).toBeUndefined();
        expect(await store.find("Session", "b1")).toMatchObject({ accountId: "bob" });
        expect(await store.find("Session", "b2")).toMatchObject({ accountId: "bob" });
        expect(await store.find("AccessToken", "a1")).toMatchObject({ accountId: "alice" });
        expect(await store.destroyByAccountId("Session", "alice")).toBe(0);
        expect(await store.destroyByAccountId("Session", "nobody")).toBe(0);
        expect(await store.destroyByAccountId("AccessToken", "alice")).toBe(2);
        expect(await store.find("AccessToken", "b1")).toMatchObject({ accountId: "bob" });
      });

      it("deletes expired artifacts before a time and says how many", async () => {
        await store.upsert("AccessToken", "expired-1", payload("expired-1"), -5);
        await store.upsert("RefreshToken", "expired-2", payload("expired-2"), -5);
        await store.upsert("AccessToken", "live", payload("live"), 60);
        await store.upsert("Grant", "forever", { jti: "forever" }, undefined);
        expect(await store.deleteExpired(new Date(Date.now() - 60_000))).toBe(0);
        expect(await store.deleteExpired(new Date())).toBe(2);
        expect(await store.deleteExpired(new Date())).toBe(0);
        expect(await store.find("AccessToken", "live")).toStrictEqual(payload("live"));
        expect(await store.find("Grant", "forever")).toStrictEqual({ jti: "forever" });
        // The id can be written again.
        await store.upsert("AccessToken", "expired-1", payload("again"), 60);
        expect((await store.find("AccessToken", "expired-1"))?.jti).toBe("again");
      });

      it("refuses invalid writes with invalid_argument and the field", async () => {
        await expectError(store.upsert("", "x", payload("x"), 60), "invalid_argument", "model");
        await expectError(store.upsert("AccessToken", "", payload("x"), 60), "invalid_argument", "id");
        await expectError(store.upsert("AccessToken", "nul\u0000", payload("x"), 60), "invalid_argument", "id");
        await expectError(store.upsert("AuthorizationCode", "x", payload("x", { grantId: 42 }), 60), "invalid_argument", "payload.grantId");
        await expectError(store.upsert("Session", "x", payload("x", { accountId: "" }), 60), "invalid_argument", "payload.accountId");
        await expectError(store.upsert("AccessToken", "x", payload("x"), Number.NaN), "invalid_argument", "expiresIn");
        await expectError(
          store.upsert("AccessToken", "x", [] as unknown as ArtifactPayload, 60),
          "invalid_argument",
          "payload",
        );
        expect(await store.find("AccessToken", "x")).toBeUndefined();
      });
    });

    // ---- clients ----

    describe("clients", () => {
      it("round-trips a client with every field exactly", async () => {
        const c = fullClient("app-1");
        await store.createClient(c);
        const got = await store.getClient("app-1");
        expect(got).toStrictEqual(c);
        expect(JSON.stringify(got)).toBe(JSON.stringify(c));
        expect((await store.listClients()).items).toStrictEqual([c]);
        expect(await store.getClient("app-2")).toBeUndefined();
        expect(await store.getClient("nul\u0000")).toBeUndefined();
      });

      it("refuses a second client with the same client_id, naming the field, and keeps the first", async () => {
        await store.createClient(testClient("app-1", { client_name: "first" }));
        await expectError(store.createClient(testClient("app-1", { client_name: "second" })), "already_exists", "client_id");
        expect((await store.getClient("app-1"))?.client_name).toBe("first");
        expect(await clientIds()).toEqual(["app-1"]);
      });

      it("lets exactly one of 10 concurrent creates of one client_id win", async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => store.createClient(testClient("race", { client_name: `n${i}` }))),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        for (const r of results) {
          if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "already_exists", details: { field: "client_id" } });
        }
        expect(await clientIds()).toEqual(["race"]);
      });

      it("updates a client wholly; a missing one is not_found and nothing is created", async () => {
        await store.createClient(fullClient("app-1"));
        const updated = testClient("app-1", { client_name: "renamed", owner: "new-owner", updated_at: "2024-03-01T00:00:00Z" });
        await store.updateClient(updated);
        expect(await store.getClient("app-1")).toStrictEqual(updated);
        expect(await clientIds({ owner: "new-owner" })).toEqual(["app-1"]);
        expect(await clientIds({ owner: "team-42" })).toEqual([]);
        await expectError(store.updateClient(testClient("missing")), "not_found", "client_id");
        expect(await store.getClient("missing")).toBeUndefined();
      });

      it("deletes a client, saying whether it existed", async () => {
        await store.createClient(testClient("app-1"));
        await store.createClient(testClient("app-2"));
        expect(await store.deleteClient("app-1")).toBe(true);
        expect(await store.deleteClient("app-1")).toBe(false);
        expect(await store.getClient("app-1")).toBeUndefined();
        expect(await clientIds()).toEqual(["app-2"]);
        // The id is free again.
        await store.createClient(testClient("app-1"));
        expect(await clientIds()).toEqual(["app-1", "app-2"]);
      });

      it("returns copies: mutating what was passed in or handed out changes nothing stored", async () => {
        const c = fullClient("app-1");
        await store.createClient(c);
        c.redirect_uris.push("https://evil.example.org");
        (c.metadata["limits"] as { rpm: number }).rpm = 1;
        const got = (await store.getClient("app-1")) as HydraClient;
        got.grant_types.push("implicit");
        got.metadata["tier"] = "changed";
        const listed = (await store.listClients()).items[0] as HydraClient;
        listed.scope = "changed";
        expect(await store.getClient("app-1")).toStrictEqual(fullClient("app-1"));
      });

      it("lists in client_id order across pages with no gaps or duplicates", async () => {
        const ids = ["c", "a", "e", "b", "g", "d", "f"];
        for (const id of ids) await store.createClient(testClient(id));
        const expected = [...ids].sort();
        for (const pageSize of [1, 2, 3, 6]) {
          const { items, pages } = await allPages(
            (pageToken) => store.listClients({ pageSize, ...(pageToken ? { pageToken } : {}) }),
            pageSize,
          );
          expect(items.map((c) => c.client_id)).toEqual(expected);
          expect(pages).toBe(Math.ceil(7 / pageSize));
        }
        expect((await store.listClients({ pageSize: 7 })).nextPageToken).toBeUndefined();
        const all = await store.listClients();
        expect(all.items.map((c) => c.client_id)).toEqual(expected);
        expect(all.nextPageToken).toBeUndefined();
        expect((await store.listClients({ pageSize: 0 })).items).toHaveLength(7);
        expect((await store.listClients({ pageSize: 3, pageToken: "" })).items).toHaveLength(3);
      });

      it("continues after the last client even when clients before it were deleted or added", async () => {
        for (const id of ["b", "c", "d", "e", "f"]) await store.createClient(testClient(id));
        const first = await store.listClients({ pageSize: 2 });
        expect(first.items.map((c) => c.client_id)).toEqual(["b", "c"]);
        await store.deleteClient("b");
        await store.deleteClient("d");
        await store.createClient(testClient("a"));
        await store.createClient(testClient("g"));
        const second = await store.listClients({ pageSize: 2, pageToken: first.nextPageToken as string });
        expect(second.items.map((c) => c.client_id)).toEqual(["e", "f"]);
        const third = await store.listClients({ pageSize: 2, pageToken: second.nextPageToken as string });
        expect(third.items.map((c) => c.client_id)).toEqual(["g"]);
        expect(third.nextPageToken).toBeUndefined();
      });

      it("filters by client_name and owner, exactly, with paging", async () => {
        await store.createClient(testClient("a", { client_name: "Shop", owner: "team-1" }));
        await store.createClient(testClient("b", { client_name: "Blog", owner: "team-1" }));
        await store.createClient(testClient("c", { client_name: "Shop", owner: "team-2" }));
        await store.createClient(testClient("d", { client_name: "Shop", owner: "team-1" }));
        await store.createClient(testClient("e", { client_name: "shop", owner: "" }));
        expect(await clientIds({ clientName: "Shop" })).toEqual(["a", "c", "d"]);
        expect(await clientIds({ owner: "team-1" })).toEqual(["a", "b", "d"]);
        expect(await clientIds({ clientName: "Shop", owner: "team-1" })).toEqual(["a", "d"]);
        expect(await clientIds({ clientName: "Nope" })).toEqual([]);
        expect(await clientIds({ clientName: "", owner: "" })).toEqual(["a", "b", "c", "d", "e"]);
        const { items } = await allPages(
          (pageToken) => store.listClients({ clientName: "Shop", pageSize: 1, ...(pageToken ? { pageToken } : {}) }),
          1,
        );
        expect(items.map((c) => c.client_id)).toEqual(["a", "c", "d"]);
      });

      it("refuses tampered, malformed and foreign page tokens with field page_token", async () => {
        for (const id of ["a", "b", "c"]) await store.createClient(testClient(id, { owner: "o" }));
        await store.putConsent(consent("k1", { handledAt: minutes(1) }));
        await store.putConsent(consent("k2", { handledAt: minutes(2) }));
        const token = (await store.listClients({ pageSize: 1 })).nextPageToken as string;
        expect(token).toEqual(expect.any(String));
        expect(await clientIds({ pageSize: 1, pageToken: token })).toEqual(["b"]);
        await expectError(store.listClients({ pageSize: 1, pageToken: tamper(token) }), "invalid_argument", "page_token");
        const [body, signature] = token.split(".") as [string, string];
        const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, "base64url").toString()), k: ["0"] })).toString("base64url");
        await expectError(store.listClients({ pageToken: `${forged}.${signature}` }), "invalid_argument", "page_token");
        await expectError(store.listClients({ pageToken: "not-a-token" }), "invalid_argument", "page_token");
        await expectError(store.listClients({ pageToken: "a.b.c" }), "invalid_argument", "page_token");
        // A token is bound to its listing and its filter.
        await expectError(store.listClients({ pageToken: token, owner: "o" }), "invalid_argument", "page_token");
        await expectError(store.listClients({ pageToken: token, clientName: "Client a" }), "invalid_argument", "page_token");
        const consentToken = (await store.listConsents("user-1", { pageSize: 1 })).nextPageToken as string;
        expect(consentToken).toEqual(expect.any(String));
        await expectError(store.listClients({ pageToken: consentToken }), "invalid_argument", "page_token");
        await expectError(store.listConsents("user-1", { pageToken: token }), "invalid_argument", "page_token");
        await expectError(store.listConsents("user-2", { pageToken: consentToken }), "invalid_argument", "page_token");
      });

      it("refuses page sizes outside 1..500", async () => {
        for (const pageSize of [-1, 501, 1.5, Number.NaN]) {
          await expectError(store.listClients({ pageSize }), "invalid_argument", "page_size");
          await expectError(store.listConsents("user-1", { pageSize }), "invalid_argument", "page_size");
        }
        expect((await store.listClients({ pageSize: 500 })).items).toEqual([]);
      });

      it("refuses invalid clients with invalid_argument and the field", async () => {
        await expectError(store.createClient(testClient("")), "invalid_argument", "client_id");
        await expectError(store.createClient(testClient("x", { created_at: "yesterday" })), "invalid_argument", "created_at");
        await expectError(store.createClient(testClient("x", { owner: 7 as unknown as string })), "invalid_argument", "owner");
        expect(await clientIds()).toEqual([]);
      });
    });

    // ---- consents ----

    describe("consents", () => {
      it("round-trips consents with and without the optional fields", async () => {
        const full = consent("c1");
        const bare: ConsentRecord = {
          id: "c2",
          subject: "user-1",
          clientId: "app-2",
          grantId: "grant-c2",
          session: {},
          grantedScopes: [],
          grantedAudience: [],
          remember: false,
          handledAt: minutes(-1),
        };
        await store.putConsent(full);
        await store.putConsent(bare);
        const { items } = await store.listConsents("user-1");
        expect(items).toStrictEqual([full, bare]);
        expect(items[0]?.handledAt).toBeInstanceOf(Date);
        expect(await store.findRememberedConsent("user-1", "app-1")).toStrictEqual(full);
      });

      it("replaces a consent put again under the same id", async () => {
        await store.putConsent(consent("c1"));
        const replaced = consent("c1", { grantedScopes: ["openid"], remember: false, handledAt: minutes(5) });
        await store.putConsent(replaced);
        expect((await store.listConsents("user-1")).items).toStrictEqual([replaced]);
        expect(await store.findRememberedConsent("user-1", "app-1")).toBeUndefined();
      });

      it("finds the newest remembered, unexpired consent of a subject for a client", async () => {
        await store.putConsent(consent("old", { handledAt: minutes(1) }));
        await store.putConsent(consent("newest-not-remembered", { handledAt: minutes(9), remember: false }));
        await store.putConsent(consent("expired", { handledAt: minutes(8), expiresAt: new Date(Date.now() - 1_000) }));
        await store.putConsent(consent("other-client", { handledAt: minutes(7), clientId: "app-2" }));
        await store.putConsent(consent("other-subject", { handledAt: minutes(7), subject: "user-2" }));
        await store.putConsent(consent("remembered", { handledAt: minutes(5) }));
        await store.putConsent(consent("forever", { handledAt: minutes(3), expiresAt: undefined }));
        expect((await store.findRememberedConsent("user-1", "app-1"))?.id).toBe("remembered");
        expect((await store.findRememberedConsent("user-1", "app-2"))?.id).toBe("other-client");
        expect((await store.findRememberedConsent("user-2", "app-1"))?.id).toBe("other-subject");
        expect(await store.findRememberedConsent("user-3", "app-1")).toBeUndefined();
        await store.deleteConsents("user-1", "app-1");
        expect(await store.findRememberedConsent("user-1", "app-1")).toBeUndefined();
      });

      it("lists a subject's consents newest first across pages, filtered by login session", async () => {
        const order = [3, 1, 4, 2, 5];
        for (const n of order) {
          await store.putConsent(consent(`c${n}`, { handledAt: minutes(n), loginSessionId: n % 2 === 0 ? "even" : "odd", remember: n !== 4 }));
        }
        // Same time: id descending.
        await store.putConsent(consent("c5b", { handledAt: minutes(5), loginSessionId: "odd" }));
        await store.putConsent(consent("other", { subject: "user-2" }));
        const expected = ["c5b", "c5", "c4", "c3", "c2", "c1"];
        for (const pageSize of [1, 2, 4]) {
          const { items } = await allPages(
            (pageToken) => store.listConsents("user-1", { pageSize, ...(pageToken ? { pageToken } : {}) }),
            pageSize,
          );
          expect(items.map((c) => c.id)).toEqual(expected);
        }
        expect(await consentIds("user-1", { loginSessionId: "even" })).toEqual(["c4", "c2"]);
        const { items } = await allPages(
          (pageToken) => store.listConsents("user-1", { loginSessionId: "odd", pageSize: 2, ...(pageToken ? { pageToken } : {}) }),
          2,
        );
        expect(items.map((c) => c.id)).toEqual(["c5b", "c5", "c3", "c1"]);
        expect(await consentIds("user-2")).toEqual(["other"]);
        expect(await consentIds("nobody")).toEqual([]);
        const token = (await store.listConsents("user-1", { pageSize: 1 })).nextPageToken as string;
        await expectError(store.listConsents("user-1", { pageToken: tamper(token) }), "invalid_argument", "page_token");
        await expectError(store.listConsents("user-1", { pageToken: token, loginSessionId: "odd" }), "invalid_argument", "page_token");
      });

      it("deletes a subject's consents for one client or all, returning them", async () => {
        await store.putConsent(consent("a1", { handledAt: minutes(1) }));
        await store.putConsent(consent("a2", { handledAt: minutes(2) }));
        await store.putConsent(consent("b1", { handledAt: minutes(3), clientId: "app-2" }));
        await store.putConsent(consent("u2", { subject: "user-2" }));
        const gone = await store.deleteConsents("user-1", "app-1");
        expect(gone.map((c) => c.id).sort()).toEqual(["a1", "a2"]);
        expect(gone.find((c) => c.id === "a1")).toStrictEqual(consent("a1", { handledAt: minutes(1) }));
        expect(await consentIds("user-1")).toEqual(["b1"]);
        expect(await store.deleteConsents("user-1", "app-1")).toEqual([]);
        const all = await store.deleteConsents("user-1");
        expect(all).toStrictEqual([consent("b1", { handledAt: minutes(3), clientId: "app-2" })]);
        expect(await consentIds("user-1")).toEqual([]);
        expect(await consentIds("user-2")).toEqual(["u2"]);
      });

      it("lets deleteExpired drop consents that stopped being remembered", async () => {
        await store.putConsent(consent("expired", { expiresAt: new Date(Date.now() - 5_000) }));
        await store.putConsent(consent("live", { expiresAt: new Date(Date.now() + 60_000) }));
        await store.putConsent(consent("forever", { expiresAt: undefined }));
        expect(await store.deleteExpired(new Date())).toBe(1);
        expect((await consentIds("user-1")).sort()).toEqual(["forever", "live"]);
      });

      it("refuses invalid consents with invalid_argument and the field", async () => {
        await expectError(store.putConsent(consent("")), "invalid_argument", "id");
        await expectError(store.putConsent(consent("c1", { subject: "" })), "invalid_argument", "subject");
        await expectError(store.putConsent(consent("c1", { handledAt: new Date(Number.NaN) })), "invalid_argument", "handled_at");
        expect(await consentIds("user-1")).toEqual([]);
      });
    });

    // ---- keys ----

    describe("keys", () => {
      it("adds keys and lists a set newest first, JWKs exactly", async () => {
        await store.addKey(key("hydra.openid.id-token", "k1", { createdAt: minutes(1) }));
        await store.addKey(key("hydra.openid.id-token", "k2", { createdAt: minutes(2) }));
        await store.addKey(key("hydra.openid.id-token", "k3", { createdAt: minutes(3) }));
        await store.addKey(key("other", "k1"));
        const listed = await store.listKeys("hydra.openid.id-token");
        expect(listed.map((k) => k.kid)).toEqual(["k3", "k2", "k1"]);
        expect(listed[2]).toStrictEqual(key("hydra.openid.id-token", "k1", { createdAt: minutes(1) }));
        expect(JSON.stringify(listed[0]?.jwk)).toBe(JSON.stringify(key("s", "k3").jwk));
        expect(await kids("other")).toEqual(["k1"]);
        expect(await store.listKeys("missing")).toEqual([]);
      });

      it("refuses a kid already in its set, naming kid; the same kid in another set is fine", async () => {
        await store.addKey(key("s", "k1", { jwk: { kty: "oct", kid: "k1", k: "first" } }));
        await expectError(store.addKey(key("s", "k1", { jwk: { kty: "oct", kid: "k1", k: "second" } })), "already_exists", "kid");
        expect((await store.listKeys("s")).map((k) => k.jwk["k"])).toEqual(["first"]);
        await store.addKey(key("t", "k1"));
        expect(await kids("t")).toEqual(["k1"]);
      });

      it("deletes one key or a whole set, saying how many", async () => {
        for (const kid of ["k1", "k2", "k3"]) await store.addKey(key("s", kid));
        await store.addKey(key("t", "k1"));
        expect(await store.deleteKeys("s", "k2")).toBe(1);
        expect(await kids("s")).toEqual(["k3", "k1"]);
        expect(await store.deleteKeys("s", "k2")).toBe(0);
        expect(await store.deleteKeys("s")).toBe(2);
        expect(await kids("s")).toEqual([]);
        expect(await store.deleteKeys("s")).toBe(0);
        expect(await kids("t")).toEqual(["k1"]);
        // A deleted kid may be added again.
        await store.addKey(key("s", "k2"));
        expect(await kids("s")).toEqual(["k2"]);
      });

      it("changes keysVersion on every add and delete, not on a refused add", async () => {
        const v0 = await store.keysVersion();
        expect(await store.keysVersion()).toBe(v0);
        await store.addKey(key("s", "k1"));
        const v1 = await store.keysVersion();
        expect(v1).not.toBe(v0);
        await store.addKey(key("s", "k2"));
        const v2 = await store.keysVersion();
        expect([v0, v1]).not.toContain(v2);
        await expectError(store.addKey(key("s", "k2")), "already_exists", "kid");
        expect(await store.keysVersion()).toBe(v2);
        await store.deleteKeys("s", "k1");
        const v3 = await store.keysVersion();
        expect([v0, v1, v2]).not.toContain(v3);
        await store.deleteKeys("s");
        const v4 = await store.keysVersion();
        expect([v0, v1, v2, v3]).not.toContain(v4);
      });

      it("returns copies of keys", async () => {
        await store.addKey(key("s", "k1"));
        const [got] = await store.listKeys("s");
        (got as StoredKey).jwk["d"] = "changed";
        (got as StoredKey).createdAt.setTime(0);
        expect(await store.listKeys("s")).toStrictEqual([key("s", "k1")]);
      });

      it("refuses invalid keys with invalid_argument and the field", async () => {
        await expectError(store.addKey(key("", "k1")), "invalid_argument", "set");
        await expectError(store.addKey(key("s", "")), "invalid_argument", "kid");
        await expectError(store.addKey(key("s", "k1", { jwk: [] as unknown as Record<string, unknown> })), "invalid_argument", "jwk");
        expect(await kids("s")).toEqual([]);
      });
    });

    // ---- lifecycle ----

    describe("lifecycle", () => {
      it("refuses every call after close with unavailable; closing twice is fine", async () => {
        await store.upsert("AccessToken", "t1", payload("t1"), 60);
        await store.close();
        await store.close();
        await expectError(store.find("AccessToken", "t1"), "unavailable");
        await expectError(store.find("AuthorizationCode", "c1"), "unavailable");
        await expectError(store.consume("AuthorizationCode", "c1"), "unavailable");
        await expectError(store.listClients(), "unavailable");
        await expectError(store.putConsent(consent("c1")), "unavailable");
        await expectError(store.keysVersion(), "unavailable");
      });
    });
  });
}
