import { generateKeyPairSync } from "node:crypto";
import { Provider } from "oidc-provider";
import { beforeAll, describe, expect, it } from "vitest";
import { GatehouseError } from "../../../common/errors.js";
import { createMemoryOAuth2Store } from "../store/memory-oauth2-store.js";
import type { KeyStore, StoredKey } from "../store/oauth2-store.js";
import {
  ACCESS_TOKEN_SET,
  createKeyVault,
  ID_TOKEN_SET,
  SystemSecretMismatchError,
  type Jwk,
  type KeyVault,
} from "./key-vault.js";
import { SYSTEM_SECRETS_SET, systemSecretsFrom } from "./system-secrets.js";

const OLD = "old-system-secret-0123456789";
const NEW = "new-system-secret-0123456789";
const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "k", "oth", "priv"];

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

function privateMembersOf(jwk: Record<string, unknown>): string[] {
  return PRIVATE_MEMBERS.filter((m) => jwk[m] !== undefined);
}

/** A JWK made outside the vault (what an operator would import). */
function externalJwk(type: "ec" | "ed25519", kid: string): Record<string, unknown> {
  const { privateKey } = type === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
  return { ...(privateKey.export({ format: "jwk" }) as Record<string, unknown>), kid, alg: type === "ec" ? "ES256" : "EdDSA", use: "sig" };
}

/** Replaces a stored row (for tampering tests). */
async function rewriteRow(store: KeyStore, set: string, kid: string, edit: (row: StoredKey) => StoredKey): Promise<void> {
  const row = (await store.listKeys(set)).find((k) => k.kid === kid);
  if (row === undefined) throw new Error("no such row");
  await store.deleteKeys(set, kid);
  const edited = edit(row);
  await store.addKey(edited);
}

