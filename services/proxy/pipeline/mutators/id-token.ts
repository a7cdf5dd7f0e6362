/**
 * Oathkeeper's `id_token` mutator: replaces the forwarded request's `Authorization` with a signed JWT about
 * the session, so upstreams verify one token format whatever the client authenticated with.
 *
 * Claims: the `claims` template's JSON object first, then `iss`, `sub`, `iat`, `nbf`, `exp` and `jti`, which
 * the gateway decides. Tokens are reused as Oathkeeper does: the same issuer, TTL, key set, rendered claims
 * and subject get the same token until less than a tenth of its lifetime is left, so a busy subject does not
 * cost a signature per request and upstreams still never see a token about to expire.
 */
import { createHash, randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { LRUCache } from "lru-cache";
import { InvalidArgumentError } from "../../../../common/errors.js";
import { ConfigReader } from "../config-reader.js";
import type { PipelineDeps } from "../deps.js";
import { compileTemplate, templateDataOf, TemplateExecutionError } from "../template.js";
import type { HandlerFactory, PreparedMutator } from "../types.js";
import { isSupportedJwksUrl } from "./signing-keys.js";

/** Oathkeeper's default lifetime. */
const DEFAULT_TTL_MILLIS = 15 * 60_000;
/** Minted tokens kept for reuse, across the rules using this mutator. */
const TOKEN_CACHE_ENTRIES = 10_000;

interface MintedToken {
  readonly token: string;
  /** `exp`, in milliseconds. */
  readonly expiresAt: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

export function idTokenMutator(deps: PipelineDeps): HandlerFactory<PreparedMutator> {
  const now = deps.now ?? Date.now;
  const minted = new LRUCache<string, MintedToken>({ max: TOKEN_CACHE_ENTRIES });
  return {
    name: "id_token",
    prepare(config, context) {
      const where = context.where;
      const keys = deps.signingKeys;
      if (keys === undefined) {
        throw new InvalidArgumentError(`${where}: the id_token mutator needs signing keys, and this gateway was started without any`, {
          reason: "signing_keys_missing",
        });
      }
      const reader = new ConfigReader(config, where);
      const issuer = reader.requiredString("issuer_url");
      const jwksUrl = reader.string("jwks_url") || undefined;
      if (jwksUrl !== undefined && !isSupportedJwksUrl(jwksUrl)) {
        throw reader.error("jwks_url", `must be a file://, http(s):// or base64:// URL, got ${JSON.stringify(jwksUrl)}`);
      }
      const claimsSource = reader.string("claims");
      const claims = claimsSource === undefined || claimsSource === "" ? undefined : compileTemplate(claimsSource, `${where}: config.claims`);
      const ttl = reader.duration("ttl") ?? DEFAULT_TTL_MILLIS;
      // `exp` has whole seconds: a shorter lifetime would mint tokens that are expired when issued.
      if (ttl < 1_000) throw reader.error("ttl", "must be at least 1s");

      return {
        async mutate(_request, session) {
          const claimsText = claims === undefined ? "" : claims.render(templateDataOf(session));
          let rendered: Record<string, unknown> = {};
          if (claims !== undefined) {
            let parsed: unknown;
            try {
              parsed = JSON.parse(claimsText);
            } catch {
              parsed = undefined;
            }
            // The rule's template produced it, so this is the rule's fault, not the client's.
            if (!isObject(parsed)) throw new TemplateExecutionError(`${where}: config.claims`, "did not render to a JSON object", { reason: "template_not_json" });
            rendered = parsed;
          }

          const key = createHash("sha256")
            .update(JSON.stringify([issuer, ttl, jwksUrl ?? "", claimsText, session.subject]))
            .digest("hex");
          const at = now();
          let token = minted.get(key);
          if (token === undefined || token.expiresAt - at < ttl / 10) {
            const signer = await keys.signingKey(jwksUrl);
            const issuedAt = Math.floor(at / 1000);
            const expiresAt = Math.floor((at + ttl) / 1000);
            const jwt = await new SignJWT({
              ...rendered,
              iss: issuer,
              sub: session.subject,
              iat: issuedAt,
              nbf: issuedAt,
              exp: expiresAt,
              jti: randomUUID(),
            })
              .setProtectedHeader({ alg: signer.alg, typ: "JWT", kid: signer.kid })
              .sign(signer.key);
            token = { token: jwt, expiresAt: expiresAt * 1000 };
            minted.set(key, token);
          }
          // Whatever casing an earlier mutator used, the request carries one Authorization.
          for (const name of Object.keys(session.header)) if (name.toLowerCase() === "authorization") delete session.header[name];
          session.header.Authorization = `Bearer ${token.token}`;
        },
      };
    },
  };
}
