/**
 * The identity service's admin plane (Kratos's 4434): identities (create, batch import, get, list, update,
 * JSON-Patch, delete, by external id, delete a credential), sessions (list, get, disable, extend, per
 * identity) and schemas. Optional API keys guard it (off by default, as in Kratos).
 *
 * Creating (`POST /admin/identities`, each item of `PATCH /admin/identities`) goes through one function,
 * `createIdentity`; updating (`PUT` and `PATCH /admin/identities/{id}`) through `updateIdentity`, so the
 * three write paths validate traits, state, external id and password credentials the same way.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { GatehouseError } from "../../../common/errors.js";
import type { ApiKeyVerifier } from "../../../gateways/auth/api-keys.js";
import { bearerToken } from "../../../gateways/auth/api-keys.js";
import { readBody } from "../../../gateways/keto/rest-io.js";
import type { PasswordHasher, TraitSchemas } from "../deps.js";
import type { Credential, CredentialType, Identity, IdentityState, IdentityWithCredentials, VerifiableAddress } from "../model.js";
import { inspectPasswordHash } from "../password/hasher.js";
import type { SessionService } from "../sessions.js";
import type { IdentityStore } from "../store/identity-store.js";
import { errorResponse, KratosHttpError, linkHeader, MAX_BODY_BYTES, readFormOrJson, sendJson, sendNoContent } from "./http-io.js";
import { applyJsonPatch, JsonPatchError, parseJsonPatch, parseJsonPointer, type JsonPatchOperation } from "./json-patch.js";
import { identityJson, sessionJson } from "./kratos-json.js";
import { dispatch, pageSizeOf, schemaRoutes, type Route } from "./public-routes.js";

/** What the admin routes work with. */
export interface AdminRoutesOptions {
  readonly store: IdentityStore;
  readonly schemas: TraitSchemas;
  readonly hasher: PasswordHasher;
  readonly sessions: SessionService;
  readonly publicBaseUrl: string;
  /** API keys (hashes) the admin plane requires; none configured = open, as Kratos. */
  readonly keys: ApiKeyVerifier;
}

/** Most identities one `PATCH /admin/identities` may create (Kratos's `BatchPatchIdentitiesLimit`). */
export const BATCH_IMPORT_LIMIT = 1000;
/** Most identities with a plaintext password (hashed here) one batch may carry (Kratos's `BatchPatchIdentitiesWithPasswordLimit`). */
export const BATCH_IMPORT_PLAINTEXT_LIMIT = 200;
/** A batch of 1,000 identities with traits and hashes outgrows the 1 MiB of other bodies. */
const BATCH_MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Items of one batch validated (and their plaintext passwords hashed) at once; the hasher queues the rest anyway. */
const BATCH_CONCURRENCY = 8;

const CREDENTIAL_TYPES: readonly CredentialType[] = ["password", "oidc", "totp", "lookup_secret", "webauthn", "passkey", "code"];

const badRequest = (reason: string): KratosHttpError =>
  new KratosHttpError(400, undefined, "The request was malformed or contained invalid parameters", reason);
const notFound = (reason: string): KratosHttpError => new KratosHttpError(404, undefined, "Unable to locate the resource", reason);

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function includeCredentialOf(url: URL): CredentialType[] {
  const asked = url.searchParams.getAll("include_credential").flatMap((v) => v.split(","));
  for (const type of asked) if (!CREDENTIAL_TYPES.includes(type as CredentialType)) throw badRequest(`include_credential: unknown credential type "${type}"`);
  return asked as CredentialType[];
}

