/** Oathkeeper's `deny` authorizer: every request is refused with 403. */
import { ForbiddenError } from "../errors.js";
import type { HandlerFactory, PreparedAuthorizer } from "../types.js";

export function denyAuthorizer(): HandlerFactory<PreparedAuthorizer> {
  return {
    name: "deny",
    prepare: () => ({
      authorize: async () => {
        throw new ForbiddenError();
      },
    }),
  };
}
