/**
 * The one oidc-provider internal Gatehouse reaches: the per-instance state holder, to widen the instance's
 * scope set after construction (see `open-scopes.ts`). The version is pinned; the tests fail if it moves.
 */
declare module "oidc-provider/lib/helpers/weak_cache.js" {
  const instance: (provider: object) => { configuration: { scopes: Set<string> } };
  export default instance;
}
