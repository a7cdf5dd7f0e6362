import { pbkdf2Sync, randomBytes } from "node:crypto";
import { hash as argon2Hash, type Algorithm } from "@node-rs/argon2";
import { hash as bcryptHash } from "@node-rs/bcrypt";
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, UnavailableError } from "../../../common/errors.js";
import { createPasswordHasher, DEFAULT_ARGON2_PARAMS, HASH_LIMITS, inspectPasswordHash } from "./hasher.js";

/** Small argon2id parameters so most tests stay fast. */
const fast = { memoryKiB: 256, iterations: 1, parallelism: 1 };

const b64 = (bytes: Buffer): string => bytes.toString("base64").replace(/=+$/, "");

function pbkdf2Phc(password: string, digest: "sha1" | "sha256" | "sha512", iterations: number, keyLength: number): string {
  const salt = randomBytes(16);
  const key = pbkdf2Sync(password, salt, iterations, keyLength, digest);
  return `$pbkdf2-${digest}$i=${iterations},l=${keyLength}$${b64(salt)}$${b64(key)}`;
}

describe("PasswordHasher: argon2id", () => {
  it("hashes with OWASP's minimum parameters by default and verifies the result", async () => {
    const hasher = createPasswordHasher();
    expect(hasher.params).toEqual(DEFAULT_ARGON2_PARAMS);
    const phc = await hasher.hash("correct horse battery staple");
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await hasher.verify("correct horse battery staple", phc)).toEqual({ valid: true, needsRehash: false });
    expect(await hasher.verify("correct horse battery stapler", phc)).toEqual({ valid: false, needsRehash: false });
    expect(hasher.needsRehash(phc)).toBe(false);
  });

  it("salts every hash and round-trips unicode", async () => {
    const hasher = createPasswordHasher({ argon2: fast });
    const [a, b] = await Promise.all([hasher.hash("pässwörd 🔑"), hasher.hash("pässwörd 🔑")]);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^\$argon2id\$v=19\$m=256,t=1,p=1\$/);
    expect((await hasher.verify("pässwörd 🔑", a)).valid).toBe(true);
    expect((await hasher.verify("passwörd 🔑", a)).valid).toBe(false);
  });

  it("honours configured salt and key lengths", async () => {
    const hasher = createPasswordHasher({ argon2: { ...fast, saltLength: 32, keyLength: 64 } });
    const phc = await hasher.hash("pw");
    const [, , , , salt, key] = phc.split("$");
    expect(Buffer.from(salt!, "base64")).toHaveLength(32);
    expect(Buffer.from(key!, "base64")).toHaveLength(64);
    expect(await hasher.verify("pw", phc)).toEqual({ valid: true, needsRehash: false });
  });

  it("verifies the reference implementation's test vectors", async () => {
    const hasher = createPasswordHasher({ argon2: fast });
    // phc-winner-argon2's vectors: password "password", salt "somesalt", m=64 MiB, t=2, p=1
    const id = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
    const i = "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA";
    expect(await hasher.verify("password", id)).toEqual({ valid: true, needsRehash: true });
    expect(await hasher.verify("password", i)).toEqual({ valid: true, needsRehash: true });
    expect((await hasher.verify("Password", id)).valid).toBe(false);
  });

  it("asks for a rehash when parameters or the variant differ from the current ones", async () => {
    const old = createPasswordHasher({ argon2: { ...fast, memoryKiB: 128 } });
    const current = createPasswordHasher({ argon2: fast });
    const oldPhc = await old.hash("pw");
    expect(await current.verify("pw", oldPhc)).toEqual({ valid: true, needsRehash: true });
    expect(await current.verify("wrong", oldPhc)).toEqual({ valid: false, needsRehash: false });
    const argon2i = await argon2Hash("pw", { algorithm: 1 as Algorithm, memoryCost: 256, timeCost: 1, parallelism: 1 });
    expect(argon2i.startsWith("$argon2i$")).toBe(true);
    expect(await current.verify("pw", argon2i)).toEqual({ valid: true, needsRehash: true });
    const shortKey = await argon2Hash("pw", { algorithm: 2 as Algorithm, memoryCost: 256, timeCost: 1, parallelism: 1, outputLen: 16 });
    expect(await current.verify("pw", shortKey)).toEqual({ valid: true, needsRehash: true });
    expect(current.needsRehash(await current.hash("pw"))).toBe(false);
    expect(current.needsRehash("garbage")).toBe(true);
  });

  it("rejects bad options, naming them", () => {
    const cases: Array<[Parameters<typeof createPasswordHasher>[0], string]> = [
      [{ argon2: { memoryKiB: HASH_LIMITS.argon2MaxMemoryKiB + 1 } }, "argon2.memoryKiB"],
      [{ argon2: { memoryKiB: 4 } }, "argon2.memoryKiB"],
      [{ argon2: { iterations: 0 } }, "argon2.iterations"],
      [{ argon2: { parallelism: 1.5 } }, "argon2.parallelism"],
      [{ argon2: { saltLength: 4 } }, "argon2.saltLength"],
      [{ concurrency: 0 }, "concurrency"],
      [{ maxQueued: -1 }, "maxQueued"],
    ];
    for (const [options, field] of cases) {
      let err: unknown;
      try {
        createPasswordHasher(options);
      } catch (e) {
        err = e;
      }
      expect(err, field).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).details.field).toBe(field);
    }
  });
});

