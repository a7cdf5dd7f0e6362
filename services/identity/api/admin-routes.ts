/**
 * The identity service's admin plane (Kratos's 4434): identities (create, get, list, update, delete,
 * by external id, delete a credential), sessions (list, get, disable, extend, per identity) and schemas.
 * Optional API keys guard it (off by default, as in Kratos).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { GatehouseError } from "../../../common/errors.js";
import type { ApiKeyVerifier } from "../../../gateways/auth/api-keys.js";
import { bearerToken } from "../../../gateways/auth/api-keys.js";
import type { PasswordHasher, TraitSchemas } from "../deps.js";
import type { Credential, CredentialType, Identity, IdentityState, IdentityWithCredentials } from "../model.js";
import type { SessionService } from "../sessions.js";
import type { IdentityStore } from "../store/identity-store.js";
import { KratosHttpError, linkHeader, readFormOrJson, sendJson, sendNoContent } from "./http-io.js";
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

  /** The password credential of a create/update body: plaintext (hashed here) or an imported hash. */
  async function passwordCredential(body: Record<string, unknown>, schemaId: string, traits: Record<string, unknown>, now: Date): Promise<Credential | undefined> {
    const config = asRecord(asRecord(asRecord(body["credentials"])?.["password"])?.["config"]);
    if (config === undefined) return undefined;
    const identifiers = schemas.passwordIdentifiers(schemaId, traits);
    if (identifiers.length === 0) throw badRequest("credentials.password: the identity schema marks no trait as the password identifier");
    const plain = config["password"];
    const hashed = config["hashed_password"];
    let stored: string;
    if (typeof plain === "string" && plain !== "") stored = await options.hasher.hash(plain);
    else if (typeof hashed === "string" && /^(\$argon2(id|i)\$|\$2[abxy]?\$|\$pbkdf2-sha(1|256|512)\$)/.test(hashed)) stored = hashed;
    else throw badRequest("credentials.password.config: set `password`, or `hashed_password` in argon2, bcrypt or PBKDF2 PHC format");
    return { type: "password", identifiers, config: { hashed_password: stored }, version: 0, createdAt: now, updatedAt: now };
  }

  function addressesFor(schemaId: string, traits: Record<string, unknown>, previous: Identity | undefined, now: Date): Pick<Identity, "verifiableAddresses" | "recoveryAddresses"> {
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

  const routes: [string, RegExp, Route][] = [
    [
      "POST",
      /^\/admin\/identities$/,
      async (req, res) => {
        const body = await readFormOrJson(req);
        const schemaId = typeof body["schema_id"] === "string" ? body["schema_id"] : schemas.defaultSchemaId;
        const traits = checkTraits(schemaId, body["traits"]);
        const now = new Date();
        const password = await passwordCredential(body, schemaId, traits, now);
        const externalId = body["external_id"];
        if (externalId !== undefined && (typeof externalId !== "string" || externalId === "")) throw badRequest("external_id: must be a non-empty string");
        const state = stateOf(body["state"], "state");
        const identity: Identity = {
          id: randomUUID(),
          schemaId,
          traits,
          state,
          stateChangedAt: now,
          metadataPublic: body["metadata_public"] ?? null,
          metadataAdmin: body["metadata_admin"] ?? null,
          externalId: externalId as string | undefined,
          ...addressesFor(schemaId, traits, undefined, now),
          createdAt: now,
          updatedAt: now,
        };
        const entry: IdentityWithCredentials = { identity, credentials: password === undefined ? {} : { password } };
        await conflictsAs409(() => store.createIdentity(entry));
        sendJson(res, 201, adminIdentity(entry), { location: `${options.publicBaseUrl}/admin/identities/${identity.id}` });
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
        const schemaId = typeof body["schema_id"] === "string" ? body["schema_id"] : current.identity.schemaId;
        const traits = checkTraits(schemaId, body["traits"]);
        if (body["state"] === undefined) throw badRequest("state: required (active or inactive)");
        const state = stateOf(body["state"], "state");
        const now = new Date();
        const password = await passwordCredential(body, schemaId, traits, now);
        // Changed traits may change the password identifiers; keep the hash, re-index the identifiers.
        const kept = current.credentials.password;
        const passwordNow =
          password ??
          (kept === undefined ? undefined : { ...kept, identifiers: schemas.passwordIdentifiers(schemaId, traits), updatedAt: now });
        const externalId = body["external_id"] === undefined ? current.identity.externalId : body["external_id"];
        if (externalId !== undefined && (typeof externalId !== "string" || externalId === "")) throw badRequest("external_id: must be a non-empty string");
        const identity: Identity = {
          ...current.identity,
          schemaId,
          traits,
          state,
          stateChangedAt: state === current.identity.state ? current.identity.stateChangedAt : now,
          metadataPublic: body["metadata_public"] === undefined ? current.identity.metadataPublic : body["metadata_public"],
          metadataAdmin: body["metadata_admin"] === undefined ? current.identity.metadataAdmin : body["metadata_admin"],
          externalId: externalId as string | undefined,
          ...addressesFor(schemaId, traits, current.identity, now),
          updatedAt: now,
        };
        const entry: IdentityWithCredentials = { identity, credentials: passwordNow === undefined ? {} : { password: passwordNow } };
        await conflictsAs409(() => store.updateIdentity(entry));
        // An identity made inactive keeps no usable session.
        if (state === "inactive" && current.identity.state === "active") {
          const page = await store.listSessions({ identityId: identity.id, active: true, pageSize: 1000 });
          for (const s of page.items) await store.updateSession(s.id, { active: false });
        }
        sendJson(res, 200, adminIdentity((await store.getIdentity(identity.id)) ?? entry));
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
        if (!(await store.updateSession(id, { active: false }))) throw notFound(`no session with id "${id}"`);
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
