/**
 * The provider's scope set, widened to Hydra's model.
 *
 * Hydra lets a client use any scope it is registered for (`client.scope` is the allow-list) and puts every
 * granted scope on the access token. oidc-provider treats only the scopes in its `scopes` option as its own
 * (the allow-list applies to those only, and only those reach tokens) and expects every other scope to
 * belong to a resource server. Two changes give Hydra's behaviour:
 *
 * - the instance's set answers `has` for any valid scope token, so the client's allow-list applies to
 *   every requested scope (an unregistered one is `invalid_scope`, as with Hydra);
 * - the context's `requestParamOIDCScopes` counts every valid requested scope, so the token endpoint keeps
 *   them (and checks them against the client's allow-list) and tokens carry every granted one;
 * - each client's registered scopes are added to the set when the client is loaded, and the scopes an
 *   authorization request names are added before the provider sees it (`prepare-request.ts`), because the
 *   authorization endpoint tests membership with the native `Set#has` before applying the allow-list: an
 *   unregistered scope must be in the set to be refused rather than dropped. Request-supplied scopes are added only while the set is below `MAX_KNOWN_SCOPES`, so
 *   junk requests cannot grow it without bound; past that, an unknown scope is dropped rather than refused.
 *
 * The provider copies the `scopes` option into a plain Set while reading its configuration, so this is
 * done on the instance after construction (`openProviderScopes`). Discovery keeps advertising only the
 * well-known scopes (`ADVERTISED_SCOPES`), not every client's.
 */
import instance from "oidc-provider/lib/helpers/weak_cache.js";

/** RFC 6749 §3.3 scope-token characters. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** A set of scopes that contains every valid scope token. */
export class OpenScopeSet extends Set<string> {
  override has(scope: string): boolean {
    return typeof scope === "string" && SCOPE_TOKEN.test(scope);
  }
}

/** The scopes discovery advertises. */
export const ADVERTISED_SCOPES: readonly string[] = ["openid", "offline_access", "offline", "profile", "email"];

/** Most scopes requests may add to a provider's set (clients' own scopes are always added). */
export const MAX_KNOWN_SCOPES = 10_000;

/** Adds scopes to the provider's set: `fromClient` ones always, a request's while the set is small. */
export type ScopeRegistrar = (scope: string | undefined, fromClient: boolean) => void;

/** Makes a constructed provider treat every valid scope token as its own; returns the registrar. */
export function openProviderScopes(provider: { readonly OIDCContext: { prototype: object } }): ScopeRegistrar {
  const scopes = instance(provider).configuration.scopes;
  if (!(scopes instanceof Set)) throw new Error("oidc-provider internals changed: the configuration has no scope set");
  Object.setPrototypeOf(scopes, OpenScopeSet.prototype);
  // The request's scopes the provider treats as its own (and so keeps at the token endpoint, where the
  // client's allow-list then applies to them): every valid one, not only those already in the set, so token
  // requests need no registration pass over their bodies.
  Object.defineProperty(provider.OIDCContext.prototype, "requestParamOIDCScopes", {
    configurable: true,
    get(this: { params?: { scope?: unknown } }) {
      const scope = this.params?.scope;
      return new Set(typeof scope === "string" ? scope.split(" ").filter((s) => s !== "" && SCOPE_TOKEN.test(s)) : []);
    },
  });
  return (scope, fromClient) => {
    for (const s of (scope ?? "").split(" ")) {
      if (s === "" || !SCOPE_TOKEN.test(s) || Set.prototype.has.call(scopes, s)) continue;
      if (!fromClient && scopes.size >= MAX_KNOWN_SCOPES) return;
      Set.prototype.add.call(scopes, s);
    }
  };
}
