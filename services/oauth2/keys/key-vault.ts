/**
 * JSON Web Key sets of the OAuth2 service (Hydra's `/admin/keys/{set}`), with private keys encrypted at rest.
 *
 * ## At-rest format
 *
 * Every row the vault writes (`StoredKey.jwk`) is the key's public members in clear plus one member `sealed`:
 *
 *     { "kty": "RSA", "kid": "…", "alg": "RS256", "use": "sig", "n": "…", "e": "AQAB",
 *       "sealed": "v1.<iv>.<ciphertext>.<tag>" }
 *
 * - The clear part is the JWK minus its private members (`d p q dp dq qi oth k priv`); for an `oct` key that
 *   leaves `kty`, `kid`, `alg`, `use`.
 * - `sealed` holds AES-256-GCM over the JSON object of the private members (`{}` for a public key, so public
 *   rows are authenticated too); `iv` is 12 random bytes, `tag` 16 bytes, each part base64url. `v1` names
 *   this layout.
 * - The AAD is the JSON array `["gatehouse-jwk-v1", set, kid, <canonical JSON of the clear members>]`: a row
 *   moved to another set or kid, or whose clear members were edited (say, a swapped public key), fails to
 *   open instead of being served.
 * - The AES key is HKDF-SHA256(SHA-256(secret), empty salt, info `gatehouse oauth2 jwk`, 32 bytes). The first
 *   secret of `oauth2.secrets.system` seals; opening tries every secret of the keyring, so rotating the system
 *   secret (prepend the new one, keep the old one) keeps every key readable. A row no secret opens is a
 *   `SystemSecretMismatchError` naming `oauth2.secrets.system`.
 * - A row without `sealed` (not written by the vault) is refused.
 *
 * ## Signing keys
 *
 * `ensureSigningKeys` creates what is missing of `hydra.openid.id-token` (one RS256 and one ES256 key) and
 * `hydra.jwt.access-token` (one RS256 key). Kids of these automatic keys are derived from the set, the
 * algorithm and the store's `keysVersion()` read before the set was found lacking, so two nodes starting at
 * once compute the same kid: the store lets one insert through (`AlreadyExistsError` for the other), and the
 * loser re-reads and uses the winner's key. No second generation is left behind.
 *
 * RSA keys are 2048 bits by default (`rsaBits`); Hydra generates 4096-bit keys, which takes about a second
 * per key in Node.
 */
import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPair, randomBytes, randomUUID, sign as signData, verify as verifySignature, type JsonWebKey as NodeJwk, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import { AlreadyExistsError, GatehouseError, InvalidArgumentError } from "../../../common/errors.js";
import type { KeyStore, StoredKey } from "../store/oauth2-store.js";
import { isReservedKeySet, SYSTEM_SECRETS_OPTION, SYSTEM_SECRETS_SET, type SystemSecrets } from "./system-secrets.js";

const generateKeyPairAsync = promisify(generateKeyPair);

/** The set whose keys sign ID tokens (Hydra's name). */
export const ID_TOKEN_SET = "hydra.openid.id-token";
/** The set whose keys sign JWT access tokens (Hydra's name). */
export const ACCESS_TOKEN_SET = "hydra.jwt.access-token";
/** HKDF info of the JWK sealing key. */
export const JWK_SEAL_INFO = "gatehouse oauth2 jwk";
/** Algorithms `generate` (Hydra's `POST /admin/keys/{set}`) accepts. */
export const GENERATABLE_ALGS = ["RS256", "ES256", "ES512", "HS256", "HS512"] as const;
/** One of `GENERATABLE_ALGS`. */
export type GeneratableAlg = (typeof GENERATABLE_ALGS)[number];
/** Key uses. */
export const KEY_USES = ["sig", "enc"] as const;
/** `sig` or `enc`. */
export type KeyUse = (typeof KEY_USES)[number];
/**
 * Signing algorithms `providerJwks` keeps by default: oidc-provider's default `enabledJWA.idTokenSigningAlgValues`.
 * oidc-provider refuses a `jwks` key whose algorithm no enabled JWA list contains, so widen this only together
 * with `enabledJWA`.
 */
