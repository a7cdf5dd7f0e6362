/**
 * Opaque, signed page tokens for keyset pagination, shared by every store.
 *
 * A token is `base64url(payload) "." base64url(HMAC-SHA256(secret, payload))` where the payload is JSON
 * `{v, r, k, f}`: format version, the revision the listing reads at, the key of the last tuple returned, and a
 * fingerprint of the filter. Signing keeps clients from forging a cursor (say, a revision the store never
 * served); the fingerprint ties a token to the filter it was issued for.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { InvalidArgumentError } from "../../common/errors.js";
import { canonicalFilter } from "./tuple-filter.js";
import type { TupleKey } from "./tuple-key.js";
import { isTupleKey } from "./tuple-key.js";
import type { Revision, TupleFilter } from "./tuple-store.js";

/** Where a listing continues: at which revision, after which tuple. */
export interface PageCursor {
  readonly revision: Revision;
  readonly after: TupleKey;
}

/** Encodes and verifies page tokens. */
export interface PageTokenCodec {
  /** A token resuming after `cursor` for `filter`. */
  encode(cursor: PageCursor, filter: TupleFilter): string;
  /** The cursor of a token; `InvalidArgumentError` (field `page_token`) when forged, foreign or for another filter. */
  decode(token: string, filter: TupleFilter): PageCursor;
}

/** Options of `createPageTokenCodec`. */
export interface PageTokenCodecOptions {
  /**
   * The HMAC key. Stores that share data must share it (SQL stores keep a generated one in the database);
   * when absent, a random key is generated, so tokens only work with the codec that issued them.
   */
  readonly secret?: string | Uint8Array;
}

const FORMAT_VERSION = 1;
const FIELD = "page_token";

/** A refused page token, naming the `page_token` field. */
export function invalidPageToken(reason: string): InvalidArgumentError {
  return new InvalidArgumentError(`page_token: ${reason}`, { details: { field: FIELD } });
}
const invalid = invalidPageToken;

function fingerprint(filter: TupleFilter): string {
  return createHash("sha256").update(canonicalFilter(filter)).digest("base64url").slice(0, 22);
}

/** A new random 256-bit pagination secret, hex-encoded. */
export function generatePaginationSecret(): string {
  return randomBytes(32).toString("hex");
}

/**
 * The signed envelope every store's page tokens use: `base64url(JSON payload) "." base64url(HMAC-SHA256)`.
 * `open` refuses altered, foreign or malformed tokens with `page_token` errors; the payload's fields are the
 * caller's to check.
 */
export interface SignedPageTokens {
  seal(payload: Readonly<Record<string, unknown>>): string;
  open(token: unknown): Record<string, unknown>;
}

/** The envelope with an HMAC key; without one a random key, so tokens only work with this instance. */
export function createSignedPageTokens(secret: string | Uint8Array = randomBytes(32)): SignedPageTokens {
  if (secret.length === 0) {
    throw new InvalidArgumentError("paginationSecret must not be empty", { details: { field: "paginationSecret" } });
  }
  const sign = (payload: string): Buffer => createHmac("sha256", secret).update(payload).digest();
  return {
    seal(payload) {
      const text = Buffer.from(JSON.stringify(payload), "utf8").toString("base64url");
      return `${text}.${sign(text).toString("base64url")}`;
    },
    open(token) {
      if (typeof token !== "string" || token.length === 0 || token.length > 16_384) throw invalidPageToken("malformed token");
      const dot = token.indexOf(".");
      if (dot <= 0 || dot !== token.lastIndexOf(".")) throw invalidPageToken("malformed token");
      const payload = token.slice(0, dot);
      const given = Buffer.from(token.slice(dot + 1), "base64url");
      const expected = sign(payload);
      // Constant-time comparison so the signature cannot be guessed byte by byte from response times.
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw invalidPageToken("the token was altered or was not issued by this store");
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
      } catch {
        throw invalidPageToken("malformed token");
      }
      if (typeof parsed !== "object" || parsed === null) throw invalidPageToken("malformed token");
      return parsed as Record<string, unknown>;
    },
  };
}

/** Creates a page-token codec. */
export function createPageTokenCodec(options: PageTokenCodecOptions = {}): PageTokenCodec {
  const envelope = createSignedPageTokens(options.secret);
  return {
    encode(cursor, filter) {
      return envelope.seal({ v: FORMAT_VERSION, r: cursor.revision, k: cursor.after, f: fingerprint(filter) });
    },

    decode(token, filter) {
      const { v, r, k, f } = envelope.open(token);
      if (v !== FORMAT_VERSION || typeof r !== "number" || !Number.isSafeInteger(r) || r < 0 || !isTupleKey(k)) {
        throw invalid("malformed token");
      }
      if (f !== fingerprint(filter)) throw invalid("the token was issued for a different filter");
      return { revision: r, after: k };
    },
  };
}

/**
 * Keyset page tokens of a store's named listings (the identity and OAuth2 stores): the signed envelope
 * holding `{v, t, k, f}`, the format version, the listing, the sort key of the last item returned and a
 * fingerprint of the filter. The listing name keeps a token of one listing (or of another store signed with
 * the same secret) from being accepted by another; the fingerprint ties a token to its filter.
 */
export interface KeysetTokenCodec<Listing extends string> {
  /** A token resuming `listing` after the item whose sort key is `after`, for `filter`. */
  encode(listing: Listing, after: readonly string[], filter: unknown): string;
  /**
   * The sort key of a token, which must have `keyLength` parts; `InvalidArgumentError` (field `page_token`)
   * when forged, foreign, malformed or issued for another listing or filter.
   */
  decode(listing: Listing, token: string, keyLength: number, filter: unknown): string[];
}

const KEYSET_FORMAT_VERSION = 1;

function filterFingerprint(filter: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(filter ?? null))
    .digest("base64url")
    .slice(0, 22);
}

/** Creates a keyset codec; without a secret a random one is used, so tokens only work with this codec. */
export function createKeysetTokenCodec<Listing extends string>(secret?: string | Uint8Array): KeysetTokenCodec<Listing> {
  const envelope = createSignedPageTokens(secret);
  return {
    encode(listing, after, filter) {
      return envelope.seal({ v: KEYSET_FORMAT_VERSION, t: listing, k: after, f: filterFingerprint(filter) });
    },
    decode(listing, token, keyLength, filter) {
      const { v, t, k, f } = envelope.open(token);
      if (v !== KEYSET_FORMAT_VERSION || t !== listing) throw invalidPageToken(`the token does not continue a listing of ${listing}`);
      if (!Array.isArray(k) || k.length !== keyLength || !k.every((part) => typeof part === "string")) {
        throw invalidPageToken("malformed token");
      }
      if (f !== filterFingerprint(filter)) throw invalidPageToken("the token was issued for a different filter");
      return k as string[];
    },
  };
}
