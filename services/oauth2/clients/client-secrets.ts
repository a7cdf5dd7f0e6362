/**
 * Client secrets: generation, hashing and verification.
 *
 * - **Generation** follows Hydra: 26 characters drawn uniformly from `[a-zA-Z0-9_.~-]` (66 symbols, about
 *   157 bits), by rejection sampling over `crypto.randomBytes`, so no symbol is more likely than another.
 * - **Hashing** is PBKDF2-HMAC-SHA-256 with Hydra's defaults (25,000 iterations, 16-byte salt, 32-byte key)
 *   encoded in Hydra's own PHC-style format, `$pbkdf2-sha256$i=25000,l=32$<salt>$<key>` (unpadded standard
 *   base64). A database exported from Hydra therefore verifies unchanged, and so do Hydra's bcrypt hashes
 *   (`$2a$`/`$2b$`/`$2y$`, its other hasher).
 * - **Verification** runs the KDF on libuv's thread pool (`crypto.pbkdf2`, never the sync variant) and
 *   compares with `crypto.timingSafeEqual`.
 * - **The verifier cache** (`createSecretVerifier`) remembers successful verifications so a client that
 *   calls the token endpoint over and over (client_credentials) pays the KDF once per cache lifetime
 *   instead of once per request. Why this is safe is explained on `createSecretVerifier`.
 */
import { createHmac, pbkdf2, randomBytes, randomInt, timingSafeEqual } from "node:crypto";
import { verify as bcryptVerify } from "@node-rs/bcrypt";
import { LRUCache } from "lru-cache";

/** Hydra's default PBKDF2 iteration count (`oauth2.hashers.pbkdf2.iterations`). */
export const DEFAULT_PBKDF2_ITERATIONS = 25_000;
/** Salt length in bytes (Hydra: 16). */
export const PBKDF2_SALT_BYTES = 16;
/** Derived key length in bytes (Hydra: 32). */
export const PBKDF2_KEY_BYTES = 32;
/** Length of a generated secret in characters (Hydra: `x.GenerateSecret(26)`). */
export const GENERATED_SECRET_LENGTH = 26;
/** Hydra's secret alphabet. */
const SECRET_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890_-.~";

/** Stored hashes claiming more iterations than this are refused (a corrupt row must not stall a thread). */
const MAX_ITERATIONS = 10_000_000;

/** A random secret of `length` characters from Hydra's alphabet. */
export function generateClientSecret(length: number = GENERATED_SECRET_LENGTH): string {
  let out = "";
  for (let i = 0; i < length; i++) out += SECRET_ALPHABET[randomInt(SECRET_ALPHABET.length)];
  return out;
}

function derive(secret: string, salt: Buffer, iterations: number, keyLength: number, digest: "sha256" | "sha512"): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(Buffer.from(secret, "utf8"), salt, iterations, keyLength, digest, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const b64 = (bytes: Buffer): string => bytes.toString("base64").replace(/=+$/, "");

/** Options of `hashClientSecret`. */
export interface HashSecretOptions {
  /** PBKDF2 iterations; default 25,000 (Hydra's default). */
  readonly iterations?: number;
}

/** Hashes a secret: `$pbkdf2-sha256$i=<iterations>,l=32$<salt>$<key>`. */
export async function hashClientSecret(secret: string, options: HashSecretOptions = {}): Promise<string> {
  const iterations = options.iterations ?? DEFAULT_PBKDF2_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError(`iterations must be an integer between 1 and ${MAX_ITERATIONS}`);
  }
  const salt = randomBytes(PBKDF2_SALT_BYTES);
  const key = await derive(secret, salt, iterations, PBKDF2_KEY_BYTES, "sha256");
  return `$pbkdf2-sha256$i=${iterations},l=${PBKDF2_KEY_BYTES}$${b64(salt)}$${b64(key)}`;
}