describe("key vault: sealing at rest", () => {
  const store = createMemoryOAuth2Store();
  const vault = createKeyVault({ store, secrets: systemSecretsFrom([OLD]) });
  let rsa: Jwk;
  let hs: Jwk;

  beforeAll(async () => {
    rsa = await vault.generateKey("app.keys", { alg: "RS256", use: "sig", kid: "rsa-1" });
    hs = await vault.generateKey("app.keys", { alg: "HS256", use: "sig", kid: "hs-1" });
  });

  it("keeps no private member in clear in the store", async () => {
    const rows = await store.listKeys("app.keys");
    expect(rows.map((r) => r.kid).sort()).toEqual(["hs-1", "rsa-1"]);
    for (const row of rows) {
      expect(privateMembersOf(row.jwk)).toEqual([]);
      expect(String(row.jwk["sealed"])).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
      const text = JSON.stringify(row.jwk);
      expect(text).not.toContain(String(rsa["d"]));
      expect(text).not.toContain(String(rsa["p"]));
      expect(text).not.toContain(String(hs["k"]));
    }
    const rsaRow = rows.find((r) => r.kid === "rsa-1");
    expect(rsaRow?.jwk["n"]).toBe(rsa["n"]);
    expect(rsaRow?.jwk["kty"]).toBe("RSA");
  });

  it("reads the private keys back", async () => {
    const keys = await vault.privateSet("app.keys");
    expect(keys.map((k) => k.kid)).toEqual(["hs-1", "rsa-1"]); // newest first
    const readRsa = keys.find((k) => k.kid === "rsa-1");
    expect(readRsa).toEqual(rsa);
    expect(readRsa).toMatchObject({ kty: "RSA", alg: "RS256", use: "sig", e: "AQAB" });
    expect(Buffer.from(String(keys.find((k) => k.kid === "hs-1")?.["k"]), "base64url")).toHaveLength(32);
    expect(await vault.getKey("app.keys", "rsa-1")).toEqual(rsa);
    expect(await vault.getKey("app.keys", "nope")).toBeUndefined();
    expect(await vault.privateSet("nothing.here")).toEqual([]);
  });

  it("gives public views without private members; symmetric keys have none", async () => {
    const pub = await vault.publicSet("app.keys");
    expect(pub.map((k) => k.kid)).toEqual(["rsa-1"]);
    expect(privateMembersOf(pub[0] as Jwk)).toEqual([]);
    const generated = await vault.generate("app.keys", { alg: "ES512", use: "sig", kid: "es-1" });
    expect(generated).toMatchObject({ kty: "EC", crv: "P-521", alg: "ES512", kid: "es-1", use: "sig" });
    expect(privateMembersOf(generated)).toEqual([]);
    const hsPublic = await vault.generate("app.keys", { alg: "HS512", use: "sig", kid: "hs-2" });
    expect(hsPublic).toEqual({ kty: "oct", kid: "hs-2", alg: "HS512", use: "sig" });
    expect(Buffer.from(String((await vault.getKey("app.keys", "hs-2"))?.["k"]), "base64url")).toHaveLength(64);
  });

  it("generates a kid when none is given and defaults use to sig (Hydra's behaviour)", async () => {
    const jwk = await vault.generate("app.other", { alg: "ES256" });
    expect(jwk.kid).toMatch(/^[0-9a-f-]{36}$/);
    expect(jwk.use).toBe("sig");
  });

  it("refuses unknown algorithms and uses, naming the field", async () => {
    const alg = await errorOf(vault.generate("app.keys", { alg: "RS384", use: "sig" }));
    expect(alg).toBeInstanceOf(GatehouseError);
    expect((alg as GatehouseError).code).toBe("invalid_argument");
    expect(alg.message).toMatch(/^alg: .*RS384.*RS256, ES256, ES512, HS256, HS512/);
    const use = await errorOf(vault.generate("app.keys", { alg: "ES256", use: "signing" }));
    expect(use.message).toMatch(/^use: /);
    const missing = await errorOf(vault.generate("app.keys", { alg: "" }));
    expect(missing.message).toMatch(/^alg: is required/);
  });

  it("refuses a kid already in the set", async () => {
    const err = await errorOf(vault.generate("app.keys", { alg: "ES256", kid: "rsa-1" }));
    expect((err as GatehouseError).code).toBe("already_exists");
  });

  it("refuses a row that was edited in clear, moved to another set, or never sealed", async () => {
    const own = createMemoryOAuth2Store();
    const v = createKeyVault({ store: own, secrets: systemSecretsFrom([OLD]) });
    await v.generateKey("s", { alg: "ES256", kid: "a" });
    await v.generateKey("s", { alg: "ES256", kid: "b" });
    const other = (await own.listKeys("s")).find((k) => k.kid === "b") as StoredKey;
    // Swap in another key's public point: the clear members are authenticated.
    await rewriteRow(own, "s", "a", (row) => ({ ...row, jwk: { ...row.jwk, x: other.jwk["x"], y: other.jwk["y"] } }));
    expect(await errorOf(v.getKey("s", "a"))).toBeInstanceOf(SystemSecretMismatchError);
    // Same sealed row under another set: bound to set and kid by the AAD.
    await own.addKey({ ...other, set: "t" });
    expect(await errorOf(v.privateSet("t"))).toBeInstanceOf(SystemSecretMismatchError);
    await own.addKey({ set: "u", kid: "plain", jwk: { kty: "oct", kid: "plain", k: "AAAA" }, createdAt: new Date() });
    expect((await errorOf(v.privateSet("u"))).message).toContain("not sealed");
  });
});

describe("key vault: system secret rotation", () => {
  it("opens keys sealed under an older secret while the keyring keeps it, and names oauth2.secrets.system otherwise", async () => {
    const store = createMemoryOAuth2Store();
    const before = createKeyVault({ store, secrets: systemSecretsFrom([OLD]) });
    const oldKey = await before.generateKey("s", { alg: "ES256", kid: "old" });

    const rotated = createKeyVault({ store, secrets: systemSecretsFrom([NEW, OLD]) });
    expect(await rotated.getKey("s", "old")).toEqual(oldKey);
    const newKey = await rotated.generateKey("s", { alg: "ES256", kid: "new" });

    // The new key is sealed with the new secret: the old keyring alone cannot open it.
    expect(await errorOf(before.getKey("s", "new"))).toBeInstanceOf(SystemSecretMismatchError);
    expect(await createKeyVault({ store, secrets: systemSecretsFrom([NEW]) }).getKey("s", "new")).toEqual(newKey);

    // A wrong secret: clear error naming the option.
    const wrong = createKeyVault({ store, secrets: systemSecretsFrom(["some-other-secret-entirely"]) });
    const err = await errorOf(wrong.privateSet("s"));
    expect(err).toBeInstanceOf(SystemSecretMismatchError);
    expect(err.message).toContain("oauth2.secrets.system");
    expect(err.message).toContain("\"s\"");
    expect(err.message).not.toContain(OLD);
    expect((err as GatehouseError).reason).toBe("system_secret_mismatch");
  });
});

