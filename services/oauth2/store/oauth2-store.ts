/**
 * Storage of the OAuth2 service. Three kinds of records:
 *
 * - **Artifacts**: what oidc-provider persists through its adapter interface (access and refresh tokens,
 *   authorization and device codes, grants, sessions, interactions, replay-detection entries...). Each is
 *   a JSON payload under (model, id) with an expiry, plus the secondary keys oidc-provider looks records up
 *   by (`grantId`, `uid`, `userCode`). Ids of token-like models are hashed by the caller before they reach the
 *   store, so a database dump holds no usable token.
 * - **Clients** in Hydra's JSON shape (`HydraClient`), with the secret already hashed.
 * - **Consent sessions** (remembered consents, Hydra's `oAuth2ConsentSession`) and **JSON Web Keys**
 *   (Hydra's key sets), which outlive any artifact.
 *
 * Implementations: memory (tests, `dsn: memory`) and SQL (PGlite embedded, PostgreSQL) sharing the
 * executor of the other stores (migration 4), plus `withRedisArtifacts`, which keeps the short-lived models
 * in Redis. All pass `contract.ts`.
 */
import type { HydraClient } from "../clients/hydra-client.js";

/** An oidc-provider adapter payload (opaque JSON to the store apart from the indexed fields). */
export type ArtifactPayload = Record<string, unknown> & {
  readonly grantId?: string;
  /** The subject (sessions, tokens); `destroyByAccountId` finds records by it. */
  readonly accountId?: string;
  readonly uid?: string;
  readonly userCode?: string;
  /** Epoch seconds when the artifact was consumed (codes, refresh tokens); set by `consume`. */
  readonly consumed?: number;
};

/** oidc-provider's adapter operations, for every model at once. */
export interface ArtifactStore {
  /** Inserts or replaces; `expiresInSeconds` undefined = no expiry. */
  upsert(model: string, id: string, payload: ArtifactPayload, expiresInSeconds: number | undefined): Promise<void>;
  /** The payload, or undefined when absent or expired. */
  find(model: string, id: string): Promise<ArtifactPayload | undefined>;
  /** The (Session) record whose payload `uid` is `uid`. */
  findByUid(model: string, uid: string): Promise<ArtifactPayload | undefined>;
  /** The (DeviceCode) record whose payload `userCode` is `userCode`. */
  findByUserCode(model: string, userCode: string): Promise<ArtifactPayload | undefined>;
  /**
   * Marks the record consumed (payload `consumed` = now in epoch seconds). Atomic: of two concurrent calls on
   * an unconsumed record exactly one returns true; false when it was already consumed or is absent.
   */
  consume(model: string, id: string): Promise<boolean>;
  destroy(model: string, id: string): Promise<void>;
  /** Deletes every record (of any model) whose payload `grantId` is `grantId`. */
  revokeByGrantId(grantId: string): Promise<void>;
  /**
   * Deletes every record of `model` whose payload `accountId` is `accountId` (a subject's login sessions);
   * returns how many unexpired records went.
   */
  destroyByAccountId(model: string, accountId: string): Promise<number>;
  /**
   * Deletes artifacts that expired before `before`, and consents whose `expiresAt` is before it; returns how
   * many records went (both kinds).
   */
  deleteExpired(before: Date): Promise<number>;
}

/** A page of records and the token of the next page (undefined = last page). */
export interface StorePage<T> {
  readonly items: readonly T[];
  readonly nextPageToken?: string;
}

/** Filters and pages of `listClients` (Hydra: `client_name`, `owner`, `page_size`, `page_token`). */
export interface ListClientsOptions {
  /** 1..500, default 250. */
  readonly pageSize?: number;
  readonly pageToken?: string;
  readonly clientName?: string;
  readonly owner?: string;
}

/** OAuth2 clients. `HydraClient.client_secret` holds the secret's hash (never the secret). */
export interface ClientStore {
  /** Inserts a client; an id already taken is `AlreadyExistsError` naming `client_id`. */
  createClient(client: HydraClient): Promise<void>;
  /** Replaces a client; a missing one is `NotFoundError`. */
  updateClient(client: HydraClient): Promise<void>;
  getClient(clientId: string): Promise<HydraClient | undefined>;
  /** Clients in client_id order. A tampered page token is `invalid_argument` naming `page_token`. */
  listClients(options?: ListClientsOptions): Promise<StorePage<HydraClient>>;
  /** False when it did not exist. Does not touch the client's artifacts (the caller revokes them). */
  deleteClient(clientId: string): Promise<boolean>;
}

/** A remembered consent (Hydra's consent session): what a subject granted a client. */
export interface ConsentRecord {
  /** The consent request id (Hydra's `consent_request_id`); unique. */
  readonly id: string;
  readonly subject: string;
  readonly clientId: string;
  /** The oidc-provider grant holding the granted scopes; tokens issued from it carry its id. */
  readonly grantId: string;
  /** The login session (oidc-provider session uid) the consent was given in. */
  readonly loginSessionId?: string;
  /** Hydra's `oAuth2ConsentSession` minus `consent_request` (JSON, as returned by the admin API). */
  readonly session: Record<string, unknown>;
  readonly grantedScopes: readonly string[];
  readonly grantedAudience: readonly string[];
  /** Whether later requests may skip consent. */
  readonly remember: boolean;
  readonly handledAt: Date;
  /** When the consent stops being remembered; undefined = never. */
  readonly expiresAt?: Date;
}

/** Remembered consents. */
export interface ConsentStore {
  /** Inserts or replaces by `id`. */
  putConsent(record: ConsentRecord): Promise<void>;
  /** The newest remembered (remember = true), unexpired consent of a subject for a client. */
  findRememberedConsent(subject: string, clientId: string): Promise<ConsentRecord | undefined>;
  /** A subject's consents (remembered or not), newest first. */
  listConsents(subject: string, options?: { pageSize?: number; pageToken?: string; loginSessionId?: string }): Promise<StorePage<ConsentRecord>>;
  /** Deletes a subject's consents (all, or one client's); returns them so the caller can revoke their grants. */
  deleteConsents(subject: string, clientId?: string): Promise<ConsentRecord[]>;
}

/** A stored JSON Web Key: the private JWK (with `kid`, `alg`, `use`) in a named set. */
export interface StoredKey {
  readonly set: string;
  readonly kid: string;
  readonly jwk: Record<string, unknown>;
  readonly createdAt: Date;
}

/** JSON Web Key sets (Hydra's `/admin/keys/{set}`); newest first within a set. */
export interface KeyStore {
  /** Adds a key; a kid already in the set is `AlreadyExistsError` naming `kid`. */
  addKey(key: StoredKey): Promise<void>;
  /** The keys of a set, newest first (empty when the set does not exist). */
  listKeys(set: string): Promise<StoredKey[]>;
  /** Deletes one key (kid given) or the whole set; returns how many keys went. */
  deleteKeys(set: string, kid?: string): Promise<number>;
  /** A number that changes whenever any key set changes (nodes poll it to reload their keys). */
  keysVersion(): Promise<number>;
}

/** The OAuth2 service's store. */
export interface OAuth2Store extends ArtifactStore, ClientStore, ConsentStore, KeyStore {
  close(): Promise<void>;
}
