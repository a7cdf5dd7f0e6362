/**
 * Optional API keys for admin/write planes. Keys are configured only as SHA-256 hashes (a leaked config
 * file reveals no key); a presented key is hashed and compared in constant time against every configured
 * hash, so neither a mismatch's position nor which hash matched shows in the timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { GatehouseError } from "../../common/errors.js";

/** A missing or wrong API key. Maps to 401 / UNAUTHENTICATED. */
export class UnauthenticatedError extends GatehouseError {
  constructor(message: string) {
    super("unauthenticated", message, { reason: "api_key_required" });
    this.name = "UnauthenticatedError";
  }
}

/** Hashes an API key the way the configuration stores it (SHA-256, hex). */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Checks presented keys; `required` is false when no hashes are configured (keys off, Keto's default). */
export interface ApiKeyVerifier {
  readonly required: boolean;
  /** Throws `UnauthenticatedError` unless the key matches a configured hash (or keys are off). */
  verify(presented: string | undefined): void;
}

/** Builds a verifier over SHA-256 hex hashes. */
export function createApiKeyVerifier(hashes: readonly string[]): ApiKeyVerifier {
  const expected = hashes.map((h) => Buffer.from(h.toLowerCase(), "hex"));
  return {
    required: expected.length > 0,
    verify(presented) {
      if (expected.length === 0) return;
      if (presented === undefined || presented === "") {
        throw new UnauthenticatedError("this endpoint needs an API key: send it as `Authorization: Bearer <key>`");
      }
      const digest = createHash("sha256").update(presented, "utf8").digest();
      let matched = false;
      // No early exit: every configured hash is compared, whatever matches.
      for (const e of expected) matched = (e.length === digest.length && timingSafeEqual(e, digest)) || matched;
      if (!matched) throw new UnauthenticatedError("the API key is not valid");
    },
  };
}

/** The key from an `Authorization: Bearer <key>` header value (case-insensitive scheme), if any. */
export function bearerToken(authorization: string | undefined | null): string | undefined {
  if (authorization === undefined || authorization === null) return undefined;
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}
