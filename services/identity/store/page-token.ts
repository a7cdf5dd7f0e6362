/**
 * Signed keyset page tokens of the identity store's listings (`identities`, `sessions`), on the shared
 * scheme of `engine/store/page-token.ts` (`createKeysetTokenCodec`).
 */
import { createKeysetTokenCodec as createCodec, type KeysetTokenCodec as Codec } from "../../../engine/store/page-token.js";

/** Which listing a token continues. */
export type Listing = "identities" | "sessions";

/** Encodes and verifies the identity store's page tokens. */
export type KeysetTokenCodec = Codec<Listing>;

/** Creates a codec; without a secret a random one is used, so tokens only work with this codec. */
export function createKeysetTokenCodec(secret?: string | Uint8Array): KeysetTokenCodec {
  return createCodec<Listing>(secret);
}