/** Reads a JSON body of any shape (a JSON Patch is an array, which `readFormOrJson` refuses). */
async function readJsonValue(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const text = (await readBody(req, maxBytes)).toString("utf8");
  if (text.trim() === "") throw badRequest("the request body is empty");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new KratosHttpError(400, undefined, `The request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Runs `fn` over `items` with at most `limit` at once, keeping the order of the results. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The plaintext password of a create body, if it has one (what the 200-per-batch limit counts). */
function plaintextPasswordOf(body: Record<string, unknown> | undefined): unknown {
  return asRecord(asRecord(asRecord(body?.["credentials"])?.["password"])?.["config"])?.["password"];
}

/**
 * JSON Patch paths an admin may write (RFC 6902 `path`, and `from` of a `move`), as in Kratos, which refuses
 * `/id`, `/stateChangedAt` and `/credentials` (but not paths below `/credentials/password`) in its patch
 * handler. Returns why `pointer` may not be written, or undefined when it may.
 */
function refusedPatchPath(pointer: string, op: JsonPatchOperation["op"]): string | undefined {
  const tokens = parseJsonPointer(pointer);
  const [top, ...rest] = tokens;
  if (top === undefined) return "the identity as a whole cannot be replaced; patch its fields";
  switch (top) {
    case "id":
    case "schema_url":
    case "created_at":
    case "updated_at":
    case "state_changed_at":
      return `${top} is set by the server and cannot be changed`;
    case "organization_id":
      return "organization_id cannot be changed (organizations are not supported)";
    case "recovery_addresses":
      return "recovery_addresses are derived from the traits; patch the traits instead";
    case "verifiable_addresses":
      // The addresses come from the traits; only their verification state is the admin's to set.
      if (rest.length === 2 && /^(0|[1-9][0-9]*)$/.test(rest[0] as string) && ["verified", "status", "verified_at"].includes(rest[1] as string)) return undefined;
      return "verifiable_addresses are derived from the traits; only /verifiable_addresses/<n>/verified, /status and /verified_at can be patched";
    case "credentials": {
      // Setting the password, as PUT's `credentials.password.config` does; nothing else of the credentials.
      const setsPassword =
        op !== "remove" &&
        rest[0] === "password" &&
        (rest.length === 1 || (rest[1] === "config" && (rest.length === 2 || (rest.length === 3 && (rest[2] === "password" || rest[2] === "hashed_password")))));
      return setsPassword
        ? undefined
        : "credentials cannot be patched, except setting /credentials/password/config/password or /credentials/password/config/hashed_password";
    }
    default:
      return undefined;
  }
}

/** Top-level members of the admin identity JSON; a patch adding any other member is refused. */
const IDENTITY_MEMBERS: ReadonlySet<string> = new Set([
  "id",
  "schema_id",
  "schema_url",
  "state",
  "state_changed_at",
  "traits",
  "verifiable_addresses",
  "recovery_addresses",
  "metadata_public",
  "metadata_admin",
  "created_at",
  "updated_at",
  "organization_id",
  "external_id",
  "credentials",
]);

/** What `updateIdentity` sets; unset members keep their value unless documented otherwise. */
interface IdentityChanges {
  readonly schemaId: string;
  readonly traits: unknown;
  readonly state: unknown;
  readonly metadataPublic: unknown;
  readonly metadataAdmin: unknown;
  /** undefined or null clears it. */
  readonly externalId: unknown;
  /** A `credentials.password.config` to import (plaintext `password` or `hashed_password`); undefined keeps the password. */
  readonly passwordConfig?: Record<string, unknown>;
  /** Verifiable addresses carrying the verification state to keep (matched by value and via). */
  readonly verification?: readonly VerifiableAddress[];
}

/** The admin plane's REST handler (returns false for paths it does not serve). */
export function createAdminRoutes(options: AdminRoutesOptions): (req: IncomingMessage, res: import("node:http").ServerResponse) => Promise<boolean> {
  const { store, schemas, sessions } = options;
  const schemaUrl = (id: string): string => `${options.publicBaseUrl}/schemas/${encodeURIComponent(id)}`;
  const adminIdentity = (entry: IdentityWithCredentials, include: readonly CredentialType[] = []) =>
    identityJson(entry, { schemaUrl: schemaUrl(entry.identity.schemaId), admin: true, includeCredential: include });

  /** Validates traits against the schema; a failure is 400 naming the fields. */
  function checkTraits(schemaId: string, traits: unknown): Record<string, unknown> {
    if (!schemas.has(schemaId)) throw badRequest(`schema_id: no identity schema "${schemaId}" is configured`);
    const record = asRecord(traits);
    if (record === undefined) throw badRequest("traits: must be a JSON object");
    const errors = schemas.validateTraits(schemaId, record);
    if (errors.length > 0) {
      throw new KratosHttpError(400, undefined, "The request was malformed or contained invalid parameters", errors.map((e) => `${e.field}: ${e.message.text}`).join("; "));
    }
    return record;
  }

  function stateOf(value: unknown, field: string): IdentityState {
    if (value === undefined) return "active";
    if (value !== "active" && value !== "inactive") throw badRequest(`${field}: must be "active" or "inactive"`);
    return value;
  }

  /** The schema id of a body; absent, null or empty keeps `fallback` (Kratos's `if SchemaID != ""`). */
  function schemaIdOf(value: unknown, fallback: string): string {
    if (value === undefined || value === null || value === "") return fallback;
    if (typeof value !== "string") throw badRequest("schema_id: must be a string");
    return value;
  }

  function externalIdOf(value: unknown): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || value === "") throw badRequest("external_id: must be a non-empty string");
    return value;
  }

  /**
   * A password credential from a `credentials.password.config`: a plaintext `password` (hashed here with the
   * current argon2id parameters; it wins over `hashed_password`, as in Kratos) or an imported
   * `hashed_password` (argon2id/argon2i, bcrypt, PBKDF2 PHC strings within the hash limits, checked with
   * `inspectPasswordHash` and stored as is; the login flow re-hashes it to argon2id on the next success).
   */
  async function passwordCredential(config: Record<string, unknown>, schemaId: string, traits: Record<string, unknown>, now: Date, previous?: Credential): Promise<Credential> {
    const identifiers = schemas.passwordIdentifiers(schemaId, traits);
    if (identifiers.length === 0) throw badRequest("credentials.password: the identity schema marks no trait as the password identifier");
    const plain = config["password"];
    const hashed = config["hashed_password"];
    let stored: string;
    if (plain !== undefined && plain !== null && plain !== "") {
      if (typeof plain !== "string") throw badRequest("credentials.password.config.password: must be a string");
      stored = await options.hasher.hash(plain);
    } else if (typeof hashed === "string" && hashed !== "") {
      const inspection = inspectPasswordHash(hashed);
      if (!inspection.ok) {
        throw badRequest(
          `credentials.password.config.hashed_password: unusable hash (${inspection.reason}); argon2id, argon2i, bcrypt ($2a$, $2b$, $2y$) and PBKDF2 (sha1, sha256, sha512) PHC strings are accepted`,
        );
      }
      stored = hashed;
    } else if (config["use_password_migration_hook"] === true) {
      throw badRequest("credentials.password.config.use_password_migration_hook: the password migration hook is not supported");
    } else {
      throw badRequest("credentials.password.config: set `password` (plaintext) or `hashed_password` (an argon2, bcrypt or PBKDF2 PHC string)");
    }
    if (previous !== undefined && previous.config["hashed_password"] === stored) return { ...previous, identifiers, updatedAt: now };
    return { type: "password", identifiers, config: { hashed_password: stored }, version: 0, createdAt: previous?.createdAt ?? now, updatedAt: now };
  }

  function passwordConfigOf(body: Record<string, unknown>): Record<string, unknown> | undefined {
    const password = asRecord(body["credentials"])?.["password"];
    if (password === undefined || password === null) return undefined;
    const config = asRecord(asRecord(password)?.["config"]);
    if (config === undefined) throw badRequest("credentials.password.config: must be an object");
    return config;
  }

  function addressesFor(
    schemaId: string,
    traits: Record<string, unknown>,
    previous: Pick<Identity, "verifiableAddresses" | "recoveryAddresses"> | undefined,
    now: Date,
  ): Pick<Identity, "verifiableAddresses" | "recoveryAddresses"> {
    const found = schemas.addresses(schemaId, traits);
    return {
      // An address that stays keeps its verification state.
      verifiableAddresses: found.verifiable.map((a) => {
        const kept = previous?.verifiableAddresses.find((p) => p.value === a.value && p.via === a.via);
        return kept ?? { id: randomUUID(), value: a.value, via: a.via, verified: false, status: "pending", verifiedAt: undefined, createdAt: now, updatedAt: now };
      }),
      recoveryAddresses: found.recovery.map((a) => {
        const kept = previous?.recoveryAddresses.find((p) => p.value === a.value && p.via === a.via);
        return kept ?? { id: randomUUID(), value: a.value, via: a.via, createdAt: now, updatedAt: now };
      }),
    };
  }

  async function existing(id: string): Promise<IdentityWithCredentials> {
    const entry = await store.getIdentity(id);
    if (entry === undefined) throw notFound(`no identity with id "${id}"`);
    return entry;
  }

  /** Store conflicts (identifier or external id taken) are Kratos's 409. */
  async function conflictsAs409<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof GatehouseError && err.code === "already_exists") {
        throw new KratosHttpError(409, undefined, "The resource could not be created due to a conflict", err.message);
      }
      throw err;
    }
  }

  /**
   * The `verifiable_addresses` of a create body (an import): `{value, via, verified, status?, verified_at?}`.
   * They only survive where the schema derives the same address from the traits (as in Kratos).
   */
  function importedVerification(value: unknown, now: Date): VerifiableAddress[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) throw badRequest("verifiable_addresses: must be an array");
    return value.map((raw, index): VerifiableAddress => {
      const item = asRecord(raw);
      const field = `verifiable_addresses[${index}]`;
      if (item === undefined) throw badRequest(`${field}: must be an object`);
      const address = item["value"];
      const via = item["via"] ?? "email";
      if (typeof address !== "string" || address === "") throw badRequest(`${field}.value: must be a non-empty string`);
      if (via !== "email" && via !== "sms") throw badRequest(`${field}.via: must be "email" or "sms"`);
      const verified = item["verified"] ?? false;
      if (typeof verified !== "boolean") throw badRequest(`${field}.verified: must be a boolean`);
      const status = item["status"] ?? (verified ? "completed" : "pending");
      if (typeof status !== "string" || status === "" || status.length > 16) throw badRequest(`${field}.status: must be a string of 1 to 16 characters`);
      const verifiedAtRaw = item["verified_at"];
      if (verifiedAtRaw !== undefined && verifiedAtRaw !== null && (typeof verifiedAtRaw !== "string" || Number.isNaN(Date.parse(verifiedAtRaw)))) {
        throw badRequest(`${field}.verified_at: must be an RFC 3339 time`);
      }
      const verifiedAt = !verified ? undefined : typeof verifiedAtRaw === "string" ? new Date(verifiedAtRaw) : now;
      // Emails are matched lower-cased, as the schema extension stores them.
      const normalised = via === "email" ? address.trim().toLowerCase() : address.trim();
      return { id: randomUUID(), value: normalised, via, verified, status, verifiedAt, createdAt: now, updatedAt: now };
    });
  }

  /** Validates a `createIdentityBody` into a new identity (hashing a plaintext password); stores nothing. */
  async function identityFromCreateBody(body: Record<string, unknown>): Promise<IdentityWithCredentials> {
    const schemaId = schemaIdOf(body["schema_id"], schemas.defaultSchemaId);
    const traits = checkTraits(schemaId, body["traits"]);
    const state = stateOf(body["state"], "state");
    const externalId = externalIdOf(body["external_id"]);
    const now = new Date();
    const config = passwordConfigOf(body);
    const password = config === undefined ? undefined : await passwordCredential(config, schemaId, traits, now);
    const identity: Identity = {
      id: randomUUID(),
      schemaId,
      traits,
      state,
      stateChangedAt: now,
      metadataPublic: body["metadata_public"] ?? null,
      metadataAdmin: body["metadata_admin"] ?? null,
      externalId,
      // Imported addresses keep their verification state when the schema derives the same address.
      ...addressesFor(schemaId, traits, { verifiableAddresses: importedVerification(body["verifiable_addresses"], now), recoveryAddresses: [] }, now),
      createdAt: now,
      updatedAt: now,
    };
    return { identity, credentials: password === undefined ? {} : { password } };
  }

  /** Stores a validated new identity; a taken identifier or external id is 409. */
  async function insertIdentity(entry: IdentityWithCredentials): Promise<IdentityWithCredentials> {
    await conflictsAs409(() => store.createIdentity(entry));
    return entry;
  }

  /** Creates one identity from a `createIdentityBody` (POST and each batch item). */
  async function createIdentity(body: Record<string, unknown>): Promise<IdentityWithCredentials> {
    return insertIdentity(await identityFromCreateBody(body));
  }

  /** Applies validated changes to an identity (PUT and PATCH), deactivating its sessions when it turns inactive. */
  async function updateIdentity(current: IdentityWithCredentials, changes: IdentityChanges): Promise<IdentityWithCredentials> {
    const schemaId = changes.schemaId;
    const traits = checkTraits(schemaId, changes.traits);
    if (changes.state === undefined) throw badRequest("state: required (active or inactive)");
    const state = stateOf(changes.state, "state");
    const externalId = externalIdOf(changes.externalId);
    const now = new Date();
    const kept = current.credentials.password;
    // Changed traits may change the password identifiers; keep the hash, re-index the identifiers.
    const password =
      changes.passwordConfig !== undefined
        ? await passwordCredential(changes.passwordConfig, schemaId, traits, now, kept)
        : kept === undefined
          ? undefined
          : { ...kept, identifiers: schemas.passwordIdentifiers(schemaId, traits), updatedAt: now };
    const previousAddresses = {
      verifiableAddresses: changes.verification ?? current.identity.verifiableAddresses,
      recoveryAddresses: current.identity.recoveryAddresses,
    };
    const identity: Identity = {
      ...current.identity,
      schemaId,
      traits,
      state,
      stateChangedAt: state === current.identity.state ? current.identity.stateChangedAt : now,
      metadataPublic: changes.metadataPublic === undefined ? current.identity.metadataPublic : changes.metadataPublic,
      metadataAdmin: changes.metadataAdmin === undefined ? current.identity.metadataAdmin : changes.metadataAdmin,
      externalId,
      ...addressesFor(schemaId, traits, previousAddresses, now),
      updatedAt: now,
    };
    const entry: IdentityWithCredentials = { identity, credentials: password === undefined ? {} : { password } };
    await conflictsAs409(() => store.updateIdentity(entry));
    // An identity made inactive keeps no usable session.
    if (state === "inactive" && current.identity.state === "active") {
      const page = await store.listSessions({ identityId: identity.id, active: true, pageSize: 1000 });
      for (const s of page.items) await store.updateSession(s.id, { active: false });
    }
    // Cached whoami answers carry the identity (traits, state): every change drops them.
    await sessions.forgetIdentity(identity.id);
    return (await store.getIdentity(identity.id)) ?? entry;
  }

  /**
   * The verification state a patched `verifiable_addresses` array asks for: each item that names a current
   * address (by `id`, else by value and via) may change `verified`, `status` and `verified_at`.
   */
  function verificationFromPatch(patched: unknown, current: readonly VerifiableAddress[], now: Date): VerifiableAddress[] {
    if (!Array.isArray(patched)) throw badRequest("verifiable_addresses: must be an array");
    return current.map((address) => {
      const item =
        patched.map(asRecord).find((p) => p?.["id"] === address.id) ?? patched.map(asRecord).find((p) => p?.["value"] === address.value && p?.["via"] === address.via);
      if (item === undefined) return address;
      const verified = item["verified"] ?? address.verified;
      if (typeof verified !== "boolean") throw badRequest("verifiable_addresses[].verified: must be a boolean");
      const status = item["status"] ?? address.status;
      if (typeof status !== "string" || status === "" || status.length > 16) throw badRequest("verifiable_addresses[].status: must be a string of 1 to 16 characters");
      const verifiedAtRaw = item["verified_at"];
      let verifiedAt: Date | undefined = address.verifiedAt;
      if (verifiedAtRaw === null) verifiedAt = undefined;
      else if (verifiedAtRaw !== undefined) {
        if (typeof verifiedAtRaw !== "string" || Number.isNaN(Date.parse(verifiedAtRaw))) throw badRequest("verifiable_addresses[].verified_at: must be an RFC 3339 time");
        verifiedAt = new Date(verifiedAtRaw);
      }
      if (verified && verifiedAt === undefined) verifiedAt = now;
      if (!verified) verifiedAt = undefined;
      const changed = verified !== address.verified || status !== address.status || verifiedAt?.getTime() !== address.verifiedAt?.getTime();
      return changed ? { ...address, verified, status, verifiedAt, updatedAt: now } : address;
    });
  }

  /**
   * `PATCH /admin/identities/{id}`: applies an RFC 6902 patch to the identity's admin JSON (with its password
   * hash, so `/credentials/password/config/hashed_password` can be tested and set) and validates the result
   * as PUT does. Any failure (a malformed patch, a refused path, a failing `test`, invalid traits) is 400
   * and changes nothing.
   */
  async function patchIdentity(current: IdentityWithCredentials, document: unknown): Promise<IdentityWithCredentials> {
    let operations: JsonPatchOperation[];
    try {
      operations = parseJsonPatch(document);
    } catch (err) {
      if (err instanceof JsonPatchError) throw badRequest(err.message);
      throw err;
    }
    let touchesPassword = false;
    let touchesVerification = false;
    operations.forEach((operation, index) => {
      if (operation.op === "test") return;
      const writes: ["path" | "from", string][] = [["path", operation.path]];
      if (operation.op === "move") writes.push(["from", operation.from as string]);
      for (const [field, pointer] of writes) {
        const refused = refusedPatchPath(pointer, field === "from" ? "remove" : operation.op);
        if (refused !== undefined) throw badRequest(`patch[${index}].${field}: "${pointer}": ${refused}`);
        if (pointer.startsWith("/credentials/")) touchesPassword = true;
        if (pointer.startsWith("/verifiable_addresses/")) touchesVerification = true;
      }
    });
    const before = adminIdentity(current, ["password"]);
    let patched: Record<string, unknown>;
    try {
      const result = asRecord(applyJsonPatch(before, operations));
      if (result === undefined) throw badRequest("the patched identity is not a JSON object");
      patched = result;
    } catch (err) {
      if (err instanceof JsonPatchError) throw badRequest(`the JSON patch could not be applied: ${err.message}`);
      throw err;
    }
    for (const key of Object.keys(patched)) if (!IDENTITY_MEMBERS.has(key)) throw badRequest(`${key}: not a member of an identity`);
    // Defence in depth behind the refused paths: the server-set members must be exactly as they were.
    for (const key of ["id", "schema_url", "created_at", "updated_at", "state_changed_at", "organization_id", "recovery_addresses"]) {
      if (JSON.stringify(patched[key]) !== JSON.stringify(before[key])) throw badRequest(`${key}: cannot be changed`);
    }
    let passwordConfig: Record<string, unknown> | undefined;
    if (touchesPassword) {
      passwordConfig = asRecord(asRecord(asRecord(patched["credentials"])?.["password"])?.["config"]);
      if (passwordConfig === undefined) throw badRequest("credentials.password.config: must be an object");
    }
    const now = new Date();
    return updateIdentity(current, {
      schemaId: schemaIdOf(patched["schema_id"], current.identity.schemaId),
      traits: patched["traits"],
      state: patched["state"],
      // A removed metadata member is null, as Kratos renders an unset one.
      metadataPublic: patched["metadata_public"] ?? null,
      metadataAdmin: patched["metadata_admin"] ?? null,
      externalId: patched["external_id"],
      ...(passwordConfig === undefined ? {} : { passwordConfig }),
      ...(touchesVerification ? { verification: verificationFromPatch(patched["verifiable_addresses"], current.identity.verifiableAddresses, now) } : {}),
    });
  }

  /** The `error` of one failed batch item: Kratos's generic error object (code, status, reason, message). */
  function itemError(err: unknown): Record<string, unknown> {
    const { status, body } = errorResponse(err);
    if (status >= 500 && !(err instanceof GatehouseError) && !(err instanceof KratosHttpError)) {
      process.stderr.write(`gatehouse identity: batch import: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    return { ...body.error };
  }

  /**
   * `PATCH /admin/identities`: imports up to 1,000 identities (200 with plaintext passwords), each on its
   * own. Items are validated (and plaintext passwords hashed) concurrently, then stored in request order,
   * so of two items with the same identifier the first wins and the second is a 409 item.
   */
  async function batchImport(body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
    const items = asRecord(body)?.["identities"];
    if (!Array.isArray(items)) throw badRequest("identities: must be an array of {create, patch_id}");
    if (items.length > BATCH_IMPORT_LIMIT) {
      throw badRequest(`identities: at most ${BATCH_IMPORT_LIMIT} identities can be imported per request, got ${items.length}`);
    }
    const plaintext = items.filter((item) => {
      const password = plaintextPasswordOf(asRecord(asRecord(item)?.["create"]));
      return typeof password === "string" && password !== "";
    }).length;
    if (plaintext > BATCH_IMPORT_PLAINTEXT_LIMIT) {
      throw badRequest(
        `identities: at most ${BATCH_IMPORT_PLAINTEXT_LIMIT} identities with a plaintext password can be imported per request, got ${plaintext}; import hashed passwords (hashed_password) or split the batch`,
      );
    }
    type Prepared = { patchId: unknown; entry?: IdentityWithCredentials; error?: unknown };
    const prepared = await mapLimit(items, BATCH_CONCURRENCY, async (item, index): Promise<Prepared> => {
      const record = asRecord(item);
      const patchId = record?.["patch_id"];
      try {
        if (record === undefined) throw badRequest(`identities[${index}]: must be an object {create, patch_id}`);
        if (patchId !== undefined && typeof patchId !== "string") throw badRequest(`identities[${index}].patch_id: must be a string`);
        const create = asRecord(record["create"]);
        if (create === undefined) throw badRequest(`identities[${index}].create: required (the createIdentityBody to import)`);
        return { patchId, entry: await identityFromCreateBody(create) };
      } catch (error) {
        return { patchId, error };
      }
    });
    const results: Record<string, unknown>[] = [];
    const failures: number[] = [];
    for (const { patchId, entry, error } of prepared) {
      const withPatchId = typeof patchId === "string" ? { patch_id: patchId } : {};
      let failure = error;
      if (entry !== undefined) {
        try {
          await insertIdentity(entry);
          results.push({ action: "create", identity: entry.identity.id, ...withPatchId });
          continue;
        } catch (err) {
          failure = err;
        }
      }
      const detail = itemError(failure);
      failures.push(detail["code"] as number);
      results.push({ action: "error", ...withPatchId, error: detail });
    }
    if (items.length === 0 || failures.length < items.length) return { status: 200, body: { identities: results } };
    // Nothing was imported: 409 when every item conflicted, 400 when all failed as bad requests, else the worst.
    const status = failures.every((c) => c === 409) ? 409 : failures.every((c) => c >= 400 && c < 500) ? 400 : Math.max(...failures);
    const { body: envelope } = errorResponse(
      new KratosHttpError(status, undefined, status === 409 ? "The resource could not be created due to a conflict" : "The request was malformed or contained invalid parameters", `None of the ${items.length} identities could be imported; see identities[].error`),
    );
    return { status, body: { ...envelope, identities: results } };
  }

  const routes: [string, RegExp, Route][] = [
    [
      "POST",
      /^\/admin\/identities$/,
      async (req, res) => {
        const entry = await createIdentity(await readFormOrJson(req));
        sendJson(res, 201, adminIdentity(entry), { location: `${options.publicBaseUrl}/admin/identities/${entry.identity.id}` });
      },
    ],
    [
      "PATCH",
      /^\/admin\/identities$/,
      async (req, res) => {
        const outcome = await batchImport(await readJsonValue(req, BATCH_MAX_BODY_BYTES));
        sendJson(res, outcome.status, outcome.body);
      },
    ],
    [
      "PATCH",
      /^\/admin\/identities\/([^/]+)$/,
      async (req, res, _url, match) => {
        const current = await existing(decodeURIComponent(match[1] ?? ""));
        const updated = await patchIdentity(current, await readJsonValue(req, MAX_BODY_BYTES));
        sendJson(res, 200, adminIdentity(updated));
      },
    ],
    [
      "GET",
      /^\/admin\/identities$/,
      async (_req, res, url) => {
        const pageSize = pageSizeOf(url);
        const include = includeCredentialOf(url);
        const ids = url.searchParams.getAll("ids").flatMap((v) => v.split(",")).filter((v) => v !== "");
        const identifier = url.searchParams.get("credentials_identifier");
        const token = url.searchParams.get("page_token");
        const page = await store.listIdentities({
          pageSize,
          ...(token ? { pageToken: token } : {}),
          ...(ids.length > 0 ? { ids } : {}),
          ...(identifier ? { credentialsIdentifier: identifier.trim() } : {}),
        });
        let items = page.items;
        // Identifiers are stored normalised (e-mails lower-cased): also match a differently cased query.
        if (identifier && items.length === 0 && identifier.trim().toLowerCase() !== identifier.trim()) {
          items = (await store.listIdentities({ pageSize, credentialsIdentifier: identifier.trim().toLowerCase() })).items;
        }
        sendJson(res, 200, items.map((e) => adminIdentity(e, include)), linkHeader(url, pageSize, page.nextPageToken));
      },
    ],
    [
      "GET",
      /^\/admin\/identities\/by\/external\/([^/]+)$/,
      async (_req, res, url, match) => {
        const externalId = decodeURIComponent(match[1] ?? "");
        const entry = await store.getIdentityByExternalId(externalId);
        if (entry === undefined) throw notFound(`no identity with external_id "${externalId}"`);
        sendJson(res, 200, adminIdentity(entry, includeCredentialOf(url)));
      },
    ],
    [
      "GET",
      /^\/admin\/identities\/([^/]+)$/,
      async (_req, res, url, match) => {
        sendJson(res, 200, adminIdentity(await existing(decodeURIComponent(match[1] ?? "")), includeCredentialOf(url)));
      },
    ],
    [
      "PUT",
      /^\/admin\/identities\/([^/]+)$/,
      async (req, res, _url, match) => {
        const current = await existing(decodeURIComponent(match[1] ?? ""));
        const body = await readFormOrJson(req);
        const passwordConfig = passwordConfigOf(body);
        const updated = await updateIdentity(current, {
          schemaId: schemaIdOf(body["schema_id"], current.identity.schemaId),
          traits: body["traits"],
          state: body["state"],
          metadataPublic: body["metadata_public"],
          metadataAdmin: body["metadata_admin"],
          externalId: body["external_id"] === undefined ? current.identity.externalId : body["external_id"],
          ...(passwordConfig === undefined ? {} : { passwordConfig }),
        });
        sendJson(res, 200, adminIdentity(updated));
      },
    ],
    [
      "DELETE",
      /^\/admin\/identities\/([^/]+)\/credentials\/([^/]+)$/,
      async (_req, res, _url, match) => {
        const id = decodeURIComponent(match[1] ?? "");
        const type = decodeURIComponent(match[2] ?? "");
        if (!CREDENTIAL_TYPES.includes(type as CredentialType)) throw badRequest(`type: unknown credential type "${type}"`);
        await existing(id);
        if (!(await store.deleteCredential(id, type as CredentialType))) throw notFound(`identity "${id}" has no ${type} credential`);
        sendNoContent(res);
      },
    ],
    [
      "DELETE",
      /^\/admin\/identities\/([^/]+)$/,
      async (_req, res, _url, match) => {
        const id = decodeURIComponent(match[1] ?? "");
        if (!(await store.deleteIdentity(id))) throw notFound(`no identity with id "${id}"`);
        await sessions.forgetIdentity(id);
        sendNoContent(res);
      },
    ],
    [
      "GET",
      /^\/admin\/identities\/([^/]+)\/sessions$/,
      async (_req, res, url, match) => {
        const id = decodeURIComponent(match[1] ?? "");
        await existing(id);
        const pageSize = pageSizeOf(url);
        const active = url.searchParams.get("active");
        const token = url.searchParams.get("page_token");
        const page = await store.listSessions({
          identityId: id,
          pageSize,
          ...(token ? { pageToken: token } : {}),
          ...(active === "true" ? { active: true } : active === "false" ? { active: false } : {}),
        });
        sendJson(res, 200, page.items.map((s) => sessionJson(s, undefined)), linkHeader(url, pageSize, page.nextPageToken));
      },
    ],
    [
      "DELETE",
      /^\/admin\/identities\/([^/]+)\/sessions$/,
      async (_req, res, _url, match) => {
        const id = decodeURIComponent(match[1] ?? "");
        await existing(id);
        await store.deleteSessionsOfIdentity(id);
        await sessions.forgetIdentity(id);
        sendNoContent(res);
      },
    ],
    [
      "GET",
      /^\/admin\/sessions$/,
      async (_req, res, url) => {
        const pageSize = pageSizeOf(url);
        const active = url.searchParams.get("active");
        const token = url.searchParams.get("page_token");
        const expandIdentity = url.searchParams.getAll("expand").includes("identity");
        const page = await store.listSessions({
          pageSize,
          ...(token ? { pageToken: token } : {}),
          ...(active === "true" ? { active: true } : active === "false" ? { active: false } : {}),
        });
        const items = [];
        for (const s of page.items) {
          const owner = expandIdentity ? await store.getIdentity(s.identityId) : undefined;
          items.push(sessionJson(s, owner === undefined ? undefined : adminIdentity(owner)));
        }
        sendJson(res, 200, items, linkHeader(url, pageSize, page.nextPageToken));
      },
    ],
    [
      "GET",
      /^\/admin\/sessions\/([^/]+)$/,
      async (_req, res, _url, match) => {
        const id = decodeURIComponent(match[1] ?? "");
        const session = await store.getSession(id);
        if (session === undefined) throw notFound(`no session with id "${id}"`);
        const owner = await store.getIdentity(session.identityId);
        sendJson(res, 200, sessionJson(session, owner === undefined ? undefined : adminIdentity(owner)));
      },
    ],
    [
      "DELETE",
      /^\/admin\/sessions\/([^/]+)$/,
      async (_req, res, _url, match) => {
        const id = decodeURIComponent(match[1] ?? "");
        // Kratos "disables" (active = false) and keeps the record.
        if (!(await sessions.revokeSessionById(id))) throw notFound(`no session with id "${id}"`);
        sendNoContent(res);
      },
    ],
    [
      "PATCH",
      /^\/admin\/sessions\/([^/]+)\/extend$/,
      async (_req, res, _url, match) => {
        const id = decodeURIComponent(match[1] ?? "");
        if (!(await sessions.extend(id))) throw notFound(`no session with id "${id}"`);
        const session = await store.getSession(id);
        const owner = session === undefined ? undefined : await store.getIdentity(session.identityId);
        sendJson(res, 200, session === undefined ? {} : sessionJson(session, owner === undefined ? undefined : adminIdentity(owner)));
      },
    ],
    ...schemaRoutes(schemas),
  ];
  const handle = dispatch(routes);
  return async (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (options.keys.required && path.startsWith("/admin/")) {
      try {
        options.keys.verify(bearerToken(req.headers.authorization));
      } catch {
        sendJson(res, 401, {
          error: { code: 401, status: "Unauthorized", message: "The request could not be authorized", reason: "A valid admin API key is required (Authorization: Bearer <key>)." },
        });
        return true;
      }
    }
    return handle(req, res);
  };
}
