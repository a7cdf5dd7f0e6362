import * as nodeCrypto from "node:crypto";
import { hash as bcryptHash } from "@node-rs/bcrypt";
import { beforeEach, describe, expect, it, vi } from "vitest";

/** Counts KDF runs so the tests can tell a cache hit from a miss. */
const kdf = vi.hoisted(() => ({ calls: 0 }));
vi.mock("node:crypto", async (importOriginal) => {
  const original = await importOriginal<typeof import("node:crypto")>();
  const counted = ((...args: Parameters<typeof original.pbkdf2>) => {
    kdf.calls++;
    return original.pbkdf2(...args);
  }) as typeof original.pbkdf2;
  return { ...original, pbkdf2: counted, default: { ...original, pbkdf2: counted } };
});

const {
  createSecretVerifier,
  DEFAULT_PBKDF2_ITERATIONS,
  GENERATED_SECRET_LENGTH,
  generateClientSecret,
  hashClientSecret,
  isClientSecretHash,
  verifyClientSecret,
} = await import("./client-secrets.js");

const FAST = { iterations: 1000 };
const b64 = (b: Buffer): string => b.toString("base64").replace(/=+$/, "");

beforeEach(() => {
  kdf.calls = 0;
});

describe("generateClientSecret", () => {
  it("makes 26 characters from Hydra's alphabet, all different", () => {
    const secrets = new Set(Array.from({ length: 200 }, () => generateClientSecret()));
    expect(secrets.size).toBe(200);
    for (const s of secrets) expect(s).toMatch(/^[a-zA-Z0-9_.~-]{26}$/);
    expect(GENERATED_SECRET_LENGTH).toBe(26);
    expect(generateClientSecret(40)).toHaveLength(40);
  });

  it("uses the whole alphabet", () => {
    const seen = new Set(Array.from({ length: 300 }, () => generateClientSecret()).join(""));
    expect(seen.size).toBe(66);
  });
});

describe("hashClientSecret / verifyClientSecret", () => {
  it("encodes PBKDF2-SHA-256 in Hydra's format with a fresh 16-byte salt and a 32-byte key", async () => {
    const a = await hashClientSecret("s3cret-value");
    const b = await hashClientSecret("s3cret-value");
    const pattern = /^\$pbkdf2-sha256\$i=25000,l=32\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;
    expect(a).toMatch(pattern);
    expect(a).not.toBe(b);
    const [, salt, key] = pattern.exec(a) as RegExpExecArray;
    expect(Buffer.from(salt as string, "base64")).toHaveLength(16);
    expect(Buffer.from(key as string, "base64")).toHaveLength(32);
    expect(DEFAULT_PBKDF2_ITERATIONS).toBe(25_000);
    expect(isClientSecretHash(a)).toBe(true);
  });

  it("takes the iteration count as a parameter and refuses nonsense", async () => {
    expect(await hashClientSecret("abcdef", { iterations: 1234 })).toMatch(/^\$pbkdf2-sha256\$i=1234,l=32\$/);
    await expect(hashClientSecret("abcdef", { iterations: 0 })).rejects.toThrow(RangeError);
    await expect(hashClientSecret("abcdef", { iterations: 1.5 })).rejects.toThrow(RangeError);
  });

  it("verifies the right secret and refuses wrong ones", async () => {
    const stored = await hashClientSecret("correct horse", FAST);
    expect(await verifyClientSecret("correct horse", stored)).toBe(true);
    expect(await verifyClientSecret("correct horsf", stored)).toBe(false);
    expect(await verifyClientSecret("", stored)).toBe(false);
  });

  it("never matches an empty, malformed or tampered hash", async () => {
    const stored = await hashClientSecret("abcdef", FAST);
    expect(await verifyClientSecret("abcdef", "")).toBe(false);
    expect(await verifyClientSecret("abcdef", "abcdef")).toBe(false);
    expect(await verifyClientSecret("abcdef", "$pbkdf2-sha256$i=0,l=32$AAAA$AAAA")).toBe(false);
    expect(await verifyClientSecret("abcdef", stored.replace("i=1000", "i=1001"))).toBe(false);
    expect(await verifyClientSecret("abcdef", stored.replace(",l=32", ",l=31"))).toBe(false);
    const parts = stored.split("$");
    const key = Buffer.from(parts[4] as string, "base64");
    key[0] = (key[0] as number) ^ 1;
    expect(await verifyClientSecret("abcdef", [...parts.slice(0, 4), b64(key)].join("$"))).toBe(false);
    expect(isClientSecretHash("plain-text")).toBe(false);
  });

  it("verifies hashes made elsewhere in Hydra's format (sha256 and sha512, with or without l=, padded or not)", async () => {
    const salt = Buffer.from("0123456789abcdef");
    const k256 = nodeCrypto.pbkdf2Sync("hydra-secret", salt, 777, 32, "sha256");
    const k512 = nodeCrypto.pbkdf2Sync("hydra-secret", salt, 777, 64, "sha512");
    expect(await verifyClientSecret("hydra-secret", `$pbkdf2-sha256$i=777,l=32$${b64(salt)}$${b64(k256)}`)).toBe(true);
    expect(await verifyClientSecret("hydra-secret", `$pbkdf2-sha256$i=777$${salt.toString("base64")}$${k256.toString("base64")}`)).toBe(true);
    expect(await verifyClientSecret("hydra-secret", `$pbkdf2-sha512$i=777,l=64$${b64(salt)}$${b64(k512)}`)).toBe(true);
    expect(await verifyClientSecret("other", `$pbkdf2-sha512$i=777,l=64$${b64(salt)}$${b64(k512)}`)).toBe(false);
  });

  it("verifies Hydra's bcrypt hashes", async () => {
    const stored = await bcryptHash("bcrypt-secret", 4);
    expect(isClientSecretHash(stored)).toBe(true);
    expect(await verifyClientSecret("bcrypt-secret", stored)).toBe(true);
    expect(await verifyClientSecret("bcrypt-secreT", stored)).toBe(false);
  });
});

