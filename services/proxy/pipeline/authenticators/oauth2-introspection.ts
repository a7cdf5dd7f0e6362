/**
 * `oauth2_introspection`: responsible when a token is found at `token_from` and starts with `prefix`; asks the
 * RFC 7662 endpoint `introspection_url` about it and checks the answer as Oathkeeper does:
 * `token_use` (if present) must be `access_token` (else 403), `active` (else 401), `exp` not passed (else
 * 401), every `target_audience` in `aud` (else 403), `iss` among `trusted_issuers` (else 403), and every
 * `required_scope` granted under `scope_strategy` (else 403). With `scope_strategy: none` the required scopes
 * are sent to the endpoint instead (`scope=a b`) and it decides.
 *
 * `pre_authorization` obtains a bearer token for the introspection call itself with a client credentials
 * grant; it is kept (per gateway) until 10 s before it expires, and renewed once if the endpoint answers 401.
 * With `cache.enabled`, successful answers are cached (key: the token, the URL, and the scope, headers and
 * client sent) for `cache.ttl`, never beyond the token's `exp`; the checks run again on every hit.
 */
import { readRetryPolicy, sendWithRetry, type RetryPolicy } from "../retry.js";
import { ConfigReader } from "../config-reader.js";
import type { PipelineDeps } from "../deps.js";
import { ForbiddenError, NotResponsibleError, UnauthorizedError, UpstreamServiceError } from "../errors.js";
import { credentialCacheKey } from "../memory-credential-cache.js";
import { describeUrl } from "../outbound-http.js";
import type { HandlerFactory, PreparedAuthenticator } from "../types.js";
import { missingScope, readScopeStrategy, scopeMatcher } from "./scope-strategy.js";
import {
  boundedTtl,
  checkHeaderNames,
  clockOf,
  formBody,
  isPlainObject,
  jsonObjectOf,
  nested,
  readCacheSettings,
  rejectUnknownKeys,
  upstreamStatusError,
} from "./shared.js";
import { readTokenLocation, tokenFromRequest } from "./token-from.js";
import { requestClientCredentialsToken, type ClientCredentialsGrant } from "./token-endpoint.js";

const NAMESPACE = "authn.oauth2_introspection";
/** Renew a pre-authorization token this long before it expires (as Go's oauth2 package does). */
const PRE_AUTH_EXPIRY_MARGIN_MILLIS = 10_000;

/** The fields of an introspection answer the checks and the session use. */
interface Introspection {
  readonly active: boolean;
  readonly sub: string;
  readonly username: string;
  readonly clientId: string;
  readonly scope: string;
  readonly aud: readonly string[];
  readonly iss: string;
  readonly exp: number;
  readonly tokenUse: string;
  readonly ext: Record<string, unknown>;
}

/** Reads an answer; a field of the wrong type means the endpoint is broken (Oathkeeper fails with 500 too). */
function readIntrospection(raw: Record<string, unknown>, url: string): Introspection {
  const bad = (field: string) =>
    new UpstreamServiceError(`oauth2_introspection: the introspection endpoint at ${describeUrl(url)} answered with an invalid "${field}"`, {
      reason: "upstream_invalid_answer",
    });
  const str = (field: string): string => {
    const value = raw[field];
    if (value === undefined || value === null) return "";
    if (typeof value !== "string") throw bad(field);
    return value;
  };
  const audRaw = raw["aud"];
  let aud: string[];
  if (audRaw === undefined || audRaw === null) aud = [];
  else if (typeof audRaw === "string") aud = [audRaw];
  else if (Array.isArray(audRaw) && audRaw.every((a) => typeof a === "string")) aud = audRaw as string[];
  else throw bad("aud");
  const expRaw = raw["exp"];
  if (expRaw !== undefined && expRaw !== null && (typeof expRaw !== "number" || !Number.isFinite(expRaw))) throw bad("exp");
  const extRaw = raw["ext"];
  if (extRaw !== undefined && extRaw !== null && !isPlainObject(extRaw)) throw bad("ext");
  return {
    active: raw["active"] === true,
    sub: str("sub"),
    username: str("username"),
    clientId: str("client_id"),
    scope: str("scope"),
    aud,
    iss: str("iss"),
    exp: typeof expRaw === "number" ? expRaw : 0,
    tokenUse: str("token_use"),
    ext: isPlainObject(extRaw) ? extRaw : {},
  };
}

