/**
 * Password hashing and verification.
 *
 * New hashes are argon2id (through `@node-rs/argon2`, which runs on libuv's thread pool) as PHC strings
 * `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`, with OWASP's minimum parameters
 * (m=19456 KiB, t=2, p=1) by default. Verification also accepts what Kratos imports: argon2id/argon2i,
 * bcrypt (`$2a$`, `$2b$`, `$2y$`) and PBKDF2 PHC strings (`$pbkdf2-sha1|sha256|sha512$i=…,l=…$salt$hash`);
 * anything but argon2id with the current parameters reports `needsRehash` so the caller re-hashes after a
 * successful login. Parameters of stored hashes are bounded before any work is done (an imported hash with
 * m=64 GiB or bcrypt cost 40 is simply invalid), and every hash and verify goes through one FIFO concurrency
 * limiter so a burst of logins cannot exhaust CPU or memory.
 */

import { pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";
import { availableParallelism } from "node:os";
import { hash as argon2Hash, verify as argon2Verify, type Algorithm, type Version } from "@node-rs/argon2";
import { verify as bcryptVerify } from "@node-rs/bcrypt";
import { InvalidArgumentError } from "../../../common/errors.js";
import { ConcurrencyLimiter, type LimiterStats } from "./limiter.js";

/** argon2id parameters for new hashes. */
export interface Argon2Params {
  /** Memory in KiB (`m`). Default 19456 (19 MiB). */
  readonly memoryKiB: number;
  /** Passes over memory (`t`). Default 2. */
  readonly iterations: number;
  /** Lanes (`p`). Default 1. */
  readonly parallelism: number;
  /** Salt bytes. Default 16. */
  readonly saltLength: number;
  /** Hash bytes. Default 32. */
  readonly keyLength: number;
}

/** OWASP's minimum recommendation for argon2id (Password Storage Cheat Sheet). */
export const DEFAULT_ARGON2_PARAMS: Readonly<Argon2Params> = Object.freeze({
  memoryKiB: 19456,
  iterations: 2,
  parallelism: 1,
  saltLength: 16,
  keyLength: 32,
});

/**
 * Upper bounds on the parameters of hashes we verify (Kratos's import limits, plus bcrypt's format maximum
 * and a PBKDF2 bound), so an imported or tampered hash cannot make one verification cost minutes or GiBs.
 */
export const HASH_LIMITS = Object.freeze({
  argon2MaxMemoryKiB: 1024 * 1024,
  argon2MaxIterations: 10,
  argon2MaxParallelism: 255,
  argon2MaxKeyLength: 1024,
  bcryptMaxCost: 31,
  pbkdf2MaxIterations: 10_000_000,
  pbkdf2MaxKeyLength: 128,
});

/** bcrypt reads only the first 72 bytes; longer passwords are rejected rather than silently truncated. */
export const BCRYPT_MAX_PASSWORD_BYTES = 72;

/** Options of `createPasswordHasher`. */
export interface PasswordHasherOptions {
  /** Parameters of new hashes; missing ones take `DEFAULT_ARGON2_PARAMS`. */
  readonly argon2?: Partial<Argon2Params>;
  /** Hashes and verifications running at once. Default: the number of CPUs (`os.availableParallelism()`). */
  readonly concurrency?: number;
  /** Hashes and verifications allowed to wait; beyond it calls fail with `UnavailableError`. Default 1024. */
  readonly maxQueued?: number;
}

/** The outcome of `verify`. */
export interface VerifyResult {
  /** The password matches the hash. */
  readonly valid: boolean;
  /** Only when valid: the hash is not argon2id with the current parameters; store `hash(password)` anew. */
  readonly needsRehash: boolean;
}

/** The hash algorithms `verify` understands. */
export type HashAlgorithm = "argon2id" | "argon2i" | "bcrypt" | "pbkdf2-sha1" | "pbkdf2-sha256" | "pbkdf2-sha512";

/** What `inspectPasswordHash` learns from a hash string without verifying anything. */
export type HashInspection =
  | { readonly ok: true; readonly algorithm: HashAlgorithm; readonly params: Readonly<Record<string, number>> }
  | { readonly ok: false; readonly reason: string };

// ---- parsing -----------------------------------------------------------------------------------------------

interface Argon2Parsed {
  readonly kind: "argon2";
  readonly algorithm: "argon2id" | "argon2i";
  readonly version: number;
  readonly m: number;
  readonly t: number;
  readonly p: number;
  readonly keyLength: number;
  readonly saltLength: number;
}

interface BcryptParsed {
  readonly kind: "bcrypt";
  readonly cost: number;
}

interface Pbkdf2Parsed {
  readonly kind: "pbkdf2";
  readonly digest: "sha1" | "sha256" | "sha512";
  readonly iterations: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

type Parsed = Argon2Parsed | BcryptParsed | Pbkdf2Parsed;
type ParseResult = { ok: true; value: Parsed } | { ok: false; reason: string };

const invalid = (reason: string): ParseResult => ({ ok: false, reason });

/** Decimal digits only, so `1e3`, `0x10` or `12.5` never pass as parameters. */
function parseCount(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,10}$/.test(text)) return undefined;
  return Number(text);
}

