/** Every authorizer the gateway implements, built with its dependencies. */
import type { PipelineDeps } from "../deps.js";
import type { HandlerFactory, PreparedAuthorizer } from "../types.js";
import { allowAuthorizer } from "./allow.js";
import { denyAuthorizer } from "./deny.js";
import { ketoEngineAcpOryAuthorizer, permissionAuthorizer } from "./permission.js";
import { remoteJsonAuthorizer } from "./remote-json.js";

export { engineChecker, remoteChecker, type RemoteCheckerOptions } from "./permission-checkers.js";

export function createAuthorizerFactories(deps: PipelineDeps): HandlerFactory<PreparedAuthorizer>[] {
  return [allowAuthorizer(), denyAuthorizer(), remoteJsonAuthorizer(deps), permissionAuthorizer(deps), ketoEngineAcpOryAuthorizer(deps)];
}