/** A parsed PBKDF2 hash. */
interface Pbkdf2Hash {
  readonly digest: "sha256" | "sha512";
  readonly iterations: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

const PBKDF2_FORMAT = /^\$pbkdf2-(sha256|sha512)\$i=(\d{1,9})(?:,l=(\d{1,4}))?\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;
const BCRYPT_FORMAT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

function parsePbkdf2(encoded: string): Pbkdf2Hash | undefined {
  const m = PBKDF2_FORMAT.exec(encoded);
  if (m === null) return undefined;
  const iterations = Number(m[2]);
  const salt = Buffer.from(m[4] ?? "", "base64");
  const key = Buffer.from(m[5] ?? "", "base64");
  if (iterations < 1 || iterations > MAX_ITERATIONS || salt.length === 0 || key.length === 0) return undefined;
  if (m[3] !== undefined && Number(m[3]) !== key.length) return undefined;
  return { digest: m[1] === "sha512" ? "sha512" : "sha256", iterations, salt, key };
}

/** True when `value` looks like a hash this module can verify (PBKDF2 in Hydra's format, or bcrypt). */
export function isClientSecretHash(value: string): boolean {
  return parsePbkdf2(value) !== undefined || BCRYPT_FORMAT.test(value);
}

/**
 * Checks a presented secret against one stored hash, running the KDF every time. Unknown or malformed
 * hashes (including the empty string of a public client) never match.
 */
export async function verifyClientSecret(presented: string, storedHash: string): Promise<boolean> {
  const parsed = parsePbkdf2(storedHash);
  if (parsed !== undefined) {
    const key = await derive(presented, parsed.salt, parsed.iterations, parsed.key.length, parsed.digest);
    return timingSafeEqual(key, parsed.key);
  }
  if (BCRYPT_FORMAT.test(storedHash)) {
    try {
      return await bcryptVerify(presented, storedHash);
    } catch {
      return false;
    }
  }
  return false;
}

/** Options of `createSecretVerifier`. */
export interface SecretVerifierOptions {
  /** Successful verifications remembered (LRU); 0 disables the cache. Default 10,000. */
  readonly cacheSize?: number;
  /** How long one is remembered, in milliseconds. Default 10 minutes. */
  readonly cacheTtlMillis?: number;
}

/** What a client carries for verification: its current hash and the hashes of rotated secrets. */
export interface ClientSecretHashes {
  readonly client_secret?: string;
  readonly rotated_secrets?: readonly string[];
}

/** Verification with a cache of successes. */
export interface SecretVerifier {
  /** True when `presented` matches `storedHash` or one of `rotatedHashes`. */
  verify(presented: string, storedHash: string, rotatedHashes?: readonly string[]): Promise<boolean>;
  /** `verify` over a client's `client_secret` and `rotated_secrets`. */
  verifyClient(presented: string, client: ClientSecretHashes): Promise<boolean>;
  /** Forgets every cached success. */
  clear(): void;
  /** Number of cached successes (for tests and metrics). */
  readonly cacheEntries: number;
}

/**
 * A verifier that remembers successful verifications in an LRU with a TTL.
 *
 * Why the cache is safe:
 * - **Only successes are cached.** A wrong guess always costs the full KDF, so the cache never makes
 *   guessing cheaper; it only spares a caller who already proved it knows the secret.
 * - **The key binds both values.** It is HMAC-SHA-256(k, storedHash ‖ 0x00 ‖ presented) with `k` a random
 *   key of this process. A hit means this exact secret matched this exact hash before, nothing weaker. The
 *   plain secret is never kept, and a dump of the cache keys alone cannot be brute-forced at hash speed
 *   without `k`.
 * - **Changing a secret invalidates by construction.** Rotating, replacing or deleting a secret (or the
 *   client) changes or removes the stored hash the caller passes in, so the old entries can no longer be
 *   hit; they age out through the TTL and the LRU bound. There is nothing to invalidate explicitly.
 * - **Timing**: a hit answers faster than a miss, but only for a (hash, secret) pair that already
 *   verified, which tells the caller nothing it did not know.
 *
 * Concurrent verifications of the same pair share one KDF run.
 */
export function createSecretVerifier(options: SecretVerifierOptions = {}): SecretVerifier {
  const cacheSize = options.cacheSize ?? 10_000;
  const ttl = options.cacheTtlMillis ?? 10 * 60 * 1000;
  const cache = cacheSize > 0 ? new LRUCache<string, true>({ max: cacheSize, ttl }) : undefined;
  const hmacKey = randomBytes(32);
  const inFlight = new Map<string, Promise<boolean>>();

  const keyOf = (storedHash: string, presented: string): string =>
    createHmac("sha256", hmacKey).update(storedHash, "utf8").update("\0").update(presented, "utf8").digest("base64");

  const verifyOne = async (presented: string, storedHash: string, key: string): Promise<boolean> => {
    const pending = inFlight.get(key);
    if (pending !== undefined) return pending;
    const run = verifyClientSecret(presented, storedHash).finally(() => inFlight.delete(key));
    inFlight.set(key, run);
    const ok = await run;
    if (ok) cache?.set(key, true);
    return ok;
  };

  const verify = async (presented: string, storedHash: string, rotatedHashes: readonly string[] = []): Promise<boolean> => {
    const hashes = [storedHash, ...rotatedHashes].filter((h) => h !== "");
    if (hashes.length === 0) return false;
    const keys = hashes.map((h) => keyOf(h, presented));
    // Cheap pass first: a cached success for any of the hashes.
    if (cache !== undefined && keys.some((k) => cache.get(k) === true)) return true;
    for (let i = 0; i < hashes.length; i++) {
      if (await verifyOne(presented, hashes[i] as string, keys[i] as string)) return true;
    }
    return false;
  };

  return {
    verify,
    verifyClient: (presented, client) => verify(presented, client.client_secret ?? "", client.rotated_secrets ?? []),
    clear: () => cache?.clear(),
    get cacheEntries() {
      return cache?.size ?? 0;
    },
  };
}