export const DEFAULT_PROVIDER_SIGNING_ALGS: readonly string[] = ["RS256", "PS256", "ES256", "Ed25519", "EdDSA"];
/** The keys `ensureSigningKeys` makes sure exist. */
export const REQUIRED_SIGNING_KEYS: readonly { readonly set: string; readonly alg: "RS256" | "ES256" }[] = [
  { set: ID_TOKEN_SET, alg: "RS256" },
  { set: ID_TOKEN_SET, alg: "ES256" },
  { set: ACCESS_TOKEN_SET, alg: "RS256" },
];
/** Default RSA modulus of generated keys (Hydra: 4096). */
export const DEFAULT_RSA_BITS = 2048;
/** Longest set name and kid (Hydra's columns are varchar(255)). */
export const MAX_NAME_LENGTH = 255;
/** Most keys one `importKeys` takes. */
export const MAX_IMPORT_KEYS = 100;

/** A JSON Web Key as the admin API shows it (private members included when the key has them). */
export interface Jwk {
  readonly kty: string;
  readonly kid: string;
  readonly alg?: string;
  readonly use?: string;
  readonly [member: string]: unknown;
}

/** A JSON Web Key Set. */
export interface Jwks {
  readonly keys: Jwk[];
}

/** A private signing key as oidc-provider's `jwks` option takes it (assignable to its `JWK`). */
export interface ProviderJwk {
  readonly kty: string;
  readonly kid: string;
  readonly alg: string;
  readonly use: "sig";
  readonly crv?: string;
  readonly n?: string;
  readonly e?: string;
  readonly x?: string;
  readonly y?: string;
  readonly d?: string;
  readonly p?: string;
  readonly q?: string;
  readonly dp?: string;
  readonly dq?: string;
  readonly qi?: string;
  readonly x5c?: readonly string[];
}

/** What `generate` makes. */
export interface GenerateKeyOptions {
  readonly alg: string;
  /** Default `sig` (Hydra's default). */
  readonly use?: string;
  /** Default: a random UUID (Hydra's default). */
  readonly kid?: string;
}

/** A key `ensureSigningKeys` created. */
export interface CreatedSigningKey {
  readonly set: string;
  readonly kid: string;
  readonly alg: string;
}

/** Options of `providerJwks`. */
export interface ProviderJwksOptions {
  /** Algorithms to keep (the provider's enabled JWS algorithms). Default `DEFAULT_PROVIDER_SIGNING_ALGS`. */
  readonly signingAlgs?: readonly string[];
}

/** The key sets, sealed at rest. */
export interface KeyVault {
  /** Generates a key into the set (created when missing) and returns its public JWK (`{kty, kid, alg, use}` for HS*). */
  generate(set: string, options: GenerateKeyOptions): Promise<Jwk>;
  /** As `generate`, returning the private JWK (what Hydra's `POST /admin/keys/{set}` answers). */
  generateKey(set: string, options: GenerateKeyOptions): Promise<Jwk>;
  /**
   * Replaces the set with these keys (Hydra's `PUT /admin/keys/{set}`); the first key becomes the newest.
   * Errors name `keys[i].<member>`. Returns the stored keys (private members included).
   */
  importKeys(set: string, jwks: { readonly keys: readonly unknown[] }): Promise<Jwk[]>;
  /** Creates or replaces one key (Hydra's `PUT /admin/keys/{set}/{kid}`); it becomes the newest of its set. */
  putKey(set: string, jwk: unknown): Promise<Jwk>;
  /** One key with its private members, or undefined. */
  getKey(set: string, kid: string): Promise<Jwk | undefined>;
  /** The set's keys with their private members, newest first (empty when the set does not exist). */
  privateSet(set: string): Promise<Jwk[]>;
  /** The set's asymmetric keys without private members, newest first (symmetric keys have nothing public). */
  publicSet(set: string): Promise<Jwk[]>;
  /** Deletes a key (kid given) or the whole set; returns how many keys went. */
  delete(set: string, kid?: string): Promise<number>;
  /** Creates the missing default signing keys (idempotent, safe when several nodes start at once). */
  ensureSigningKeys(): Promise<CreatedSigningKey[]>;
  /**
   * oidc-provider's `jwks` option: the private signing keys of `hydra.openid.id-token`, then of
   * `hydra.jwt.access-token`, newest first within each (oidc-provider signs with the first key of an
   * algorithm, so ID tokens use the newest ID-token key). Every key has `use: "sig"` and an `alg`; a kid
   * seen twice is kept once. Select the access-token key for JWT access tokens with
   * `jwt.sign.kid = await vault.signingKid(ACCESS_TOKEN_SET, alg)`.
   */
  providerJwks(options?: ProviderJwksOptions): Promise<{ keys: ProviderJwk[] }>;
  /** What `/.well-known/jwks.json` serves: the public asymmetric keys of both signing sets. */
  publishedJwks(): Promise<Jwks>;
  /** The kid of the newest private signing key of `alg` in the set, if any. */
  signingKid(set: string, alg: string): Promise<string | undefined>;
}

