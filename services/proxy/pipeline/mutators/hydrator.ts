/**
 * Oathkeeper's `hydrator` mutator: POSTs the session, as Oathkeeper serialises it, to an API that answers
 * with the session enriched (more `extra`, more `header`), and takes that answer as the session.
 *
 * As in Oathkeeper: the request's headers and query go along (hydrators look at the caller's cookies or
 * token), `api.auth.basic` replaces the `Authorization` header, retries happen only when `api.retry` is
 * configured, and an answer about another subject is refused. The session's headers are sent, as Go's
 * `http.Header` marshals, as canonical names with lists of values; of a returned list the first value is
 * kept, which is what Oathkeeper forwards upstream (`Header.Get`). An answer without `extra` or `header`
 * (or with null) leaves that part of the session as it was, where Oathkeeper would empty it.
 */
import { ConfigReader } from "../config-reader.js";
import type { PipelineDeps } from "../deps.js";
import { UpstreamServiceError } from "../errors.js";
import { describeUrl } from "../outbound-http.js";
import { readRetryPolicy, sendWithRetry, type RetryPolicy } from "../retry.js";
import type { AuthenticationSession, HandlerFactory, HeaderMap, PreparedMutator } from "../types.js";

/** Oathkeeper's default cache lifetime. */
const DEFAULT_CACHE_TTL_MILLIS = 60_000;
const CACHE_NAMESPACE = "hydrator";

/** Headers of the client request that are about its own connection or body, not for the hydrator. */
const NOT_FORWARDED = new Set([
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "content-type",
  "expect",
]);

/** What the hydrator changes, as cached. */
interface Hydrated {
  readonly subject: string;
  readonly extra: Record<string, unknown>;
  readonly header: Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Go's `http.CanonicalHeaderKey`: `x-user-id` → `X-User-Id` (names with other characters stay as they are). */
export function canonicalHeaderName(name: string): string {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return name;
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_m, dash: string, letter: string) => dash + letter.toUpperCase());
}

/** A header map as Go's `http.Header` marshals it: canonical names (sorted, as Go sorts map keys), value lists. */
function goHeader(headers: HeaderMap): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const canonical = canonicalHeaderName(name);
    (out[canonical] ??= []).push(...(typeof value === "string" ? [value] : value));
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The session as Oathkeeper's `AuthenticationSession` marshals it. */
export function sessionJson(session: AuthenticationSession): Record<string, unknown> {
  return {
    subject: session.subject,
    extra: session.extra,
    header: goHeader(session.header),
    match_context: {
      regexp_capture_groups: session.matchContext.regexpCaptureGroups,
      url: session.matchContext.url.toString(),
      method: session.matchContext.method,
      header: goHeader(session.matchContext.header),
    },
  };
}

/** The API URL with the request's query added (Oathkeeper passes it on). */
function urlWithQuery(api: string, query: URLSearchParams): string {
  if ([...query.keys()].length === 0) return api;
  const url = new URL(api);
  for (const [name, value] of query) url.searchParams.append(name, value);
  return url.toString();
}

function forwardedHeaders(headers: HeaderMap): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || NOT_FORWARDED.has(lower)) continue;
    out[lower] = typeof value === "string" ? value : value.join(lower === "cookie" ? "; " : ", ");
  }
  return out;
}

export function hydratorMutator(deps: PipelineDeps): HandlerFactory<PreparedMutator> {
  return {
    name: "hydrator",
    prepare(config, context) {
      const where = context.where;
      const reader = new ConfigReader(config, where);
      const api = reader.child("api");
      const url = api.requiredUrl("url");
      const basic = api.child("auth").child("basic");
      let authorization: string | undefined;
      if (api.child("auth").has("basic")) {
        const username = basic.requiredString("username");
        const password = basic.string("password") ?? "";
        authorization = `Basic ${Buffer.from(`${username}:${password}`, "utf8").toString("base64")}`;
      }
      const retry: RetryPolicy | undefined = api.has("retry") ? readRetryPolicy(api) : undefined;
      const cache = reader.child("cache");
      const cacheEnabled = cache.boolean("enabled") ?? false;
      // Oathkeeper reads a zero TTL as the default.
      const cacheTtl = cache.duration("ttl") || DEFAULT_CACHE_TTL_MILLIS;
      const target = describeUrl(url);
      const malformed = (problem: string): UpstreamServiceError =>
        new UpstreamServiceError(`${where}: ${target} answered with an invalid session: ${problem}`, { reason: "upstream_invalid_answer" });

      /** What the answer changes; refuses an answer that is not a session about the same subject. */
      function hydratedOf(answer: unknown, session: AuthenticationSession): Hydrated {
        if (!isObject(answer)) throw malformed("not a JSON object");
        if (answer.subject !== session.subject) throw malformed("its subject is not the session's");
        let extra = session.extra;
        if (answer.extra !== undefined && answer.extra !== null) {
          if (!isObject(answer.extra)) throw malformed('"extra" is not an object');
          extra = answer.extra;
        }
        let header = session.header;
        if (answer.header !== undefined && answer.header !== null) {
          if (!isObject(answer.header)) throw malformed('"header" is not an object');
          header = {};
          for (const [name, value] of Object.entries(answer.header)) {
            if (value === null) continue;
            const list: unknown = typeof value === "string" ? [value] : value;
            if (!Array.isArray(list) || !list.every((v) => typeof v === "string")) throw malformed(`"header.${name}" is not a list of strings`);
            const first = list[0] as string | undefined;
            if (first !== undefined) header[name] = first;
          }
        }
        return { subject: session.subject, extra, header };
      }

      function apply(session: AuthenticationSession, hydrated: Hydrated): void {
        session.subject = hydrated.subject;
        session.extra = hydrated.extra;
        session.header = { ...hydrated.header };
      }

      return {
        async mutate(request, session) {
          const body = JSON.stringify(sessionJson(session));
          if (cacheEnabled) {
            const cached = await deps.cache.get(CACHE_NAMESPACE, [url, body]);
            if (cached !== undefined) {
              apply(session, hydratedOf(cached, session));
              return;
            }
          }
          const headers = forwardedHeaders(request.headers);
          if (authorization !== undefined) headers.authorization = authorization;
          headers["content-type"] = "application/json";
          const res = await sendWithRetry(deps.http, { method: "POST", url: urlWithQuery(url, request.url.searchParams), headers, body }, retry);
          if (res.status === 401) {
            throw new UpstreamServiceError(
              authorization === undefined
                ? `${where}: ${target} requires credentials (set config.api.auth.basic)`
                : `${where}: ${target} refused the credentials of config.api.auth.basic`,
              { reason: "upstream_unauthorized" },
            );
          }
          if (res.status !== 200) {
            throw new UpstreamServiceError(`${where}: ${target} answered ${res.status}, expected 200`, {
              reason: "upstream_unexpected_status",
              details: { status: res.status },
            });
          }
          let answer: unknown;
          try {
            answer = JSON.parse(res.body.toString("utf8"));
          } catch {
            throw malformed("not JSON");
          }
          const hydrated = hydratedOf(answer, session);
          apply(session, hydrated);
          if (cacheEnabled) await deps.cache.set(CACHE_NAMESPACE, [url, body], hydrated, cacheTtl);
        },
      };
    },
  };
}
