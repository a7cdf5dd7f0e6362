/**
 * The admin identity API beyond create/update: `PATCH /admin/identities/{id}` (RFC 6902 JSON Patch) and
 * `PATCH /admin/identities` (batch import with pre-hashed passwords), through plain fetch and `@ory/client`,
 * on the embedded store. Imported bcrypt, PBKDF2 and argon2 hashes sign in and are re-hashed to argon2id.
 */
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { hash as argon2Hash, type Algorithm } from "@node-rs/argon2";
import { hash as bcryptHash } from "@node-rs/bcrypt";
import { Configuration, FrontendApi, IdentityApi } from "@ory/client";
import { isAxiosError } from "axios";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";

/** `correct horse battery staple` as a PHP-style bcrypt hash (cost 4), fixed so the test does not only check its own output. */
const BCRYPT_2Y_LITERAL = "$2y$04$2Oy2RdhAztEGwyse6KY0oOdPFcnIlIv7cP9g8uJiurGJYW3KQCffS";
const BCRYPT_2Y_PASSWORD = "correct horse battery staple";
// @node-rs/argon2's Algorithm is an ambient const enum; its values: Argon2i = 1, Argon2id = 2.
const ARGON2I = 1 as Algorithm;
const ARGON2ID = 2 as Algorithm;
/** The server's argon2id parameters in this suite (cheap; see beforeAll). */
const CURRENT_ARGON2 = /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/;

type Json = Record<string, unknown>;

async function failure(promise: Promise<unknown>): Promise<{ status: number | undefined; data: unknown }> {
  try {
    await promise;
  } catch (err) {
    if (isAxiosError(err)) return { status: err.response?.status, data: err.response?.data };
    throw err;
  }
  throw new Error("the call succeeded but was expected to fail");
}

function pbkdf2Phc(password: string, digest: "sha256" | "sha512", iterations: number): string {
  const salt = randomBytes(16);
  const key = pbkdf2Sync(password, salt, iterations, 32, digest);
  return `$pbkdf2-${digest}$i=${iterations},l=32$${salt.toString("base64").replace(/=+$/, "")}$${key.toString("base64").replace(/=+$/, "")}`;
}

