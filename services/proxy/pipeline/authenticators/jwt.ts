/**
 * `jwt`: verifies a JSON Web Token against the keys at `jwks_urls` (http(s):// or file://). As Oathkeeper:
 * responsible when a token is found at `token_from` and has three dot-separated parts (so `bearer_token` or
 * `oauth2_introspection` can follow for opaque tokens at the same place); every failure after that is 401:
 * an algorithm outside `allowed_algorithms` (default RS256), no `kid`, an unknown key, a bad signature,
 * `exp`/`nbf`/future `iat`, a `target_audience` missing from `aud`, an `iss` outside `trusted_issuers`, or a
 * `required_scope` not granted under `scope_strategy` (scopes from `scp`, `scope` or `scopes`, list or
 * space-separated). Subject = `sub`; extra = every claim, the scope claim normalised to a `scp` list.
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from "jose";
import { ConfigReader } from "../config-reader.js";
import type { PipelineDeps } from "../deps.js";
import { NotResponsibleError, UnauthorizedError } from "../errors.js";
import type { HandlerFactory, PreparedAuthenticator } from "../types.js";
import { jwksCacheOf, type KeySet } from "./jwks-cache.js";
import { missingScope, readScopeStrategy, scopeMatcher } from "./scope-strategy.js";
import { clockOf, rejectUnknownKeys } from "./shared.js";
import { readTokenLocation, tokenFromRequest } from "./token-from.js";

/** Algorithms verifiable with the public keys of a JWKS (symmetric HS* keys are not served that way here). */
export const SUPPORTED_JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"] as const;

/** Tolerated clock difference with the issuer for `exp`, `nbf` and `iat`. */
const CLOCK_SKEW_SECONDS = 5;

function invalid(reason: string, message = "Access credentials are invalid"): UnauthorizedError {
  return new UnauthorizedError(message, { reason });
}

/** The scope claim (`scp`, else `scope`, else `scopes`) as a list, and the claim it came from. */
export function scopesOfClaims(claims: Readonly<Record<string, unknown>>): { scopes: string[]; claim: string | undefined } {
  for (const claim of ["scp", "scope", "scopes"]) {
    if (!(claim in claims)) continue;
    const value = claims[claim];
    if (Array.isArray(value)) return { scopes: value.map((v) => (typeof v === "string" ? v : "")), claim };
    if (typeof value === "string") return { scopes: value.split(" ").filter((s) => s !== ""), claim };
    return { scopes: [], claim };
  }
  return { scopes: [], claim: undefined };
}

async function verifyWith(token: string, keySet: KeySet, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, keySet, options)).payload;
  } catch (err) {
    // Several keys share the kid: try each (jose hands them out through the error).
    if (err instanceof joseErrors.JWKSMultipleMatchingKeys) {
      for await (const key of err) {
        try {
          return (await jwtVerify(token, key, options)).payload;
        } catch {
          // the next key
        }
      }
    }
    throw err;
  }
}