/** Options of `createKeyVault`. */
export interface KeyVaultOptions {
  readonly store: KeyStore;
  readonly secrets: SystemSecrets;
  /** RSA modulus of generated keys; >= 2048, a multiple of 8. Default 2048 (Hydra: 4096). */
  readonly rsaBits?: number;
}

/** A stored key no secret of the keyring opens (the system secret changed, or the row was tampered with). */
export class SystemSecretMismatchError extends GatehouseError {
  constructor(set: string, kid: string, secrets: number) {
    super(
      "internal",
      `cannot decrypt JSON Web Key ${JSON.stringify(kid)} of set ${JSON.stringify(set)}: none of the ${secrets} secret(s) of ${SYSTEM_SECRETS_OPTION} opens it (or the stored row was altered). ` +
        `The system secret was probably replaced instead of rotated: put the new secret first and keep the previous one in ${SYSTEM_SECRETS_OPTION}`,
      { reason: "system_secret_mismatch", details: { set, kid } },
    );
    this.name = "SystemSecretMismatchError";
  }
}

const PRIVATE_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"] as const;
const PRIVATE_SET = new Set<string>(PRIVATE_MEMBERS);
const STRING_MEMBERS = ["kty", "kid", "alg", "use", "crv", "n", "e", "x", "y", "x5u", "x5t", "x5t#S256", "d", "p", "q", "dp", "dq", "qi", "k"] as const;
const ARRAY_MEMBERS = ["key_ops", "x5c"] as const;
const KEY_TYPES = new Set(["RSA", "EC", "OKP", "oct"]);
const SEALED_MEMBER = "sealed";
const SEAL_VERSION = "v1";
const B64URL_RE = /^[A-Za-z0-9_-]+$/;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

/** Curves of the EC/OKP JWS algorithms (RSA algorithms need kty RSA, HS* need oct). */
const JWS_CURVES: Record<string, { kty: string; crv?: string }> = {
  RS256: { kty: "RSA" },
  RS384: { kty: "RSA" },
  RS512: { kty: "RSA" },
  PS256: { kty: "RSA" },
  PS384: { kty: "RSA" },
  PS512: { kty: "RSA" },
  ES256: { kty: "EC", crv: "P-256" },
  ES384: { kty: "EC", crv: "P-384" },
  ES512: { kty: "EC", crv: "P-521" },
  EdDSA: { kty: "OKP", crv: "Ed25519" },
  Ed25519: { kty: "OKP", crv: "Ed25519" },
  HS256: { kty: "oct" },
  HS384: { kty: "oct" },
  HS512: { kty: "oct" },
};

const invalid = (field: string, message: string): InvalidArgumentError => new InvalidArgumentError(`${field}: ${message}`, { details: { field } });

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isAlreadyExists(err: unknown): boolean {
  return err instanceof AlreadyExistsError || (err instanceof GatehouseError && err.code === "already_exists");
}

