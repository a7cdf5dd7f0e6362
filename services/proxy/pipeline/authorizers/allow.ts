/** Oathkeeper's `allow` authorizer: every request that got this far is allowed. */
import type { HandlerFactory, PreparedAuthorizer } from "../types.js";

export function allowAuthorizer(): HandlerFactory<PreparedAuthorizer> {
  return {
    name: "allow",
    prepare: () => ({ authorize: async () => {} }),
  };
}
