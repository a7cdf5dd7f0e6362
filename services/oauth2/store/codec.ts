/**
 * The storage form of the OAuth2 store's records, shared by the memory, SQL and Redis implementations so all
 * validate, normalise and round-trip values identically: JSON as JSON text (what the SQL columns hold, so it
 * comes back exactly as written), timestamps as ISO strings. The memory store keeps records in this form, so
 * whatever a store returns is a fresh copy.
 *
 * Also here: page sizes and the signed keyset page tokens of the client and consent listings.
 */
import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "../../../common/errors.js";
import { createKeysetTokenCodec as createCodec, invalidPageToken, type KeysetTokenCodec as Codec } from "../../../engine/store/page-token.js";
import { compareCodePoints } from "../../../engine/store/tuple-key.js";
import type { HydraClient } from "../clients/hydra-client.js";
import type { ArtifactPayload, ConsentRecord, StoredKey } from "./oauth2-store.js";

/** Items per page when the caller does not say (Hydra's default). */
export const DEFAULT_PAGE_SIZE = 250;
/** The largest page a listing serves (Hydra's limit). */
export const MAX_PAGE_SIZE = 500;
/**
 * The longest key (ids, subjects, kids...) in characters. Keys are indexed; 512 characters are at most
 * 2,048 UTF-8 bytes, well inside what a PostgreSQL B-tree entry may hold.
 */
export const MAX_KEY_LENGTH = 512;

function invalid(field: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(`${field}: ${message}`, { details: { field } });
}

/** The page size to use; 0 or absent means the default (protobuf's zero value). */
export function resolvePageSize(pageSize: number | undefined): number {
  if (pageSize === undefined || pageSize === 0) return DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
    throw invalid("page_size", `must be an integer between 1 and ${MAX_PAGE_SIZE}, got ${pageSize}`);
  }
  return pageSize;
}

/** Whether every value could be a stored key; lookups by anything else find nothing. */
export function storable(...keys: readonly unknown[]): boolean {
  return keys.every((k) => typeof k === "string" && k.length > 0 && k.length <= MAX_KEY_LENGTH && !k.includes("\u0000"));
}

/** A key for writing: a non-empty string without U+0000, at most `MAX_KEY_LENGTH` characters. */
export function checkKey(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0) throw invalid(field, "must be a non-empty string");
  if (value.length > MAX_KEY_LENGTH) throw invalid(field, `must be at most ${MAX_KEY_LENGTH} characters`);
  if (value.includes("\u0000")) throw invalid(field, "must not contain the character U+0000");
  return value;
}

/** A string for a plain TEXT column (which cannot hold U+0000 in PostgreSQL). */
function checkText(value: unknown, field: string): string {
  if (typeof value !== "string") throw invalid(field, "must be a string");
  if (value.includes("\u0000")) throw invalid(field, "must not contain the character U+0000");
  return value;
}

/** JSON text of a value; `InvalidArgumentError` for values JSON cannot hold. */
function encodeJson(value: unknown, field: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw invalid(field, `cannot be stored as JSON (${(err as Error).message})`);
  }
  if (text === undefined) throw invalid(field, "cannot be stored as JSON");
  return text;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A timestamp as an ISO string (millisecond precision, what a `Date` holds). */
export function encodeDate(value: unknown, field: string): string {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(field, "must be a valid date");
  return value.toISOString();
}

/** A timestamp read back: a `Date` (SQL drivers) or an ISO string (storage form). */
export function decodeDate(value: unknown): Date {
  const date = value instanceof Date ? new Date(value.getTime()) : new Date(String(value));
  if (Number.isNaN(date.getTime())) throw new Error(`expected a timestamp, got ${String(value)}`);
  return date;
}

// ---- artifacts ----

/** An artifact's payload with its indexed fields pulled out (the `oauth2_artifacts` columns). */
export interface ArtifactRecord {
  readonly model: string;
  readonly id: string;
  /** The payload as JSON text, exactly as given. */
  readonly payload: string;
  readonly grantId: string | null;
  readonly accountId: string | null;
  readonly uid: string | null;
  readonly userCode: string | null;
  /** The payload's `consumed` (epoch seconds), when the record is written already consumed. */
  readonly consumed: number | null;
}

function optionalKey(value: unknown, field: string): string | null {
  return value === undefined || value === null ? null : checkKey(value, field);
}

/** Validates an upsert and gives its storage form. */
export function encodeArtifact(model: unknown, id: unknown, payload: unknown): ArtifactRecord {
  const m = checkKey(model, "model");
  const i = checkKey(id, "id");
  if (!isObject(payload)) throw invalid("payload", "must be a JSON object");
  const consumed = payload["consumed"];
  if (consumed !== undefined && consumed !== null && (typeof consumed !== "number" || !Number.isFinite(consumed))) {
    throw invalid("payload.consumed", "must be a number of seconds since the epoch");
  }
  return {
    model: m,
    id: i,
    payload: encodeJson(payload, "payload"),
    grantId: optionalKey(payload["grantId"], "payload.grantId"),
    accountId: optionalKey(payload["accountId"], "payload.accountId"),
    uid: optionalKey(payload["uid"], "payload.uid"),
    userCode: optionalKey(payload["userCode"], "payload.userCode"),
    consumed: typeof consumed === "number" ? consumed : null,
  };
}