interface PreAuthEntry {
  token?: string;
  /** Undefined: the token endpoint gave no lifetime; kept until the introspection endpoint refuses it. */
  expiresAt?: number | undefined;
  pending?: Promise<string> | undefined;
}

/** Pre-authorization tokens per gateway (deps), shared by every rule with the same client. */
const preAuthTokens = new WeakMap<PipelineDeps, Map<string, PreAuthEntry>>();

async function preAuthToken(deps: PipelineDeps, grant: ClientCredentialsGrant, retry: RetryPolicy, renew: boolean): Promise<string> {
  let store = preAuthTokens.get(deps);
  if (store === undefined) {
    store = new Map();
    preAuthTokens.set(deps, store);
  }
  const key = credentialCacheKey("pre_authorization", [grant.tokenUrl, grant.clientId, grant.clientSecret, grant.scope.join(" "), grant.audience ?? ""]);
  let entry = store.get(key);
  if (entry === undefined) {
    entry = {};
    store.set(key, entry);
  }
  const now = clockOf(deps)();
  if (!renew && entry.token !== undefined && (entry.expiresAt === undefined || entry.expiresAt - PRE_AUTH_EXPIRY_MARGIN_MILLIS > now)) return entry.token;
  if (entry.pending !== undefined) return entry.pending;
  const target = entry;
  target.pending = (async () => {
    const response = await requestClientCredentialsToken(deps.http, grant, retry);
    const what = "oauth2_introspection: the pre-authorization token endpoint";
    if (response.status !== 200) throw upstreamStatusError(what, grant.tokenUrl, response.status);
    const body = jsonObjectOf(response, what, grant.tokenUrl);
    const token = body["access_token"];
    if (typeof token !== "string" || token === "") {
      throw new UpstreamServiceError(`${what} at ${describeUrl(grant.tokenUrl)} answered without an access_token`, { reason: "upstream_invalid_answer" });
    }
    const expiresIn = Number(body["expires_in"] ?? Number.NaN);
    target.token = token;
    target.expiresAt = Number.isFinite(expiresIn) ? clockOf(deps)() + expiresIn * 1_000 : undefined;
    return token;
  })().finally(() => {
    target.pending = undefined;
  });
  return target.pending;
}

