/**
 * The storage form of identities, sessions and flows, shared by the memory and SQL stores so both validate,
 * normalise and round-trip values identically: JSON values as JSON text (what the SQL columns hold),
 * timestamps as ISO strings, nested dates (addresses, authentication methods) as ISO strings inside the JSON.
 * The memory store keeps records in this form, so whatever it returns is a fresh copy.
 */
import { AlreadyExistsError, InvalidArgumentError } from "../../../common/errors.js";
import type {
  Aal,
  AuthenticationMethod,
  Credential,
  CredentialType,
  Identity,
  IdentityState,
  IdentityWithCredentials,
  RecoveryAddress,
  Session,
  SessionDevice,
  StoredFlow,
  VerifiableAddress,
} from "../model.js";

/** Items per page when the caller does not say (Kratos's default). */
export const DEFAULT_PAGE_SIZE = 250;
/** The largest page a listing serves. */
export const MAX_PAGE_SIZE = 1_000;
/** The largest credential version (an SQL INT). */
const MAX_VERSION = 2_147_483_647;

function alreadyExists(message: string, field: string, cause: unknown): AlreadyExistsError {
  return new AlreadyExistsError(message, cause === undefined ? { details: { field } } : { details: { field }, cause });
}

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

/** A string for a plain TEXT column, which cannot hold U+0000 in PostgreSQL (JSON text escapes it). */
function checkText(value: unknown, field: string): string {
  if (typeof value !== "string") throw invalid(field, "must be a string");
  if (value.includes("\u0000")) throw invalid(field, "must not contain the character U+0000");
  return value;
}

function checkOptionalText(value: unknown, field: string): string | null {
  return value === undefined || value === null ? null : checkText(value, field);
}

function checkId(value: unknown, field: string): string {
  if (checkText(value, field).length === 0) throw invalid(field, "must be a non-empty string");
  return value as string;
}

/** A timestamp as an ISO string (millisecond precision, what a `Date` holds). */
export function encodeDate(value: Date, field: string): string {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(field, "must be a valid date");
  return value.toISOString();
}

function encodeOptionalDate(value: Date | undefined, field: string): string | null {
  return value === undefined ? null : encodeDate(value, field);
}

/** A timestamp read back: a `Date` (SQL drivers) or an ISO string (storage form). */
export function decodeDate(value: unknown): Date {
  const date = value instanceof Date ? new Date(value.getTime()) : new Date(String(value));
  if (Number.isNaN(date.getTime())) throw new Error(`expected a timestamp, got ${String(value)}`);
  return date;
}

function decodeOptionalDate(value: unknown): Date | undefined {
  return value === null || value === undefined ? undefined : decodeDate(value);
}

/** JSON text of a value; `InvalidArgumentError` for values JSON cannot hold (BigInt, cycles, a bare function). */
export function encodeJson(value: unknown, field: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw invalid(field, `cannot be stored as JSON (${(err as Error).message})`);
  }
  if (text === undefined) throw invalid(field, "cannot be stored as JSON");
  return text;
}

/** Like `encodeJson`, with `undefined` as SQL NULL. */
function encodeOptionalJson(value: unknown, field: string): string | null {
  return value === undefined ? null : encodeJson(value, field);
}

function decodeJson(text: unknown): unknown {
  return JSON.parse(String(text));
}

function decodeOptionalJson(text: unknown): unknown {
  return text === null || text === undefined ? undefined : decodeJson(text);
}

function decodeObject(text: unknown): Record<string, unknown> {
  const value = decodeJson(text);
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function encodeObject(value: unknown, field: string): string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(field, "must be a JSON object");
  return encodeJson(value, field);
}

function list(value: unknown, field: string): readonly unknown[] {
  if (!Array.isArray(value)) throw invalid(field, "must be an array");
  return value;
}

function optionalString(value: unknown): string | undefined {
  return value === null || value === undefined ? undefined : String(value);
}

// ---- identities ----

