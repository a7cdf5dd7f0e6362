/**
 * The authenticators of the access pipeline, Oathkeeper's eight by name and configuration keys. Handlers
 * that keep state across rules (JWKS, pre-authorization tokens) keep it per `deps`, i.e. per gateway.
 */
import type { PipelineDeps } from "../deps.js";
import type { HandlerFactory, PreparedAuthenticator } from "../types.js";
import { anonymousAuthenticator } from "./anonymous.js";
import { bearerTokenAuthenticator } from "./bearer-token.js";
import { cookieSessionAuthenticator } from "./cookie-session.js";
import { jwtAuthenticator } from "./jwt.js";
import { noopAuthenticator } from "./noop.js";
import { oauth2ClientCredentialsAuthenticator } from "./oauth2-client-credentials.js";
import { oauth2IntrospectionAuthenticator } from "./oauth2-introspection.js";
import { unauthorizedAuthenticator } from "./unauthorized.js";

export function createAuthenticatorFactories(deps: PipelineDeps): HandlerFactory<PreparedAuthenticator>[] {
  return [
    noopAuthenticator(),
    anonymousAuthenticator(),
    unauthorizedAuthenticator(),
    cookieSessionAuthenticator(deps),
    bearerTokenAuthenticator(deps),
    oauth2IntrospectionAuthenticator(deps),
    oauth2ClientCredentialsAuthenticator(deps),
    jwtAuthenticator(deps),
  ];
}