export function oauth2IntrospectionAuthenticator(deps: PipelineDeps): HandlerFactory<PreparedAuthenticator> {
  return {
    name: "oauth2_introspection",
    prepare(config, context) {
      const reader = new ConfigReader(config, context.where);
      rejectUnknownKeys(reader, config, [
        "introspection_url",
        "scope_strategy",
        "pre_authorization",
        "required_scope",
        "target_audience",
        "trusted_issuers",
        "prefix",
        "preserve_host",
        "introspection_request_headers",
        "token_from",
        "retry",
        "cache",
      ]);
      const url = reader.requiredUrl("introspection_url");
      const strategy = readScopeStrategy(reader);
      const matcher = scopeMatcher(strategy);
      const requiredScope = reader.stringList("required_scope") ?? [];
      const audiences = reader.stringList("target_audience") ?? [];
      const issuers = reader.stringList("trusted_issuers") ?? [];
      const prefix = reader.string("prefix") ?? "";
      const preserveHost = reader.boolean("preserve_host") ?? false;
      const headerMap = reader.stringMap("introspection_request_headers") ?? {};
      checkHeaderNames(reader, "introspection_request_headers", Object.keys(headerMap), true);
      const extraHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(headerMap)) extraHeaders[name.toLowerCase()] = value;
      const location = readTokenLocation(reader, config);
      const retry = readRetryPolicy(reader);
      const cache = readCacheSettings(reader, config, "max_cost", undefined);
      const preAuth = readPreAuthorization(reader, config);
      // With strategy none the endpoint checks the scopes, so they go with the request (and into the cache key).
      const scopeParam = matcher === undefined && requiredScope.length > 0 ? requiredScope.join(" ") : undefined;
      const now = clockOf(deps);

      async function introspect(token: string, forwardedHost: string): Promise<Record<string, unknown>> {
        const body = formBody({ token, scope: scopeParam });
        const send = (bearer: string | undefined) => {
          const headers: Record<string, string> = { accept: "application/json", ...extraHeaders, "content-type": "application/x-www-form-urlencoded" };
          if (preserveHost) headers["x-forwarded-host"] = forwardedHost;
          if (bearer !== undefined) headers["authorization"] = `Bearer ${bearer}`;
          return sendWithRetry(deps.http, { method: "POST", url, headers, body }, retry);
        };
        let response;
        if (preAuth === undefined) {
          response = await send(undefined);
        } else {
          response = await send(await preAuthToken(deps, preAuth, retry, false));
          // The kept token may have been revoked or the server restarted: renew once.
          if (response.status === 401) response = await send(await preAuthToken(deps, preAuth, retry, true));
        }
        if (response.status !== 200) throw upstreamStatusError("oauth2_introspection: the introspection endpoint", url, response.status);
        return jsonObjectOf(response, "oauth2_introspection: the introspection endpoint", url);
      }

      function check(result: Introspection): void {
        if (result.tokenUse !== "" && result.tokenUse !== "access_token") {
          throw new ForbiddenError(`Use of introspected token is not an access token but "${result.tokenUse}"`, { reason: "token_use_mismatch" });
        }
        if (!result.active) throw new UnauthorizedError("Access token is not active", { reason: "token_inactive" });
        if (result.exp > 0 && result.exp * 1_000 < now()) throw new UnauthorizedError("Access token expired", { reason: "token_expired" });
        for (const audience of audiences) {
          if (!result.aud.includes(audience)) {
            throw new ForbiddenError(`Token audience is not intended for target audience ${audience}`, { reason: "audience_mismatch" });
          }
        }
        if (issuers.length > 0 && !issuers.includes(result.iss)) {
          throw new ForbiddenError("Token issuer does not match any trusted issuer", { reason: "issuer_untrusted" });
        }
        if (matcher !== undefined) {
          const missing = missingScope(
            matcher,
            result.scope.split(" ").filter((s) => s !== ""),
            requiredScope,
          );
          if (missing !== undefined) throw new ForbiddenError(`Scope ${missing} was not granted`, { reason: "scope_missing" });
        }
      }

      return {
        async authenticate(request, session) {
          const token = tokenFromRequest(request, location);
          if (token === undefined || !token.startsWith(prefix)) throw new NotResponsibleError();

          const parts = cache.enabled
            ? [
                token,
                url,
                scopeParam ?? "",
                preAuth === undefined ? "" : `${preAuth.tokenUrl}\u0000${preAuth.clientId}`,
                preserveHost ? request.url.host : "",
                ...Object.keys(extraHeaders)
                  .sort()
                  .map((name) => `${name}\u0000${extraHeaders[name]}`),
              ]
            : [];
          let raw: Record<string, unknown> | undefined;
          let fromCache = false;
          if (cache.enabled) {
            const cached = await deps.cache.get(NAMESPACE, parts);
            if (isPlainObject(cached)) {
              raw = cached;
              fromCache = true;
            }
          }
          raw ??= await introspect(token, request.url.host);
          const result = readIntrospection(raw, url);
          check(result);

          if (cache.enabled && !fromCache) {
            await deps.cache.set(NAMESPACE, parts, raw, boundedTtl(cache.ttlMillis, result.exp > 0 ? result.exp * 1_000 : undefined, now()));
          }

          // As Oathkeeper: extra is `ext` with these introspection fields copied in.
          const extra: Record<string, unknown> = { ...result.ext, username: result.username, client_id: result.clientId, scope: result.scope };
          if (result.aud.length > 0) extra["aud"] = [...result.aud];
          session.subject = result.sub;
          session.extra = extra;
        },
      };
    },
  };
}

function readPreAuthorization(reader: ConfigReader, config: Readonly<Record<string, unknown>>): ClientCredentialsGrant | undefined {
  const block = reader.child("pre_authorization");
  rejectUnknownKeys(block, nested(config, "pre_authorization"), ["enabled", "client_id", "client_secret", "token_url", "audience", "scope"]);
  if (!(block.boolean("enabled") ?? false)) return undefined;
  return {
    tokenUrl: block.requiredUrl("token_url"),
    clientId: block.requiredString("client_id"),
    clientSecret: block.requiredString("client_secret"),
    scope: block.stringList("scope") ?? [],
    audience: block.string("audience") || undefined,
  };
}