/** Checks a set name or kid: a non-empty string of at most 255 characters without control characters. */
function checkName(value: unknown, field: string): string {
  if (typeof value !== "string" || value === "") throw invalid(field, "must be a non-empty string");
  if (value.length > MAX_NAME_LENGTH) throw invalid(field, `must be at most ${MAX_NAME_LENGTH} characters long`);
  if (CONTROL_RE.test(value)) throw invalid(field, "must not contain control characters");
  return value;
}

/** Refuses the reserved system-secret set; checks the name. */
function checkSet(set: string): string {
  checkName(set, "set");
  if (isReservedKeySet(set)) {
    throw new GatehouseError(
      "permission_denied",
      `the key set ${SYSTEM_SECRETS_SET} holds the system secret and cannot be read or changed through the keys API; configure ${SYSTEM_SECRETS_OPTION} instead`,
      { reason: "reserved_key_set", details: { field: "set" } },
    );
  }
  return set;
}

/** JSON with object keys sorted (stable AAD for the clear members). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (isRecord(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

function splitMembers(jwk: Jwk): { pub: Record<string, unknown>; priv: Record<string, unknown> } {
  const pub: Record<string, unknown> = {};
  const priv: Record<string, unknown> = {};
  for (const [member, value] of Object.entries(jwk)) {
    if (value === undefined) continue;
    if (PRIVATE_SET.has(member)) priv[member] = value;
    else pub[member] = value;
  }
  return { pub, priv };
}

function aadOf(set: string, kid: string, pub: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify(["gatehouse-jwk-v1", set, kid, canonicalJson(pub)]), "utf8");
}

function seal(key: Buffer, set: string, jwk: Jwk): Record<string, unknown> {
  const { pub, priv } = splitMembers(jwk);
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aadOf(set, jwk.kid, pub));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(priv), "utf8"), cipher.final()]);
  const tag = cipher.getAuthTag();
  return { ...pub, [SEALED_MEMBER]: `${SEAL_VERSION}.${iv.toString("base64url")}.${ciphertext.toString("base64url")}.${tag.toString("base64url")}` };
}

function open(keys: readonly Buffer[], stored: StoredKey): Jwk {
  const { [SEALED_MEMBER]: sealed, ...pub } = stored.jwk;
  const parts = typeof sealed === "string" ? sealed.split(".") : [];
  const [version, ivText, ctText, tagText] = parts;
  if (
    parts.length !== 4 ||
    version !== SEAL_VERSION ||
    ivText === undefined ||
    ctText === undefined ||
    tagText === undefined ||
    !B64URL_RE.test(ivText) ||
    !B64URL_RE.test(ctText) ||
    !B64URL_RE.test(tagText)
  ) {
    throw new GatehouseError("internal", `JSON Web Key ${JSON.stringify(stored.kid)} of set ${JSON.stringify(stored.set)} is not sealed by Gatehouse; re-import it`, {
      reason: "unsealed_key",
      details: { set: stored.set, kid: stored.kid },
    });
  }
  const iv = Buffer.from(ivText, "base64url");
  const ciphertext = Buffer.from(ctText, "base64url");
  const tag = Buffer.from(tagText, "base64url");
  const aad = aadOf(stored.set, stored.kid, pub);
  for (const key of keys) {
    let plaintext: Buffer;
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, iv, { authTagLength: 16 });
      decipher.setAAD(aad);
      decipher.setAuthTag(tag);
      plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      continue;
    }
    const priv = JSON.parse(plaintext.toString("utf8")) as unknown;
    if (!isRecord(priv) || Object.keys(priv).some((m) => !PRIVATE_SET.has(m))) {
      throw new GatehouseError("internal", `JSON Web Key ${JSON.stringify(stored.kid)} of set ${JSON.stringify(stored.set)} has a malformed sealed part`);
    }
    return { ...pub, ...priv, kid: stored.kid } as Jwk;
  }
  throw new SystemSecretMismatchError(stored.set, stored.kid, keys.length);
}

/** The public view of a JWK (undefined for symmetric keys). */
export function publicJwkOf(jwk: Jwk): Jwk | undefined {
  if (jwk.kty === "oct") return undefined;
  return splitMembers(jwk).pub as Jwk;
}

