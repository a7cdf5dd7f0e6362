/**
 * Hydra-style opaque tokens (access and refresh tokens, authorization and device codes):
 *
 *     <prefix>_<kind>_<random>.<signature>
 *
 * - `prefix` (default `gh`) and `kind` (`at`, `rt`, `ac`, `dc`) make tokens recognisable to secret scanners,
 *   as Hydra's `ory_at_` and friends.
 * - `random` is base64url of 32 random bytes (43 characters), Hydra's default token entropy.
 * - `signature` is base64url of HMAC-SHA-512/256 (43 characters), keyed with a key derived from the system
 *   secret (HKDF-SHA256, info `gatehouse oauth2 token mac`). The MAC input is `<kind>_<random>` (ASCII): the
 *   kind is bound to the token, so an access token relabelled as a refresh token fails verification (Hydra
 *   MACs the random part alone). The prefix is not part of the MAC input; `verify` accepts the configured
 *   prefix only.
 *
 * Verification is constant-time and tries every key of the keyring (secret rotation) without an early exit.
 * Malformed strings (wrong length, prefix, kind or alphabet) are refused before any crypto runs.
 *
 * The store keys rows by `storageId(token)` = hex SHA-384 of the signature part (Hydra's `SignatureHash`), so
 * a database dump yields no usable token and nothing to recompute one from.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { InvalidArgumentError } from "../../../common/errors.js";
import type { SystemSecrets } from "./system-secrets.js";

/** Token kinds: access token, refresh token, authorization code, device code. */
export type OpaqueTokenKind = "at" | "rt" | "ac" | "dc";

/** All token kinds. */
export const OPAQUE_TOKEN_KINDS: readonly OpaqueTokenKind[] = ["at", "rt", "ac", "dc"];
/** The default prefix. */
export const DEFAULT_TOKEN_PREFIX = "gh";
/** HKDF info of the token MAC keys. */
export const TOKEN_MAC_INFO = "gatehouse oauth2 token mac";
/** Random bytes per token (Hydra's default entropy). */
export const TOKEN_ENTROPY_BYTES = 32;

/** base64url length of 32 bytes, unpadded. */
const PART_LENGTH = 43;
const PART_RE = /^[A-Za-z0-9_-]{43}$/;
const PREFIX_RE = /^[a-z][a-z0-9]{0,15}$/;
const KINDS = new Set<string>(OPAQUE_TOKEN_KINDS);

/** Mints, verifies and maps opaque tokens to storage ids. */
export interface OpaqueTokens {
  readonly prefix: string;
  /** A new token of the kind, MAC'd with the current secret. */
  mint(kind: OpaqueTokenKind): string;
  /** Whether the token is well-formed, carries this prefix (and `kind`, when given) and its MAC verifies under any secret. */
  verify(token: string, kind?: OpaqueTokenKind): boolean;
  /** The id the store keys the token's row by (hex SHA-384 of the signature part); throws on a malformed token. */
  storageId(token: string): string;
  /** The kind of a well-formed token of this prefix, else undefined (no MAC check). */
  kindOf(token: string): OpaqueTokenKind | undefined;
}

/** Options of `createOpaqueTokens`. */
export interface OpaqueTokensOptions {
  readonly secrets: SystemSecrets;
  /** Lowercase letters and digits, starting with a letter, at most 16 characters. Default `gh`. */
  readonly prefix?: string;
}

/** The parts of a token, split without any crypto; undefined when the token is malformed. */
function splitToken(token: string, prefix: string): { kind: OpaqueTokenKind; random: string; signature: string } | undefined {
  if (typeof token !== "string") return undefined;
  // <prefix> "_" <kind:2> "_" <43> "." <43>
  if (token.length !== prefix.length + 1 + 2 + 1 + PART_LENGTH + 1 + PART_LENGTH) return undefined;
  if (!token.startsWith(prefix) || token[prefix.length] !== "_") return undefined;
  const kind = token.slice(prefix.length + 1, prefix.length + 3);
  if (!KINDS.has(kind) || token[prefix.length + 3] !== "_") return undefined;
  const rest = token.slice(prefix.length + 4);
  if (rest[PART_LENGTH] !== ".") return undefined;
  const random = rest.slice(0, PART_LENGTH);
  const signature = rest.slice(PART_LENGTH + 1);
  if (!PART_RE.test(random) || !PART_RE.test(signature)) return undefined;
  return { kind: kind as OpaqueTokenKind, random, signature };
}

function mac(key: Buffer, kind: string, random: string): Buffer {
  return createHmac("sha512-256", key).update(`${kind}_${random}`, "ascii").digest();
}

/** Hex SHA-384 of a token's signature part (the part after the last `.`); no MAC check, no prefix check. */
export function storageIdOfSignature(signature: string): string {
  return createHash("sha384").update(signature, "ascii").digest("hex");
}

/**
 * The storage id of a token of any prefix: hex SHA-384 of the part after the last `.`. No MAC check; throws
 * when there is no well-formed signature part.
 */
export function storageIdOf(token: string): string {
  const dot = typeof token === "string" && token.length <= 256 ? token.lastIndexOf(".") : -1;
  const signature = dot < 0 ? "" : token.slice(dot + 1);
  if (!PART_RE.test(signature)) throw new InvalidArgumentError("token: not a well-formed opaque token", { details: { field: "token" } });
  return storageIdOfSignature(signature);
}

/** Validates a token prefix; the error names `prefix`. */
export function validateTokenPrefix(prefix: string): string {
  if (typeof prefix !== "string" || !PREFIX_RE.test(prefix)) {
    throw new InvalidArgumentError(`prefix: an opaque token prefix must be 1-16 lowercase letters or digits starting with a letter, got ${JSON.stringify(prefix)}`, {
      details: { field: "prefix" },
    });
  }
  return prefix;
}

/** Builds the token helper over the system secrets. */
export function createOpaqueTokens(options: OpaqueTokensOptions): OpaqueTokens {
  const prefix = validateTokenPrefix(options.prefix ?? DEFAULT_TOKEN_PREFIX);
  const keys = options.secrets.derive(TOKEN_MAC_INFO, 32);
  const current = keys[0] as Buffer;

  return {
    prefix,
    mint(kind) {
      if (!KINDS.has(kind)) throw new InvalidArgumentError(`kind: unknown opaque token kind ${JSON.stringify(kind)}`, { details: { field: "kind" } });
      const random = randomBytes(TOKEN_ENTROPY_BYTES).toString("base64url");
      return `${prefix}_${kind}_${random}.${mac(current, kind, random).toString("base64url")}`;
    },
    verify(token, kind) {
      const parts = splitToken(token, prefix);
      if (parts === undefined) return false;
      if (kind !== undefined && parts.kind !== kind) return false;
      // Compare the encoded signature: a non-canonical base64url spelling of the right bytes does not pass.
      const presented = Buffer.from(parts.signature, "ascii");
      let ok = false;
      for (const key of keys) {
        const expected = Buffer.from(mac(key, parts.kind, parts.random).toString("base64url"), "ascii");
        ok = (expected.length === presented.length && timingSafeEqual(expected, presented)) || ok;
      }
      return ok;
    },
    storageId(token) {
      const parts = splitToken(token, prefix);
      if (parts === undefined) throw new InvalidArgumentError("token: not a well-formed opaque token", { details: { field: "token" } });
      return storageIdOfSignature(parts.signature);
    },
    kindOf(token) {
      return splitToken(token, prefix)?.kind;
    },
  };
}
