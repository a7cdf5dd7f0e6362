/**
 * Signed keyset page tokens of the identity store's listings.
 *
 * Same scheme as the tuple store's tokens (`engine/store/page-token.ts`): `base64url(payload) "."
 * base64url(HMAC-SHA256(secret, payload))`, the payload being JSON `{v, t, k, f}`: format version, the listing
 * (`identities`, `sessions`), the sort key of the last item returned and a fingerprint of the filter. The
 * listing name keeps a token of one listing (or a tuple-store token signed with the same secret) from being
 * accepted by another; the fingerprint ties a token to the filter it was issued for.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { InvalidArgumentError } from "../../../common/errors.js";

/** Which listing a token continues. */
export type Listing = "identities" | "sessions";

/** Encodes and verifies keyset page tokens. */
export interface KeysetTokenCodec {
  /** A token resuming `listing` after the item whose sort key is `after`, for `filter`. */
  encode(listing: Listing, after: readonly string[], filter: unknown): string;
  /**
   * The sort key of a token, which must have `keyLength` parts; `InvalidArgumentError` (field `page_token`)
   * when forged, foreign, malformed or issued for another listing or filter.
   */
  decode(listing: Listing, token: string, keyLength: number, filter: unknown): string[];
}

const FORMAT_VERSION = 1;
const FIELD = "page_token";

function invalid(reason: string): InvalidArgumentError {
  return new InvalidArgumentError(`page_token: ${reason}`, { details: { field: FIELD } });
}

function fingerprint(filter: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(filter ?? null))
    .digest("base64url")
    .slice(0, 22);
}

/** Creates a codec; without a secret a random one is used, so tokens only work with this codec. */
export function createKeysetTokenCodec(secret: string | Uint8Array = randomBytes(32)): KeysetTokenCodec {
  if (secret.length === 0) {
    throw new InvalidArgumentError("paginationSecret must not be empty", { details: { field: "paginationSecret" } });
  }
  const sign = (payload: string): Buffer => createHmac("sha256", secret).update(payload).digest();

  return {
    encode(listing, after, filter) {
      const payload = Buffer.from(
        JSON.stringify({ v: FORMAT_VERSION, t: listing, k: after, f: fingerprint(filter) }),
        "utf8",
      ).toString("base64url");
      return `${payload}.${sign(payload).toString("base64url")}`;
    },

    decode(listing, token, keyLength, filter) {
      if (typeof token !== "string" || token.length === 0 || token.length > 16_384) throw invalid("malformed token");
      const dot = token.indexOf(".");
      if (dot <= 0 || dot !== token.lastIndexOf(".")) throw invalid("malformed token");
      const payload = token.slice(0, dot);
      const given = Buffer.from(token.slice(dot + 1), "base64url");
      const expected = sign(payload);
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
      const { v, t, k, f } = parsed as Record<string, unknown>;
      if (v !== FORMAT_VERSION || t !== listing) throw invalid(`the token does not continue a listing of ${listing}`);
      if (!Array.isArray(k) || k.length !== keyLength || !k.every((part) => typeof part === "string")) {
        throw invalid("malformed token");
      }
      if (f !== fingerprint(filter)) throw invalid("the token was issued for a different filter");
      return k as string[];
    },
  };
}