/** An identity row: the `identity_identities` columns. */
export interface IdentityRecord {
  readonly id: string;
  readonly schemaId: string;
  readonly traits: string;
  readonly state: IdentityState;
  readonly stateChangedAt: string | null;
  readonly metadataPublic: string | null;
  readonly metadataAdmin: string | null;
  readonly externalId: string | null;
  readonly verifiableAddresses: string;
  readonly recoveryAddresses: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A credential row plus its identifiers in order (deduplicated). */
export interface CredentialRecord {
  readonly type: CredentialType;
  readonly identifiers: readonly string[];
  readonly config: string;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** An identity with its credentials, in storage form. */
export interface IdentityEntryRecord {
  readonly identity: IdentityRecord;
  /** In the order of the entry's `credentials` keys. */
  readonly credentials: readonly CredentialRecord[];
}

function encodeVerifiableAddresses(value: readonly VerifiableAddress[], field: string): string {
  return encodeJson(
    list(value, field).map((item, i) => {
      const a = item as VerifiableAddress;
      const f = `${field}[${i}]`;
      return {
        id: a.id,
        value: a.value,
        via: a.via,
        verified: a.verified,
        status: a.status,
        verifiedAt: encodeOptionalDate(a.verifiedAt, `${f}.verified_at`),
        createdAt: encodeDate(a.createdAt, `${f}.created_at`),
        updatedAt: encodeDate(a.updatedAt, `${f}.updated_at`),
      };
    }),
    field,
  );
}

function decodeVerifiableAddresses(text: unknown): VerifiableAddress[] {
  return (decodeJson(text) as Record<string, unknown>[]).map((a) => ({
    id: String(a["id"]),
    value: String(a["value"]),
    via: a["via"] as VerifiableAddress["via"],
    verified: a["verified"] === true,
    status: String(a["status"]),
    verifiedAt: decodeOptionalDate(a["verifiedAt"]),
    createdAt: decodeDate(a["createdAt"]),
    updatedAt: decodeDate(a["updatedAt"]),
  }));
}

function encodeRecoveryAddresses(value: readonly RecoveryAddress[], field: string): string {
  return encodeJson(
    list(value, field).map((item, i) => {
      const a = item as RecoveryAddress;
      return {
        id: a.id,
        value: a.value,
        via: a.via,
        createdAt: encodeDate(a.createdAt, `${field}[${i}].created_at`),
        updatedAt: encodeDate(a.updatedAt, `${field}[${i}].updated_at`),
      };
    }),
    field,
  );
}

function decodeRecoveryAddresses(text: unknown): RecoveryAddress[] {
  return (decodeJson(text) as Record<string, unknown>[]).map((a) => ({
    id: String(a["id"]),
    value: String(a["value"]),
    via: a["via"] as RecoveryAddress["via"],
    createdAt: decodeDate(a["createdAt"]),
    updatedAt: decodeDate(a["updatedAt"]),
  }));
}

/** Validates an identity and puts it in storage form. */
export function encodeIdentity(identity: Identity): IdentityRecord {
  if (identity.state !== "active" && identity.state !== "inactive") {
    throw invalid("state", `must be "active" or "inactive", got ${String(identity.state)}`);
  }
  return {
    id: checkId(identity.id, "id"),
    schemaId: checkId(identity.schemaId, "schema_id"),
    traits: encodeObject(identity.traits, "traits"),
    state: identity.state,
    stateChangedAt: encodeOptionalDate(identity.stateChangedAt, "state_changed_at"),
    metadataPublic: encodeOptionalJson(identity.metadataPublic, "metadata_public"),
    metadataAdmin: encodeOptionalJson(identity.metadataAdmin, "metadata_admin"),
    externalId: checkOptionalText(identity.externalId, "external_id"),
    verifiableAddresses: encodeVerifiableAddresses(identity.verifiableAddresses, "verifiable_addresses"),
    recoveryAddresses: encodeRecoveryAddresses(identity.recoveryAddresses, "recovery_addresses"),
    createdAt: encodeDate(identity.createdAt, "created_at"),
    updatedAt: encodeDate(identity.updatedAt, "updated_at"),
  };
}

/** An identity from its row (SQL: column values; memory: the record itself). */
export function decodeIdentity(row: {
  readonly [K in keyof IdentityRecord]: unknown;
}): Identity {
  return {
    id: String(row.id),
    schemaId: String(row.schemaId),
    traits: decodeObject(row.traits),
    state: String(row.state) as IdentityState,
    stateChangedAt: decodeOptionalDate(row.stateChangedAt),
    metadataPublic: decodeOptionalJson(row.metadataPublic),
    metadataAdmin: decodeOptionalJson(row.metadataAdmin),
    externalId: optionalString(row.externalId),
    verifiableAddresses: decodeVerifiableAddresses(row.verifiableAddresses),
    recoveryAddresses: decodeRecoveryAddresses(row.recoveryAddresses),
    createdAt: decodeDate(row.createdAt),
    updatedAt: decodeDate(row.updatedAt),
  };
}

/** Validates a credential (stored under `key`) and puts it in storage form; identifiers lose duplicates. */
export function encodeCredential(key: string, credential: Credential): CredentialRecord {
  const field = `credentials.${key}`;
  if (typeof credential !== "object" || credential === null) throw invalid(field, "must be an object");
  if (credential.type !== key) throw invalid(`${field}.type`, `must be "${key}", the key it is stored under`);
  const identifiers: string[] = [];
  for (const identifier of list(credential.identifiers, `${field}.identifiers`)) {
    const text = checkText(identifier, `${field}.identifiers`);
    if (!identifiers.includes(text)) identifiers.push(text);
  }
  if (!Number.isSafeInteger(credential.version) || credential.version < 0 || credential.version > MAX_VERSION) {
    throw invalid(`${field}.version`, `must be an integer between 0 and ${MAX_VERSION}`);
  }
  return {
    type: credential.type,
    identifiers,
    config: encodeObject(credential.config, `${field}.config`),
    version: credential.version,
    createdAt: encodeDate(credential.createdAt, `${field}.created_at`),
    updatedAt: encodeDate(credential.updatedAt, `${field}.updated_at`),
  };
}

/** A credential from its row and identifiers. */
export function decodeCredential(
  row: { readonly [K in Exclude<keyof CredentialRecord, "identifiers">]: unknown },
  identifiers: readonly string[],
): Credential {
  return {
    type: String(row.type) as CredentialType,
    identifiers: [...identifiers],
    config: decodeObject(row.config),
    version: Number(row.version),
    createdAt: decodeDate(row.createdAt),
    updatedAt: decodeDate(row.updatedAt),
  };
}

/** Validates an identity with credentials and puts it in storage form. */
export function encodeEntry(entry: IdentityWithCredentials): IdentityEntryRecord {
  if (typeof entry !== "object" || entry === null) throw invalid("identity", "must be an object");
  const credentials = entry.credentials ?? {};
  return {
    identity: encodeIdentity(entry.identity),
    credentials: Object.entries(credentials)
      .filter((pair): pair is [string, Credential] => pair[1] !== undefined)
      .map(([key, credential]) => encodeCredential(key, credential)),
  };
}

/** An identity with credentials from storage form (credentials keyed in type order). */
export function decodeEntry(record: IdentityEntryRecord): IdentityWithCredentials {
  const credentials: Partial<Record<CredentialType, Credential>> = {};
  for (const c of [...record.credentials].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0))) {
    credentials[c.type] = decodeCredential(c, c.identifiers);
  }
  return { identity: decodeIdentity(record.identity), credentials };
}