describe("admin identity JSON Patch and batch import", () => {
  let server: RunningServer;
  let admin: string;
  let frontend: FrontendApi;
  let identities: IdentityApi;

  beforeAll(async () => {
    const config = loopbackConfig();
    config.identity.argon2MemoryKib = 1024;
    config.identity.argon2Iterations = 1;
    server = await startServer(config, () => {});
    admin = `http://127.0.0.1:${server.identity.ports.admin}`;
    frontend = new FrontendApi(new Configuration({ basePath: server.identity.publicBaseUrl }));
    identities = new IdentityApi(new Configuration({ basePath: admin }));
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function call(method: string, path: string, body?: unknown, raw?: string): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${admin}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined && raw === undefined ? {} : { body: raw ?? JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === "" ? {} : (JSON.parse(text) as Json) };
  }

  const patch = (id: string, ops: unknown) => call("PATCH", `/admin/identities/${id}`, ops);
  const get = async (id: string, include = false): Promise<Json> => (await call("GET", `/admin/identities/${id}${include ? "?include_credential=password" : ""}`)).body;
  const storedHash = async (id: string): Promise<string> =>
    ((((await get(id, true))["credentials"] as Json)["password"] as Json)["config"] as Json)["hashed_password"] as string;

  async function create(email: string, password?: string): Promise<Json> {
    const res = await call("POST", "/admin/identities", {
      schema_id: "default",
      traits: { email },
      ...(password === undefined ? {} : { credentials: { password: { config: { password } } } }),
    });
    expect(res.status).toBe(201);
    return res.body;
  }

  async function login(identifier: string, password: string) {
    const { data: flow } = await frontend.createNativeLoginFlow();
    return frontend.updateLoginFlow({ flow: flow.id, updateLoginFlowBody: { method: "password", identifier, password } });
  }

  describe("PATCH /admin/identities/{id}", () => {
    it("replaces a trait (moving the password identifier) and adds metadata", async () => {
      const created = await create("patch-me@example.com", "patched password 1");
      const res = await patch(created["id"] as string, [
        { op: "replace", path: "/traits/email", value: "Patched@Example.com" },
        { op: "add", path: "/traits/name", value: { first: "Pat" } },
        { op: "add", path: "/metadata_public", value: { plan: "pro" } },
        { op: "replace", path: "/metadata_admin", value: { notes: ["vip"] } },
        { op: "add", path: "/metadata_admin/notes/-", value: "migrated" },
      ]);
      expect(res.status).toBe(200);
      expect(res.body["traits"]).toEqual({ email: "Patched@Example.com", name: { first: "Pat" } });
      expect(res.body["metadata_public"]).toEqual({ plan: "pro" });
      expect(res.body["metadata_admin"]).toEqual({ notes: ["vip", "migrated"] });
      expect((res.body["credentials"] as Json)["password"]).toMatchObject({ identifiers: ["patched@example.com"] });
      expect(((res.body["credentials"] as Json)["password"] as Json)["config"]).toBeUndefined();
      expect((res.body["verifiable_addresses"] as Json[]).map((a) => a["value"])).toEqual(["patched@example.com"]);
      expect(new Date(res.body["updated_at"] as string).getTime()).toBeGreaterThan(new Date(created["updated_at"] as string).getTime() - 1);
      expect(await get(created["id"] as string)).toMatchObject({ traits: res.body["traits"], metadata_admin: res.body["metadata_admin"] });
      // The identifier moved with the trait; the password still works.
      expect((await login("patched@example.com", "patched password 1")).data.session.identity?.id).toBe(created["id"]);
      expect((await identities.listIdentities({ credentialsIdentifier: "patch-me@example.com" })).data).toEqual([]);
    });

    it("works through @ory/client patchIdentity, including remove and a passing test", async () => {
      const created = await create("sdk-patch@example.com");
      const id = created["id"] as string;
      await patch(id, [{ op: "add", path: "/metadata_public", value: { a: 1, b: 2 } }]);
      const { data, status } = await identities.patchIdentity({
        id,
        jsonPatch: [
          { op: "test", path: "/traits/email", value: "sdk-patch@example.com" },
          { op: "remove", path: "/metadata_public/a" },
          { op: "copy", from: "/traits/email", path: "/metadata_admin" },
          { op: "replace", path: "/state", value: "inactive" },
        ],
      });
      expect(status).toBe(200);
      expect(data.metadata_public).toEqual({ b: 2 });
      expect(data.metadata_admin).toBe("sdk-patch@example.com");
      expect(data.state).toBe("inactive");
      expect(new Date(data.state_changed_at as string).getTime()).toBeGreaterThanOrEqual(new Date(created["state_changed_at"] as string).getTime());
    });

    it("refuses server-set members and credentials with 400 naming the path, changing nothing", async () => {
      const created = await create("refused@example.com", "refused password 1");
      const id = created["id"] as string;
      const before = await get(id, true);
      const cases: [unknown[], string][] = [
        [[{ op: "replace", path: "/id", value: "00000000-0000-4000-8000-000000000000" }], 'patch[0].path: "/id"'],
        [[{ op: "replace", path: "/created_at", value: "2000-01-01T00:00:00Z" }], 'patch[0].path: "/created_at"'],
        [[{ op: "replace", path: "/updated_at", value: "2000-01-01T00:00:00Z" }], 'patch[0].path: "/updated_at"'],
        [[{ op: "replace", path: "/schema_url", value: "http://evil.example/schema" }], 'patch[0].path: "/schema_url"'],
        [[{ op: "replace", path: "/state_changed_at", value: "2000-01-01T00:00:00Z" }], 'patch[0].path: "/state_changed_at"'],
        [[{ op: "add", path: "/metadata_admin", value: 1 }, { op: "replace", path: "/credentials", value: {} }], 'patch[1].path: "/credentials"'],
        [[{ op: "remove", path: "/credentials/password" }], 'patch[0].path: "/credentials/password"'],
        [[{ op: "add", path: "/credentials/password/identifiers/-", value: "someone@else.example" }], 'patch[0].path: "/credentials/password/identifiers/-"'],
        [[{ op: "add", path: "/credentials/oidc", value: { type: "oidc" } }], 'patch[0].path: "/credentials/oidc"'],
        [[{ op: "move", from: "/id", path: "/metadata_admin" }], 'patch[0].from: "/id"'],
        [[{ op: "replace", path: "", value: {} }], 'patch[0].path: ""'],
        [[{ op: "add", path: "/recovery_addresses/-", value: { value: "x@example.com", via: "email" } }], 'patch[0].path: "/recovery_addresses/-"'],
      ];
      for (const [ops, reason] of cases) {
        const res = await patch(id, ops);
        expect(res.status, JSON.stringify(ops)).toBe(400);
        expect((res.body["error"] as Json)["reason"], JSON.stringify(ops)).toContain(reason);
      }
      // Members an identity does not have are refused too.
      const unknown = await patch(id, [{ op: "add", path: "/favourite_colour", value: "blue" }]);
      expect(unknown.status).toBe(400);
      expect((unknown.body["error"] as Json)["reason"]).toMatch(/favourite_colour/);
      expect(await get(id, true)).toEqual(before);
    });

    it("answers 400 to a failing test op and leaves the identity unchanged", async () => {
      const created = await create("tested@example.com");
      const id = created["id"] as string;
      const before = await get(id);
      const res = await patch(id, [
        { op: "replace", path: "/traits/email", value: "changed@example.com" },
        { op: "add", path: "/metadata_public", value: { changed: true } },
        { op: "test", path: "/state", value: "inactive" },
      ]);
      expect(res.status).toBe(400);
      expect((res.body["error"] as Json)["reason"]).toMatch(/patch\[2\]\.path: test failed/);
      expect(await get(id)).toEqual(before);
      const sdk = await failure(identities.patchIdentity({ id, jsonPatch: [{ op: "test", path: "/traits/email", value: "nope@example.com" }] }));
      expect(sdk.status).toBe(400);
    });

    it("answers 400 naming the index and field of a malformed patch, and 404 for an unknown identity", async () => {
      const id = (await create("malformed@example.com"))["id"] as string;
      const cases: [unknown, RegExp][] = [
        [{ op: "add", path: "/metadata_admin", value: 1 }, /JSON Patch must be a JSON array/],
        [[{ op: "add", path: "/metadata_admin", value: 1 }, { op: "merge", path: "/traits" }], /patch\[1\]\.op: must be one of/],
        [[{ op: "add", path: "/metadata_admin" }], /patch\[0\]\.value: is required/],
        [[{ op: "remove", path: "metadata_admin" }], /patch\[0\]\.path:/],
        [[{ op: "copy", path: "/metadata_admin" }], /patch\[0\]\.from:/],
        [[{ op: "remove", path: "/traits/absent" }], /patch\[0\]\.path: .*does not exist/],
        [[{ op: "remove", path: "/metadata_public/absent" }], /patch\[0\]\.path: .*not an object or array/],
        [[{ op: "add", path: "/traits/__proto__", value: { polluted: true } }], /patch\[0\]\.path: .*__proto__/],
      ];
      for (const [ops, reason] of cases) {
        const res = await patch(id, ops);
        expect(res.status, JSON.stringify(ops)).toBe(400);
        expect((res.body["error"] as Json)["reason"], JSON.stringify(ops)).toMatch(reason);
      }
      expect((await call("PATCH", `/admin/identities/${id}`, undefined, "[{")).status).toBe(400);
      expect((await call("PATCH", `/admin/identities/${id}`, undefined, "")).status).toBe(400);
      expect((await patch("00000000-0000-4000-8000-000000000000", [])).status).toBe(404);
    });

    it("validates the patched identity as PUT does", async () => {
      const other = await create("taken@example.com", "taken password");
      await patch(other["id"] as string, [{ op: "add", path: "/external_id", value: "ext-taken" }]);
      const id = (await create("validated@example.com", "validated password"))["id"] as string;
      const before = await get(id);
      const invalid: [unknown[], number, RegExp][] = [
        [[{ op: "replace", path: "/traits/email", value: "not an email" }], 400, /traits\.email/],
        [[{ op: "remove", path: "/traits/email" }], 400, /traits/],
        [[{ op: "add", path: "/traits/unknown", value: 1 }], 400, /traits/],
        [[{ op: "replace", path: "/traits", value: "text" }], 400, /traits: must be a JSON object/],
        [[{ op: "replace", path: "/state", value: "suspended" }], 400, /state: must be "active" or "inactive"/],
        [[{ op: "remove", path: "/state" }], 400, /state: required/],
        [[{ op: "replace", path: "/schema_id", value: "nope" }], 400, /schema_id: no identity schema "nope"/],
        [[{ op: "add", path: "/external_id", value: "" }], 400, /external_id: must be a non-empty string/],
        [[{ op: "add", path: "/external_id", value: 42 }], 400, /external_id/],
        [[{ op: "add", path: "/external_id", value: "ext-taken" }], 409, /external_id/],
        [[{ op: "replace", path: "/traits/email", value: "taken@example.com" }], 409, /identifier/],
      ];
      for (const [ops, status, reason] of invalid) {
        const res = await patch(id, ops);
        expect(res.status, JSON.stringify(ops)).toBe(status);
        expect((res.body["error"] as Json)["reason"], JSON.stringify(ops)).toMatch(reason);
      }
      expect(await get(id)).toEqual(before);
      // external_id set, then removed.
      expect((await patch(id, [{ op: "add", path: "/external_id", value: "ext-1" }])).body["external_id"]).toBe("ext-1");
      expect((await call("GET", "/admin/identities/by/external/ext-1")).body["id"]).toBe(id);
      expect((await patch(id, [{ op: "remove", path: "/external_id" }])).body["external_id"]).toBeUndefined();
      // An identity patched inactive cannot sign in.
      expect((await patch(id, [{ op: "replace", path: "/state", value: "inactive" }])).status).toBe(200);
      expect((await failure(login("validated@example.com", "validated password"))).status).toBe(400);
    });

    it("sets the password (plaintext or a checked hash) and marks an address verified", async () => {
      const id = (await create("password-patch@example.com", "first password 1"))["id"] as string;
      const first = await storedHash(id);
      // The stored hash can be tested; a plaintext password is hashed with the current argon2id.
      const set = await patch(id, [
        { op: "test", path: "/credentials/password/config/hashed_password", value: first },
        { op: "add", path: "/credentials/password/config/password", value: "second password 2" },
      ]);
      expect(set.status).toBe(200);
      expect(await storedHash(id)).toMatch(CURRENT_ARGON2);
      expect(await storedHash(id)).not.toBe(first);
      expect((await login("password-patch@example.com", "second password 2")).data.session.identity?.id).toBe(id);
      // An unusable hash is refused; a bcrypt one is stored as is.
      const bad = await patch(id, [{ op: "replace", path: "/credentials/password/config/hashed_password", value: "$2b$99$nope" }]);
      expect(bad.status).toBe(400);
      expect((bad.body["error"] as Json)["reason"]).toMatch(/credentials\.password\.config\.hashed_password: unusable hash/);
      const good = await patch(id, [{ op: "replace", path: "/credentials/password/config/hashed_password", value: BCRYPT_2Y_LITERAL }]);
      expect(good.status).toBe(200);
      expect(await storedHash(id)).toBe(BCRYPT_2Y_LITERAL);
      expect((await login("password-patch@example.com", BCRYPT_2Y_PASSWORD)).data.session.identity?.id).toBe(id);
      // An identity without a password gets one by adding the whole credential.
      const bare = (await create("no-password@example.com"))["id"] as string;
      const added = await patch(bare, [{ op: "add", path: "/credentials/password", value: { config: { password: "brand new password" } } }]);
      expect(added.status).toBe(200);
      expect((added.body["credentials"] as Json)["password"]).toMatchObject({ identifiers: ["no-password@example.com"] });
      expect((await login("no-password@example.com", "brand new password")).data.session.identity?.id).toBe(bare);
      // Verification state of a derived address.
      const verified = await patch(id, [
        { op: "replace", path: "/verifiable_addresses/0/verified", value: true },
        { op: "replace", path: "/verifiable_addresses/0/status", value: "completed" },
      ]);
      expect(verified.status).toBe(200);
      expect((verified.body["verifiable_addresses"] as Json[])[0]).toMatchObject({ value: "password-patch@example.com", verified: true, status: "completed" });
      expect((verified.body["verifiable_addresses"] as Json[])[0]?.["verified_at"]).toEqual(expect.any(String));
      const notBool = await patch(id, [{ op: "replace", path: "/verifiable_addresses/0/verified", value: "yes" }]);
      expect(notBool.status).toBe(400);
      expect((await patch(id, [{ op: "replace", path: "/verifiable_addresses/0/value", value: "x@example.com" }])).status).toBe(400);
    });
  });

  describe("PATCH /admin/identities (batch import)", () => {
    it("imports bcrypt, PBKDF2, argon2id and argon2i hashes that sign in and are re-hashed to argon2id", async () => {
      const generatedBcrypt = await bcryptHash("bcrypt generated pw", 4);
      const argon2id = await argon2Hash("argon2id imported pw", { algorithm: ARGON2ID, memoryCost: 2048, timeCost: 1, parallelism: 1 });
      const argon2i = await argon2Hash("argon2i imported pw", { algorithm: ARGON2I, memoryCost: 1024, timeCost: 2, parallelism: 1 });
      const users: { email: string; password: string; hashed?: string; algorithm: RegExp }[] = [
        { email: "bcrypt-gen@import.example", password: "bcrypt generated pw", hashed: generatedBcrypt, algorithm: /^\$2b\$04\$/ },
        { email: "bcrypt-lit@import.example", password: BCRYPT_2Y_PASSWORD, hashed: BCRYPT_2Y_LITERAL, algorithm: /^\$2y\$/ },
        { email: "pbkdf2-256@import.example", password: "pbkdf2 sha256 pw", hashed: pbkdf2Phc("pbkdf2 sha256 pw", "sha256", 10_000), algorithm: /^\$pbkdf2-sha256\$/ },
        { email: "pbkdf2-512@import.example", password: "pbkdf2 sha512 pw", hashed: pbkdf2Phc("pbkdf2 sha512 pw", "sha512", 5_000), algorithm: /^\$pbkdf2-sha512\$/ },
        { email: "argon2id@import.example", password: "argon2id imported pw", hashed: argon2id, algorithm: /^\$argon2id\$v=19\$m=2048,t=1,p=1\$/ },
        { email: "argon2i@import.example", password: "argon2i imported pw", hashed: argon2i, algorithm: /^\$argon2i\$/ },
        { email: "plaintext@import.example", password: "plaintext imported pw", algorithm: CURRENT_ARGON2 },
      ];
      const { data, status } = await identities.batchPatchIdentities({
        patchIdentitiesBody: {
          identities: users.map((u, i) => ({
            patch_id: `p-${i}`,
            create: {
              schema_id: "default",
              traits: { email: u.email },
              credentials: { password: { config: u.hashed === undefined ? { password: u.password } : { hashed_password: u.hashed } } },
            },
          })),
        },
      });
      expect(status).toBe(200);
      expect(data.identities?.map((r) => [r.action, r.patch_id])).toEqual(users.map((_, i) => ["create", `p-${i}`]));
      for (const [i, user] of users.entries()) {
        const id = data.identities?.[i]?.identity as string;
        expect(id).toMatch(/^[0-9a-f-]{36}$/);
        const hash = await storedHash(id);
        if (user.hashed !== undefined) expect(hash).toBe(user.hashed);
        expect(hash, user.email).toMatch(user.algorithm);
        const { data: signedIn } = await login(user.email, user.password);
        expect(signedIn.session.identity?.id, user.email).toBe(id);
        // The first successful login replaced the imported hash with the current argon2id.
        expect(await storedHash(id), user.email).toMatch(CURRENT_ARGON2);
        expect((await login(user.email, user.password)).data.session.identity?.id).toBe(id);
        expect((await failure(login(user.email, `${user.password}!`))).status).toBe(400);
      }
    });

    it("reports failures per item (duplicates, bad hashes, invalid traits) and imports the rest", async () => {
      await create("existing@batch.example", "existing password");
      const ok = (email: string, extra: Json = {}) => ({ schema_id: "default", traits: { email }, ...extra });
      const res = await call("PATCH", "/admin/identities", {
        identities: [
          { patch_id: "ok-1", create: ok("ok-1@batch.example", { metadata_admin: { source: "import" } }) },
          { patch_id: "dup-existing", create: ok("Existing@batch.example", { credentials: { password: { config: { hashed_password: BCRYPT_2Y_LITERAL } } } }) },
          { patch_id: "ok-2", create: ok("twice@batch.example", { credentials: { password: { config: { hashed_password: BCRYPT_2Y_LITERAL } } } }) },
          { patch_id: "dup-in-batch", create: ok("twice@batch.example", { credentials: { password: { config: { hashed_password: BCRYPT_2Y_LITERAL } } } }) },
          { patch_id: "bad-hash", create: ok("bad-hash@batch.example", { credentials: { password: { config: { hashed_password: "$md5$deadbeef" } } } }) },
          {
            patch_id: "huge-argon2",
            create: ok("huge@batch.example", { credentials: { password: { config: { hashed_password: "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA" } } } }),
          },
          { patch_id: "bad-traits", create: { schema_id: "default", traits: { email: "not an email" } } },
          { patch_id: "bad-state", create: ok("state@batch.example", { state: "frozen" }) },
          { patch_id: "no-create" },
          42,
          { create: ok("ok-3@batch.example", { external_id: "ext-batch" }) },
          { patch_id: "dup-external", create: ok("ok-4@batch.example", { external_id: "ext-batch" }) },
          {
            patch_id: "verified",
            create: ok("verified@batch.example", { verifiable_addresses: [{ value: "Verified@batch.example", via: "email", verified: true, status: "completed" }] }),
          },
        ],
      });
      expect(res.status).toBe(200);
      const items = res.body["identities"] as Json[];
      const summary = items.map((i) => [i["patch_id"], i["action"], (i["error"] as Json | undefined)?.["code"]]);
      expect(summary).toEqual([
        ["ok-1", "create", undefined],
        ["dup-existing", "error", 409],
        ["ok-2", "create", undefined],
        ["dup-in-batch", "error", 409],
        ["bad-hash", "error", 400],
        ["huge-argon2", "error", 400],
        ["bad-traits", "error", 400],
        ["bad-state", "error", 400],
        ["no-create", "error", 400],
        [undefined, "error", 400],
        [undefined, "create", undefined],
        ["dup-external", "error", 409],
        ["verified", "create", undefined],
      ]);
      const reason = (i: number) => (items[i]?.["error"] as Json)["reason"] as string;
      expect(reason(4)).toMatch(/hashed_password: unusable hash \(unsupported hash algorithm md5\)/);
      expect(reason(5)).toMatch(/argon2 memory exceeds the limit/);
      expect(reason(6)).toMatch(/traits\.email/);
      expect(reason(8)).toMatch(/identities\[8\]\.create: required/);
      expect(items[1]?.["error"]).toMatchObject({ code: 409, status: "Conflict", message: expect.any(String) });
      // What succeeded is stored; what failed is not.
      expect((await get(items[0]?.["identity"] as string))["metadata_admin"]).toEqual({ source: "import" });
      expect((await identities.listIdentities({ credentialsIdentifier: "bad-hash@batch.example" })).data).toEqual([]);
      const verified = await get(items[12]?.["identity"] as string);
      expect((verified["verifiable_addresses"] as Json[])[0]).toMatchObject({ value: "verified@batch.example", verified: true, status: "completed" });
      const plain = await get(items[0]?.["identity"] as string);
      expect((plain["verifiable_addresses"] as Json[])[0]).toMatchObject({ verified: false, status: "pending" });
    });

    it("answers 409 when every item conflicts and 400 when all fail otherwise, still per item", async () => {
      await create("conflict-a@batch.example", "conflict password");
      const conflicts = await call("PATCH", "/admin/identities", {
        identities: [{ patch_id: "a", create: { schema_id: "default", traits: { email: "conflict-a@batch.example" }, credentials: { password: { config: { password: "some password" } } } } }],
      });
      expect(conflicts.status).toBe(409);
      expect(conflicts.body["error"]).toMatchObject({ code: 409 });
      expect((conflicts.body["identities"] as Json[])[0]).toMatchObject({ action: "error", patch_id: "a", error: { code: 409 } });
      const mixed = await call("PATCH", "/admin/identities", {
        identities: [
          { create: { schema_id: "default", traits: { email: "conflict-a@batch.example" }, credentials: { password: { config: { password: "some password" } } } } },
          { create: { schema_id: "default", traits: {} } },
        ],
      });
      expect(mixed.status).toBe(400);
      expect((mixed.body["identities"] as Json[]).map((i) => (i["error"] as Json)["code"])).toEqual([409, 400]);
      const sdk = await failure(identities.batchPatchIdentities({ patchIdentitiesBody: { identities: [{ create: { schema_id: "default", traits: {} } }] } }));
      expect(sdk.status).toBe(400);
      // An empty batch imports nothing and fails nothing.
      expect(await call("PATCH", "/admin/identities", { identities: [] })).toEqual({ status: 200, body: { identities: [] } });
      // A body without the list is malformed.
      for (const body of [{}, { identities: {} }, []]) expect((await call("PATCH", "/admin/identities", body)).status).toBe(400);
    });

    it("imports 1,000 identities per request, of which at most 200 with plaintext passwords", async () => {
      const item = (i: number, plaintext: boolean) => ({
        create: {
          schema_id: "default",
          traits: { email: `bulk-${i}@bulk.example` },
          credentials: { password: { config: plaintext ? { password: `bulk password ${i}` } : { hashed_password: BCRYPT_2Y_LITERAL } } },
        },
      });
      const tooMany = await call("PATCH", "/admin/identities", { identities: Array.from({ length: 1001 }, (_, i) => item(i, false)) });
      expect(tooMany.status).toBe(400);
      expect((tooMany.body["error"] as Json)["reason"]).toMatch(/at most 1000 identities can be imported per request, got 1001/);
      const tooManyPlain = await call("PATCH", "/admin/identities", { identities: Array.from({ length: 201 }, (_, i) => item(i, true)) });
      expect(tooManyPlain.status).toBe(400);
      expect((tooManyPlain.body["error"] as Json)["reason"]).toMatch(/at most 200 identities with a plaintext password .* got 201/);
      // Nothing of a refused batch was imported.
      expect((await identities.listIdentities({ credentialsIdentifier: "bulk-0@bulk.example" })).data).toEqual([]);

      // 200 plaintext + 800 hashed = 1,000: accepted.
      const full = await call("PATCH", "/admin/identities", { identities: Array.from({ length: 1000 }, (_, i) => item(i, i < 200)) });
      expect(full.status).toBe(200);
      const results = full.body["identities"] as Json[];
      expect(results).toHaveLength(1000);
      expect(results.every((r) => r["action"] === "create")).toBe(true);
      expect(new Set(results.map((r) => r["identity"])).size).toBe(1000);
      expect((await login("bulk-7@bulk.example", "bulk password 7")).data.session.identity?.id).toBe(results[7]?.["identity"]);
      expect((await login("bulk-999@bulk.example", BCRYPT_2Y_PASSWORD)).data.session.identity?.id).toBe(results[999]?.["identity"]);
    });
  });
});