/** Whether `alg` fits the key type (unknown algorithms, e.g. JWE ones, are not checked). */
function algFits(alg: string, kty: string, crv: unknown): boolean {
  const want = JWS_CURVES[alg];
  if (want === undefined) return true;
  return want.kty === kty && (want.crv === undefined || want.crv === crv);
}

/** The JWK members Node's importer needs for this key type. */
function keyMaterial(jwk: Record<string, unknown>, withPrivate: boolean): NodeJwk {
  const pick = (...members: string[]): NodeJwk => Object.fromEntries(members.filter((m) => jwk[m] !== undefined).map((m) => [m, jwk[m]])) as NodeJwk;
  switch (jwk["kty"]) {
    case "RSA":
      return withPrivate ? pick("kty", "n", "e", "d", "p", "q", "dp", "dq", "qi") : pick("kty", "n", "e");
    case "EC":
      return withPrivate ? pick("kty", "crv", "x", "y", "d") : pick("kty", "crv", "x", "y");
    default:
      return withPrivate ? pick("kty", "crv", "x", "d") : pick("kty", "crv", "x");
  }
}

/**
 * Whether the clear public members belong to the private key. Node's JWK import trusts the given public
 * members, so a signature made with the private key is checked against them (key agreement curves, which cannot
 * sign, compare the public key OpenSSL derives instead).
 */
function publicMatchesPrivate(publicKey: KeyObject, privateKey: KeyObject): boolean {
  const type = privateKey.asymmetricKeyType;
  if (type === "x25519" || type === "x448") {
    const derived = createPublicKey(privateKey).export({ format: "jwk" });
    return derived.x === (publicKey.export({ format: "jwk" }) as Record<string, unknown>)["x"];
  }
  const probe = randomBytes(32);
  const digest = type === "ed25519" || type === "ed448" ? null : "sha256";
  try {
    return verifySignature(digest, probe, publicKey, signData(digest, probe, privateKey));
  } catch {
    return false;
  }
}

/**
 * Checks and normalises a JWK given by a client: known members only, strings where strings belong, a key Node
 * can load, public members that match the private key, RSA >= 2048 bits, `alg` fitting the key type.
 */
function normalizeJwk(input: unknown, field: string): Jwk {
  if (!isRecord(input)) throw invalid(field, "must be a JSON Web Key object");
  const out: Record<string, unknown> = {};
  for (const member of STRING_MEMBERS) {
    const value = input[member];
    if (value === undefined || value === null) continue;
    if (typeof value !== "string") throw invalid(`${field}.${member}`, "must be a string");
    out[member] = value;
  }
  for (const member of ARRAY_MEMBERS) {
    const value = input[member];
    if (value === undefined || value === null) continue;
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw invalid(`${field}.${member}`, "must be an array of strings");
    if (value.length > 0) out[member] = [...(value as string[])];
  }
  if (input["oth"] !== undefined) throw invalid(`${field}.oth`, "multi-prime RSA keys are not supported");
  const kty = out["kty"];
  if (typeof kty !== "string" || !KEY_TYPES.has(kty)) throw invalid(`${field}.kty`, `must be one of RSA, EC, OKP, oct (got ${JSON.stringify(kty ?? null)})`);
  checkName(out["kid"], `${field}.kid`);
  const use = out["use"];
  if (use !== undefined && use !== "sig" && use !== "enc") throw invalid(`${field}.use`, `must be "sig" or "enc" (got ${JSON.stringify(use)})`);
  const alg = out["alg"];
  if (alg !== undefined && (alg === "" || (alg as string).length > 64)) throw invalid(`${field}.alg`, "must be a non-empty string of at most 64 characters");
  if (typeof alg === "string" && !algFits(alg, kty, out["crv"])) {
    throw invalid(`${field}.alg`, `${alg} does not fit a ${kty}${typeof out["crv"] === "string" ? ` ${out["crv"]}` : ""} key`);
  }

  if (kty === "oct") {
    const k = out["k"];
    if (typeof k !== "string" || k === "" || !B64URL_RE.test(k)) throw invalid(`${field}.k`, "a symmetric key needs k (base64url)");
    for (const m of ["n", "e", "x", "y", "d", "crv"]) if (out[m] !== undefined) throw invalid(`${field}.${m}`, "is not a member of a symmetric key");
    return out as Jwk;
  }
  if (out["k"] !== undefined) throw invalid(`${field}.k`, `is not a member of a ${kty} key`);

  const hasPrivate = out["d"] !== undefined;
  if (!hasPrivate) {
    const stray = PRIVATE_MEMBERS.find((m) => out[m] !== undefined);
    if (stray !== undefined) throw invalid(`${field}.d`, `is required when private members (${stray}) are given`);
  }
  let publicKey: KeyObject;
  let privateKey: KeyObject | undefined;
  try {
    publicKey = createPublicKey({ key: keyMaterial(out, false), format: "jwk" });
    if (hasPrivate) privateKey = createPrivateKey({ key: keyMaterial(out, true), format: "jwk" });
  } catch (err) {
    throw invalid(field, `not a valid ${kty} ${hasPrivate ? "private" : "public"} key (${err instanceof Error ? err.message : String(err)})`);
  }
  if (privateKey !== undefined && !publicMatchesPrivate(publicKey, privateKey)) {
    throw invalid(`${field}.${kty === "RSA" ? "n" : "x"}`, "does not match the private key");
  }
  if (kty === "RSA") {
    const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw invalid(`${field}.n`, `RSA keys must have at least 2048 bits (this one has ${bits})`);
  }
  return out as Jwk;
}

