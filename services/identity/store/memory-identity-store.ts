/**
 * The in-memory identity store: for tests and `dsn: memory`. It keeps records in the storage form of
 * `codec.ts` (JSON as text, timestamps as ISO strings), exactly what the SQL store writes, so both behave
 * the same and every value returned is a fresh copy that callers may mutate freely.
 */
import { NotFoundError, UnavailableError } from "../../../common/errors.js";
import type { CredentialType, IdentityWithCredentials, Page, Session, StoredFlow } from "../model.js";
import type { CredentialRecord, IdentityEntryRecord, SessionRecord, FlowRecord } from "./codec.js";
import {
  decodeEntry,
  decodeFlow,
  decodeSession,
  encodeDate,
  encodeEntry,
  encodeFlow,
  encodeSession,
  encodeSessionChange,
  externalIdTakenError,
  firstTakenIdentifier,
  identifierTakenError,
  identityExistsError,
  identityFilterOf,
  resolvePageSize,
  sessionCursorOf,
  sessionExistsError,
  sessionFilterOf,
} from "./codec.js";
import type { IdentityStore, ListIdentitiesOptions, ListSessionsOptions } from "./identity-store.js";
import { createKeysetTokenCodec } from "./page-token.js";

/** Options of `createMemoryIdentityStore`. */
export interface MemoryIdentityStoreOptions {
  /** HMAC key for page tokens. Default: a random key per store, so tokens only work with the store that issued them. */
  readonly paginationSecret?: string | Uint8Array;
}

