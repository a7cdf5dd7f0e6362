/**
 * The OAuth2 service's system secret keyring (Hydra's `secrets.system`).
 *
 * An ordered list of secrets: the first one signs and encrypts, every one verifies and decrypts, so a secret
 * is rotated by prepending the new one and dropping the old one once nothing needs it any more (opaque tokens
 * expired, JSON Web Keys re-sealed). Each secret string is hashed with SHA-256 to 32 bytes, as Hydra's
 * `HashByteSecret` does; those hashes are never used directly as keys: every use derives its own key with
 * HKDF-SHA256 and a distinct `info` string (`derive`), so the token MAC key, the JWK sealing key and the
 * cookie keys are independent even though they come from one secret.
 *
 * Where the secrets come from:
 * - `oauth2.secrets.system` in the configuration (a list; each entry at least 16 characters, as Hydra
 *   requires). This is what production deployments should use.
 * - Otherwise one secret is generated on first start and kept in the key store under the reserved set
 *   `gatehouse.secrets.system` (one `oct` JWK, kid `system`), so every node of a cluster and every restart
 *   of the embedded store shares it. Anyone who can read that store can read this secret: it protects
 *   nothing against a database dump, which is why configuring the secret is recommended. Two nodes starting
 *   at once both try to insert the same kid; the store lets exactly one in and the other re-reads it.
 *
 * Moving from a generated secret to a configured one: read the generated value (`k` of the set above) and
 * keep it as the last entry of `oauth2.secrets.system`, otherwise keys and tokens made under it no longer
 * open.
 */
import { createHash, hkdfSync, randomBytes } from "node:crypto";
import { AlreadyExistsError, GatehouseError, InternalError, InvalidArgumentError } from "../../../common/errors.js";
import type { KeyStore } from "../store/oauth2-store.js";

/** The reserved key set holding a generated system secret. Never served by the keys API. */
export const SYSTEM_SECRETS_SET = "gatehouse.secrets.system";
/** The kid of the generated secret inside `SYSTEM_SECRETS_SET`. */
export const GENERATED_SECRET_KID = "system";
/** The configuration option the secrets come from (named in errors). */
export const SYSTEM_SECRETS_OPTION = "oauth2.secrets.system";
/** Hydra's minimum length of a system secret. */
export const MIN_SYSTEM_SECRET_LENGTH = 16;
/** Longest secret accepted (a sanity bound; the secret is hashed anyway). */
export const MAX_SYSTEM_SECRET_LENGTH = 4096;
/** The HKDF `info` of the cookie signing keys handed to oidc-provider. */
export const COOKIE_KEYS_INFO = "gatehouse oauth2 cookie keys";

/** Whether a key set name is reserved for the system secret (never exposed through the keys API or vault). */
export function isReservedKeySet(set: string): boolean {
  return set === SYSTEM_SECRETS_SET || set.startsWith(`${SYSTEM_SECRETS_SET}.`);
}

/** The ordered keyring. */
export interface SystemSecrets {
  /** SHA-256 of the first secret (32 bytes): what signs and encrypts. */
  readonly current: Buffer;
  /** SHA-256 of every secret, in order (the first is `current`): what verifies and decrypts. */
  readonly all: readonly Buffer[];
  /** Whether the secrets came from the configuration or were generated and kept in the key store. */
  readonly source: "configured" | "generated";
  /**
   * One key per secret, in keyring order, derived with HKDF-SHA256 (input: the secret's SHA-256, empty salt,
   * the given `info`). Use a distinct `info` per purpose.
   */
  derive(info: string, length?: number): Buffer[];
  /** oidc-provider's `cookies.keys`: one derived key per secret (base64url), the first signs. */
  cookieKeys(): string[];
}

/** Options of `loadSystemSecrets`. */
export interface LoadSystemSecretsOptions {
  /** `oauth2.secrets.system`; undefined or empty = generate one (or reuse the one in the store). */
  readonly configured?: readonly string[] | undefined;
  readonly store: KeyStore;
}

/** HKDF-SHA256 of `ikm` with an empty salt. */
function hkdf(ikm: Buffer, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync("sha256", ikm, Buffer.alloc(0), Buffer.from(info, "utf8"), length));
}

