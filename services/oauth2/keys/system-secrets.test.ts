import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { GatehouseError } from "../../../common/errors.js";
import { createMemoryOAuth2Store } from "../store/memory-oauth2-store.js";
import type { KeyStore } from "../store/oauth2-store.js";
import { TOKEN_MAC_INFO } from "./opaque-tokens.js";
import {
  COOKIE_KEYS_INFO,
  GENERATED_SECRET_KID,
  isReservedKeySet,
  loadSystemSecrets,
  SYSTEM_SECRETS_SET,
  systemSecretsFrom,
} from "./system-secrets.js";

const A = "first-secret-0123456789";
const B = "second-secret-0123456789";

const sha256 = (s: string): Buffer => createHash("sha256").update(s, "utf8").digest();

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("loadSystemSecrets with configured secrets", () => {
  it("hashes each secret with SHA-256 (Hydra's HashByteSecret), first = current", async () => {
    const secrets = await loadSystemSecrets({ configured: [A, B], store: createMemoryOAuth2Store() });
    expect(secrets.source).toBe("configured");
    expect(secrets.current.equals(sha256(A))).toBe(true);
    expect(secrets.all.map((b) => b.toString("hex"))).toEqual([sha256(A).toString("hex"), sha256(B).toString("hex")]);
    expect(secrets.current).toHaveLength(32);
  });

  it("does not touch the store when secrets are configured", async () => {
    const store = createMemoryOAuth2Store();
    await loadSystemSecrets({ configured: [A], store });
    expect(await store.listKeys(SYSTEM_SECRETS_SET)).toEqual([]);
  });

  it("refuses a secret shorter than 16 characters, naming the option and index but not the value", async () => {
    const err = await errorOf(loadSystemSecrets({ configured: [A, "short-secret"], store: createMemoryOAuth2Store() }));
    expect(err).toBeInstanceOf(GatehouseError);
    expect(err.message).toContain("oauth2.secrets.system[1]");
    expect(err.message).toContain("16");
    expect(err.message).not.toContain("short-secret");
    expect((err as GatehouseError).code).toBe("invalid_argument");
  });

  it("accepts exactly 16 characters", async () => {
    await expect(loadSystemSecrets({ configured: ["x".repeat(16)], store: createMemoryOAuth2Store() })).resolves.toBeDefined();
  });

  it("refuses the same secret twice", async () => {
    const err = await errorOf(loadSystemSecrets({ configured: [A, A], store: createMemoryOAuth2Store() }));
    expect(err.message).toContain("oauth2.secrets.system");
  });
});

describe("loadSystemSecrets without configuration", () => {
  it("generates one secret, keeps it in the reserved set as an oct key, and reuses it on the next start", async () => {
    const store = createMemoryOAuth2Store();
    const first = await loadSystemSecrets({ store });
    expect(first.source).toBe("generated");
    const rows = await store.listKeys(SYSTEM_SECRETS_SET);
    expect(rows).toHaveLength(1);
    expect(rows[0]?.kid).toBe(GENERATED_SECRET_KID);
    expect(rows[0]?.jwk["kty"]).toBe("oct");
    expect(String(rows[0]?.jwk["k"])).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const second = await loadSystemSecrets({ store, configured: [] });
    expect(second.current.equals(first.current)).toBe(true);
    expect(await store.listKeys(SYSTEM_SECRETS_SET)).toHaveLength(1);
  });

  it("is race-safe: nodes starting at once on an empty store share one secret", async () => {
    const store = createMemoryOAuth2Store();
    let collisions = 0;
    const counting: KeyStore = {
      listKeys: (set) => store.listKeys(set),
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
    const loaded = await Promise.all([1, 2, 3, 4].map(() => loadSystemSecrets({ store: counting })));
    const hex = new Set(loaded.map((s) => s.current.toString("hex")));
    expect(hex.size).toBe(1);
    expect(collisions).toBeGreaterThan(0); // the race really happened
    expect(await store.listKeys(SYSTEM_SECRETS_SET)).toHaveLength(1);
  });

  it("refuses a malformed entry in the reserved set", async () => {
    const store = createMemoryOAuth2Store();
    await store.addKey({ set: SYSTEM_SECRETS_SET, kid: "bad", jwk: { kty: "RSA", n: "x" }, createdAt: new Date() });
    const err = await errorOf(loadSystemSecrets({ store }));
    expect(err.message).toContain(SYSTEM_SECRETS_SET);
    expect(err.message).toContain("oauth2.secrets.system");
  });
});

describe("derived keys", () => {
  const secrets = systemSecretsFrom([A, B]);

  it("gives one cookie key per secret, in keyring order, stable", () => {
    const keys = secrets.cookieKeys();
    expect(keys).toHaveLength(2);
    expect(keys[0]).not.toBe(keys[1]);
    expect(systemSecretsFrom([A]).cookieKeys()[0]).toBe(keys[0]);
    expect(systemSecretsFrom([B, A]).cookieKeys()).toEqual([keys[1], keys[0]]);
    for (const k of keys) expect(Buffer.from(k, "base64url")).toHaveLength(32);
  });

  it("keeps cookie keys, token MAC keys and the raw secret hashes apart", () => {
    const cookie = secrets.cookieKeys().map((k) => Buffer.from(k, "base64url").toString("hex"));
    const mac = secrets.derive(TOKEN_MAC_INFO).map((k) => k.toString("hex"));
    const raw = secrets.all.map((k) => k.toString("hex"));
    const all = [...cookie, ...mac, ...raw];
    expect(new Set(all).size).toBe(all.length);
    expect(secrets.derive(COOKIE_KEYS_INFO).map((k) => k.toString("base64url"))).toEqual(secrets.cookieKeys());
  });

  it("derives keys of the asked length, and callers cannot corrupt the cache", () => {
    const [k64] = secrets.derive("x", 64);
    expect(k64).toHaveLength(64);
    k64?.fill(0);
    expect(secrets.derive("x", 64)[0]?.equals(Buffer.alloc(64))).toBe(false);
  });

  it("marks the system-secret set as reserved", () => {
    expect(isReservedKeySet(SYSTEM_SECRETS_SET)).toBe(true);
    expect(isReservedKeySet("hydra.openid.id-token")).toBe(false);
  });
});