describe("PasswordHasher: imported hashes", () => {
  const hasher = createPasswordHasher({ argon2: fast });

  it("verifies bcrypt hashes ($2a$, $2b$, $2y$) and asks for a rehash", async () => {
    const phc = await bcryptHash("hunter2hunter2", 4);
    expect(phc.startsWith("$2b$04$")).toBe(true);
    for (const prefix of ["$2a$", "$2b$", "$2y$"]) {
      const variant = prefix + phc.slice(4);
      expect(await hasher.verify("hunter2hunter2", variant)).toEqual({ valid: true, needsRehash: true });
      expect(await hasher.verify("hunter2hunter3", variant)).toEqual({ valid: false, needsRehash: false });
    }
  });

  it("verifies published bcrypt test vectors", async () => {
    // OpenBSD's "U*U" vector and jBCrypt's empty-password vector
    expect((await hasher.verify("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")).valid).toBe(true);
    expect((await hasher.verify("U*V", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")).valid).toBe(false);
    expect((await hasher.verify("", "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.")).valid).toBe(true);
  });

  it("refuses bcrypt passwords beyond 72 bytes instead of comparing a truncated prefix", async () => {
    // a hash made by a truncating system: only its first 72 bytes count, so only a 72-byte password matches
    const phc = await bcryptHash("a".repeat(80), 4);
    expect((await hasher.verify("a".repeat(72), phc)).valid).toBe(true);
    expect((await hasher.verify("a".repeat(73), phc)).valid).toBe(false);
    expect((await hasher.verify("a".repeat(80), phc)).valid).toBe(false);
    const exact = await bcryptHash("é".repeat(36), 4); // 72 bytes
    expect((await hasher.verify("é".repeat(36), exact)).valid).toBe(true);
  });

  it("verifies PBKDF2 PHC strings made with node:crypto (sha1, sha256, sha512)", async () => {
    for (const digest of ["sha1", "sha256", "sha512"] as const) {
      const phc = pbkdf2Phc("open sesame", digest, 1000, 32);
      expect(await hasher.verify("open sesame", phc), digest).toEqual({ valid: true, needsRehash: true });
      expect(await hasher.verify("open sesamE", phc), digest).toEqual({ valid: false, needsRehash: false });
    }
  });

  it("verifies RFC 6070's PBKDF2-HMAC-SHA1 vector and padded or passlib-style encodings", async () => {
    // P = "password", S = "salt", c = 2, dkLen = 20
    const key = Buffer.from("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957", "hex");
    const salt = Buffer.from("salt");
    expect((await hasher.verify("password", `$pbkdf2-sha1$i=2,l=20$${b64(salt)}$${b64(key)}`)).valid).toBe(true);
    expect((await hasher.verify("password", `$pbkdf2-sha1$i=2,l=20$${salt.toString("base64")}$${key.toString("base64")}`)).valid).toBe(true);
    const ab64 = (bytes: Buffer) => b64(bytes).replace(/\+/g, ".");
    expect((await hasher.verify("password", `$pbkdf2$2$${ab64(salt)}$${ab64(key)}`)).valid).toBe(true);
    expect((await hasher.verify("password", `$pbkdf2-sha1$i=3,l=20$${b64(salt)}$${b64(key)}`)).valid).toBe(false);
    // a declared key length that differs from the hash's
    expect((await hasher.verify("password", `$pbkdf2-sha1$i=2,l=32$${b64(salt)}$${b64(key)}`)).valid).toBe(false);
  });

  it("treats hashes beyond the DoS bounds as invalid without doing their work", async () => {
    const salt = b64(Buffer.from("somesaltsomesalt"));
    const key = b64(randomBytes(32));
    const over = [
      `$argon2id$v=19$m=${HASH_LIMITS.argon2MaxMemoryKiB + 1},t=1,p=1$${salt}$${key}`,
      `$argon2id$v=19$m=4294967295,t=1,p=1$${salt}$${key}`,
      `$argon2id$v=19$m=65536,t=11,p=1$${salt}$${key}`,
      `$argon2id$v=19$m=65536,t=0,p=1$${salt}$${key}`,
      `$argon2id$v=19$m=65536,t=1,p=0$${salt}$${key}`,
      `$argon2i$v=19$m=65536,t=99999,p=1$${salt}$${key}`,
      `$2b$32$${"C".repeat(53)}`,
      `$2b$99$${"C".repeat(53)}`,
      `$pbkdf2-sha256$i=${HASH_LIMITS.pbkdf2MaxIterations + 1},l=32$${salt}$${key}`,
      `$pbkdf2-sha512$i=4000000000,l=32$${salt}$${key}`,
    ];
    const started = performance.now();
    for (const phc of over) {
      expect(await hasher.verify("password", phc), phc).toEqual({ valid: false, needsRehash: false });
      expect(inspectPasswordHash(phc).ok, phc).toBe(false);
    }
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("treats malformed and unsupported hashes as invalid, never throwing", async () => {
    const bad: unknown[] = [
      "",
      "plaintext",
      "$argon2d$v=19$m=256,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
      "$argon2id$v=19$m=1e3,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
      "$argon2id$v=18$m=256,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
      "$argon2id$v=19$m=256,t=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
      "$argon2id$v=19$m=256,t=1,p=1$c29t!!!$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
      "$2b$04$tooshort",
      "$2x$04$" + "C".repeat(53),
      "$pbkdf2-md5$i=1000,l=16$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
      "$pbkdf2-sha256$i=abc,l=32$c2FsdA$AAAA",
      "$scrypt$ln=16,r=8,p=1$c2FsdA$AAAA",
      "{SSHA}abcdef",
      "$" + "a".repeat(5000),
      null,
      42,
    ];
    for (const phc of bad) {
      expect(await hasher.verify("password", phc as string), String(phc)).toEqual({ valid: false, needsRehash: false });
    }
    expect((await hasher.verify(undefined as unknown as string, await hasher.hash("x"))).valid).toBe(false);
  });

  it("inspects hashes for the import API", async () => {
    expect(inspectPasswordHash(await hasher.hash("x"))).toEqual({
      ok: true,
      algorithm: "argon2id",
      params: { v: 19, m: 256, t: 1, p: 1, keyLength: 32 },
    });
    expect(inspectPasswordHash("$2y$12$" + "C".repeat(53))).toEqual({ ok: true, algorithm: "bcrypt", params: { cost: 12 } });
    expect(inspectPasswordHash(pbkdf2Phc("x", "sha512", 10, 64))).toEqual({
      ok: true,
      algorithm: "pbkdf2-sha512",
      params: { i: 10, l: 64 },
    });
    const bad = inspectPasswordHash("$md5$abc");
    expect(bad.ok).toBe(false);
    expect(bad.ok ? "" : bad.reason).toMatch(/unsupported hash algorithm md5/);
  });
});

describe("PasswordHasher: enumeration and load", () => {
  it("dummyVerify costs about as much as a real verification", async () => {
    const hasher = createPasswordHasher({ concurrency: 1 });
    const phc = await hasher.hash("some password");
    await hasher.warmUp();
    // CPU time of this process (the hashing threads included), so other processes' load does not skew it;
    // the three kinds are interleaved and the medians compared
    const cpu = async (fn: () => Promise<unknown>): Promise<number> => {
      const before = process.cpuUsage();
      await fn();
      const used = process.cpuUsage(before);
      return used.user + used.system;
    };
    const samples = { real: [] as number[], dummy: [] as number[], invalidHash: [] as number[] };
    for (let i = 0; i < 7; i++) {
      samples.real.push(await cpu(() => hasher.verify("wrong password", phc)));
      samples.dummy.push(await cpu(() => hasher.dummyVerify()));
      samples.invalidHash.push(await cpu(() => hasher.verify("wrong password", "$2b$99$nonsense")));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[3]!;
    const real = median(samples.real);
    // generous bounds: the point is "the same order of magnitude", not a benchmark
    expect(median(samples.dummy)).toBeGreaterThan(real / 3);
    expect(median(samples.dummy)).toBeLessThan(real * 3);
    expect(median(samples.invalidHash)).toBeGreaterThan(real / 3);
  });

  it("caps concurrent hashing and queues the rest in order", async () => {
    const hasher = createPasswordHasher({ argon2: { memoryKiB: 4096, iterations: 2, parallelism: 1 }, concurrency: 2 });
    const done: number[] = [];
    const jobs = Array.from({ length: 6 }, (_, i) => hasher.hash(`pw${i}`).then(() => done.push(i)));
    expect(hasher.stats).toMatchObject({ running: 2, queued: 4, concurrency: 2 });
    let maxRunning = 0;
    const poll = setInterval(() => (maxRunning = Math.max(maxRunning, hasher.stats.running)), 1);
    await Promise.all(jobs);
    clearInterval(poll);
    expect(maxRunning).toBeLessThanOrEqual(2);
    expect(hasher.stats).toMatchObject({ running: 0, queued: 0 });
    expect(done).toHaveLength(6);
  });

  it("fails fast with UnavailableError when the queue is full", async () => {
    const hasher = createPasswordHasher({ argon2: fast, concurrency: 1, maxQueued: 1 });
    const bcryptPhc = await bcryptHash("c", 4);
    const a = hasher.hash("a");
    const b = hasher.hash("b");
    expect(hasher.stats).toMatchObject({ running: 1, queued: 1, maxQueued: 1 });
    await expect(hasher.hash("c")).rejects.toBeInstanceOf(UnavailableError);
    await expect(hasher.verify("c", bcryptPhc)).rejects.toBeInstanceOf(UnavailableError);
    await Promise.all([a, b]);
    expect((await hasher.verify("c", bcryptPhc)).valid).toBe(true);
  });

  it("stops waiting when the caller aborts", async () => {
    const hasher = createPasswordHasher({ argon2: fast, concurrency: 1 });
    const first = hasher.hash("a");
    const controller = new AbortController();
    const second = hasher.hash("b", controller.signal);
    expect(hasher.stats.queued).toBe(1);
    controller.abort(new Error("client went away"));
    await expect(second).rejects.toThrow("client went away");
    expect(hasher.stats.queued).toBe(0);
    await first;
  });
});
