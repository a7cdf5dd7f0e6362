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

function invalid(reason: string): InvalidArgumentError {
  return new InvalidArgumentError(`page_token: ${reason}`, { details: { field: FIELD } });
}

function fingerprint(filter: TupleFilter): string {
  return createHash("sha256").update(canonicalFilter(filter)).digest("base64url").slice(0, 22);
}

/** A new random 256-bit pagination secret, hex-encoded. */
export function generatePaginationSecret(): string {
  return randomBytes(32).toString("hex");
}

/** Creates a page-token codec. */
export function createPageTokenCodec(options: PageTokenCodecOptions = {}): PageTokenCodec {
  const secret = options.secret ?? randomBytes(32);
  if (secret.length === 0) {
    throw new InvalidArgumentError("paginationSecret must not be empty", { details: { field: "paginationSecret" } });
  }
  const sign = (payload: string): Buffer => createHmac("sha256", secret).update(payload).digest();

  return {
    encode(cursor, filter) {
      const payload = Buffer.from(
        JSON.stringify({ v: FORMAT_VERSION, r: cursor.revision, k: cursor.after, f: fingerprint(filter) }),
        "utf8",
      ).toString("base64url");
      return `${payload}.${sign(payload).toString("base64url")}`;
    },

    decode(token, filter) {
      if (typeof token !== "string" || token.length === 0 || token.length > 16_384) throw invalid("malformed token");
      const dot = token.indexOf(".");
      if (dot <= 0 || dot !== token.lastIndexOf(".")) throw invalid("malformed token");
      const payload = token.slice(0, dot);
      const given = Buffer.from(token.slice(dot + 1), "base64url");
      const expected = sign(payload);
      // Constant-time comparison so the signature cannot be guessed byte by byte from response times.
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw invalid("the token was altered or was not issued by this store");
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
      } catch {
        throw invalid("malformed token");
      }
      if (typeof parsed !== "object" || parsed === null) throw invalid("malformed token");
      const { v, r, k, f } = parsed as Record<string, unknown>;
      if (v !== FORMAT_VERSION || typeof r !== "number" || !Number.isSafeInteger(r) || r < 0 || !isTupleKey(k)) {
        throw invalid("malformed token");
      }
      if (f !== fingerprint(filter)) throw invalid("the token was issued for a different filter");
      return { revision: r, after: k };
    },
  };
}
