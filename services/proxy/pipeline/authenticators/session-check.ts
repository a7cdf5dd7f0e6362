/**
 * The session-store call `cookie_session` and `bearer_token` share (Oathkeeper's `PrepareRequest` and
 * `forwardRequestToSessionStore`): build the check request from the incoming one, send it, and read the subject
 * and extra out of a 200 answer with GJSON paths. Optionally caches successes (Oathkeeper #1167 / #1232).
 *
 * URL semantics follow Oathkeeper's schema: unless `preserve_path` is true, the check URL's path is replaced by
 * the incoming request's path (for Kratos's `/sessions/whoami`, set `preserve_path: true`); unless
 * `preserve_query` is false (default true), the check URL's query is kept, else replaced by the request's.
 */
import type { ConfigReader } from "../config-reader.js";
import type { PipelineDeps } from "../deps.js";
import { ForbiddenError, UnauthorizedError } from "../errors.js";
import type { AuthenticationSession, PipelineRequest } from "../types.js";
import { compileGjsonPath, type GjsonPath } from "./gjson-path.js";
import {
  boundedTtl,
  checkHeaderNames,
  clockOf,
  headerValue,
  instantMillis,
  isPlainObject,
  jsonObjectOf,
  readCacheSettings,
  upstreamStatusError,
  type CacheSettings,
} from "./shared.js";

/** Options both session-check authenticators accept. */
export const SESSION_CHECK_KEYS = [
  "check_session_url",
  "preserve_query",
  "preserve_path",
  "preserve_host",
  "force_method",
  "forward_http_headers",
  "additional_headers",
  "extra_from",
  "subject_from",
  "cache",
] as const;

export interface SessionCheck {
  readonly handler: string;
  readonly url: string;
  readonly preservePath: boolean;
  readonly preserveQuery: boolean;
  readonly preserveHost: boolean;
  readonly forceMethod: string | undefined;
  /** Lower-case names of the request headers copied onto the check request. */
  readonly forwardHeaders: readonly string[];
  /** Lower-case names. */
  readonly additionalHeaders: Readonly<Record<string, string>>;
  readonly subjectFrom: GjsonPath;
  readonly extraFrom: GjsonPath;
  readonly cache: CacheSettings;
}

const DEFAULT_CACHE_TTL_MILLIS = 15_000;

/** Reads the shared options; `alwaysForward` is the header Oathkeeper always adds to `forward_http_headers`. */
export function readSessionCheck(
  handler: string,
  reader: ConfigReader,
  config: Readonly<Record<string, unknown>>,
  defaults: { readonly subjectFrom: string; readonly alwaysForward: string },
): SessionCheck {
  const url = reader.requiredUrl("check_session_url");
  const forceMethod = reader.string("force_method");
  if (forceMethod !== undefined && !/^[A-Za-z]+$/.test(forceMethod)) throw reader.error("force_method", `must be an HTTP method such as "GET", got ${JSON.stringify(forceMethod)}`);
  const forwardList = reader.stringList("forward_http_headers") ?? [];
  checkHeaderNames(reader, "forward_http_headers", forwardList, false);
  const forward = new Set(forwardList.map((h) => h.toLowerCase()));
  forward.add(defaults.alwaysForward);
  const additionalMap = reader.stringMap("additional_headers") ?? {};
  checkHeaderNames(reader, "additional_headers", Object.keys(additionalMap), true);
  const additional: Record<string, string> = {};
  for (const [name, value] of Object.entries(additionalMap)) additional[name.toLowerCase()] = value;
  const path = (key: "subject_from" | "extra_from", fallback: string): GjsonPath => {
    const source = reader.string(key) || fallback;
    try {
      return compileGjsonPath(source);
    } catch (err) {
      throw reader.error(key, `is not a supported GJSON path (${(err as Error).message}): ${JSON.stringify(source)}`);
    }
  };
  return {
    handler,
    url,
    preservePath: reader.boolean("preserve_path") ?? false,
    preserveQuery: reader.boolean("preserve_query") ?? true,
    preserveHost: reader.boolean("preserve_host") ?? false,
    forceMethod: forceMethod === undefined || forceMethod === "" ? undefined : forceMethod.toUpperCase(),
    forwardHeaders: [...forward],
    additionalHeaders: additional,
    subjectFrom: path("subject_from", defaults.subjectFrom),
    extraFrom: path("extra_from", "extra"),
    cache: readCacheSettings(reader, config, "max_cost", DEFAULT_CACHE_TTL_MILLIS),
  };
}

