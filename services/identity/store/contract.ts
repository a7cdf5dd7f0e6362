/**
 * The shared contract suite every `IdentityStore` must pass. A test file calls
 * `describeIdentityStoreContract` with a factory; each test gets a fresh, empty store.
 */
import { allPages, expectError, tamper } from "../../../engine/store/contract-helpers.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type {
  Credential,
  CredentialType,
  Identity,
  IdentityWithCredentials,
  Session,
  StoredFlow,
} from "../model.js";
import type { IdentityStore, ListIdentitiesOptions, ListSessionsOptions } from "./identity-store.js";

/** How a store differs where the contract allows it. */
export interface IdentityStoreContractOptions {
  /**
   * Who removes expired flows: `sweep` (default), `deleteExpiredFlows` deletes them and says how many; `ttl`,
   * the backend expires them itself some time after they expire (Redis), so `deleteExpiredFlows` deletes
   * nothing and answers 0, and a just-expired flow is still found (to answer 410 with a fresh flow).
   */
  readonly expiredFlows?: "sweep" | "ttl";
}

/** Registers the contract tests for one store implementation. */
export function describeIdentityStoreContract(
  name: string,
  /** Opens a fresh, empty store (called before each test). */
  open: () => Promise<IdentityStore>,
  /** Disposes of a store after each test; default `store.close()`. */
  close: (store: IdentityStore) => Promise<void> = (store) => store.close(),
  options: IdentityStoreContractOptions = {},
): void {
  describe(`IdentityStore contract: ${name}`, () => {
    let store: IdentityStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await close(store);
    });

    // ---- fixtures ----

    /** A lower-case UUID whose order follows `n` (so listings have a known order on every backend). */
    const uuid = (n: number, prefix = "00000000"): string => `${prefix}-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
    const at = (iso: string): Date => new Date(iso);
    const T0 = at("2024-02-29T12:34:56.789Z");
    const minutes = (n: number): Date => new Date(T0.getTime() + n * 60_000);

    function identity(id: string, overrides: Partial<Identity> = {}): Identity {
      return {
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
        createdAt: T0,
        updatedAt: T0,
        ...overrides,
      };
    }

    function credential(type: CredentialType, identifiers: string[], overrides: Partial<Credential> = {}): Credential {
      return {
        type,
        identifiers,
        config: type === "password" ? { hashed_password: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA" } : {},
        version: 0,
        createdAt: T0,
        updatedAt: T0,
        ...overrides,
      };
    }

    /** An identity with a password credential holding `identifiers` (none: no credentials). */
    function entry(id: string, identifiers: string[] = [], overrides: Partial<Identity> = {}): IdentityWithCredentials {
      return {
        identity: identity(id, overrides),
        credentials: identifiers.length === 0 ? {} : { password: credential("password", identifiers) },
      };
    }

    /** An identity with every field set, nested JSON and unicode included. */
    function fullEntry(id: string): IdentityWithCredentials {
      return {
        identity: {
          id,
          schemaId: "customer.v2",
          traits: {
            email: "Zoë.Ærø@exämple.org",
            name: { first: "Zoë", last: "日本語 テスト", emoji: "👩🏽‍💻", rtl: "שלום" },
            tags: ["a", "b", { nested: [1, 2.5, -3e-7, true, false, null] }],
            empty: {},
            quote: 'he said "hi" \\ \n\t back',
            nul: "zero\u0000byte",
          },
          state: "inactive",
          stateChangedAt: at("2024-03-01T00:00:00.001Z"),
          metadataPublic: { plan: "pro", seats: 5, features: ["sso", "audit"] },
          metadataAdmin: ["internal", { risk: 0.25 }],
          externalId: "crm-ünïcödé-42",
          verifiableAddresses: [
            {
              id: uuid(1, "aaaaaaaa"),
              value: "zoe@example.org",
              via: "email",
              verified: true,
              status: "completed",
              verifiedAt: at("2024-03-02T10:00:00.123Z"),
              createdAt: at("2024-03-01T09:00:00.000Z"),
              updatedAt: at("2024-03-02T10:00:00.123Z"),
            },
            {
              id: uuid(2, "aaaaaaaa"),
              value: "+4915112345678",
              via: "sms",
              verified: false,
              status: "pending",
              verifiedAt: undefined,
              createdAt: at("2024-03-01T09:00:00.000Z"),
              updatedAt: at("2024-03-01T09:00:00.000Z"),
            },
          ],
          recoveryAddresses: [
            {
              id: uuid(3, "aaaaaaaa"),
              value: "zoe@example.org",
              via: "email",
              createdAt: at("2024-03-01T09:00:00.000Z"),
              updatedAt: at("2024-03-01T09:00:00.999Z"),
            },
          ],
          createdAt: at("1999-12-31T23:59:59.999Z"),
          updatedAt: at("2038-01-19T03:14:08.000Z"),
        },
        credentials: {
          password: credential("password", ["zoë.ærø@exämple.org", "zoe"], {
            version: 1,
            createdAt: at("2024-03-01T09:00:00.000Z"),
            updatedAt: at("2024-03-05T09:00:00.000Z"),
          }),
          oidc: credential("oidc", ["google:1234567890", "github:zoe"], {
            config: { providers: [{ provider: "google", subject: "1234567890", use_auto_link: false }] },
          }),
          totp: credential("totp", [], { config: { totp_url: "otpauth://totp/Gatehouse:zoe?secret=JBSWY3DPEHPK3PXP" } }),
        },
      };
    }

    function session(id: string, identityId: string, overrides: Partial<Session> = {}): Session {
      return {
        id,
        tokenHash: `hash-${id}`,
        identityId,
        active: true,
        expiresAt: minutes(24 * 60),
        authenticatedAt: T0,
        issuedAt: T0,
        aal: "aal1",
        methods: [{ method: "password", aal: "aal1", completedAt: T0 }],
        devices: [],
        ...overrides,
      };
    }

    function flow(id: string, overrides: Partial<StoredFlow> = {}): StoredFlow {
      return {
        id,
        kind: "login",
        type: "browser",
        issuedAt: T0,
        expiresAt: minutes(60),
        requestUrl: "https://auth.example.org/self-service/login/browser?return_to=%2Fhome",
        returnTo: "https://app.example.org/home",
        csrfTokenHash: "c0ffee",
        state: { ui: { nodes: [{ name: "identifier", value: "zoë" }], messages: [] }, schemaId: "default" },
        ...overrides,
      };
    }

    const listIds = async (options: ListIdentitiesOptions = {}): Promise<string[]> =>
      (await store.listIdentities(options)).items.map((e) => e.identity.id);
    const listSessionIds = async (options: ListSessionsOptions = {}): Promise<string[]> =>
      (await store.listSessions(options)).items.map((s) => s.id);
    const findPassword = async (identifier: string): Promise<string | undefined> =>
      (await store.findByCredentialIdentifier("password", identifier))?.identity.id;

    // ---- identities ----

    describe("identities", () => {
      it("round-trips an identity with every field: dates, nested JSON, unicode, all credentials", async () => {
        const e = fullEntry(uuid(1));
        await store.createIdentity(e);
        const got = await store.getIdentity(uuid(1));
        expect(got).toStrictEqual(e);
        expect(got?.identity.createdAt).toBeInstanceOf(Date);
        expect(got?.identity.verifiableAddresses[0]?.verifiedAt).toBeInstanceOf(Date);
        expect(got?.credentials.password?.updatedAt.toISOString()).toBe("2024-03-05T09:00:00.000Z");
        expect(await store.getIdentityByExternalId("crm-ünïcödé-42")).toStrictEqual(e);
        expect(await store.findByCredentialIdentifier("password", "zoë.ærø@exämple.org")).toStrictEqual(e);
        expect(await store.findByCredentialIdentifier("oidc", "github:zoe")).toStrictEqual(e);
        expect((await store.listIdentities()).items).toStrictEqual([e]);
      });

      it("keeps absent optional fields undefined and null metadata null", async () => {
        const e = entry(uuid(1), [], { metadataAdmin: null, metadataPublic: undefined });
        await store.createIdentity(e);
        const got = await store.getIdentity(uuid(1));
        expect(got).toStrictEqual(e);
        expect(got?.identity.metadataAdmin).toBeNull();
        expect(got?.identity.metadataPublic).toBeUndefined();
        expect(got?.identity.externalId).toBeUndefined();
        expect(got?.identity.stateChangedAt).toBeUndefined();
        expect(got?.credentials).toStrictEqual({});
      });

      it("returns copies: mutating what was passed in or handed out changes nothing stored", async () => {
        const traits = { email: "a@example.org", nested: { list: [1, 2] } };
        const identifiers = ["a@example.org"];
        const created = new Date(T0);
        await store.createIdentity({
          identity: identity(uuid(1), { traits, createdAt: created }),
          credentials: { password: credential("password", identifiers) },
        });
        traits.nested.list.push(3);
        identifiers.push("b@example.org");
        created.setTime(0);

        const first = (await store.getIdentity(uuid(1))) as IdentityWithCredentials;
        (first.identity.traits as { nested: { list: number[] } }).nested.list.push(4);
        (first.credentials.password?.identifiers as string[]).push("c@example.org");
        first.identity.createdAt.setTime(0);
        (first.credentials.password?.config as Record<string, unknown>)["hashed_password"] = "changed";

        const again = (await store.getIdentity(uuid(1))) as IdentityWithCredentials;
        expect(again.identity.traits).toStrictEqual({ email: "a@example.org", nested: { list: [1, 2] } });
        expect(again.credentials.password?.identifiers).toStrictEqual(["a@example.org"]);
        expect(again.identity.createdAt).toStrictEqual(T0);
        expect(again.credentials.password?.config).toStrictEqual(credential("password", []).config);
        expect(await findPassword("b@example.org")).toBeUndefined();
      });

      it("refuses an identifier another identity holds, naming it, and stores nothing of the failed identity", async () => {
        await store.createIdentity(entry(uuid(1), ["a@example.org"]));
        const err = await expectError(
          store.createIdentity(entry(uuid(2), ["b@example.org", "a@example.org"], { externalId: "ext-2" })),
          "already_exists",
          "credentials.password.identifiers",
        );
        expect(err.message).toContain("a@example.org");
        expect(await store.getIdentity(uuid(2))).toBeUndefined();
        expect(await findPassword("b@example.org")).toBeUndefined();
        expect(await findPassword("a@example.org")).toBe(uuid(1));
        expect(await store.getIdentityByExternalId("ext-2")).toBeUndefined();
        expect(await listIds()).toEqual([uuid(1)]);
        // Everything the failed create wanted except the clash is free.
        await store.createIdentity(entry(uuid(2), ["b@example.org"], { externalId: "ext-2" }));
        expect(await findPassword("b@example.org")).toBe(uuid(2));
      });

      it("names the credential type whose identifier clashes, and allows one identifier under different types", async () => {
        await store.createIdentity({
          identity: identity(uuid(1)),
          credentials: { code: credential("code", ["shared@example.org"]) },
        });
        await store.createIdentity(entry(uuid(2), ["shared@example.org"]));
        expect((await store.findByCredentialIdentifier("code", "shared@example.org"))?.identity.id).toBe(uuid(1));
        expect(await findPassword("shared@example.org")).toBe(uuid(2));
        const err = await expectError(
          store.createIdentity({
            identity: identity(uuid(3)),
            credentials: { totp: credential("totp", []), code: credential("code", ["other", "shared@example.org"]) },
          }),
          "already_exists",
          "credentials.code.identifiers",
        );
        expect(err.message).toContain("shared@example.org");
        expect(await store.getIdentity(uuid(3))).toBeUndefined();
        expect((await store.findByCredentialIdentifier("code", "other"))?.identity.id).toBeUndefined();
      });

      it("stores an identifier listed twice in one credential once", async () => {
        await store.createIdentity(entry(uuid(1), ["a", "b", "a"]));
        expect((await store.getIdentity(uuid(1)))?.credentials.password?.identifiers).toEqual(["a", "b"]);
        expect(await findPassword("a")).toBe(uuid(1));
      });

      it("matches identifiers exactly (the caller normalises)", async () => {
        await store.createIdentity(entry(uuid(1), ["a@example.org"]));
        expect(await findPassword("A@example.org")).toBeUndefined();
        expect(await findPassword("a@example.org ")).toBeUndefined();
        expect(await store.findByCredentialIdentifier("code", "a@example.org")).toBeUndefined();
        await store.createIdentity(entry(uuid(2), ["A@example.org"]));
        expect(await findPassword("A@example.org")).toBe(uuid(2));
      });

      it("refuses an external id another identity holds; identities without one never clash", async () => {
        await store.createIdentity(entry(uuid(1), [], { externalId: "ext-1" }));
        await store.createIdentity(entry(uuid(2)));
        await store.createIdentity(entry(uuid(3)));
        const err = await expectError(
          store.createIdentity(entry(uuid(4), ["d@example.org"], { externalId: "ext-1" })),
          "already_exists",
          "external_id",
        );
        expect(err.message).toContain("ext-1");
        expect(await store.getIdentity(uuid(4))).toBeUndefined();
        expect(await findPassword("d@example.org")).toBeUndefined();
        expect((await store.getIdentityByExternalId("ext-1"))?.identity.id).toBe(uuid(1));
        expect(await store.getIdentityByExternalId("ext-4")).toBeUndefined();
      });

      it("refuses a second identity with the same id and keeps the first", async () => {
        await store.createIdentity(entry(uuid(1), ["a"], { schemaId: "first" }));
        await expectError(store.createIdentity(entry(uuid(1), ["b"], { schemaId: "second" })), "already_exists", "id");
        expect((await store.getIdentity(uuid(1)))?.identity.schemaId).toBe("first");
        expect(await findPassword("b")).toBeUndefined();
      });

      it("refuses invalid values with invalid_argument and the field", async () => {
        await expectError(store.createIdentity(entry(uuid(1), [], { createdAt: new Date(Number.NaN) })), "invalid_argument", "created_at");
        await expectError(store.createIdentity(entry(uuid(1), [], { traits: { n: 10n } as never })), "invalid_argument", "traits");
        await expectError(
          store.createIdentity({ identity: identity(uuid(1)), credentials: { password: credential("totp", ["x"]) } }),
          "invalid_argument",
          "credentials.password.type",
        );
        await expectError(store.createIdentity(entry(uuid(1), ["nul\u0000byte"])), "invalid_argument", "credentials.password.identifiers");
        await expectError(store.createIdentity(entry("")), "invalid_argument", "id");
        expect(await listIds()).toEqual([]);
      });

      it("finds nothing for keys holding U+0000 (which no stored key can contain)", async () => {
        await store.createIdentity(entry(uuid(1), ["a"], { externalId: "e" }));
        expect(await store.getIdentity(`${uuid(1)}\u0000`)).toBeUndefined();
        expect(await store.getIdentityByExternalId("e\u0000")).toBeUndefined();
        expect(await store.findByCredentialIdentifier("password", "a\u0000")).toBeUndefined();
        expect(await listIds({ credentialsIdentifier: "a\u0000" })).toEqual([]);
        expect(await listIds({ ids: [uuid(1), "x\u0000"] })).toEqual([uuid(1)]);
        expect(await store.deleteIdentity("x\u0000")).toBe(false);
        expect(await store.getSession("x\u0000")).toBeUndefined();
        expect(await store.getSessionByTokenHash("x\u0000")).toBeUndefined();
        expect(await store.getFlow("x\u0000")).toBeUndefined();
        expect(await store.deleteSessionsOfIdentity("x\u0000")).toBe(0);
        expect((await store.listSessions({ identityId: "x\u0000" })).items).toEqual([]);
      });
    });

    describe("updateIdentity", () => {
      it("replaces the identity's fields and only the credential types given", async () => {
        await store.createIdentity({
          identity: identity(uuid(1), { externalId: "old-ext", metadataPublic: { a: 1 } }),
          credentials: {
            password: credential("password", ["old@example.org"]),
            totp: credential("totp", [], { config: { totp_url: "otpauth://totp/old" } }),
          },
        });
        const updatedIdentity = identity(uuid(1), {
          schemaId: "v2",
          traits: { email: "new@example.org", name: { first: "Ana" } },
          state: "inactive",
          stateChangedAt: minutes(5),
          metadataPublic: { b: [2] },
          metadataAdmin: "note",
          externalId: "new-ext",
          updatedAt: minutes(5),
        });
        const newPassword = credential("password", ["new@example.org"], {
          config: { hashed_password: "$2a$10$abc" },
          version: 2,
          updatedAt: minutes(5),
        });
        await store.updateIdentity({ identity: updatedIdentity, credentials: { password: newPassword } });
        expect(await store.getIdentity(uuid(1))).toStrictEqual({
          identity: updatedIdentity,
          credentials: {
            password: newPassword,
            totp: credential("totp", [], { config: { totp_url: "otpauth://totp/old" } }),
          },
        });
        expect(await store.getIdentityByExternalId("old-ext")).toBeUndefined();
        expect((await store.getIdentityByExternalId("new-ext"))?.identity.id).toBe(uuid(1));
      });

      it("re-indexes identifiers: the old ones are freed, the new ones found", async () => {
        await store.createIdentity(entry(uuid(1), ["old@example.org", "keep@example.org"]));
        await store.updateIdentity(entry(uuid(1), ["keep@example.org", "new@example.org"]));
        expect(await findPassword("old@example.org")).toBeUndefined();
        expect(await findPassword("new@example.org")).toBe(uuid(1));
        expect(await findPassword("keep@example.org")).toBe(uuid(1));
        expect((await store.getIdentity(uuid(1)))?.credentials.password?.identifiers).toEqual(["keep@example.org", "new@example.org"]);
        await store.createIdentity(entry(uuid(2), ["old@example.org"]));
        expect(await findPassword("old@example.org")).toBe(uuid(2));
      });

      it("keeps credentials when none are given, and its own external id", async () => {
        await store.createIdentity(entry(uuid(1), ["a@example.org"], { externalId: "ext" }));
        await store.updateIdentity({ identity: identity(uuid(1), { externalId: "ext", schemaId: "v2" }), credentials: {} });
        const got = await store.getIdentity(uuid(1));
        expect(got?.identity.schemaId).toBe("v2");
        expect(got?.credentials.password?.identifiers).toEqual(["a@example.org"]);
        expect(await findPassword("a@example.org")).toBe(uuid(1));
      });

      it("refuses an identifier another identity holds and changes nothing", async () => {
        await store.createIdentity(entry(uuid(1), ["a@example.org"]));
        const before = entry(uuid(2), ["b@example.org"]);
        await store.createIdentity(before);
        const err = await expectError(
          store.updateIdentity(entry(uuid(2), ["c@example.org", "a@example.org"], { schemaId: "changed" })),
          "already_exists",
          "credentials.password.identifiers",
        );
        expect(err.message).toContain("a@example.org");
        expect(await store.getIdentity(uuid(2))).toStrictEqual(before);
        expect(await findPassword("a@example.org")).toBe(uuid(1));
        expect(await findPassword("b@example.org")).toBe(uuid(2));
        expect(await findPassword("c@example.org")).toBeUndefined();
      });

      it("refuses an external id another identity holds and changes nothing; clearing one frees it", async () => {
        await store.createIdentity(entry(uuid(1), [], { externalId: "ext-1" }));
        await store.createIdentity(entry(uuid(2), [], { externalId: "ext-2" }));
        const err = await expectError(
          store.updateIdentity(entry(uuid(2), [], { externalId: "ext-1", schemaId: "changed" })),
          "already_exists",
          "external_id",
        );
        expect(err.message).toContain("ext-1");
        expect((await store.getIdentity(uuid(2)))?.identity).toStrictEqual(identity(uuid(2), { externalId: "ext-2" }));
        await store.updateIdentity(entry(uuid(1)));
        expect(await store.getIdentityByExternalId("ext-1")).toBeUndefined();
        await store.updateIdentity(entry(uuid(2), [], { externalId: "ext-1" }));
        expect((await store.getIdentityByExternalId("ext-1"))?.identity.id).toBe(uuid(2));
        expect(await store.getIdentityByExternalId("ext-2")).toBeUndefined();
      });

      it("is not_found for an identity that does not exist, and creates nothing", async () => {
        await expectError(store.updateIdentity(entry(uuid(9), ["x@example.org"])), "not_found");
        expect(await store.getIdentity(uuid(9))).toBeUndefined();
        expect(await findPassword("x@example.org")).toBeUndefined();
      });
    });

    describe("deleteCredential", () => {
      it("removes one credential type and frees its identifiers; false when there is none", async () => {
        await store.createIdentity({
          identity: identity(uuid(1)),
          credentials: { password: credential("password", ["a@example.org"]), code: credential("code", ["a@example.org"]) },
        });
        expect(await store.deleteCredential(uuid(1), "password")).toBe(true);
        expect(await store.deleteCredential(uuid(1), "password")).toBe(false);
        expect(await store.deleteCredential(uuid(1), "webauthn")).toBe(false);
        expect(await store.deleteCredential(uuid(9), "code")).toBe(false);
        const got = await store.getIdentity(uuid(1));
        expect(Object.keys(got?.credentials ?? {})).toEqual(["code"]);
        expect(await findPassword("a@example.org")).toBeUndefined();
        expect((await store.findByCredentialIdentifier("code", "a@example.org"))?.identity.id).toBe(uuid(1));
        await store.createIdentity(entry(uuid(2), ["a@example.org"]));
        expect(await findPassword("a@example.org")).toBe(uuid(2));
      });
    });

    describe("listIdentities", () => {
      it("lists in id order across pages with no gaps or duplicates, credentials included", async () => {
        const order = [5, 2, 7, 1, 6, 3, 4];
        for (const n of order) await store.createIdentity(entry(uuid(n), [`user${n}@example.org`]));
        const expected = [1, 2, 3, 4, 5, 6, 7].map((n) => uuid(n));
        for (const pageSize of [1, 2, 3, 6]) {
          const { items, pages } = await allPages((pageToken) => store.listIdentities({ pageSize, ...(pageToken ? { pageToken } : {}) }), pageSize);
          expect(items.map((e) => e.identity.id)).toEqual(expected);
          expect(pages).toBe(Math.ceil(7 / pageSize));
          expect(items.map((e) => e.credentials.password?.identifiers)).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => [`user${n}@example.org`]));
        }
        // An exactly full last page has no token; the default page size serves all seven.
        expect((await store.listIdentities({ pageSize: 7 })).nextPageToken).toBeUndefined();
        const all = await store.listIdentities();
        expect(all.items.map((e) => e.identity.id)).toEqual(expected);
        expect(all.nextPageToken).toBeUndefined();
        expect((await store.listIdentities({ pageSize: 0 })).items).toHaveLength(7);
        expect((await store.listIdentities({ pageSize: 3, pageToken: "" })).items).toHaveLength(3);
      });

      it("continues after the last item even when items before it were deleted or added", async () => {
        for (const n of [1, 2, 3, 4, 5]) await store.createIdentity(entry(uuid(n)));
        const first = await store.listIdentities({ pageSize: 2 });
        expect(first.items.map((e) => e.identity.id)).toEqual([uuid(1), uuid(2)]);
        await store.deleteIdentity(uuid(1));
        await store.deleteIdentity(uuid(3));
        await store.createIdentity(entry(uuid(0)));
        await store.createIdentity(entry(uuid(6)));
        const second = await store.listIdentities({ pageSize: 2, pageToken: first.nextPageToken as string });
        expect(second.items.map((e) => e.identity.id)).toEqual([uuid(4), uuid(5)]);
        const third = await store.listIdentities({ pageSize: 2, pageToken: second.nextPageToken as string });
        expect(third.items.map((e) => e.identity.id)).toEqual([uuid(6)]);
        expect(third.nextPageToken).toBeUndefined();
      });

      it("refuses tampered, malformed and foreign page tokens with field page_token", async () => {
        for (const n of [1, 2, 3]) await store.createIdentity(entry(uuid(n), [`u${n}`]));
        await store.createSession(session(uuid(1, "bbbbbbbb"), uuid(1)));
        await store.createSession(session(uuid(2, "bbbbbbbb"), uuid(1)));
        const token = (await store.listIdentities({ pageSize: 1 })).nextPageToken as string;
        expect(token).toEqual(expect.any(String));
        expect((await listIds({ pageSize: 1, pageToken: token }))).toEqual([uuid(2)]);
        await expectError(store.listIdentities({ pageSize: 1, pageToken: tamper(token) }), "invalid_argument", "page_token");
        const [payload, signature] = token.split(".") as [string, string];
        const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, "base64url").toString()), k: [uuid(0)] })).toString("base64url");
        await expectError(store.listIdentities({ pageToken: `${forged}.${signature}` }), "invalid_argument", "page_token");
        await expectError(store.listIdentities({ pageToken: "not-a-token" }), "invalid_argument", "page_token");
        await expectError(store.listIdentities({ pageToken: "a.b.c" }), "invalid_argument", "page_token");
        // A token is bound to its listing and its filter.
        await expectError(store.listIdentities({ pageToken: token, ids: [uuid(1), uuid(2)] }), "invalid_argument", "page_token");
        await expectError(store.listIdentities({ pageToken: token, credentialsIdentifier: "u1" }), "invalid_argument", "page_token");
        const sessionToken = (await store.listSessions({ pageSize: 1 })).nextPageToken as string;
        expect(sessionToken).toEqual(expect.any(String));
        await expectError(store.listIdentities({ pageToken: sessionToken }), "invalid_argument", "page_token");
        await expectError(store.listSessions({ pageToken: token }), "invalid_argument", "page_token");
      });

      it("refuses page sizes outside 1..1000", async () => {
        for (const pageSize of [-1, 1001, 1.5, Number.NaN]) {
          await expectError(store.listIdentities({ pageSize }), "invalid_argument", "page_size");
          await expectError(store.listSessions({ pageSize }), "invalid_argument", "page_size");
        }
        expect((await store.listIdentities({ pageSize: 1000 })).items).toEqual([]);
      });

      it("filters by ids (in id order, unknown ids ignored, paginated), which wins over credentialsIdentifier", async () => {
        for (const n of [1, 2, 3, 4, 5]) await store.createIdentity(entry(uuid(n), [`u${n}`]));
        expect(await listIds({ ids: [uuid(4), uuid(2), uuid(9), uuid(4)] })).toEqual([uuid(2), uuid(4)]);
        const { items } = await allPages(
          (pageToken) => store.listIdentities({ ids: [uuid(5), uuid(1), uuid(3)], pageSize: 1, ...(pageToken ? { pageToken } : {}) }),
          1,
        );
        expect(items.map((e) => e.identity.id)).toEqual([uuid(1), uuid(3), uuid(5)]);
        expect(await listIds({ ids: [uuid(1)], credentialsIdentifier: "u2" })).toEqual([uuid(1)]);
        expect(await listIds({ ids: [uuid(9)] })).toEqual([]);
        expect(await listIds({ ids: [] })).toHaveLength(5);
      });

      it("filters by credentialsIdentifier across credential types, exactly", async () => {
        await store.createIdentity(entry(uuid(1), ["shared", "a"]));
        await store.createIdentity({ identity: identity(uuid(2)), credentials: { code: credential("code", ["shared"]) } });
        await store.createIdentity(entry(uuid(3), ["b"]));
        expect(await listIds({ credentialsIdentifier: "shared" })).toEqual([uuid(1), uuid(2)]);
        expect(await listIds({ credentialsIdentifier: "b" })).toEqual([uuid(3)]);
        expect(await listIds({ credentialsIdentifier: "Shared" })).toEqual([]);
        expect(await listIds({ credentialsIdentifier: "nobody" })).toEqual([]);
        const first = await store.listIdentities({ credentialsIdentifier: "shared", pageSize: 1 });
        expect(first.items.map((e) => e.identity.id)).toEqual([uuid(1)]);
        expect(first.items[0]?.credentials.password?.identifiers).toEqual(["shared", "a"]);
        const second = await store.listIdentities({ credentialsIdentifier: "shared", pageSize: 1, pageToken: first.nextPageToken as string });
        expect(second.items.map((e) => e.identity.id)).toEqual([uuid(2)]);
        expect(second.nextPageToken).toBeUndefined();
      });
    });

    describe("deleteIdentity", () => {
      it("deletes the identity with its credentials and sessions, freeing identifiers and external id", async () => {
        await store.createIdentity(entry(uuid(1), ["a@example.org"], { externalId: "ext" }));
        await store.createIdentity(entry(uuid(2), ["b@example.org"]));
        await store.createSession(session(uuid(1, "bbbbbbbb"), uuid(1)));
        await store.createSession(session(uuid(2, "bbbbbbbb"), uuid(1)));
        await store.createSession(session(uuid(3, "bbbbbbbb"), uuid(2)));

        expect(await store.deleteIdentity(uuid(1))).toBe(true);
        expect(await store.getIdentity(uuid(1))).toBeUndefined();
        expect(await findPassword("a@example.org")).toBeUndefined();
        expect(await store.getIdentityByExternalId("ext")).toBeUndefined();
        expect(await store.getSession(uuid(1, "bbbbbbbb"))).toBeUndefined();
        expect(await store.getSessionByTokenHash(`hash-${uuid(2, "bbbbbbbb")}`)).toBeUndefined();
        expect(await listSessionIds()).toEqual([uuid(3, "bbbbbbbb")]);
        expect(await listIds()).toEqual([uuid(2)]);
        expect(await store.deleteIdentity(uuid(1))).toBe(false);

        // Everything it held can be used again.
        await store.createIdentity(entry(uuid(1), ["a@example.org"], { externalId: "ext" }));
        await store.createSession(session(uuid(1, "bbbbbbbb"), uuid(1)));
        expect((await store.getSession(uuid(1, "bbbbbbbb")))?.identityId).toBe(uuid(1));
      });
    });

    // ---- sessions ----

    describe("sessions", () => {
      const sid = (n: number): string => uuid(n, "bbbbbbbb");

      it("round-trips a session with every field, by id and by token hash", async () => {
        await store.createIdentity(entry(uuid(1)));
        const s = session(sid(1), uuid(1), {
          tokenHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
          active: false,
          expiresAt: at("2024-03-01T12:34:56.789Z"),
          authenticatedAt: at("2024-02-29T12:30:00.001Z"),
          issuedAt: at("2024-02-29T12:30:00.002Z"),
          aal: "aal2",
          methods: [
            { method: "password", aal: "aal1", completedAt: at("2024-02-29T12:30:00.001Z") },
            { method: "totp", aal: "aal2", completedAt: at("2024-02-29T12:31:00.500Z") },
          ],
          devices: [
            { id: uuid(1, "dddddddd"), ipAddress: "2001:db8::1", userAgent: "Mozilla/5.0 (X11; Linux) — ünïcode", location: "Berlin, DE" },
            { id: uuid(2, "dddddddd"), ipAddress: undefined, userAgent: undefined, location: undefined },
          ],
        });
        await store.createSession(s);
        expect(await store.getSession(sid(1))).toStrictEqual(s);
        expect(await store.getSessionByTokenHash(s.tokenHash)).toStrictEqual(s);
        expect(await store.getSession(sid(2))).toBeUndefined();
        expect(await store.getSessionByTokenHash("unknown")).toBeUndefined();
        const got = (await store.getSession(sid(1))) as Session;
        got.expiresAt.setTime(0);
        (got.devices as unknown[]).length = 0;
        expect(await store.getSession(sid(1))).toStrictEqual(s);
      });

      it("refuses a session of a missing identity, a taken id and a taken token hash", async () => {
        await store.createIdentity(entry(uuid(1)));
        await expectError(store.createSession(session(sid(1), uuid(9))), "not_found", "identity_id");
        await store.createSession(session(sid(1), uuid(1)));
        await expectError(store.createSession(session(sid(1), uuid(1), { tokenHash: "other" })), "already_exists", "id");
        await expectError(store.createSession(session(sid(2), uuid(1), { tokenHash: `hash-${sid(1)}` })), "already_exists", "token_hash");
        expect(await listSessionIds()).toEqual([sid(1)]);
      });

      it("lists newest first (issued_at, then id, descending) across pages, with filters", async () => {
        await store.createIdentity(entry(uuid(1)));
        await store.createIdentity(entry(uuid(2)));
        const specs: [number, string, number, boolean][] = [
          // [session n, identity, issued minutes, active]
          [1, uuid(1), 0, true],
          [2, uuid(2), 5, true],
          [3, uuid(1), 5, false],
          [4, uuid(1), 10, true],
          [5, uuid(2), 1, false],
          [6, uuid(1), 5, true],
          [7, uuid(2), 20, true],
        ];
        for (const [n, identityId, issued, active] of [...specs].reverse()) {
          await store.createSession(session(sid(n), identityId, { issuedAt: minutes(issued), active }));
        }
        const newestFirst = [7, 4, 6, 3, 2, 5, 1].map(sid);
        expect(await listSessionIds()).toEqual(newestFirst);
        for (const pageSize of [1, 2, 3]) {
          const { items } = await allPages((pageToken) => store.listSessions({ pageSize, ...(pageToken ? { pageToken } : {}) }), pageSize);
          expect(items.map((s) => s.id)).toEqual(newestFirst);
        }
        expect(await listSessionIds({ identityId: uuid(1) })).toEqual([4, 6, 3, 1].map(sid));
        expect(await listSessionIds({ active: false })).toEqual([3, 5].map(sid));
        expect(await listSessionIds({ active: true, identityId: uuid(2) })).toEqual([7, 2].map(sid));
        expect(await listSessionIds({ identityId: uuid(9) })).toEqual([]);
        const { items } = await allPages(
          (pageToken) => store.listSessions({ identityId: uuid(1), active: true, pageSize: 1, ...(pageToken ? { pageToken } : {}) }),
          1,
        );
        expect(items.map((s) => s.id)).toEqual([4, 6, 1].map(sid));
        const token = (await store.listSessions({ identityId: uuid(1), pageSize: 1 })).nextPageToken as string;
        await expectError(store.listSessions({ identityId: uuid(2), pageSize: 1, pageToken: token }), "invalid_argument", "page_token");
        await expectError(store.listSessions({ identityId: uuid(1), pageSize: 1, pageToken: tamper(token) }), "invalid_argument", "page_token");
        expect((await store.listSessions({ identityId: uuid(1), pageSize: 1, pageToken: token })).items.map((s) => s.id)).toEqual([sid(6)]);
      });

      it("updates active and expiry only, reporting whether the session exists", async () => {
        await store.createIdentity(entry(uuid(1)));
        const s = session(sid(1), uuid(1));
        await store.createSession(s);
        expect(await store.updateSession(sid(1), { active: false })).toBe(true);
        expect(await store.getSession(sid(1))).toStrictEqual({ ...s, active: false });
        expect(await store.updateSession(sid(1), { expiresAt: minutes(99) })).toBe(true);
        expect(await store.getSession(sid(1))).toStrictEqual({ ...s, active: false, expiresAt: minutes(99) });
        expect(await store.updateSession(sid(1), { active: true, expiresAt: minutes(7) })).toBe(true);
        expect(await store.getSession(sid(1))).toStrictEqual({ ...s, active: true, expiresAt: minutes(7) });
        expect(await store.updateSession(sid(1), {})).toBe(true);
        expect(await store.getSession(sid(1))).toStrictEqual({ ...s, active: true, expiresAt: minutes(7) });
        expect(await store.updateSession(sid(2), { active: false })).toBe(false);
        expect(await store.updateSession(sid(2), {})).toBe(false);
        await expectError(store.updateSession(sid(1), { expiresAt: new Date(Number.NaN) }), "invalid_argument", "expires_at");
        expect((await store.getSessionByTokenHash(s.tokenHash))?.expiresAt).toStrictEqual(minutes(7));
      });

      it("deletes every session of one identity and says how many", async () => {
        await store.createIdentity(entry(uuid(1)));
        await store.createIdentity(entry(uuid(2)));
        for (const n of [1, 2, 3]) await store.createSession(session(sid(n), uuid(1), { issuedAt: minutes(n) }));
        await store.createSession(session(sid(4), uuid(2)));
        expect(await store.deleteSessionsOfIdentity(uuid(1))).toBe(3);
        expect(await store.deleteSessionsOfIdentity(uuid(1))).toBe(0);
        expect(await store.deleteSessionsOfIdentity(uuid(9))).toBe(0);
        expect(await listSessionIds()).toEqual([sid(4)]);
        expect(await store.getSessionByTokenHash(`hash-${sid(1)}`)).toBeUndefined();
        expect(await store.getIdentity(uuid(1))).toBeDefined();
        await store.createSession(session(sid(1), uuid(1)));
        expect((await store.getSession(sid(1)))?.identityId).toBe(uuid(1));
      });
    });

    // ---- flows ----

    describe("flows", () => {
      const fid = (n: number): string => uuid(n, "ffffffff");

      it("saves and gets a flow with every field; optional ones undefined", async () => {
        const full = flow(fid(1));
        const bare = flow(fid(2), { kind: "registration", type: "api", returnTo: undefined, csrfTokenHash: undefined, state: {} });
        await store.saveFlow(full);
        await store.saveFlow(bare);
        expect(await store.getFlow(fid(1))).toStrictEqual(full);
        expect(await store.getFlow(fid(2))).toStrictEqual(bare);
        expect(await store.getFlow(fid(3))).toBeUndefined();
        const got = (await store.getFlow(fid(1))) as StoredFlow;
        (got.state as Record<string, unknown>)["schemaId"] = "changed";
        expect(await store.getFlow(fid(1))).toStrictEqual(full);
      });

      it("replaces a flow saved again under the same id", async () => {
        await store.saveFlow(flow(fid(1)));
        const next = flow(fid(1), {
          expiresAt: minutes(90),
          returnTo: undefined,
          state: { ui: { messages: [{ id: 4000006, text: "The provided credentials are invalid." }] } },
        });
        await store.saveFlow(next);
        expect(await store.getFlow(fid(1))).toStrictEqual(next);
      });

      it.runIf((options.expiredFlows ?? "sweep") === "sweep")("deletes the flows that expired strictly before the given time", async () => {
        await store.saveFlow(flow(fid(1), { expiresAt: minutes(-1) }));
        await store.saveFlow(flow(fid(2), { expiresAt: minutes(0) }));
        await store.saveFlow(flow(fid(3), { expiresAt: minutes(1) }));
        await store.saveFlow(flow(fid(4), { expiresAt: new Date(minutes(0).getTime() - 1) }));
        expect(await store.deleteExpiredFlows(minutes(0))).toBe(2);
        expect(await store.getFlow(fid(1))).toBeUndefined();
        expect(await store.getFlow(fid(4))).toBeUndefined();
        expect(await store.getFlow(fid(2))).toBeDefined();
        expect(await store.getFlow(fid(3))).toBeDefined();
        expect(await store.deleteExpiredFlows(minutes(0))).toBe(0);
        expect(await store.deleteExpiredFlows(minutes(60))).toBe(2);
      });

      it.runIf(options.expiredFlows === "ttl")("leaves expired flows to the backend's expiry: still found just after, deleteExpiredFlows is 0", async () => {
        const expired = flow(fid(1), { expiresAt: new Date(Date.now() - 1_000) });
        const used = flow(fid(2), { expiresAt: new Date(0) });
        const fresh = flow(fid(3), { expiresAt: new Date(Date.now() + 60_000) });
        for (const f of [expired, used, fresh]) await store.saveFlow(f);
        expect(await store.deleteExpiredFlows(new Date(Date.now() + 3_600_000))).toBe(0);
        expect(await store.getFlow(fid(1))).toStrictEqual(expired);
        expect(await store.getFlow(fid(2))).toStrictEqual(used);
        expect(await store.getFlow(fid(3))).toStrictEqual(fresh);
      });
    });

    // ---- concurrency and lifecycle ----

    describe("concurrency", () => {
      it("lets exactly one of 10 concurrent creates claim the same identifier", async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => store.createIdentity(entry(uuid(i + 1), [`own${i}@example.org`, "race@example.org"]))),
        );
        const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [uuid(i + 1)] : []));
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === "rejected") {
            expect(r.reason).toMatchObject({ code: "already_exists", details: { field: "credentials.password.identifiers" } });
          }
        }
        expect(await findPassword("race@example.org")).toBe(won[0]);
        expect(await listIds()).toEqual(won);
        const owned = await Promise.all(Array.from({ length: 10 }, (_, i) => findPassword(`own${i}@example.org`)));
        expect(owned.filter((id) => id !== undefined)).toEqual(won);
      });

      it("lets exactly one of 10 concurrent creates claim the same external id", async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => store.createIdentity(entry(uuid(i + 1), [`own${i}`], { externalId: "race" }))),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        for (const r of results) {
          if (r.status === "rejected") expect(r.reason).toMatchObject({ code: "already_exists", details: { field: "external_id" } });
        }
        expect(await listIds()).toHaveLength(1);
      });

      it("lets exactly one of 10 concurrent updates claim the same identifier", async () => {
        for (let i = 1; i <= 10; i++) await store.createIdentity(entry(uuid(i), [`own${i}`]));
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => store.updateIdentity(entry(uuid(i + 1), [`own${i + 1}`, "race"], { schemaId: "updated" }))),
        );
        const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [uuid(i + 1)] : []));
        expect(won).toHaveLength(1);
        expect(await findPassword("race")).toBe(won[0]);
        const all = (await store.listIdentities()).items;
        expect(all.filter((e) => e.identity.schemaId === "updated").map((e) => e.identity.id)).toEqual(won);
        const identifiers = Object.fromEntries(all.map((e) => [e.identity.id, e.credentials.password?.identifiers]));
        for (let i = 1; i <= 10; i++) {
          expect(identifiers[uuid(i)]).toEqual(uuid(i) === won[0] ? [`own${i}`, "race"] : [`own${i}`]);
        }
      });
    });

    describe("lifecycle", () => {
      it("refuses every call after close with unavailable; closing twice is fine", async () => {
        await store.createIdentity(entry(uuid(1)));
        await store.close();
        await store.close();
        await expectError(store.getIdentity(uuid(1)), "unavailable");
        await expectError(store.listIdentities(), "unavailable");
        await expectError(store.createSession(session(uuid(1, "bbbbbbbb"), uuid(1))), "unavailable");
        await expectError(store.saveFlow(flow(uuid(1, "ffffffff"))), "unavailable");
      });
    });
  });
}
