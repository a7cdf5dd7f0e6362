/**
 * Token introspection for the admin plane, in Hydra's `introspectedOAuth2Token` shape (RFC 7662 plus
 * `token_use`, `ext`, `obfuscated_subject`). Opaque tokens are recognised by their kind tag, so an access token
 * costs one store read and a malformed or forged one none (its MAC fails first).
 */
import type { Provider } from "oidc-provider";
import { looksLikeJwt } from "../keys/jwt-access-tokens.js";

/** Hydra's introspection answer. */
export interface IntrospectedToken {
  active: boolean;
  client_id?: string;
  sub?: string;
  scope?: string;
  exp?: number;
  iat?: number;
  nbf?: number;
  iss?: string;
  aud?: string[];
  token_type?: string;
  token_use?: "access_token" | "refresh_token";
  ext?: Record<string, unknown>;
  username?: string;
}

/** Introspects tokens. */
export interface TokenIntrospector {
  /** `scope`: every one must be on the token, or the answer is inactive (Hydra). */
  introspect(token: string, scope: readonly string[]): Promise<IntrospectedToken>;
}

/** The token fields read here (oidc-provider's token models). */
interface TokenLike {
  clientId?: string;
  accountId?: string;
  scope?: string;
  exp?: number;
  iat?: number;
  aud?: string | string[];
  extra?: Record<string, unknown>;
  consumed?: unknown;
  isValid?: boolean;
}

/** Builds the introspector over the provider's token models. */
export function createIntrospector(provider: Provider, issuer: string): TokenIntrospector {
  const find = async (token: string): Promise<{ found: TokenLike; use: "access_token" | "refresh_token" } | undefined> => {
    const kind = /^[A-Za-z0-9]+_(at|rt)_/.exec(token)?.[1] ?? (looksLikeJwt(token) ? "at" : undefined);
    if (kind === "rt") {
      const found = (await provider.RefreshToken.find(token)) as TokenLike | undefined;
      return found === undefined ? undefined : { found, use: "refresh_token" };
    }
    if (kind === "at") {
      const found = ((await provider.AccessToken.find(token)) ?? (await provider.ClientCredentials.find(token))) as TokenLike | undefined;
      return found === undefined ? undefined : { found, use: "access_token" };
    }
    return undefined;
  };
  return {
    async introspect(token, scope) {
      const hit = await find(token);
      if (hit === undefined) return { active: false };
      const { found, use } = hit;
      if (found.isValid === false || found.consumed !== undefined) return { active: false };
      const scopes = new Set((found.scope ?? "").split(" ").filter((s) => s !== ""));
      if (scope.some((s) => !scopes.has(s))) return { active: false };
      const ext = found.extra?.["ext"];
      const aud = found.aud === undefined ? [] : Array.isArray(found.aud) ? found.aud : [found.aud];
      return {
        active: true,
        ...(found.clientId === undefined ? {} : { client_id: found.clientId }),
        // Client-credentials tokens have no user: Hydra puts the client id in `sub`.
        sub: found.accountId ?? found.clientId ?? "",
        ...(found.scope === undefined ? {} : { scope: found.scope }),
        ...(found.exp === undefined ? {} : { exp: found.exp }),
        ...(found.iat === undefined ? {} : { iat: found.iat, nbf: found.iat }),
        iss: issuer,
        aud,
        token_type: "Bearer",
        token_use: use,
        ...(ext !== null && typeof ext === "object" && !Array.isArray(ext) ? { ext: ext as Record<string, unknown> } : {}),
      };
    },
  };
}