/** Builds a keyring from secret strings (already validated), first = current. */
export function systemSecretsFrom(secrets: readonly string[], source: "configured" | "generated" = "configured"): SystemSecrets {
  if (secrets.length === 0) throw new InternalError("a system secret keyring needs at least one secret");
  const all = secrets.map((s) => createHash("sha256").update(s, "utf8").digest());
  const current = all[0] as Buffer;
  const derived = new Map<string, Buffer[]>();
  const derive = (info: string, length = 32): Buffer[] => {
    if (!Number.isInteger(length) || length < 16 || length > 255 * 32) throw new InternalError(`derived key length ${length} is out of range`);
    const cacheKey = `${length}:${info}`;
    let keys = derived.get(cacheKey);
    if (keys === undefined) {
      keys = all.map((secret) => hkdf(secret, info, length));
      derived.set(cacheKey, keys);
    }
    return keys.map((k) => Buffer.from(k));
  };
  return {
    current,
    all,
    source,
    derive,
    cookieKeys: () => derive(COOKIE_KEYS_INFO, 32).map((k) => k.toString("base64url")),
  };
}

/** Checks configured secrets; errors name the option and the index, never the value. */
function validateConfigured(configured: readonly string[]): string[] {
  const secrets: string[] = [];
  configured.forEach((secret, i) => {
    const field = `${SYSTEM_SECRETS_OPTION}[${i}]`;
    if (typeof secret !== "string") throw new InvalidArgumentError(`${field} must be a string`, { details: { field } });
    if (secret.length < MIN_SYSTEM_SECRET_LENGTH) {
      throw new InvalidArgumentError(`${field} must be at least ${MIN_SYSTEM_SECRET_LENGTH} characters long (it has ${secret.length})`, { details: { field } });
    }
    if (secret.length > MAX_SYSTEM_SECRET_LENGTH) {
      throw new InvalidArgumentError(`${field} must be at most ${MAX_SYSTEM_SECRET_LENGTH} characters long`, { details: { field } });
    }
    secrets.push(secret);
  });
  const distinct = new Set(secrets);
  if (distinct.size !== secrets.length) throw new InvalidArgumentError(`${SYSTEM_SECRETS_OPTION} lists the same secret twice`, { details: { field: SYSTEM_SECRETS_OPTION } });
  return secrets;
}

/** The generated secrets kept in the store, newest first (normally exactly one). */
async function storedSecrets(store: KeyStore): Promise<string[]> {
  const keys = await store.listKeys(SYSTEM_SECRETS_SET);
  const secrets: string[] = [];
  for (const key of keys) {
    const k = key.jwk["k"];
    if (key.jwk["kty"] !== "oct" || typeof k !== "string" || k.length < MIN_SYSTEM_SECRET_LENGTH) {
      throw new InternalError(
        `the key set ${SYSTEM_SECRETS_SET} holds a malformed entry (kid ${JSON.stringify(key.kid)}); delete it or configure ${SYSTEM_SECRETS_OPTION}`,
      );
    }
    secrets.push(k);
  }
  return secrets;
}

function isAlreadyExists(err: unknown): boolean {
  return err instanceof AlreadyExistsError || (err instanceof GatehouseError && err.code === "already_exists");
}

/**
 * Loads the keyring: the configured secrets, or the generated one from the store (generating and storing it
 * on first start; race-safe across nodes).
 */
export async function loadSystemSecrets(options: LoadSystemSecretsOptions): Promise<SystemSecrets> {
  const configured = options.configured ?? [];
  if (configured.length > 0) return systemSecretsFrom(validateConfigured(configured), "configured");

  const existing = await storedSecrets(options.store);
  if (existing.length > 0) return systemSecretsFrom(existing, "generated");

  const k = randomBytes(32).toString("base64url");
  try {
    await options.store.addKey({
      set: SYSTEM_SECRETS_SET,
      kid: GENERATED_SECRET_KID,
      jwk: { kty: "oct", kid: GENERATED_SECRET_KID, k },
      createdAt: new Date(),
    });
  } catch (err) {
    // Another node stored its secret first: use that one.
    if (!isAlreadyExists(err)) throw err;
  }
  const stored = await storedSecrets(options.store);
  if (stored.length === 0) throw new InternalError(`the generated system secret could not be stored in the key set ${SYSTEM_SECRETS_SET}`);
  return systemSecretsFrom(stored, "generated");
}
