/**
 * The identity service's domain: identities with their credentials, sessions and self-service flows, in
 * the shapes Gatehouse keeps internally (camelCase, Dates). `api/` maps them to Kratos's JSON.
 */

/** Credential kinds (Kratos's names); this service implements `password` first. */
export type CredentialType = "password" | "oidc" | "totp" | "lookup_secret" | "webauthn" | "passkey" | "code";

/** `active` identities may sign in; `inactive` ones may not and hold no active sessions. */
export type IdentityState = "active" | "inactive";

/** An address the identity can verify (from a trait marked `verification.via`). */
export interface VerifiableAddress {
  readonly id: string;
  readonly value: string;
  readonly via: "email" | "sms";
  readonly verified: boolean;
  /** `pending`, `sent` or `completed` (Kratos's values). */
  readonly status: string;
  readonly verifiedAt: Date | undefined;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** An address recovery messages may go to (from a trait marked `recovery.via`). */
export interface RecoveryAddress {
  readonly id: string;
  readonly value: string;
  readonly via: "email" | "sms";
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** One credential of an identity. `identifiers` are unique per type across all identities. */
export interface Credential {
  readonly type: CredentialType;
  /** Normalised identifiers (e.g. lower-cased emails) that find this identity for this credential type. */
  readonly identifiers: readonly string[];
  /** Type-specific; for `password`: `{ hashed_password: "<PHC string>" }`. Never sent without `include_credential`. */
  readonly config: Readonly<Record<string, unknown>>;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** An identity (a user, a machine) with its traits and metadata. */
export interface Identity {
  /** A UUID chosen by the service. */
  readonly id: string;
  readonly schemaId: string;
  /** Validated against the identity schema `schemaId`. */
  readonly traits: Readonly<Record<string, unknown>>;
  readonly state: IdentityState;
  readonly stateChangedAt: Date | undefined;
  /** Visible to the identity itself (whoami) but not editable by it. */
  readonly metadataPublic: unknown;
  /** Visible through the admin API only. */
  readonly metadataAdmin: unknown;
  /** Unique when set. */
  readonly externalId: string | undefined;
  readonly verifiableAddresses: readonly VerifiableAddress[];
  readonly recoveryAddresses: readonly RecoveryAddress[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** An identity with its credentials by type. */
export interface IdentityWithCredentials {
  readonly identity: Identity;
  readonly credentials: Readonly<Partial<Record<CredentialType, Credential>>>;
}

/** Authenticator assurance levels. */
export type Aal = "aal0" | "aal1" | "aal2" | "aal3";

/** How a session was authenticated (one entry per factor). */
export interface AuthenticationMethod {
  readonly method: CredentialType;
  readonly aal: Aal;
  readonly completedAt: Date;
}

/** A device a session was used from. */
export interface SessionDevice {
  readonly id: string;
  readonly ipAddress: string | undefined;
  readonly userAgent: string | undefined;
  readonly location: string | undefined;
}

/** A session. Only the SHA-256 hash of its token is stored. */
export interface Session {
  readonly id: string;
  /** Hex SHA-256 of the session token (`ory_st_…`); the token itself is never stored. */
  readonly tokenHash: string;
  readonly identityId: string;
  readonly active: boolean;
  readonly expiresAt: Date;
  readonly authenticatedAt: Date;
  readonly issuedAt: Date;
  readonly aal: Aal;
  readonly methods: readonly AuthenticationMethod[];
  readonly devices: readonly SessionDevice[];
}

/** The kinds of self-service flow. */
export type FlowKind = "login" | "registration";

/**
 * What the flows table holds: self-service flows, and `logout` entries binding a browser logout token to a
 * session (their id is the hex SHA-256 of the `ory_lo_` token, so the token itself is never stored).
 */
export type StoredFlowKind = FlowKind | "logout";

/** A self-service flow as stored: the state needed to validate a submission and rebuild its UI. */
export interface StoredFlow {
  /** A UUID; also the `?flow=` parameter. */
  readonly id: string;
  readonly kind: StoredFlowKind;
  /** `api` (native apps, session tokens) or `browser` (cookies, CSRF). */
  readonly type: "api" | "browser";
  readonly issuedAt: Date;
  readonly expiresAt: Date;
  readonly requestUrl: string;
  readonly returnTo: string | undefined;
  /** Hex SHA-256 of the CSRF token bound to a browser flow. */
  readonly csrfTokenHash: string | undefined;
  /** Flow-specific state (the UI's values and messages after a failed submission, the schema id, …). */
  readonly state: Readonly<Record<string, unknown>>;
}

/** One page of a keyset-paginated listing. */
export interface Page<T> {
  readonly items: readonly T[];
  /** Present when more items follow. */
  readonly nextPageToken: string | undefined;
}
