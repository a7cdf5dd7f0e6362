/**
 * `oauth2_client_credentials`: responsible for HTTP Basic requests; the user and password are an OAuth 2.0
 * client's id and secret (form-decoded, RFC 6749 2.3.1), checked by performing a client credentials grant at
 * `token_url` with `required_scope`. A token means the credentials are good; the subject is the client id.
 * With `cache.enabled`, a success is remembered (keyed by a hash of URL, scopes, id and secret; never the
 * token) for `cache.ttl`, cut at the token's `expires_in`.
 */
import { readRetryPolicy } from "../retry.js";
import { ConfigReader } from "../config-reader.js";
import type { PipelineDeps } from "../deps.js";
import { NotResponsibleError, UnauthorizedError } from "../errors.js";
import type { HandlerFactory, PreparedAuthenticator } from "../types.js";
import { boundedTtl, clockOf, headerValue, jsonObjectOf, readCacheSettings, rejectUnknownKeys, upstreamStatusError } from "./shared.js";
import { requestClientCredentialsToken } from "./token-endpoint.js";

const NAMESPACE = "authn.oauth2_client_credentials";

/** The user and password of a `Basic` Authorization value (undefined when it is not one, as Go's `BasicAuth`). */
export function basicCredentialsOf(authorization: string | undefined): { user: string; password: string } | undefined {
  if (authorization === undefined) return undefined;
  const space = authorization.indexOf(" ");
  if (space === -1 || authorization.slice(0, space).toLowerCase() !== "basic") return undefined;
  const encoded = authorization.slice(space + 1).trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return undefined;
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Form decoding of one value (`+` is a space); undefined when a `%` escape is malformed. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}

export function oauth2ClientCredentialsAuthenticator(deps: PipelineDeps): HandlerFactory<PreparedAuthenticator> {
  return {
    name: "oauth2_client_credentials",
    prepare(config, context) {
      const reader = new ConfigReader(config, context.where);
      rejectUnknownKeys(reader, config, ["token_url", "required_scope", "retry", "cache"]);
      const tokenUrl = reader.requiredUrl("token_url");
      const scope = reader.stringList("required_scope") ?? [];
      const retry = readRetryPolicy(reader);
      const cache = readCacheSettings(reader, config, "max_tokens", undefined);
      const now = clockOf(deps);
      return {
        async authenticate(request, session) {
          const basic = basicCredentialsOf(headerValue(request.headers, "authorization"));
          if (basic === undefined) throw new NotResponsibleError();
          const clientId = formDecode(basic.user);
          const clientSecret = formDecode(basic.password);
          if (clientId === undefined || clientSecret === undefined) {
            throw new UnauthorizedError("Access credentials are invalid", { reason: "malformed_client_credentials" });
          }
          const parts = [tokenUrl, scope.join(" "), clientId, clientSecret];
          if (cache.enabled && (await deps.cache.get(NAMESPACE, parts)) === true) {
            session.subject = clientId;
            return;
          }

          const response = await requestClientCredentialsToken(deps.http, { tokenUrl, clientId, clientSecret, scope }, retry);
          const what = "oauth2_client_credentials: the token endpoint";
          // As Oathkeeper: a missing endpoint or a failing one is the gateway's problem, any other refusal the client's.
          if (response.status >= 500 || response.status === 404) throw upstreamStatusError(what, tokenUrl, response.status);
          if (response.status !== 200) {
            throw new UnauthorizedError("Access credentials are invalid", { reason: "client_credentials_refused", details: { status: response.status } });
          }
          const body = jsonObjectOf(response, what, tokenUrl);
          if (typeof body["access_token"] !== "string" || body["access_token"] === "") {
            throw new UnauthorizedError("Access credentials are invalid", { reason: "client_credentials_no_token" });
          }
          session.subject = clientId;

          if (cache.enabled) {
            const at = now();
            // Some servers send expires_in as a string.
            const expiresIn = Number(body["expires_in"] ?? Number.NaN);
            const expiresAt = Number.isFinite(expiresIn) ? at + expiresIn * 1_000 : undefined;
            await deps.cache.set(NAMESPACE, parts, true, boundedTtl(cache.ttlMillis, expiresAt, at));
          }
        },
      };
    },
  };
}
