/**
 * Login, consent and logout challenges: what the browser carries to the login/consent app and the app
 * hands back to the admin API. A challenge names the interaction it belongs to, its purpose and its expiry,
 * and is MACed under the system secret, so one cannot be forged, replayed for another purpose (a login
 * challenge as a consent challenge), or used after it expired; an expired one is told apart from an unknown
 * one (410 against 404), as Hydra does.
 */
import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { OAuth2HttpError } from "../api/http-io.js";

/** What a challenge is for. */
export type ChallengePurpose = "login" | "consent" | "logout" | "device";

/** A decoded challenge. */
export interface Challenge {
  readonly purpose: ChallengePurpose;
  /** The provider interaction (or logout request) id. */
  readonly id: string;
  /** Epoch seconds after which the challenge is void. */
  readonly exp: number;
}

/** Seals and opens challenges under a keyring (first key seals, all open). */
export interface ChallengeCodec {
  seal(challenge: Challenge): string;
  /**
   * Opens a challenge of the given purpose. Tampered, foreign or wrong-purpose: 404 `not_found`; expired:
   * 410 naming the expiry. `field` names the query parameter in messages.
   */
  open(value: string, purpose: ChallengePurpose, field: string): Challenge;
}

const PURPOSES: readonly ChallengePurpose[] = ["login", "consent", "logout", "device"];

/** Builds the codec from the system secrets (32-byte keys; a MAC key is derived from each). */
export function createChallengeCodec(secrets: readonly Buffer[], now: () => number = () => Math.floor(Date.now() / 1000)): ChallengeCodec {
  if (secrets.length === 0) throw new Error("challenges need at least one system secret");
  const keys = secrets.map((s) => Buffer.from(hkdfSync("sha256", s, Buffer.alloc(0), "gatehouse oauth2 challenge", 32)));
  const mac = (key: Buffer, body: string): Buffer => createHmac("sha256", key).update(body, "utf8").digest();
  return {
    seal({ purpose, id, exp }) {
      const body = Buffer.from(JSON.stringify([purpose, id, exp]), "utf8").toString("base64url");
      return `${body}.${mac(keys[0] as Buffer, body).toString("base64url")}`;
    },
    open(value, purpose, field) {
      const unknown = new OAuth2HttpError(404, "not_found", `The ${field} is unknown or was not issued by this server.`);
      if (typeof value !== "string" || value.length === 0 || value.length > 2048) {
        throw new OAuth2HttpError(400, "invalid_request", `The ${field} query parameter is required.`);
      }
      const dot = value.indexOf(".");
      if (dot < 0) throw unknown;
      const body = value.slice(0, dot);
      let presented: Buffer;
      try {
        presented = Buffer.from(value.slice(dot + 1), "base64url");
      } catch {
        throw unknown;
      }
      let valid = false;
      for (const key of keys) {
        const expected = mac(key, body);
        valid = (expected.length === presented.length && timingSafeEqual(expected, presented)) || valid;
      }
      if (!valid) throw unknown;
      let decoded: unknown;
      try {
        decoded = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as unknown;
      } catch {
        throw unknown;
      }
      if (!Array.isArray(decoded) || decoded.length !== 3) throw unknown;
      const [p, id, exp] = decoded as [unknown, unknown, unknown];
      if (typeof p !== "string" || !PURPOSES.includes(p as ChallengePurpose) || typeof id !== "string" || typeof exp !== "number") throw unknown;
      if (p !== purpose) throw new OAuth2HttpError(404, "not_found", `The ${field} is not a ${purpose} challenge.`);
      if (exp <= now()) {
        throw new OAuth2HttpError(410, "request_expired", `The ${field} expired at ${new Date(exp * 1000).toISOString()}; start a new authorization request.`);
      }
      return { purpose: p, id, exp };
    },
  };
}