describe("key vault: import (Hydra PUT)", () => {
  it("replaces the set, keeps the request order as newest-first, and seals private keys", async () => {
    const store = createMemoryOAuth2Store();
    const vault = createKeyVault({ store, secrets: systemSecretsFrom([OLD]) });
    await vault.generateKey("imp", { alg: "ES256", kid: "old-1" });
    await vault.generateKey("imp", { alg: "ES256", kid: "shared" });
    const a = externalJwk("ec", "a");
    const shared = externalJwk("ed25519", "shared");
    const { d: _d, ...publicOnly } = externalJwk("ec", "pub-only");
    const stored = await vault.importKeys("imp", { keys: [a, shared, publicOnly] });
    expect(stored.map((k) => k.kid)).toEqual(["a", "shared", "pub-only"]);
    expect((await vault.privateSet("imp")).map((k) => k.kid)).toEqual(["a", "shared", "pub-only"]);
    expect((await vault.getKey("imp", "shared"))?.["d"]).toBe(shared["d"]);
    expect((await vault.getKey("imp", "pub-only"))?.["d"]).toBeUndefined();
    for (const row of await store.listKeys("imp")) expect(privateMembersOf(row.jwk)).toEqual([]);
    expect(await vault.getKey("imp", "old-1")).toBeUndefined();
  });

  it("validates every key before touching the set, naming keys[i].member", async () => {
    const store = createMemoryOAuth2Store();
    const vault = createKeyVault({ store, secrets: systemSecretsFrom([OLD]) });
    await vault.generateKey("imp", { alg: "ES256", kid: "keep" });
    const a = externalJwk("ec", "a");
    const b = externalJwk("ec", "b");
    const rsaJwk = (kid: string): Record<string, unknown> => ({
      ...(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" }) as Record<string, unknown>),
      kid,
      alg: "RS256",
    });
    const rsaA = rsaJwk("rsa-a");
    const rsaB = rsaJwk("rsa-b");
    const cases: [unknown[], RegExp][] = [
      [[a, { ...b, kid: "a" }], /^keys\[1\]\.kid: .*twice/],
      [[a, { ...b, x: a["x"], y: a["y"] }], /^keys\[1\]\.x: does not match the private key/],
      [[a, { ...b, x: a["x"] }], /^keys\[1\]: not a valid EC private key/],
      [[{ ...externalJwk("ed25519", "ed"), x: externalJwk("ed25519", "other")["x"] }], /^keys\[0\]\.x: does not match the private key/],
      [[{ ...rsaA, n: rsaB["n"] }], /^keys\[0\]\.n: does not match the private key/],
      [[a, { ...b, kid: undefined }], /^keys\[1\]\.kid: /],
      [[{ ...a, kty: "XYZ" }], /^keys\[0\]\.kty: /],
      [[{ ...a, alg: "ES512" }], /^keys\[0\]\.alg: ES512 does not fit/],
      [[{ ...a, use: "both" }], /^keys\[0\]\.use: /],
      [[{ ...a, d: 5 }], /^keys\[0\]\.d: must be a string/],
      [[{ ...a, d: "AAAA" }], /^keys\[0\]/],
      [["nope"], /^keys\[0\]: /],
      [[{ ...a, d: undefined, p: "AAAA" }], /^keys\[0\]\.d: is required/],
    ];
    for (const [keys, message] of cases) {
      const err = await errorOf(vault.importKeys("imp", { keys }));
      expect(err.message).toMatch(message);
      expect((err as GatehouseError).code).toBe("invalid_argument");
    }
    const { privateKey: small } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const weak = { ...(small.export({ format: "jwk" }) as Record<string, unknown>), kid: "weak", alg: "RS256" };
    expect((await errorOf(vault.importKeys("imp", { keys: [weak] }))).message).toMatch(/^keys\[0\]\.n: RSA keys must have at least 2048 bits/);
    expect((await vault.privateSet("imp")).map((k) => k.kid)).toEqual(["keep"]);
  });

  it("putKey creates or replaces one key, which becomes the newest", async () => {
    const store = createMemoryOAuth2Store();
    const vault = createKeyVault({ store, secrets: systemSecretsFrom([OLD]) });
    await vault.generateKey("p", { alg: "ES256", kid: "one" });
    await vault.generateKey("p", { alg: "ES256", kid: "two" });
    const replacement = externalJwk("ec", "one");
    await vault.putKey("p", replacement);
    const keys = await vault.privateSet("p");
    expect(keys.map((k) => k.kid)).toEqual(["one", "two"]);
    expect(keys[0]?.["d"]).toBe(replacement["d"]);
  });
});

describe("key vault: reserved set", () => {
  it("refuses every operation on gatehouse.secrets.system", async () => {
    const store = createMemoryOAuth2Store();
    await store.addKey({ set: SYSTEM_SECRETS_SET, kid: "system", jwk: { kty: "oct", k: "x".repeat(43) }, createdAt: new Date() });
    const vault = createKeyVault({ store, secrets: systemSecretsFrom([OLD]) });
    const attempts: Promise<unknown>[] = [
      vault.privateSet(SYSTEM_SECRETS_SET),
      vault.publicSet(SYSTEM_SECRETS_SET),
      vault.getKey(SYSTEM_SECRETS_SET, "system"),
      vault.delete(SYSTEM_SECRETS_SET),
      vault.generate(SYSTEM_SECRETS_SET, { alg: "HS256" }),
      vault.importKeys(SYSTEM_SECRETS_SET, { keys: [] }),
      vault.putKey(SYSTEM_SECRETS_SET, externalJwk("ec", "x")),
    ];
    for (const attempt of attempts) {
      const err = await errorOf(attempt);
      expect((err as GatehouseError).code).toBe("permission_denied");
      expect(err.message).toContain("oauth2.secrets.system");
    }
    expect(await store.listKeys(SYSTEM_SECRETS_SET)).toHaveLength(1);
  });
});

describe("key vault: signing keys", () => {
  const store = createMemoryOAuth2Store();
  let vault: KeyVault;

  beforeAll(async () => {
    vault = createKeyVault({ store, secrets: systemSecretsFrom([OLD]) });
    const created = await vault.ensureSigningKeys();
    expect(created.map((c) => `${c.set}/${c.alg}`)).toEqual([`${ID_TOKEN_SET}/RS256`, `${ID_TOKEN_SET}/ES256`, `${ACCESS_TOKEN_SET}/RS256`]);
  });

  it("creates one RS256 and one ES256 ID-token key and one RS256 access-token key, idempotently", async () => {
    const version = await store.keysVersion();
    expect(await vault.ensureSigningKeys()).toEqual([]);
    expect(await store.keysVersion()).toBe(version);
    const idKeys = await vault.privateSet(ID_TOKEN_SET);
    expect(idKeys.map((k) => k.alg).sort()).toEqual(["ES256", "RS256"]);
    expect((await vault.privateSet(ACCESS_TOKEN_SET)).map((k) => k.alg)).toEqual(["RS256"]);
    for (const k of [...idKeys]) expect(k.use).toBe("sig");
  });

  it("gives oidc-provider a jwks it accepts, newest first, every key with use sig", async () => {
    const jwks = await vault.providerJwks();
    expect(jwks.keys).toHaveLength(3);
    for (const key of jwks.keys) {
      expect(key.use).toBe("sig");
      expect(typeof key.d).toBe("string");
    }
    expect(() => new Provider("https://op.example.test", { jwks })).not.toThrow();

    // Rotation: a newer RS256 ID-token key comes before the older one (oidc-provider signs with the first).
    const idKids = (await vault.privateSet(ID_TOKEN_SET)).map((k) => k.kid);
    const fresh = await vault.generate(ID_TOKEN_SET, { alg: "RS256", use: "sig", kid: "rotated-rs256" });
    const rotated = await vault.providerJwks();
    const rs256 = rotated.keys.filter((k) => k.alg === "RS256").map((k) => k.kid);
    expect(rs256[0]).toBe(fresh.kid);
    expect(rs256.slice(1, 2)).toEqual(idKids.filter((kid) => kid.startsWith("rs256-")));
    // Access-token keys come after the ID-token keys; select them with jwt.sign.kid.
    const accessKid = await vault.signingKid(ACCESS_TOKEN_SET, "RS256");
    expect(rs256[rs256.length - 1]).toBe(accessKid);
    expect(() => new Provider("https://op.example.test", { jwks: rotated })).not.toThrow();
    await vault.delete(ID_TOKEN_SET, fresh.kid);
  });

  it("leaves out keys oidc-provider would refuse (ES512 without enabledJWA, HS*, enc, public-only)", async () => {
    await vault.generate(ID_TOKEN_SET, { alg: "ES512", use: "sig", kid: "es512" });
    await vault.generate(ID_TOKEN_SET, { alg: "HS256", use: "sig", kid: "hs256" });
    await vault.generate(ID_TOKEN_SET, { alg: "ES256", use: "enc", kid: "es256-enc" });
    const kids = (await vault.providerJwks()).keys.map((k) => k.kid);
    expect(kids).not.toContain("es512");
    expect(kids).not.toContain("hs256");
    expect(kids).not.toContain("es256-enc");
    const jwks = await vault.providerJwks();
    expect(() => new Provider("https://op.example.test", { jwks })).not.toThrow();
    const widened = await vault.providerJwks({ signingAlgs: ["RS256", "ES256", "ES512"] });
    expect(widened.keys.map((k) => k.kid)).toContain("es512");
    for (const kid of ["es512", "hs256", "es256-enc"]) await vault.delete(ID_TOKEN_SET, kid);
  });

  it("publishes the public keys of both sets and nothing private", async () => {
    await vault.generate(ACCESS_TOKEN_SET, { alg: "HS512", use: "sig", kid: "symmetric" });
    const published = await vault.publishedJwks();
    const kids = published.keys.map((k) => k.kid);
    const expected = [...(await vault.privateSet(ID_TOKEN_SET)), ...(await vault.privateSet(ACCESS_TOKEN_SET))].filter((k) => k.kty !== "oct").map((k) => k.kid);
    expect(kids).toEqual(expected);
    for (const key of published.keys) expect(privateMembersOf(key)).toEqual([]);
    expect(kids).not.toContain("symmetric");
    await vault.delete(ACCESS_TOKEN_SET, "symmetric");
  });
});

describe("key vault: concurrent start", () => {
  it("two nodes over one store leave exactly one generation of each signing key", async () => {
    const store = createMemoryOAuth2Store();
    let collisions = 0;
    // Both nodes read the empty sets before either writes.
    let waiting: (() => void)[] = [];
    const barrier = async (): Promise<void> => {
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length === 2) {
          for (const r of waiting) r();
          waiting = [];
        }
      });
    };
    let barrierRounds = 0;
    const shared: KeyStore = {
      async listKeys(set) {
        const keys = await store.listKeys(set);
        if (barrierRounds < 2 && keys.length === 0) {
          barrierRounds++;
          await barrier();
        }
        return keys;
      },
      deleteKeys: (set, kid) => store.deleteKeys(set, kid),
      keysVersion: () => store.keysVersion(),
      async addKey(key) {
        try {
          await store.addKey(key);
        } catch (err) {
          collisions++;
          throw err;
        }
      },
    };
    const secrets = systemSecretsFrom([OLD]);
    const nodeA = createKeyVault({ store: shared, secrets });
    const nodeB = createKeyVault({ store: shared, secrets });
    const [createdA, createdB] = await Promise.all([nodeA.ensureSigningKeys(), nodeB.ensureSigningKeys()]);
    expect(collisions).toBeGreaterThan(0);
    expect(createdA.length + createdB.length).toBe(3);
    expect((await store.listKeys(ID_TOKEN_SET)).map((k) => k.jwk["alg"]).sort()).toEqual(["ES256", "RS256"]);
    expect(await store.listKeys(ACCESS_TOKEN_SET)).toHaveLength(1);
    const kidsA = (await nodeA.providerJwks()).keys.map((k) => k.kid);
    const kidsB = (await nodeB.providerJwks()).keys.map((k) => k.kid);
    expect(kidsA).toEqual(kidsB);
    expect(await nodeA.ensureSigningKeys()).toEqual([]);
  });
});