/** Standard or URL-safe base64 (and passlib's `.` for `+`), padded or not. */
function decodeBase64(text: string | undefined): Buffer | undefined {
  if (text === undefined) return undefined;
  const normalized = text.replace(/\./g, "+").replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(normalized)) return undefined;
  const bytes = Buffer.from(normalized, "base64");
  return bytes.length === 0 ? undefined : bytes;
}

function parseParams(text: string): Map<string, string> | undefined {
  const params = new Map<string, string>();
  for (const pair of text.split(",")) {
    const eq = pair.indexOf("=");
    if (eq <= 0) return undefined;
    params.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return params;
}

function parseArgon2(parts: readonly string[]): ParseResult {
  // ["", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash], the version segment being optional (then 0x10)
  const algorithm = parts[1];
  if (algorithm !== "argon2id" && algorithm !== "argon2i") return invalid(`unsupported argon2 variant ${algorithm}`);
  let rest = parts.slice(2);
  let version = 16;
  if (rest[0]?.startsWith("v=")) {
    const v = parseCount(rest[0].slice(2));
    if (v !== 16 && v !== 19) return invalid("unsupported argon2 version");
    version = v;
    rest = rest.slice(1);
  }
  if (rest.length !== 3) return invalid("malformed argon2 hash");
  const params = parseParams(rest[0]!);
  const m = parseCount(params?.get("m"));
  const t = parseCount(params?.get("t"));
  const p = parseCount(params?.get("p"));
  if (m === undefined || t === undefined || p === undefined) return invalid("argon2 hash lacks m, t or p");
  const salt = /^[A-Za-z0-9+/]+$/.test(rest[1]!) ? decodeBase64(rest[1]) : undefined;
  const key = /^[A-Za-z0-9+/]+$/.test(rest[2]!) ? decodeBase64(rest[2]) : undefined;
  if (salt === undefined || key === undefined) return invalid("argon2 salt or hash is not base64");
  if (m > HASH_LIMITS.argon2MaxMemoryKiB) return invalid("argon2 memory exceeds the limit");
  if (t < 1 || t > HASH_LIMITS.argon2MaxIterations) return invalid("argon2 iterations out of bounds");
  if (p < 1 || p > HASH_LIMITS.argon2MaxParallelism) return invalid("argon2 parallelism out of bounds");
  if (m < 8 * p) return invalid("argon2 memory is below 8 KiB per lane");
  if (key.length < 4 || key.length > HASH_LIMITS.argon2MaxKeyLength) return invalid("argon2 hash length out of bounds");
  if (salt.length < 8) return invalid("argon2 salt is shorter than 8 bytes");
  return {
    ok: true,
    value: { kind: "argon2", algorithm, version, m, t, p, keyLength: key.length, saltLength: salt.length },
  };
}

function parseBcrypt(phc: string): ParseResult {
  const match = /^\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}$/.exec(phc);
  if (match === null) return invalid("malformed bcrypt hash");
  const cost = Number(match[1]);
  if (cost < 4 || cost > HASH_LIMITS.bcryptMaxCost) return invalid("bcrypt cost out of bounds");
  return { ok: true, value: { kind: "bcrypt", cost } };
}

function parsePbkdf2(parts: readonly string[]): ParseResult {
  // ["", "pbkdf2-sha256", "i=…,l=…", salt, hash]; passlib writes "29000" for the rounds and "$pbkdf2$" for SHA-1
  if (parts.length !== 5) return invalid("malformed pbkdf2 hash");
  const name = parts[1]!;
  const digest = name === "pbkdf2" ? "sha1" : name.slice("pbkdf2-".length);
  if (digest !== "sha1" && digest !== "sha256" && digest !== "sha512") return invalid(`unsupported pbkdf2 digest ${digest}`);
  let iterations: number | undefined;
  let keyLength: number | undefined;
  if (/^[0-9]+$/.test(parts[2]!)) {
    iterations = parseCount(parts[2]);
  } else {
    const params = parseParams(parts[2]!);
    iterations = parseCount(params?.get("i"));
    const l = params?.get("l");
    if (l !== undefined) {
      keyLength = parseCount(l);
      if (keyLength === undefined) return invalid("pbkdf2 key length is not a number");
    }
  }
  if (iterations === undefined) return invalid("pbkdf2 hash lacks its iterations");
  if (iterations < 1 || iterations > HASH_LIMITS.pbkdf2MaxIterations) return invalid("pbkdf2 iterations out of bounds");
  const salt = decodeBase64(parts[3]);
  const key = decodeBase64(parts[4]);
  if (salt === undefined || key === undefined) return invalid("pbkdf2 salt or hash is not base64");
  if (keyLength !== undefined && keyLength !== key.length) return invalid("pbkdf2 key length does not match the hash");
  if (key.length > HASH_LIMITS.pbkdf2MaxKeyLength) return invalid("pbkdf2 key length out of bounds");
  return { ok: true, value: { kind: "pbkdf2", digest, iterations, salt, key } };
}