export function jwtAuthenticator(deps: PipelineDeps): HandlerFactory<PreparedAuthenticator> {
  return {
    name: "jwt",
    prepare(config, context) {
      const reader = new ConfigReader(config, context.where);
      rejectUnknownKeys(reader, config, [
        "required_scope",
        "target_audience",
        "trusted_issuers",
        "allowed_algorithms",
        "jwks_urls",
        "jwks_max_wait",
        "jwks_ttl",
        "scope_strategy",
        "token_from",
      ]);
      const jwksUrls = reader.stringList("jwks_urls") ?? [];
      if (jwksUrls.length === 0) throw reader.error("jwks_urls", "is required (a list of http(s):// or file:// URLs)");
      jwksUrls.forEach((url, i) => {
        let parsed: URL;
        try {
          parsed = new URL(url);
        } catch {
          throw reader.error(`jwks_urls[${i}]`, `must be an absolute URL, got ${JSON.stringify(url)}`);
        }
        if (!["http:", "https:", "file:"].includes(parsed.protocol)) {
          throw reader.error(`jwks_urls[${i}]`, `must be an http(s):// or file:// URL, got ${JSON.stringify(url)}`);
        }
      });
      const configured = reader.stringList("allowed_algorithms") ?? [];
      const algorithms = configured.length === 0 ? ["RS256"] : [...configured];
      const unsupported = algorithms.filter((a) => !(SUPPORTED_JWT_ALGORITHMS as readonly string[]).includes(a));
      if (unsupported.length > 0) {
        throw reader.error("allowed_algorithms", `has unsupported algorithms ${unsupported.join(", ")} (supported: ${SUPPORTED_JWT_ALGORITHMS.join(", ")})`);
      }
      const lookup = { ttlMillis: reader.duration("jwks_ttl") ?? 30_000, maxWaitMillis: reader.duration("jwks_max_wait") ?? 1_000 };
      const audiences = reader.stringList("target_audience") ?? [];
      const issuers = reader.stringList("trusted_issuers") ?? [];
      const requiredScope = reader.stringList("required_scope") ?? [];
      const matcher = scopeMatcher(readScopeStrategy(reader));
      // Oathkeeper fails every request of such a rule; refusing the rule says so once, at load.
      if (matcher === undefined && requiredScope.length > 0) {
        throw reader.error("required_scope", 'needs a scope_strategy other than "none" (hierarchic, exact or wildcard)');
      }
      const location = readTokenLocation(reader, config);
      const now = clockOf(deps);
      const jwks = jwksCacheOf(deps);

      return {
        async authenticate(request, session) {
          const token = tokenFromRequest(request, location);
          if (token === undefined || token.split(".").length !== 3) throw new NotResponsibleError();

          let header;
          try {
            header = decodeProtectedHeader(token);
          } catch {
            throw invalid("jwt_malformed");
          }
          if (typeof header.alg !== "string" || !algorithms.includes(header.alg)) {
            throw invalid("jwt_algorithm_not_allowed", `JSON Web Token used signing method "${String(header.alg)}" which is not allowed.`);
          }
          if (typeof header.kid !== "string" || header.kid === "") {
            throw invalid("jwt_without_kid", "The JSON Web Token must contain a kid header value but did not.");
          }
          const keySet = await jwks.keySetFor(jwksUrls, header.kid, lookup);
          if (keySet === undefined) throw invalid("jwt_unknown_key", "The JSON Web Token was signed with an unknown key.");

          const at = now();
          let claims: JWTPayload;
          try {
            claims = await verifyWith(token, keySet, { algorithms, currentDate: new Date(at), clockTolerance: CLOCK_SKEW_SECONDS });
          } catch (err) {
            if (err instanceof joseErrors.JWTExpired) throw invalid("jwt_expired", "The JSON Web Token is expired.");
            throw invalid("jwt_invalid");
          }
          if (typeof claims.iat === "number" && claims.iat > at / 1_000 + CLOCK_SKEW_SECONDS) {
            throw invalid("jwt_issued_in_future", "The JSON Web Token was issued in the future.");
          }

          const aud = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
          for (const audience of audiences) {
            if (!aud.includes(audience)) throw invalid("audience_mismatch", `Token audience is not intended for target audience ${audience}.`);
          }
          if (issuers.length > 0 && (typeof claims.iss !== "string" || !issuers.includes(claims.iss))) {
            throw invalid("issuer_untrusted", "Token issuer does not match any trusted issuer.");
          }
          const extra: Record<string, unknown> = { ...claims };
          const { scopes, claim } = scopesOfClaims(extra);
          if (claim !== undefined) delete extra[claim];
          extra["scp"] = scopes;
          if (matcher !== undefined) {
            const missing = missingScope(matcher, scopes, requiredScope);
            if (missing !== undefined) throw invalid("scope_missing", `JSON Web Token is missing required scope "${missing}".`);
          }

          session.subject = typeof claims.sub === "string" ? claims.sub : "";
          session.extra = extra;
        },
      };
    },
  };
}
