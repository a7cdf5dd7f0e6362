/** Gatehouse's identity model in Kratos's JSON shapes (snake_case, RFC 3339 times). */
import type { CredentialType, IdentityWithCredentials, Session } from "../model.js";

/** What to include when rendering an identity. */
export interface IdentityJsonOptions {
  /** The URL the identity's schema is served at (`schema_url`). */
  readonly schemaUrl: string;
  /** Admin views carry `metadata_admin` and the credentials (identifiers only unless included). */
  readonly admin: boolean;
  /** Credential types whose `config` is included (`?include_credential=password`). */
  readonly includeCredential?: readonly CredentialType[];
}

const iso = (d: Date | undefined): string | undefined => d?.toISOString();

/** The `identity` object. */
export function identityJson(entry: IdentityWithCredentials, options: IdentityJsonOptions): Record<string, unknown> {
  const { identity } = entry;
  const json: Record<string, unknown> = {
    id: identity.id,
    schema_id: identity.schemaId,
    schema_url: options.schemaUrl,
    state: identity.state,
    ...(identity.stateChangedAt === undefined ? {} : { state_changed_at: iso(identity.stateChangedAt) }),
    traits: identity.traits,
    verifiable_addresses: identity.verifiableAddresses.map((a) => ({
      id: a.id,
      value: a.value,
      verified: a.verified,
      via: a.via,
      status: a.status,
      ...(a.verifiedAt === undefined ? {} : { verified_at: iso(a.verifiedAt) }),
      created_at: iso(a.createdAt),
      updated_at: iso(a.updatedAt),
    })),
    recovery_addresses: identity.recoveryAddresses.map((a) => ({
      id: a.id,
      value: a.value,
      via: a.via,
      created_at: iso(a.createdAt),
      updated_at: iso(a.updatedAt),
    })),
    metadata_public: identity.metadataPublic ?? null,
    created_at: iso(identity.createdAt),
    updated_at: iso(identity.updatedAt),
    organization_id: null,
  };
  if (identity.externalId !== undefined) json["external_id"] = identity.externalId;
  if (options.admin) {
    json["metadata_admin"] = identity.metadataAdmin ?? null;
    const credentials: Record<string, unknown> = {};
    for (const [type, credential] of Object.entries(entry.credentials)) {
      if (credential === undefined) continue;
      const included = options.includeCredential?.includes(type as CredentialType) === true;
      credentials[type] = {
        type,
        identifiers: credential.identifiers,
        ...(included ? { config: credential.config } : {}),
        version: credential.version,
        created_at: iso(credential.createdAt),
        updated_at: iso(credential.updatedAt),
      };
    }
    json["credentials"] = credentials;
  }
  return json;
}

/** The `session` object, with the identity as the session's owner sees it (or as an admin does). */
export function sessionJson(session: Session, identity: Record<string, unknown> | undefined): Record<string, unknown> {
  return {
    id: session.id,
    active: session.active && session.expiresAt.getTime() > Date.now(),
    expires_at: iso(session.expiresAt),
    authenticated_at: iso(session.authenticatedAt),
    authenticator_assurance_level: session.aal,
    authentication_methods: session.methods.map((m) => ({ method: m.method, aal: m.aal, completed_at: iso(m.completedAt) })),
    issued_at: iso(session.issuedAt),
    ...(identity === undefined ? {} : { identity }),
    devices: session.devices.map((d) => ({
      id: d.id,
      ...(d.ipAddress === undefined ? {} : { ip_address: d.ipAddress }),
      ...(d.userAgent === undefined ? {} : { user_agent: d.userAgent }),
      ...(d.location === undefined ? {} : { location: d.location }),
    })),
  };
}