function parseHash(phc: unknown): ParseResult {
  if (typeof phc !== "string" || phc.length > 1024 || !phc.startsWith("$")) return invalid("not a PHC or crypt string");
  if (phc.startsWith("$2")) return parseBcrypt(phc);
  const parts = phc.split("$");
  const id = parts[1] ?? "";
  if (id.startsWith("argon2")) return parseArgon2(parts);
  if (id === "pbkdf2" || id.startsWith("pbkdf2-")) return parsePbkdf2(parts);
  return invalid(`unsupported hash algorithm ${id.slice(0, 32)}`);
}

/**
 * Tells which algorithm and parameters a stored or imported hash uses, and whether `verify` accepts it
 * (within `HASH_LIMITS`), without doing any hashing. The identity import can reject bad hashes up front.
 */
export function inspectPasswordHash(phc: string): HashInspection {
  const parsed = parseHash(phc);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  switch (v.kind) {
    case "argon2":
      return { ok: true, algorithm: v.algorithm, params: { v: v.version, m: v.m, t: v.t, p: v.p, keyLength: v.keyLength } };
    case "bcrypt":
      return { ok: true, algorithm: "bcrypt", params: { cost: v.cost } };
    case "pbkdf2":
      return {
        ok: true,
        algorithm: `pbkdf2-${v.digest}`,
        params: { i: v.iterations, l: v.key.length },
      };
  }
}

// ---- the hasher --------------------------------------------------------------------------------------------

// @node-rs/argon2's `Algorithm` and `Version` are ambient const enums, which `isolatedModules` cannot read;
// these are their values (Argon2id = 2, V0x13 = 1).
const ARGON2ID: Algorithm = 2;
const ARGON2_V19: Version = 1;

function resolveParams(options: Partial<Argon2Params> | undefined): Argon2Params {
  const params = { ...DEFAULT_ARGON2_PARAMS, ...options };
  const check = (name: keyof Argon2Params, min: number, max: number): void => {
    const value = params[name];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`argon2.${name} must be an integer from ${min} to ${max}, got ${value}`, {
        details: { field: `argon2.${name}` },
      });
    }
  };
  check("parallelism", 1, HASH_LIMITS.argon2MaxParallelism);
  check("memoryKiB", 8 * params.parallelism, HASH_LIMITS.argon2MaxMemoryKiB);
  check("iterations", 1, HASH_LIMITS.argon2MaxIterations);
  check("saltLength", 8, 64);
  check("keyLength", 16, HASH_LIMITS.argon2MaxKeyLength);
  return params;
}

/** Hashes new passwords with argon2id and verifies stored or imported hashes; see the module comment. */
export class PasswordHasher {
  readonly #params: Argon2Params;
  readonly #limiter: ConcurrencyLimiter;
  #dummy: Promise<string> | undefined;

