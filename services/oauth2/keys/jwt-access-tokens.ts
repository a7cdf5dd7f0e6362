/**
 * JWT access tokens (RFC 9068, `typ: at+jwt`) for clients registered with `access_token_strategy: jwt`.
 *
 * The token is stored exactly like an opaque one (so it can be introspected and revoked, as Hydra keeps JWT
 * access tokens); the client gets a JWT signed with the newest key of `hydra.jwt.access-token` instead of the
 * opaque value. Its `jti` is the record's storage id (a hash, useless as a credential), so a JWT presented
 * back is looked up by verifying its signature and reading `jti`. Resource servers can verify it offline
 * against `/.well-known/jwks.json`.
 */
import { compactVerify, decodeProtectedHeader, importJWK, SignJWT, type CryptoKey, type KeyObject } from "jose";
import type { Jwk } from "./key-vault.js";

/** What goes into a JWT access token (Hydra's claims plus RFC 9068's `scope`). */
export interface JwtAccessTokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: readonly string[];
  readonly client_id: string;
  readonly scope: string | undefined;
  readonly iat: number;
  readonly exp: number;
  /** The record's storage id. */
  readonly jti: string;
  /** Hydra's `ext`: the consent's `session.access_token`. */
  readonly ext: Record<string, unknown> | undefined;
}

/** Signs and opens JWT access tokens. */
export interface JwtAccessTokenCodec {
  sign(claims: JwtAccessTokenClaims): Promise<string>;
  /** The storage id (`jti`) of a JWT this server signed and that still verifies; undefined otherwise. */
  storageIdOf(jwt: string): Promise<string | undefined>;
}

/** A compact JWS: three base64url parts. Cheap shape test before any crypto. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** True when the value is shaped like a compact JWS (not proof it is one of ours). */
export function looksLikeJwt(value: string): boolean {
  return value.length < 16_384 && COMPACT_JWS.test(value);
}

type SigningKey = CryptoKey | KeyObject | Uint8Array;

/**
 * Builds the codec over the access-token key set's private keys (newest first; the first asymmetric signing
 * key signs, every one verifies, so tokens outlive a rotation until they expire).
 */
export async function createJwtAccessTokens(privateKeys: readonly Jwk[], issuer: string): Promise<JwtAccessTokenCodec> {
  const usable = privateKeys.filter((k) => (k.kty === "RSA" || k.kty === "EC") && typeof k.alg === "string" && k.use !== "enc");
  const verifiers = new Map<string, { key: SigningKey; alg: string }>();
  for (const jwk of usable) {
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicPart } = jwk as Record<string, unknown>;
    verifiers.set(jwk.kid, { key: await importJWK(publicPart as Parameters<typeof importJWK>[0], jwk.alg), alg: jwk.alg as string });
  }
  const signer = usable[0];
  const signingKey = signer === undefined ? undefined : await importJWK(signer as Parameters<typeof importJWK>[0], signer.alg);
  return {
    async sign(claims) {
      if (signer === undefined || signingKey === undefined) throw new Error("no signing key in hydra.jwt.access-token: add one with POST /admin/keys/hydra.jwt.access-token");
      const scopes = claims.scope === undefined ? [] : claims.scope.split(" ").filter((s) => s !== "");
      return new SignJWT({
        client_id: claims.client_id,
        ...(claims.scope === undefined ? {} : { scope: claims.scope }),
        scp: scopes,
        ...(claims.ext === undefined ? {} : { ext: claims.ext }),
      })
        .setProtectedHeader({ alg: signer.alg as string, typ: "at+jwt", kid: signer.kid })
        .setIssuer(claims.iss)
        .setSubject(claims.sub)
        .setAudience([...claims.aud])
        .setIssuedAt(claims.iat)
        .setNotBefore(claims.iat)
        .setExpirationTime(claims.exp)
        .setJti(claims.jti)
        .sign(signingKey);
    },
    async storageIdOf(jwt) {
      if (!looksLikeJwt(jwt)) return undefined;
      let kid: string | undefined;
      try {
        const header = decodeProtectedHeader(jwt);
        if (header.typ !== "at+jwt") return undefined;
        kid = header.kid;
      } catch {
        return undefined;
      }
      const verifier = kid === undefined ? undefined : verifiers.get(kid);
      if (verifier === undefined) return undefined;
      try {
        const { payload } = await compactVerify(jwt, verifier.key, { algorithms: [verifier.alg] });
        const claims = JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
        // Expiry is the store's business (the record expires with the token); the issuer must be ours.
        return claims["iss"] === issuer && typeof claims["jti"] === "string" ? claims["jti"] : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
