/**
 * Signed keyset page tokens of the identity store's listings.
 *
 * Same scheme as the tuple store's tokens (`engine/store/page-token.ts`): `base64url(payload) "."
 * base64url(HMAC-SHA256(secret, payload))`, the payload being JSON `{v, t, k, f}`: format version, the listing
 * (`identities`, `sessions`), the sort key of the last item returned and a fingerprint of the filter. The
 * listing name keeps a token of one listing (or a tuple-store token signed with the same secret) from being
 * accepted by another; the fingerprint ties a token to the filter it was issued for.
 */
import { createHash } from "node:crypto";
import { createSignedPageTokens, invalidPageToken } from "../../../engine/store/page-token.js";

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

function fingerprint(filter: unknown): string {
  return createHash("sha256")
    .update(JSON.stringify(filter ?? null))
    .digest("base64url")
    .slice(0, 22);
}

/** Creates a codec; without a secret a random one is used, so tokens only work with this codec. */
export function createKeysetTokenCodec(secret?: string | Uint8Array): KeysetTokenCodec {
  const envelope = createSignedPageTokens(secret);
  return {
    encode(listing, after, filter) {
      return envelope.seal({ v: FORMAT_VERSION, t: listing, k: after, f: fingerprint(filter) });
    },

    decode(listing, token, keyLength, filter) {
      const { v, t, k, f } = envelope.open(token);
      if (v !== FORMAT_VERSION || t !== listing) throw invalidPageToken(`the token does not continue a listing of ${listing}`);
      if (!Array.isArray(k) || k.length !== keyLength || !k.every((part) => typeof part === "string")) {
        throw invalidPageToken("malformed token");
      }
      if (f !== fingerprint(filter)) throw invalidPageToken("the token was issued for a different filter");
      return k as string[];
    },
  };
}