/**
 * The first identifier of `entry` that `taken(type, identifier)` says is held elsewhere, in the entry's
 * order (types as given, identifiers as given).
 */
export function firstTakenIdentifier(
  credentials: readonly CredentialRecord[],
  taken: (type: CredentialType, identifier: string) => boolean,
): { type: CredentialType; identifier: string } | undefined {
  for (const c of credentials) {
    for (const identifier of c.identifiers) if (taken(c.type, identifier)) return { type: c.type, identifier };
  }
  return undefined;
}

/** The error for an identifier held by another identity. */
export function identifierTakenError(type: CredentialType, identifier: string, cause?: unknown): never {
  const field = `credentials.${type}.identifiers`;
  throw alreadyExists(
    `an identity with the ${type} identifier "${identifier}" already exists`,
    field,
    cause,
  );
}

/** The error for an external id held by another identity. */
export function externalIdTakenError(externalId: string, cause?: unknown): never {
  throw alreadyExists(`an identity with the external_id "${externalId}" already exists`, "external_id", cause);
}

/** The error for an identity id that is taken. */
export function identityExistsError(id: string, cause?: unknown): never {
  throw alreadyExists(`an identity with the id "${id}" already exists`, "id", cause);
}

// ---- sessions ----

/** A session row: the `identity_sessions` columns. */
export interface SessionRecord {
  readonly id: string;
  readonly tokenHash: string;
  readonly identityId: string;
  readonly active: boolean;
  readonly expiresAt: string;
  readonly authenticatedAt: string;
  readonly issuedAt: string;
  readonly aal: Aal;
  readonly methods: string;
  readonly devices: string;
}

