/**
 * Storage of the identity service: identities with credentials, sessions and flows. Implementations:
 * memory (tests, `dsn: memory`) and SQL (PGlite embedded, PostgreSQL), both passing `contract.ts`.
 *
 * Errors are Gatehouse errors: a credential identifier or an external id already used by another identity
 * is `AlreadyExistsError` with `details.field` (`credentials.password.identifiers` / `external_id`) and no
 * change; a missing identity on update is `NotFoundError`.
 */
import type { CredentialType, IdentityWithCredentials, Page, Session, StoredFlow } from "../model.js";

/** Filters and pages of `listIdentities` (Kratos's filters are not combinable; the first set one wins). */
export interface ListIdentitiesOptions {
  /** 1..1000, default 250 (Kratos's default page size). */
  readonly pageSize?: number;
  readonly pageToken?: string;
  /** Only these ids. */
  readonly ids?: readonly string[];
  /** Exact match on any credential's identifier (normalised by the caller). */
  readonly credentialsIdentifier?: string;
}

/** Filters and pages of `listSessions`. */
export interface ListSessionsOptions {
  readonly pageSize?: number;
  readonly pageToken?: string;
  readonly identityId?: string;
  /** Only active (true) or inactive (false) sessions; absent = both. */
  readonly active?: boolean;
}

/** The identity service's store. */
export interface IdentityStore {
  /** Inserts an identity with its credentials (atomically). */
  createIdentity(entry: IdentityWithCredentials): Promise<void>;
  /** Replaces an identity and the credential types present in `entry` (others are kept). */
  updateIdentity(entry: IdentityWithCredentials): Promise<void>;
  /** Removes one credential type of an identity; false when it had none. */
  deleteCredential(identityId: string, type: CredentialType): Promise<boolean>;
  getIdentity(id: string): Promise<IdentityWithCredentials | undefined>;
  getIdentityByExternalId(externalId: string): Promise<IdentityWithCredentials | undefined>;
  /** The identity holding `identifier` for credential `type`. */
  findByCredentialIdentifier(type: CredentialType, identifier: string): Promise<IdentityWithCredentials | undefined>;
  /** Identities in id order. A tampered page token is `invalid_argument` naming `page_token`. */
  listIdentities(options?: ListIdentitiesOptions): Promise<Page<IdentityWithCredentials>>;
  /** Deletes an identity, its credentials and its sessions; false when it did not exist. */
  deleteIdentity(id: string): Promise<boolean>;

  createSession(session: Session): Promise<void>;
  getSession(id: string): Promise<Session | undefined>;
  getSessionByTokenHash(tokenHash: string): Promise<Session | undefined>;
  /** Sessions newest first (by issued_at, then id). */
  listSessions(options?: ListSessionsOptions): Promise<Page<Session>>;
  /** Sets `active` and/or `expiresAt`; false when the session does not exist. */
  updateSession(id: string, change: { active?: boolean; expiresAt?: Date }): Promise<boolean>;
  /** Deletes every session of an identity; returns how many. */
  deleteSessionsOfIdentity(identityId: string): Promise<number>;

  /** Inserts or replaces a flow. */
  saveFlow(flow: StoredFlow): Promise<void>;
  getFlow(id: string): Promise<StoredFlow | undefined>;
  /** Deletes flows that expired before `before`; returns how many. */
  deleteExpiredFlows(before: Date): Promise<number>;

  close(): Promise<void>;
}