interface CachedSession {
  readonly subject: string;
  readonly extra: Record<string, unknown>;
}

function isCachedSession(value: unknown): value is CachedSession {
  return isPlainObject(value) && typeof value["subject"] === "string" && isPlainObject(value["extra"]);
}

/**
 * Asks the session store about `request` and fills `session`. `override` headers (the bearer token) are set
 * after the forwarded ones and before `additional_headers`.
 */
export async function runSessionCheck(
  deps: PipelineDeps,
  check: SessionCheck,
  request: PipelineRequest,
  session: AuthenticationSession,
  override: Readonly<Record<string, string>> = {},
): Promise<void> {
  const target = new URL(check.url);
  if (!check.preservePath) target.pathname = request.url.pathname;
  if (!check.preserveQuery) target.search = request.url.search;
  const method = check.forceMethod ?? request.method;
  const headers: Record<string, string> = {};
  for (const name of check.forwardHeaders) {
    const value = headerValue(request.headers, name);
    if (value !== undefined) headers[name] = value;
  }
  Object.assign(headers, override, check.additionalHeaders);
  if (check.preserveHost) headers["x-forwarded-host"] = request.url.host;
  headers["accept"] ??= "application/json";

  const namespace = `authn.${check.handler}`;
  // Everything that shapes the answer; the credential is among the header values. Hashed by the cache.
  const cacheParts = check.cache.enabled
    ? [
        method,
        target.href,
        check.subjectFrom.source,
        check.extraFrom.source,
        ...Object.keys(headers)
          .sort()
          .map((name) => `${name}\u0000${headers[name]}`),
      ]
    : [];
  if (check.cache.enabled) {
    const cached = await deps.cache.get(namespace, cacheParts);
    if (isCachedSession(cached)) {
      session.subject = cached.subject;
      session.extra = cached.extra;
      return;
    }
  }

  const response = await deps.http.send({ method, url: target.href, headers });
  const what = `${check.handler}: the session check`;
  if (response.status >= 500) throw upstreamStatusError(what, target.href, response.status);
  if (response.status !== 200) throw new UnauthorizedError("Access credentials are invalid", { reason: "session_check_refused", details: { status: response.status } });
  const body = jsonObjectOf(response, what, target.href);

  const subject = subjectOf(check, body);
  const extra = extraOf(check, body);
  session.subject = subject;
  session.extra = extra;

  if (check.cache.enabled) {
    const now = clockOf(deps)();
    const expiresAt = instantMillis(body["expires_at"]) ?? instantMillis(body["exp"]);
    await deps.cache.set(namespace, cacheParts, { subject, extra } satisfies CachedSession, boundedTtl(check.cache.ttlMillis, expiresAt, now));
  }
}

function subjectOf(check: SessionCheck, body: Record<string, unknown>): string {
  const value = check.subjectFrom.get(body);
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (value === undefined || value === null || value === "") {
    throw new UnauthorizedError("Access credentials are invalid", { reason: "session_without_subject", details: { subject_from: check.subjectFrom.source } });
  }
  if (typeof value !== "string") {
    // Oathkeeper answers 403 when the subject_from result is not a string.
    throw new ForbiddenError(`${check.handler}: subject_from "${check.subjectFrom.source}" does not select a string in the session`, {
      reason: "subject_not_a_string",
    });
  }
  return value;
}

function extraOf(check: SessionCheck, body: Record<string, unknown>): Record<string, unknown> {
  const value = check.extraFrom.get(body);
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value)) {
    // Oathkeeper answers 403 when the extra_from result is not an object.
    throw new ForbiddenError(`${check.handler}: extra_from "${check.extraFrom.source}" does not select an object in the session`, {
      reason: "extra_not_an_object",
    });
  }
  return value;
}