/** Validates a session and puts it in storage form. */
export function encodeSession(session: Session): SessionRecord {
  if (typeof session.active !== "boolean") throw invalid("active", "must be a boolean");
  return {
    id: checkId(session.id, "id"),
    tokenHash: checkId(session.tokenHash, "token_hash"),
    identityId: checkId(session.identityId, "identity_id"),
    active: session.active,
    expiresAt: encodeDate(session.expiresAt, "expires_at"),
    authenticatedAt: encodeDate(session.authenticatedAt, "authenticated_at"),
    issuedAt: encodeDate(session.issuedAt, "issued_at"),
    aal: checkId(session.aal, "authenticator_assurance_level") as Aal,
    methods: encodeJson(
      list(session.methods, "authentication_methods").map((item, i) => {
        const m = item as AuthenticationMethod;
        return { method: m.method, aal: m.aal, completedAt: encodeDate(m.completedAt, `authentication_methods[${i}].completed_at`) };
      }),
      "authentication_methods",
    ),
    devices: encodeJson(
      list(session.devices, "devices").map((item) => {
        const d = item as SessionDevice;
        return { id: d.id, ipAddress: d.ipAddress ?? null, userAgent: d.userAgent ?? null, location: d.location ?? null };
      }),
      "devices",
    ),
  };
}

/** Reads a BOOLEAN column whatever the driver made of it. */
export function decodeBoolean(value: unknown): boolean {
  return value === true || value === "t" || value === "true" || value === 1;
}

/** A session from its row. */
export function decodeSession(row: { readonly [K in keyof SessionRecord]: unknown }): Session {
  return {
    id: String(row.id),
    tokenHash: String(row.tokenHash),
    identityId: String(row.identityId),
    active: decodeBoolean(row.active),
    expiresAt: decodeDate(row.expiresAt),
    authenticatedAt: decodeDate(row.authenticatedAt),
    issuedAt: decodeDate(row.issuedAt),
    aal: String(row.aal) as Aal,
    methods: (decodeJson(row.methods) as Record<string, unknown>[]).map((m) => ({
      method: m["method"] as CredentialType,
      aal: m["aal"] as Aal,
      completedAt: decodeDate(m["completedAt"]),
    })),
    devices: (decodeJson(row.devices) as Record<string, unknown>[]).map((d) => ({
      id: String(d["id"]),
      ipAddress: optionalString(d["ipAddress"]),
      userAgent: optionalString(d["userAgent"]),
      location: optionalString(d["location"]),
    })),
  };
}

/** Validates the change of `updateSession`. */
export function encodeSessionChange(change: { readonly active?: boolean; readonly expiresAt?: Date }): {
  readonly active: boolean | undefined;
  readonly expiresAt: string | undefined;
} {
  if (change.active !== undefined && typeof change.active !== "boolean") throw invalid("active", "must be a boolean");
  return {
    active: change.active,
    expiresAt: change.expiresAt === undefined ? undefined : encodeDate(change.expiresAt, "expires_at"),
  };
}

