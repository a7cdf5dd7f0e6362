/**
 * Helpers the authenticators share: strict configuration keys, header and cookie reads, form encoding, the
 * `cache` and `retry` blocks, and JSON answers of upstream services.
 */
import type { ConfigReader } from "../config-reader.js";
import type { PipelineDeps } from "../deps.js";
import { UpstreamServiceError } from "../errors.js";
import { describeUrl, type OutboundResponse } from "../outbound-http.js";
import type { HeaderMap } from "../types.js";
import { isPlainObject } from "../handler-settings.js";
import { parseRequestCookies } from "../mutators/cookie.js";

export { isPlainObject } from "../handler-settings.js";

/**
 * Refuses keys the handler does not know, as Oathkeeper's schemas do (`additionalProperties: false`), so a
 * misspelt option is an error at rule load instead of a silently ignored setting.
 */
export function rejectUnknownKeys(reader: ConfigReader, config: Readonly<Record<string, unknown>> | undefined, allowed: readonly string[]): void {
  if (config === undefined) return;
  for (const key of Object.keys(config)) {
    if (!allowed.includes(key)) throw reader.error(key, `is not a known option (known: ${allowed.join(", ")})`);
  }
}

/** Headers that describe a connection or a body, which the outbound client sets itself. */
const CONNECTION_HEADERS = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "content-length", "expect"]);

/**
 * Refuses header names the gateway cannot send on its own request (connection-level and body-framing
 * headers; with `hostAllowed` false also `Host`, which would misaddress the call).
 */
export function checkHeaderNames(reader: ConfigReader, key: string, names: readonly string[], hostAllowed: boolean): void {
  for (const name of names) {
    const lower = name.toLowerCase();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw reader.error(key, `has an invalid header name ${JSON.stringify(name)}`);
    if (CONNECTION_HEADERS.has(lower)) throw reader.error(key, `cannot carry ${JSON.stringify(name)}: the gateway sets connection and body headers itself`);
    if (lower === "host" && !hostAllowed) throw reader.error(key, 'cannot forward "Host" (use preserve_host to send X-Forwarded-Host)');
  }
}

/** The raw object under `key` of `config` (for the unknown-key check of nested blocks). */
export function nested(config: Readonly<Record<string, unknown>>, key: string): Readonly<Record<string, unknown>> | undefined {
  const value = config[key];
  return isPlainObject(value) ? value : undefined;
}

/** A request header by lower-case name; repeated values joined as HTTP allows (cookies with "; "). */
export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  if (typeof value === "string") return value;
  if (value.length === 0) return undefined;
  return value.join(name === "cookie" ? "; " : ", ");
}

/**
 * The request's cookies by name (the first of a repeated name wins, as Go's `Request.Cookie`); empty ones are
 * left out, since no session hides in them.
 */
export function parseCookies(headers: HeaderMap): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const { name, value } of parseRequestCookies(headers["cookie"])) if (value !== "" && !cookies.has(name)) cookies.set(name, value);
  return cookies;
}

/** `application/x-www-form-urlencoded` encoding of one value (as Go's `url.QueryEscape`). */
export function formEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

export function formBody(fields: Readonly<Record<string, string | undefined>>): string {
  return Object.entries(fields)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => `${formEncode(k)}=${formEncode(v)}`)
    .join("&");
}

export function clockOf(deps: PipelineDeps): () => number {
  return deps.now ?? Date.now;
}

export interface CacheSettings {
  readonly enabled: boolean;
  /** Undefined: bounded only by the credential's own expiry. */
  readonly ttlMillis: number | undefined;
}

/**
 * The `cache` block: `enabled` (default false), `ttl` (a Go duration), and the size key the handler accepts
 * (`max_cost`, `max_tokens`), which is validated but not used: the shared credential cache has one bound.
 */
export function readCacheSettings(
  reader: ConfigReader,
  config: Readonly<Record<string, unknown>>,
  sizeKey: "max_cost" | "max_tokens",
  defaultTtlMillis: number | undefined,
): CacheSettings {
  rejectUnknownKeys(reader.child("cache"), nested(config, "cache"), ["enabled", "ttl", sizeKey]);
  const cache = reader.child("cache");
  const size = cache.number(sizeKey);
  if (size !== undefined && (!Number.isInteger(size) || size < 0)) throw cache.error(sizeKey, "must be a non-negative integer");
  const ttlMillis = cache.duration("ttl") ?? defaultTtlMillis;
  return { enabled: cache.boolean("enabled") ?? false, ttlMillis };
}

/** The JSON object of an answer, or an `UpstreamServiceError` naming `what` and the URL. */
export function jsonObjectOf(response: OutboundResponse, what: string, url: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString("utf8"));
  } catch {
    throw new UpstreamServiceError(`${what} at ${describeUrl(url)} answered with invalid JSON`, { reason: "upstream_invalid_answer" });
  }
  if (!isPlainObject(parsed)) {
    throw new UpstreamServiceError(`${what} at ${describeUrl(url)} answered with JSON that is not an object`, { reason: "upstream_invalid_answer" });
  }
  return parsed;
}

/** An answer status that means the service failed (as opposed to refusing the credentials). */
export function upstreamStatusError(what: string, url: string, status: number): UpstreamServiceError {
  return new UpstreamServiceError(`${what} at ${describeUrl(url)} answered HTTP ${status}`, { reason: "upstream_status", details: { status } });
}

/**
 * An instant in milliseconds from a session field: an RFC 3339 string (Kratos's `expires_at`) or a number of
 * seconds since the epoch (`exp`). Undefined when absent or unreadable.
 */
export function instantMillis(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value * 1_000;
  if (typeof value === "string" && value !== "") {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? undefined : parsed;
  }
  return undefined;
}

/** How long a success may be cached: the configured TTL, cut at the credential's expiry (if known). */
export function boundedTtl(ttlMillis: number | undefined, expiresAtMillis: number | undefined, now: number): number {
  const untilExpiry = expiresAtMillis === undefined ? Number.POSITIVE_INFINITY : expiresAtMillis - now;
  const ttl = Math.min(ttlMillis ?? Number.POSITIVE_INFINITY, untilExpiry);
  // Neither bound known: do not cache (an entry without an end would outlive a revocation).
  return Number.isFinite(ttl) ? Math.max(0, ttl) : 0;
}