describe("createSecretVerifier", () => {
  it("runs the KDF once for repeated successful verifications", async () => {
    const stored = await hashClientSecret("cc-secret", FAST);
    const verifier = createSecretVerifier({ cacheSize: 100, cacheTtlMillis: 60_000 });
    kdf.calls = 0;
    expect(await verifier.verify("cc-secret", stored)).toBe(true);
    expect(kdf.calls).toBe(1);
    for (let i = 0; i < 10; i++) expect(await verifier.verify("cc-secret", stored)).toBe(true);
    expect(kdf.calls).toBe(1);
    expect(verifier.cacheEntries).toBe(1);
  });

  it("never caches failures: every wrong guess pays the KDF", async () => {
    const stored = await hashClientSecret("cc-secret", FAST);
    const verifier = createSecretVerifier();
    kdf.calls = 0;
    for (let i = 0; i < 3; i++) expect(await verifier.verify("wrong-guess", stored)).toBe(false);
    expect(kdf.calls).toBe(3);
    expect(verifier.cacheEntries).toBe(0);
  });

  it("a changed hash misses the cache: the old secret no longer verifies", async () => {
    const verifier = createSecretVerifier();
    const first = await hashClientSecret("first-secret", FAST);
    expect(await verifier.verify("first-secret", first)).toBe(true);
    const second = await hashClientSecret("second-secret", FAST);
    expect(await verifier.verify("first-secret", second)).toBe(false);
    expect(await verifier.verify("second-secret", second)).toBe(true);
  });

  it("accepts rotated secrets, and forgets them once the rotation list is cleared", async () => {
    const verifier = createSecretVerifier();
    const current = await hashClientSecret("new-secret", FAST);
    const old = await hashClientSecret("old-secret", FAST);
    const client = { client_secret: current, rotated_secrets: [old] };
    expect(await verifier.verifyClient("new-secret", client)).toBe(true);
    expect(await verifier.verifyClient("old-secret", client)).toBe(true);
    expect(await verifier.verifyClient("other-secret", client)).toBe(false);
    // Rotations cleared: the cached success for (old hash, old secret) is not consulted any more.
    expect(await verifier.verifyClient("old-secret", { client_secret: current })).toBe(false);
    expect(await verifier.verifyClient("old-secret", { client_secret: "" })).toBe(false);
    expect(await verifier.verifyClient("old-secret", {})).toBe(false);
  });

  it("entries expire after the TTL", async () => {
    const stored = await hashClientSecret("ttl-secret", FAST);
    const verifier = createSecretVerifier({ cacheTtlMillis: 30 });
    kdf.calls = 0;
    await verifier.verify("ttl-secret", stored);
    await verifier.verify("ttl-secret", stored);
    expect(kdf.calls).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await verifier.verify("ttl-secret", stored)).toBe(true);
    expect(kdf.calls).toBe(2);
  });

  it("is bounded by cacheSize, and cacheSize 0 turns the cache off", async () => {
    const hashes = await Promise.all(["aaaaaa", "bbbbbb", "cccccc"].map((s) => hashClientSecret(s, FAST)));
    const small = createSecretVerifier({ cacheSize: 2 });
    await small.verify("aaaaaa", hashes[0] as string);
    await small.verify("bbbbbb", hashes[1] as string);
    await small.verify("cccccc", hashes[2] as string);
    expect(small.cacheEntries).toBe(2);
    small.clear();
    expect(small.cacheEntries).toBe(0);

    const off = createSecretVerifier({ cacheSize: 0 });
    kdf.calls = 0;
    await off.verify("aaaaaa", hashes[0] as string);
    await off.verify("aaaaaa", hashes[0] as string);
    expect(kdf.calls).toBe(2);
    expect(off.cacheEntries).toBe(0);
  });

  it("shares one KDF run between concurrent verifications of the same pair", async () => {
    const stored = await hashClientSecret("burst-secret", FAST);
    const verifier = createSecretVerifier();
    kdf.calls = 0;
    const results = await Promise.all(Array.from({ length: 8 }, () => verifier.verify("burst-secret", stored)));
    expect(results.every(Boolean)).toBe(true);
    expect(kdf.calls).toBe(1);
  });
});