/** The position a session page token continues after: `[issuedAt ISO, id]`. */
export function sessionCursorOf(key: readonly string[]): { readonly issuedAt: string; readonly id: string } {
  const [issuedAt, id] = key;
  if (issuedAt === undefined || id === undefined || Number.isNaN(Date.parse(issuedAt))) {
    throw invalid("page_token", "malformed token");
  }
  return { issuedAt, id };
}

/** The error for a session id or token hash that is taken. */
export function sessionExistsError(field: "id" | "token_hash", cause?: unknown): never {
  throw alreadyExists(
    field === "id" ? "a session with this id already exists" : "a session with this token already exists",
    field,
    cause,
  );
}

// ---- flows ----

/** A flow row: the `identity_flows` columns. */
export interface FlowRecord {
  readonly id: string;
  readonly kind: string;
  readonly type: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
  readonly requestUrl: string;
  readonly returnTo: string | null;
  readonly csrfTokenHash: string | null;
  readonly state: string;
}

/** Validates a flow and puts it in storage form. */
export function encodeFlow(flow: StoredFlow): FlowRecord {
  return {
    id: checkId(flow.id, "id"),
    kind: checkId(flow.kind, "kind"),
    type: checkId(flow.type, "type"),
    issuedAt: encodeDate(flow.issuedAt, "issued_at"),
    expiresAt: encodeDate(flow.expiresAt, "expires_at"),
    requestUrl: checkText(flow.requestUrl, "request_url"),
    returnTo: checkOptionalText(flow.returnTo, "return_to"),
    csrfTokenHash: checkOptionalText(flow.csrfTokenHash, "csrf_token_hash"),
    state: encodeObject(flow.state, "state"),
  };
}

/** A flow from its row. */
export function decodeFlow(row: { readonly [K in keyof FlowRecord]: unknown }): StoredFlow {
  return {
    id: String(row.id),
    kind: String(row.kind) as StoredFlow["kind"],
    type: String(row.type) as StoredFlow["type"],
    issuedAt: decodeDate(row.issuedAt),
    expiresAt: decodeDate(row.expiresAt),
    requestUrl: String(row.requestUrl),
    returnTo: optionalString(row.returnTo),
    csrfTokenHash: optionalString(row.csrfTokenHash),
    state: decodeObject(row.state),
  };
}

// ---- listings ----

/** The effective identity filter (Kratos's filters do not combine: `ids` wins over `credentialsIdentifier`). */
export type IdentityFilter =
  | { readonly kind: "all" }
  | { readonly kind: "ids"; readonly ids: readonly string[] }
  | { readonly kind: "identifier"; readonly identifier: string };

/** Resolves the filter of `listIdentities`; an empty `ids` list or identifier counts as not set. */
export function identityFilterOf(options: {
  readonly ids?: readonly string[];
  readonly credentialsIdentifier?: string;
}): IdentityFilter {
  if (options.ids !== undefined) {
    const ids = list(options.ids, "ids");
    for (const id of ids) if (typeof id !== "string") throw invalid("ids", "must hold strings");
    if (ids.length > 0) return { kind: "ids", ids: [...new Set(ids as string[])].sort() };
  }
  if (options.credentialsIdentifier !== undefined && options.credentialsIdentifier !== "") {
    if (typeof options.credentialsIdentifier !== "string") throw invalid("credentials_identifier", "must be a string");
    return { kind: "identifier", identifier: options.credentialsIdentifier };
  }
  return { kind: "all" };
}

/** The effective session filter. */
export interface SessionFilter {
  readonly identityId: string | undefined;
  readonly active: boolean | undefined;
}

export function sessionFilterOf(options: { readonly identityId?: string; readonly active?: boolean }): SessionFilter {
  if (options.active !== undefined && typeof options.active !== "boolean") throw invalid("active", "must be a boolean");
  return { identityId: options.identityId, active: options.active };
}