/** `type NUL identifier`: the key of the identifier index. */
function identifierKey(type: string, identifier: string): string {
  return `${type}\u0000${identifier}`;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Newest first: `issued_at` descending, then id descending. */
function compareSessions(a: { issuedAt: string; id: string }, b: { issuedAt: string; id: string }): number {
  const byTime = Date.parse(b.issuedAt) - Date.parse(a.issuedAt);
  return byTime !== 0 ? byTime : compareStrings(b.id, a.id);
}

/** Creates an empty in-memory identity store. */
export function createMemoryIdentityStore(options: MemoryIdentityStoreOptions = {}): IdentityStore {
  const codec = createKeysetTokenCodec(options.paginationSecret);
  const identities = new Map<string, IdentityEntryRecord>();
  /** external id → identity id */
  const externalIds = new Map<string, string>();
  /** identifierKey(type, identifier) → identity id */
  const identifiers = new Map<string, string>();
  const sessions = new Map<string, SessionRecord>();
  /** token hash → session id */
  const tokenHashes = new Map<string, string>();
  const flows = new Map<string, FlowRecord>();
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new UnavailableError("the identity store is closed");
  }

  function indexCredential(identityId: string, credential: CredentialRecord): void {
    for (const identifier of credential.identifiers) identifiers.set(identifierKey(credential.type, identifier), identityId);
  }

  function unindexCredential(credential: CredentialRecord): void {
    for (const identifier of credential.identifiers) identifiers.delete(identifierKey(credential.type, identifier));
  }

  function entryOf(id: string | undefined): IdentityWithCredentials | undefined {
    const record = id === undefined ? undefined : identities.get(id);
    return record === undefined ? undefined : decodeEntry(record);
  }

  function page<T, R>(
    sorted: readonly R[],
    pageSize: number,
    keyOf: (item: R) => string[],
    decode: (item: R) => T,
    listing: "identities" | "sessions",
    filter: unknown,
  ): Page<T> {
    const items = sorted.slice(0, pageSize);
    const last = items[items.length - 1];
    const nextPageToken = sorted.length > pageSize && last !== undefined ? codec.encode(listing, keyOf(last), filter) : undefined;
    return { items: items.map(decode), nextPageToken };
  }

  return {
    async createIdentity(entry) {
      ensureOpen();
      const record = encodeEntry(entry);
      const { id, externalId } = record.identity;
      if (identities.has(id)) identityExistsError(id);
      if (externalId !== null && externalIds.has(externalId)) externalIdTakenError(externalId);
      const taken = firstTakenIdentifier(record.credentials, (type, identifier) => identifiers.has(identifierKey(type, identifier)));
      if (taken !== undefined) identifierTakenError(taken.type, taken.identifier);
      identities.set(id, record);
      if (externalId !== null) externalIds.set(externalId, id);
      for (const c of record.credentials) indexCredential(id, c);
    },

    async updateIdentity(entry) {
      ensureOpen();
      const record = encodeEntry(entry);
      const { id, externalId } = record.identity;
      const existing = identities.get(id);
      if (existing === undefined) throw new NotFoundError(`identity ${id} does not exist`, { details: { field: "id" } });
      if (externalId !== null) {
        const holder = externalIds.get(externalId);
        if (holder !== undefined && holder !== id) externalIdTakenError(externalId);
      }
      // An identifier this identity holds for the same type is being replaced, so it does not clash.
      const taken = firstTakenIdentifier(record.credentials, (type, identifier) => {
        const holder = identifiers.get(identifierKey(type, identifier));
        return holder !== undefined && holder !== id;
      });
      if (taken !== undefined) identifierTakenError(taken.type, taken.identifier);

      const replaced = new Set(record.credentials.map((c) => c.type));
      const kept = existing.credentials.filter((c) => !replaced.has(c.type));
      for (const c of existing.credentials) if (replaced.has(c.type)) unindexCredential(c);
      if (existing.identity.externalId !== null) externalIds.delete(existing.identity.externalId);
      identities.set(id, { identity: record.identity, credentials: [...kept, ...record.credentials] });
      if (externalId !== null) externalIds.set(externalId, id);
      for (const c of record.credentials) indexCredential(id, c);
    },

    async deleteCredential(identityId: string, type: CredentialType) {
      ensureOpen();
      const existing = identities.get(identityId);
      const credential = existing?.credentials.find((c) => c.type === type);
      if (existing === undefined || credential === undefined) return false;
      unindexCredential(credential);
      identities.set(identityId, { ...existing, credentials: existing.credentials.filter((c) => c !== credential) });
      return true;
    },

    async getIdentity(id) {
      ensureOpen();
      return entryOf(id);
    },

    async getIdentityByExternalId(externalId) {
      ensureOpen();
      return entryOf(externalIds.get(externalId));
    },

    async findByCredentialIdentifier(type, identifier) {
      ensureOpen();
      return entryOf(identifiers.get(identifierKey(type, identifier)));
    },

    async listIdentities(listOptions: ListIdentitiesOptions = {}) {
      ensureOpen();
      const filter = identityFilterOf(listOptions);
      const pageSize = resolvePageSize(listOptions.pageSize);
      const after =
        listOptions.pageToken === undefined || listOptions.pageToken === ""
          ? undefined
          : (codec.decode("identities", listOptions.pageToken, 1, filter)[0] as string);
      let candidates: IdentityEntryRecord[];
      if (filter.kind === "ids") {
        candidates = filter.ids.flatMap((id) => identities.get(id) ?? []);
      } else if (filter.kind === "identifier") {
        candidates = [...identities.values()].filter((r) => r.credentials.some((c) => c.identifiers.includes(filter.identifier)));
      } else {
        candidates = [...identities.values()];
      }
      const sorted = candidates
        .filter((r) => after === undefined || r.identity.id > after)
        .sort((a, b) => compareStrings(a.identity.id, b.identity.id));
      return page(sorted.slice(0, pageSize + 1), pageSize, (r) => [r.identity.id], decodeEntry, "identities", filter);
    },

    async deleteIdentity(id) {
      ensureOpen();
      const existing = identities.get(id);
      if (existing === undefined) return false;
      for (const c of existing.credentials) unindexCredential(c);
      if (existing.identity.externalId !== null) externalIds.delete(existing.identity.externalId);
      identities.delete(id);
      for (const s of [...sessions.values()]) {
        if (s.identityId === id) {
          sessions.delete(s.id);
          tokenHashes.delete(s.tokenHash);
        }
      }
      return true;
    },

    async createSession(session: Session) {
      ensureOpen();
      const record = encodeSession(session);
      if (sessions.has(record.id)) sessionExistsError("id");
      if (tokenHashes.has(record.tokenHash)) sessionExistsError("token_hash");
      if (!identities.has(record.identityId)) {
        throw new NotFoundError(`identity ${record.identityId} does not exist`, { details: { field: "identity_id" } });
      }
      sessions.set(record.id, record);
      tokenHashes.set(record.tokenHash, record.id);
    },

    async getSession(id) {
      ensureOpen();
      const record = sessions.get(id);
      return record === undefined ? undefined : decodeSession(record);
    },

    async getSessionByTokenHash(tokenHash) {
      ensureOpen();
      const id = tokenHashes.get(tokenHash);
      const record = id === undefined ? undefined : sessions.get(id);
      return record === undefined ? undefined : decodeSession(record);
    },

    async listSessions(listOptions: ListSessionsOptions = {}) {
      ensureOpen();
      const filter = sessionFilterOf(listOptions);
      const pageSize = resolvePageSize(listOptions.pageSize);
      let after: { issuedAt: string; id: string } | undefined;
      if (listOptions.pageToken !== undefined && listOptions.pageToken !== "") {
        after = sessionCursorOf(codec.decode("sessions", listOptions.pageToken, 2, filter));
      }
      const sorted = [...sessions.values()]
        .filter(
          (s) =>
            (filter.identityId === undefined || s.identityId === filter.identityId) &&
            (filter.active === undefined || s.active === filter.active) &&
            (after === undefined || compareSessions(s, after) > 0),
        )
        .sort(compareSessions);
      return page(sorted.slice(0, pageSize + 1), pageSize, (s) => [s.issuedAt, s.id], decodeSession, "sessions", filter);
    },

    async updateSession(id, change) {
      ensureOpen();
      const { active, expiresAt } = encodeSessionChange(change);
      const existing = sessions.get(id);
      if (existing === undefined) return false;
      sessions.set(id, { ...existing, active: active ?? existing.active, expiresAt: expiresAt ?? existing.expiresAt });
      return true;
    },

    async deleteSessionsOfIdentity(identityId) {
      ensureOpen();
      let count = 0;
      for (const s of [...sessions.values()]) {
        if (s.identityId !== identityId) continue;
        sessions.delete(s.id);
        tokenHashes.delete(s.tokenHash);
        count++;
      }
      return count;
    },

    async saveFlow(flow: StoredFlow) {
      ensureOpen();
      const record = encodeFlow(flow);
      flows.set(record.id, record);
    },

    async getFlow(id) {
      ensureOpen();
      const record = flows.get(id);
      return record === undefined ? undefined : decodeFlow(record);
    },

    async deleteExpiredFlows(before) {
      ensureOpen();
      const cutoff = Date.parse(encodeDate(before, "before"));
      let count = 0;
      for (const f of [...flows.values()]) {
        if (Date.parse(f.expiresAt) < cutoff) {
          flows.delete(f.id);
          count++;
        }
      }
      return count;
    },

    async close() {
      closed = true;
    },
  };
}
