/** Every pipeline handler Gatehouse implements, built over the shared dependencies. */
import { createAuthenticatorFactories } from "./authenticators/index.js";
import { createAuthorizerFactories } from "./authorizers/index.js";
import type { PipelineDeps } from "./deps.js";
import { errorHandlerFactories } from "./error-handlers/error-handlers.js";
import { cookieMutator } from "./mutators/cookie.js";
import { headerMutator } from "./mutators/header.js";
import { hydratorMutator } from "./mutators/hydrator.js";
import { idTokenMutator } from "./mutators/id-token.js";
import { noopMutator } from "./mutators/noop.js";
import type { HandlerRegistry } from "./pipeline.js";

export function createHandlerRegistry(deps: PipelineDeps): HandlerRegistry {
  return {
    authenticators: createAuthenticatorFactories(deps),
    authorizers: createAuthorizerFactories(deps),
    mutators: [noopMutator, headerMutator, cookieMutator, idTokenMutator(deps), hydratorMutator(deps)],
    errors: errorHandlerFactories,
  };
}
