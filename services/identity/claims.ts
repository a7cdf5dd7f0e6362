/**
 * OpenID Connect claims of an identity, for the OAuth2 service's ID tokens and userinfo: `email` and `name`
 * from traits by a configurable mapping (dotted paths), `email_verified` from the identity's verifiable
 * address of that value. A subject that is not an identity here (another login app's user) has no claims
 * beyond `sub`.
 */
import type { IdentityStore } from "./store/identity-store.js";

/** Which traits the claims come from. */
export interface ClaimMapping {
  /** Dotted path of the e-mail trait (default `email`). */
  readonly email?: string;
  /** Dotted path of the name trait (default `name`); an object with `first`/`last` is joined. */
  readonly name?: string;
}

function traitAt(traits: unknown, path: string): unknown {
  let value: unknown = traits;
  for (const part of path.split(".")) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function nameOf(value: unknown): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    const parts = [v["first"], v["last"]].filter((p): p is string => typeof p === "string" && p !== "");
    return parts.length > 0 ? parts.join(" ") : undefined;
  }
  return undefined;
}

/** Looks up the claims of a subject (an identity id). */
export function identityClaims(store: IdentityStore, mapping: ClaimMapping = {}): (subject: string) => Promise<Record<string, unknown> | undefined> {
  const emailPath = mapping.email ?? "email";
  const namePath = mapping.name ?? "name";
  return async (subject) => {
    const entry = await store.getIdentity(subject);
    if (entry === undefined) return undefined;
    const { identity } = entry;
    const claims: Record<string, unknown> = {};
    const email = traitAt(identity.traits, emailPath);
    if (typeof email === "string" && email !== "") {
      claims["email"] = email;
      const address = identity.verifiableAddresses.find((a) => a.via === "email" && a.value.toLowerCase() === email.toLowerCase());
      claims["email_verified"] = address?.verified === true;
    }
    const name = nameOf(traitAt(identity.traits, namePath));
    if (name !== undefined) claims["name"] = name;
    const first = traitAt(identity.traits, `${namePath}.first`);
    const last = traitAt(identity.traits, `${namePath}.last`);
    if (typeof first === "string" && first !== "") claims["given_name"] = first;
    if (typeof last === "string" && last !== "") claims["family_name"] = last;
    claims["updated_at"] = Math.floor(identity.updatedAt.getTime() / 1000);
    return claims;
  };
}