/** Deterministic kid of an automatic signing key (same inputs on every node → one winner). */
function autoKid(set: string, alg: string, version: number): string {
  const digest = createHash("sha256").update(JSON.stringify(["gatehouse-auto-kid", set, alg, version])).digest("base64url");
  return `${alg.toLowerCase()}-${digest.slice(0, 22)}`;
}

/** Fresh key material for one of the generatable algorithms (private JWK without kid/alg/use). */
async function generateMaterial(alg: GeneratableAlg, rsaBits: number): Promise<Record<string, unknown>> {
  switch (alg) {
    case "RS256": {
      const { privateKey } = await generateKeyPairAsync("rsa", { modulusLength: rsaBits, publicExponent: 0x10001 });
      return privateKey.export({ format: "jwk" }) as Record<string, unknown>;
    }
    case "ES256":
    case "ES512": {
      const { privateKey } = await generateKeyPairAsync("ec", { namedCurve: alg === "ES256" ? "P-256" : "P-521" });
      return privateKey.export({ format: "jwk" }) as Record<string, unknown>;
    }
    case "HS256":
      return { kty: "oct", k: randomBytes(32).toString("base64url") };
    case "HS512":
      return { kty: "oct", k: randomBytes(64).toString("base64url") };
  }
}

/** The algorithm assumed for a key stored without `alg`: RS256 for RSA, by curve for EC, EdDSA for OKP. */
function defaultAlgOf(jwk: Jwk): string | undefined {
  if (jwk.kty === "RSA") return "RS256";
  if (jwk.kty === "EC") return ({ "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" } as Record<string, string | undefined>)[String(jwk["crv"])];
  if (jwk.kty === "OKP") return "EdDSA";
  return undefined;
}

/** The members oidc-provider needs of a private signing key, typed. */
function providerJwkOf(jwk: Jwk, alg: string): ProviderJwk {
  const out: Record<string, unknown> = { kty: jwk.kty, kid: jwk.kid, alg, use: "sig" };
  for (const member of ["crv", "n", "e", "x", "y", "d", "p", "q", "dp", "dq", "qi"]) {
    const value = jwk[member];
    if (typeof value === "string") out[member] = value;
  }
  const x5c = jwk["x5c"];
  if (Array.isArray(x5c) && x5c.length > 0) out["x5c"] = [...(x5c as string[])];
  return out as unknown as ProviderJwk;
}