/** Validates an upsert's lifetime: undefined (never expires) or a finite number of seconds (≤ 0: expired). */
export function checkExpiresIn(expiresInSeconds: unknown): number | undefined {
  if (expiresInSeconds === undefined) return undefined;
  if (typeof expiresInSeconds !== "number" || !Number.isFinite(expiresInSeconds)) {
    throw invalid("expiresIn", "must be a finite number of seconds");
  }
  return expiresInSeconds;
}

/**
 * A stored payload read back. `consumed` is when the record was consumed (epoch seconds), which `consume`
 * keeps outside the payload text; it is added unless the payload already says when.
 */
export function decodeArtifact(payload: string, consumed: number | null | undefined): ArtifactPayload {
  const value = JSON.parse(payload) as Record<string, unknown>;
  if (consumed !== null && consumed !== undefined && value["consumed"] === undefined) value["consumed"] = consumed;
  return value as ArtifactPayload;
}

/** Now in epoch seconds, the unit of `consumed`. */
export function epochSeconds(now = Date.now()): number {
  return Math.floor(now / 1000);
}

// ---- clients ----

/** A client row: the `oauth2_clients` columns. */
export interface ClientRecord {
  readonly clientId: string;
  readonly clientName: string;
  readonly owner: string;
  /** The whole client as JSON text. */
  readonly body: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

function rfc3339(value: unknown, field: string): string {
  if (typeof value !== "string" || Number.isNaN(Date.parse(value))) throw invalid(field, "must be an RFC 3339 timestamp");
  return new Date(value).toISOString();
}

/** Validates a client and gives its storage form. */
export function encodeClient(client: HydraClient): ClientRecord {
  if (!isObject(client)) throw invalid("client", "must be a JSON object");
  return {
    clientId: checkKey(client.client_id, "client_id"),
    clientName: checkText(client.client_name, "client_name"),
    owner: checkText(client.owner, "owner"),
    body: encodeJson(client, "client"),
    createdAt: rfc3339(client.created_at, "created_at"),
    updatedAt: rfc3339(client.updated_at, "updated_at"),
  };
}

/** A stored client read back. */
export function decodeClient(body: unknown): HydraClient {
  return JSON.parse(String(body)) as HydraClient;
}

/** The error for a client id that is taken. */
export function clientExistsError(clientId: string, cause?: unknown): never {
  throw new AlreadyExistsError(`an OAuth2 client with the client_id "${clientId}" already exists`, {
    details: { field: "client_id" },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** The error for a client that does not exist. */
export function clientNotFoundError(clientId: string): never {
  throw new NotFoundError(`the OAuth2 client "${clientId}" does not exist`, { details: { field: "client_id" } });
}

/** The normalised filter of a client listing (what its page tokens are bound to). */
export interface ClientFilter {
  readonly clientName: string | null;
  readonly owner: string | null;
}

/** The filter of `listClients` options; an empty string filters nothing (an absent query parameter). */
export function clientFilterOf(options: { readonly clientName?: string; readonly owner?: string }): ClientFilter {
  const text = (value: unknown, field: string): string | null =>
    value === undefined || value === "" ? null : checkText(value, field);
  return { clientName: text(options.clientName, "client_name"), owner: text(options.owner, "owner") };
}

/** Whether a client matches a filter (the memory store's version of the SQL conditions). */
export function clientMatches(record: ClientRecord, filter: ClientFilter): boolean {
  return (filter.clientName === null || record.clientName === filter.clientName) && (filter.owner === null || record.owner === filter.owner);
}

// ---- consents ----

/** A consent row: the `oauth2_consents` columns. */
export interface ConsentRow {
  readonly id: string;
  readonly subject: string;
  readonly clientId: string;
  readonly grantId: string;
  readonly loginSessionId: string | null;
  readonly remember: boolean;
  readonly handledAt: string;
  readonly expiresAt: string | null;
  /** `{session, grantedScopes, grantedAudience}` as JSON text. */
  readonly body: string;
}

function stringList(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw invalid(field, "must be a list of strings");
  return value as string[];
}

/** Validates a consent and gives its storage form. */
export function encodeConsent(record: ConsentRecord): ConsentRow {
  if (!isObject(record)) throw invalid("consent", "must be an object");
  if (!isObject(record.session)) throw invalid("session", "must be a JSON object");
  if (typeof record.remember !== "boolean") throw invalid("remember", "must be a boolean");
  return {
    id: checkKey(record.id, "id"),
    subject: checkKey(record.subject, "subject"),
    clientId: checkKey(record.clientId, "client_id"),
    grantId: checkKey(record.grantId, "grant_id"),
    loginSessionId: optionalKey(record.loginSessionId, "login_session_id"),
    remember: record.remember,
    handledAt: encodeDate(record.handledAt, "handled_at"),
    expiresAt: record.expiresAt === undefined ? null : encodeDate(record.expiresAt, "expires_at"),
    body: encodeJson(
      {
        session: record.session,
        grantedScopes: stringList(record.grantedScopes, "granted_scopes"),
        grantedAudience: stringList(record.grantedAudience, "granted_audience"),
      },
      "session",
    ),
  };
}

/** A decoded boolean column (drivers give booleans; text forms are accepted too). */
function decodeBoolean(value: unknown): boolean {
  return value === true || value === "t" || value === "true";
}

/** A stored consent read back (from a `ConsentRow` or an SQL row of the same columns). */
export function decodeConsent(row: { readonly [K in keyof ConsentRow]: unknown }): ConsentRecord {
  const body = JSON.parse(String(row.body)) as { session: Record<string, unknown>; grantedScopes: string[]; grantedAudience: string[] };
  return {
    id: String(row.id),
    subject: String(row.subject),
    clientId: String(row.clientId),
    grantId: String(row.grantId),
    ...(row.loginSessionId === null || row.loginSessionId === undefined ? {} : { loginSessionId: String(row.loginSessionId) }),
    session: body.session,
    grantedScopes: body.grantedScopes,
    grantedAudience: body.grantedAudience,
    remember: decodeBoolean(row.remember),
    handledAt: decodeDate(row.handledAt),
    ...(row.expiresAt === null || row.expiresAt === undefined ? {} : { expiresAt: decodeDate(row.expiresAt) }),
  };
}

/** Newest first: handled_at descending, then id descending (code point order, as PostgreSQL's C collation). */
export function compareConsents(a: { handledAt: string; id: string }, b: { handledAt: string; id: string }): number {
  const byTime = Date.parse(b.handledAt) - Date.parse(a.handledAt);
  return byTime !== 0 ? byTime : compareCodePoints(b.id, a.id);
}

/** The `[handled_at, id]` key of a consent page token read back. */
export function consentCursorOf(key: readonly string[]): { readonly handledAt: string; readonly id: string } {
  const [handledAt, id] = key as [string, string];
  if (Number.isNaN(Date.parse(handledAt))) throw invalidPageToken("malformed token");
  return { handledAt: new Date(handledAt).toISOString(), id };
}

/** The normalised filter of a consent listing. */
export interface ConsentFilter {
  readonly subject: string;
  readonly loginSessionId: string | null;
}

/** The filter of `listConsents` (what its page tokens are bound to); an empty login session id filters nothing. */
export function consentFilterOf(subject: string, options: { readonly loginSessionId?: string }): ConsentFilter {
  return {
    subject,
    loginSessionId: options.loginSessionId === undefined || options.loginSessionId === "" ? null : options.loginSessionId,
  };
}

// ---- keys ----

/** A key row: the `oauth2_keys` columns (but the sequence). */
export interface KeyRow {
  readonly set: string;
  readonly kid: string;
  /** The JWK as JSON text. */
  readonly jwk: string;
  readonly createdAt: string;
}

/** Validates a key and gives its storage form. */
export function encodeKey(key: StoredKey): KeyRow {
  if (!isObject(key)) throw invalid("key", "must be an object");
  if (!isObject(key.jwk)) throw invalid("jwk", "must be a JSON object");
  return {
    set: checkKey(key.set, "set"),
    kid: checkKey(key.kid, "kid"),
    jwk: encodeJson(key.jwk, "jwk"),
    createdAt: encodeDate(key.createdAt, "created_at"),
  };
}

/** A stored key read back. */
export function decodeKey(row: { readonly [K in keyof KeyRow]: unknown }): StoredKey {
  return {
    set: String(row.set),
    kid: String(row.kid),
    jwk: JSON.parse(String(row.jwk)) as Record<string, unknown>,
    createdAt: decodeDate(row.createdAt),
  };
}

/** The error for a kid already in its set. */
export function keyExistsError(set: string, kid: string, cause?: unknown): never {
  throw new AlreadyExistsError(`the key set "${set}" already holds a key with the kid "${kid}"`, {
    details: { field: "kid" },
    ...(cause === undefined ? {} : { cause }),
  });
}

// ---- page tokens ----

/** Which listing a token continues. */
export type Listing = "oauth2_clients" | "oauth2_consents";

/** Encodes and verifies the OAuth2 store's page tokens (the shared scheme of `engine/store/page-token.ts`). */
export type KeysetTokenCodec = Codec<Listing>;

/** Creates a codec; without a secret a random one is used, so tokens only work with this codec. */
export function createKeysetTokenCodec(secret?: string | Uint8Array): KeysetTokenCodec {
  return createCodec<Listing>(secret);
}

/** Whether a listing continues from a token (absent and "" both start at the beginning). */
export function hasPageToken(token: string | undefined): token is string {
  return token !== undefined && token !== "";
}