  /** Prefer `createPasswordHasher`. Throws `InvalidArgumentError` naming a bad option. */
  constructor(options: PasswordHasherOptions = {}) {
    this.#params = resolveParams(options.argon2);
    const concurrency = options.concurrency ?? availableParallelism();
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new InvalidArgumentError(`concurrency must be an integer >= 1, got ${concurrency}`, {
        details: { field: "concurrency" },
      });
    }
    this.#limiter = new ConcurrencyLimiter({
      concurrency,
      ...(options.maxQueued === undefined ? {} : { maxQueued: options.maxQueued }),
    });
  }

  /** The argon2id parameters of new hashes. */
  get params(): Readonly<Argon2Params> {
    return this.#params;
  }

  /** Hashes and verifications running and waiting. */
  get stats(): LimiterStats {
    return this.#limiter.stats;
  }

  /**
   * Hashes a password with argon2id and the current parameters into a PHC string. Password length rules
   * (min 8, max 72 bytes) are the policy's job (`checkPassword`), not this function's.
   */
  hash(password: string, signal?: AbortSignal): Promise<string> {
    if (typeof password !== "string") {
      return Promise.reject(new InvalidArgumentError("password must be a string", { details: { field: "password" } }));
    }
    return this.#limiter.run(() => this.#argon2idHash(password, signal), signal);
  }

  /**
   * Checks a password against a stored hash (argon2id, argon2i, bcrypt, PBKDF2). A hash that is malformed,
   * unsupported or beyond `HASH_LIMITS` is never valid and never throws; it still costs a dummy
   * verification, so its timing matches a real one. Throws only `UnavailableError` (the queue is full) or
   * the abort reason of `signal`.
   */
  async verify(password: string, phc: string, signal?: AbortSignal): Promise<VerifyResult> {
    const parsed = parseHash(phc);
    if (!parsed.ok || typeof password !== "string") {
      await this.dummyVerify(signal);
      return { valid: false, needsRehash: false };
    }
    const value = parsed.value;
    if (value.kind === "bcrypt" && Buffer.byteLength(password, "utf8") > BCRYPT_MAX_PASSWORD_BYTES) {
      // bcrypt would compare only the first 72 bytes; say no, at the price of a real verification
      await this.dummyVerify(signal);
      return { valid: false, needsRehash: false };
    }
    const valid = await this.#limiter.run(() => this.#verifyParsed(password, phc, value, signal), signal);
    return { valid, needsRehash: valid && this.#needsRehash(value) };
  }

  /**
   * Whether a stored hash should be replaced by `hash(password)`: true unless it is argon2id (v=19) with
   * exactly the current m, t, p and key length. Unparseable hashes report true.
   */
  needsRehash(phc: string): boolean {
    const parsed = parseHash(phc);
    return !parsed.ok || this.#needsRehash(parsed.value);
  }

  /**
   * Costs what verifying against an argon2id hash with the current parameters costs, and always fails.
   * Call it when the identifier is unknown (or the identity has no password) so the response time does not
   * tell whether the account exists. The dummy hash is made on first use; `warmUp()` makes it earlier.
   */
  async dummyVerify(signal?: AbortSignal): Promise<void> {
    const dummy = await this.#dummyHash();
    const guess = randomBytes(12).toString("base64");
    await this.#limiter.run(async () => {
      await argon2Verify(dummy, guess, undefined, signal).catch(() => false);
    }, signal);
  }

  /** Prepares the dummy hash that `dummyVerify` needs, so the first unknown-identifier login is not slower. */
  async warmUp(): Promise<void> {
    await this.#dummyHash();
  }

  #dummyHash(): Promise<string> {
    if (this.#dummy === undefined) {
      const dummy = this.#limiter.run(() => this.#argon2idHash(randomBytes(32).toString("base64")));
      // a failure (queue full) must not be remembered
      dummy.catch(() => {
        if (this.#dummy === dummy) this.#dummy = undefined;
      });
      this.#dummy = dummy;
    }
    return this.#dummy;
  }

  #argon2idHash(password: string, signal?: AbortSignal): Promise<string> {
    const p = this.#params;
    return argon2Hash(
      password,
      {
        algorithm: ARGON2ID,
        version: ARGON2_V19,
        memoryCost: p.memoryKiB,
        timeCost: p.iterations,
        parallelism: p.parallelism,
        outputLen: p.keyLength,
        salt: randomBytes(p.saltLength),
      },
      signal,
    );
  }

  async #verifyParsed(password: string, phc: string, parsed: Parsed, signal?: AbortSignal): Promise<boolean> {
    try {
      switch (parsed.kind) {
        case "argon2":
          return await argon2Verify(phc, password, undefined, signal);
        case "bcrypt":
          return await bcryptVerify(password, phc, signal);
        case "pbkdf2": {
          const derived = await new Promise<Buffer>((resolve, reject) =>
            pbkdf2(password, parsed.salt, parsed.iterations, parsed.key.length, parsed.digest, (err, key) =>
              err === null ? resolve(key) : reject(err),
            ),
          );
          return timingSafeEqual(derived, parsed.key);
        }
      }
    } catch {
      if (signal?.aborted) throw signal.reason;
      return false; // the library refused the hash (e.g. argon2 parameters it cannot run): not a match
    }
  }

  #needsRehash(parsed: Parsed): boolean {
    const p = this.#params;
    return !(
      parsed.kind === "argon2" &&
      parsed.algorithm === "argon2id" &&
      parsed.version === 19 &&
      parsed.m === p.memoryKiB &&
      parsed.t === p.iterations &&
      parsed.p === p.parallelism &&
      parsed.keyLength === p.keyLength
    );
  }
}

/** Creates a hasher; throws `InvalidArgumentError` naming a bad option. */
export function createPasswordHasher(options: PasswordHasherOptions = {}): PasswordHasher {
  return new PasswordHasher(options);
}