/** Orders a JWK's members the usual way (kty, kid, alg, use first) for readable answers. */
function ordered(jwk: Record<string, unknown>): Jwk {
  const { kty, kid, alg, use, ...rest } = jwk;
  const out: Record<string, unknown> = { kty, kid };
  if (alg !== undefined) out["alg"] = alg;
  if (use !== undefined) out["use"] = use;
  return { ...out, ...rest } as Jwk;
}

/** Builds the vault. */
export function createKeyVault(options: KeyVaultOptions): KeyVault {
  const { store } = options;
  const rsaBits = options.rsaBits ?? DEFAULT_RSA_BITS;
  if (!Number.isInteger(rsaBits) || rsaBits < 2048 || rsaBits > 16384 || rsaBits % 8 !== 0) {
    throw new InvalidArgumentError(`rsaBits: must be a multiple of 8 between 2048 and 16384 (got ${rsaBits})`, { details: { field: "rsaBits" } });
  }
  const sealKeys = options.secrets.derive(JWK_SEAL_INFO, 32);
  const currentSealKey = sealKeys[0] as Buffer;

  const toStored = (set: string, jwk: Jwk, createdAt: Date): StoredKey => ({ set, kid: jwk.kid, jwk: seal(currentSealKey, set, jwk), createdAt });

  const readSet = async (set: string): Promise<Jwk[]> => (await store.listKeys(set)).map((row) => ordered(open(sealKeys, row)));

  const checkGenerate = (opts: GenerateKeyOptions): { alg: GeneratableAlg; use: KeyUse; kid: string } => {
    if (!isRecord(opts)) throw invalid("body", "must be an object with alg, use and kid");
    const { alg, use, kid } = opts;
    if (alg === undefined || alg === null || alg === "") throw invalid("alg", `is required; one of ${GENERATABLE_ALGS.join(", ")}`);
    if (typeof alg !== "string" || !(GENERATABLE_ALGS as readonly string[]).includes(alg)) {
      throw invalid("alg", `unsupported key algorithm ${JSON.stringify(alg)}; supported: ${GENERATABLE_ALGS.join(", ")}`);
    }
    const useValue = use === undefined || use === null || use === "" ? "sig" : use;
    if (typeof useValue !== "string" || !(KEY_USES as readonly string[]).includes(useValue)) {
      throw invalid("use", `must be "sig" or "enc" (got ${JSON.stringify(use)})`);
    }
    const kidValue = kid === undefined || kid === null || kid === "" ? randomUUID() : checkName(kid, "kid");
    return { alg: alg as GeneratableAlg, use: useValue as KeyUse, kid: kidValue };
  };

  const generateKey = async (set: string, opts: GenerateKeyOptions): Promise<Jwk> => {
    checkSet(set);
    const { alg, use, kid } = checkGenerate(opts);
    const material = await generateMaterial(alg, rsaBits);
    const jwk = ordered({ ...material, kid, alg, use });
    await store.addKey(toStored(set, jwk, new Date()));
    return jwk;
  };

  const privateSet = async (set: string): Promise<Jwk[]> => readSet(checkSet(set));

  const vault: KeyVault = {
    generateKey,

    async generate(set, opts) {
      const jwk = await generateKey(set, opts);
      return publicJwkOf(jwk) ?? ordered({ kty: jwk.kty, kid: jwk.kid, alg: jwk.alg, use: jwk.use });
    },

    async importKeys(set, jwks) {
      checkSet(set);
      if (!isRecord(jwks) || !Array.isArray(jwks.keys)) throw invalid("keys", "must be an array of JSON Web Keys");
      if (jwks.keys.length > MAX_IMPORT_KEYS) throw invalid("keys", `at most ${MAX_IMPORT_KEYS} keys per set`);
      const keys = jwks.keys.map((k, i) => ordered(normalizeJwk(k, `keys[${i}]`)));
      const seen = new Set<string>();
      keys.forEach((k, i) => {
        if (seen.has(k.kid)) throw invalid(`keys[${i}].kid`, `${JSON.stringify(k.kid)} appears twice`);
        seen.add(k.kid);
      });
      // Everything is checked and sealed before the set is touched. Stores order a set by insertion, so the keys
      // are (re)inserted last to first, making the first one the newest; kids that are gone go last, so readers
      // never see the set empty midway.
      const now = Date.now();
      const rows = keys.map((k, i) => toStored(set, k, new Date(now - i)));
      const existing = new Set((await store.listKeys(set)).map((k) => k.kid));
      for (const row of [...rows].reverse()) {
        if (existing.has(row.kid)) await store.deleteKeys(set, row.kid);
        await store.addKey(row);
      }
      for (const kid of existing) if (!seen.has(kid)) await store.deleteKeys(set, kid);
      return keys;
    },

    async putKey(set, input) {
      checkSet(set);
      const jwk = ordered(normalizeJwk(input, "key"));
      const row = toStored(set, jwk, new Date());
      await store.deleteKeys(set, jwk.kid);
      await store.addKey(row);
      return jwk;
    },

    async getKey(set, kid) {
      checkSet(set);
      const row = (await store.listKeys(set)).find((k) => k.kid === kid);
      return row === undefined ? undefined : ordered(open(sealKeys, row));
    },

    privateSet,

    async publicSet(set) {
      return (await privateSet(set)).map(publicJwkOf).filter((k): k is Jwk => k !== undefined);
    },

    async delete(set, kid) {
      checkSet(set);
      return store.deleteKeys(set, kid);
    },

    async ensureSigningKeys() {
      const created: CreatedSigningKey[] = [];
      for (const { set, alg } of REQUIRED_SIGNING_KEYS) {
        for (let attempt = 0; ; attempt++) {
          // The version is read before the set: a node that sees the set lacking the key computes the same kid
          // as any node racing it from the same state.
          const version = await store.keysVersion();
          const keys = await readSet(set);
          if (keys.some((k) => k.alg === alg && (k.use ?? "sig") === "sig" && typeof k["d"] === "string")) break;
          const kid = autoKid(set, alg, version);
          try {
            const material = await generateMaterial(alg, rsaBits);
            await store.addKey(toStored(set, ordered({ ...material, kid, alg, use: "sig" }), new Date()));
            created.push({ set, kid, alg });
            break;
          } catch (err) {
            // Another node inserted the same kid first: re-read and use its key.
            if (!isAlreadyExists(err) || attempt >= 4) throw err;
          }
        }
      }
      return created;
    },

    async providerJwks(opts = {}) {
      const allowed = new Set(opts.signingAlgs ?? DEFAULT_PROVIDER_SIGNING_ALGS);
      const keys: ProviderJwk[] = [];
      const kids = new Set<string>();
      for (const set of [ID_TOKEN_SET, ACCESS_TOKEN_SET]) {
        for (const jwk of await readSet(set)) {
          if (jwk.kty === "oct" || typeof jwk["d"] !== "string") continue;
          if (jwk.use !== undefined && jwk.use !== "sig") continue;
          const alg = jwk.alg ?? defaultAlgOf(jwk);
          if (alg === undefined || !allowed.has(alg) || !algFits(alg, jwk.kty, jwk["crv"]) || kids.has(jwk.kid)) continue;
          kids.add(jwk.kid);
          keys.push(providerJwkOf(jwk, alg));
        }
      }
      return { keys };
    },

    async publishedJwks() {
      const keys: Jwk[] = [];
      const kids = new Set<string>();
      for (const set of [ID_TOKEN_SET, ACCESS_TOKEN_SET]) {
        for (const jwk of await readSet(set)) {
          const pub = publicJwkOf(jwk);
          if (pub === undefined || kids.has(pub.kid)) continue;
          kids.add(pub.kid);
          keys.push(pub);
        }
      }
      return { keys };
    },

    async signingKid(set, alg) {
      const keys = await privateSet(set);
      return keys.find((k) => k.alg === alg && (k.use ?? "sig") === "sig" && k.kty !== "oct" && typeof k["d"] === "string")?.kid;
    },
  };
  return vault;
}
