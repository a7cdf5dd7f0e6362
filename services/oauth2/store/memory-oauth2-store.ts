/**
 * The in-memory OAuth2 store: for tests and `dsn: memory`. It keeps records in the storage form of
 * `codec.ts` (JSON as text, timestamps as ISO strings), exactly what the SQL store writes, so both behave the
 * same and every value returned is a fresh copy that callers may mutate freely.
 *
 * Expiry is honoured on read (an expired artifact is absent) and `deleteExpired` frees the memory. Every
 * method runs to completion without awaiting, so `consume` is atomic.
 */
import { UnavailableError } from "../../../common/errors.js";
import { compareCodePoints } from "../../../engine/store/tuple-key.js";
import type { ArtifactRecord, ClientRecord, ConsentRow, KeyRow } from "./codec.js";
import {
  checkExpiresIn,
  clientExistsError,
  clientFilterOf,
  clientMatches,
  clientNotFoundError,
  compareConsents,
  consentCursorOf,
  consentFilterOf,
  decodeArtifact,
  decodeClient,
  decodeConsent,
  decodeKey,
  encodeArtifact,
  encodeClient,
  encodeConsent,
  encodeDate,
  encodeKey,
  epochSeconds,
  createKeysetTokenCodec,
  hasPageToken,
  keyExistsError,
  resolvePageSize,
} from "./codec.js";
import type { ListClientsOptions, OAuth2Store, StorePage } from "./oauth2-store.js";

/** Options of `createMemoryOAuth2Store`. */
export interface MemoryOAuth2StoreOptions {
  /** HMAC key for page tokens. Default: a random key per store, so tokens only work with the store that issued them. */
  readonly paginationSecret?: string | Uint8Array;
}

interface StoredArtifact {
  readonly record: ArtifactRecord;
  /** Epoch milliseconds; undefined = never. */
  readonly expiresAt: number | undefined;
  /** Epoch seconds of `consume` (or of the payload's `consumed` when written consumed). */
  consumed: number | null;
}

interface StoredKeyRow extends KeyRow {
  readonly seq: number;
}

/** `model NUL id`: the key of the artifact map. */
function artifactKey(model: string, id: string): string {
  return `${model}\u0000${id}`;
}

/** Creates an empty in-memory OAuth2 store. */
export function createMemoryOAuth2Store(options: MemoryOAuth2StoreOptions = {}): OAuth2Store {
  const codec = createKeysetTokenCodec(options.paginationSecret);
  const artifacts = new Map<string, StoredArtifact>();
  const clients = new Map<string, ClientRecord>();
  const consents = new Map<string, ConsentRow>();
  const keySets = new Map<string, StoredKeyRow[]>();
  let keySeq = 0;
  let keysVersion = 0;
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new UnavailableError("the OAuth2 store is closed");
  }

  function live(artifact: StoredArtifact | undefined, now = Date.now()): StoredArtifact | undefined {
    return artifact === undefined || (artifact.expiresAt !== undefined && artifact.expiresAt <= now) ? undefined : artifact;
  }

  function payloadOf(artifact: StoredArtifact | undefined): ReturnType<typeof decodeArtifact> | undefined {
    return artifact === undefined ? undefined : decodeArtifact(artifact.record.payload, artifact.consumed);
  }

  function findBy(model: string, matches: (record: ArtifactRecord) => boolean): StoredArtifact | undefined {
    const now = Date.now();
    for (const artifact of artifacts.values()) {
      if (artifact.record.model === model && matches(artifact.record) && live(artifact, now) !== undefined) return artifact;
    }
    return undefined;
  }

  function page<R, T>(rows: readonly R[], pageSize: number, decode: (row: R) => T, tokenOf: (last: R) => string): StorePage<T> {
    const items = rows.slice(0, pageSize);
    const last = items[items.length - 1];
    return {
      items: items.map(decode),
      ...(rows.length > pageSize && last !== undefined ? { nextPageToken: tokenOf(last) } : {}),
    };
  }

  return {
    // ---- artifacts ----

    async upsert(model, id, payload, expiresInSeconds) {
      ensureOpen();
      const record = encodeArtifact(model, id, payload);
      const expiresIn = checkExpiresIn(expiresInSeconds);
      artifacts.set(artifactKey(record.model, record.id), {
        record,
        expiresAt: expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000,
        consumed: record.consumed,
      });
    },

    async find(model, id) {
      ensureOpen();
      return payloadOf(live(artifacts.get(artifactKey(model, id))));
    },

    async findByUid(model, uid) {
      ensureOpen();
      return payloadOf(findBy(model, (r) => r.uid === uid));
    },

    async findByUserCode(model, userCode) {
      ensureOpen();
      return payloadOf(findBy(model, (r) => r.userCode === userCode));
    },

    async consume(model, id) {
      ensureOpen();
      const artifact = live(artifacts.get(artifactKey(model, id)));
      if (artifact === undefined || artifact.consumed !== null) return false;
      artifact.consumed = epochSeconds();
      return true;
    },

    async destroy(model, id) {
      ensureOpen();
      artifacts.delete(artifactKey(model, id));
    },

    async revokeByGrantId(grantId) {
      ensureOpen();
      for (const [key, artifact] of [...artifacts]) if (artifact.record.grantId === grantId) artifacts.delete(key);
    },

    async destroyByAccountId(model, accountId) {
      ensureOpen();
      const now = Date.now();
      let count = 0;
      for (const [key, artifact] of [...artifacts]) {
        if (artifact.record.model !== model || artifact.record.accountId !== accountId) continue;
        artifacts.delete(key);
        if (live(artifact, now) !== undefined) count++;
      }
      return count;
    },

    async deleteExpired(before) {
      ensureOpen();
      const cutoff = Date.parse(encodeDate(before, "before"));
      let count = 0;
      for (const [key, artifact] of [...artifacts]) {
        if (artifact.expiresAt !== undefined && artifact.expiresAt < cutoff) {
          artifacts.delete(key);
          count++;
        }
      }
      for (const [id, consent] of [...consents]) {
        if (consent.expiresAt !== null && Date.parse(consent.expiresAt) < cutoff) {
          consents.delete(id);
          count++;
        }
      }
      return count;
    },

    // ---- clients ----

    async createClient(client) {
      ensureOpen();
      const record = encodeClient(client);
      if (clients.has(record.clientId)) clientExistsError(record.clientId);
      clients.set(record.clientId, record);
    },

    async updateClient(client) {
      ensureOpen();
      const record = encodeClient(client);
      if (!clients.has(record.clientId)) clientNotFoundError(record.clientId);
      clients.set(record.clientId, record);
    },

    async getClient(clientId) {
      ensureOpen();
      const record = clients.get(clientId);
      return record === undefined ? undefined : decodeClient(record.body);
    },

    async listClients(listOptions: ListClientsOptions = {}) {
      ensureOpen();
      const filter = clientFilterOf(listOptions);
      const pageSize = resolvePageSize(listOptions.pageSize);
      const after = hasPageToken(listOptions.pageToken)
        ? (codec.decode("oauth2_clients", listOptions.pageToken, 1, filter)[0] as string)
        : undefined;
      const rows = [...clients.values()]
        .filter((r) => clientMatches(r, filter) && (after === undefined || compareCodePoints(r.clientId, after) > 0))
        .sort((a, b) => compareCodePoints(a.clientId, b.clientId));
      return page(
        rows.slice(0, pageSize + 1),
        pageSize,
        (r) => decodeClient(r.body),
        (last) => codec.encode("oauth2_clients", [last.clientId], filter),
      );
    },

    async deleteClient(clientId) {
      ensureOpen();
      return clients.delete(clientId);
    },

    // ---- consents ----

    async putConsent(record) {
      ensureOpen();
      const row = encodeConsent(record);
      consents.set(row.id, row);
    },

    async findRememberedConsent(subject, clientId) {
      ensureOpen();
      const now = Date.now();
      const newest = [...consents.values()]
        .filter(
          (c) =>
            c.subject === subject &&
            c.clientId === clientId &&
            c.remember &&
            (c.expiresAt === null || Date.parse(c.expiresAt) > now),
        )
        .sort(compareConsents)[0];
      return newest === undefined ? undefined : decodeConsent(newest);
    },

    async listConsents(subject, listOptions = {}) {
      ensureOpen();
      const filter = consentFilterOf(subject, listOptions);
      const pageSize = resolvePageSize(listOptions.pageSize);
      const after = hasPageToken(listOptions.pageToken)
        ? consentCursorOf(codec.decode("oauth2_consents", listOptions.pageToken, 2, filter))
        : undefined;
      const rows = [...consents.values()]
        .filter(
          (c) =>
            c.subject === subject &&
            (filter.loginSessionId === null || c.loginSessionId === filter.loginSessionId) &&
            (after === undefined || compareConsents(c, after) > 0),
        )
        .sort(compareConsents);
      return page(rows.slice(0, pageSize + 1), pageSize, decodeConsent, (last) =>
        codec.encode("oauth2_consents", [last.handledAt, last.id], filter),
      );
    },

    async deleteConsents(subject, clientId) {
      ensureOpen();
      const gone = [...consents.values()]
        .filter((c) => c.subject === subject && (clientId === undefined || c.clientId === clientId))
        .sort(compareConsents);
      for (const c of gone) consents.delete(c.id);
      return gone.map(decodeConsent);
    },

    // ---- keys ----

    async addKey(key) {
      ensureOpen();
      const row = encodeKey(key);
      const set = keySets.get(row.set) ?? [];
      if (set.some((k) => k.kid === row.kid)) keyExistsError(row.set, row.kid);
      set.push({ ...row, seq: ++keySeq });
      keySets.set(row.set, set);
      keysVersion++;
    },

    async listKeys(set) {
      ensureOpen();
      return [...(keySets.get(set) ?? [])].sort((a, b) => b.seq - a.seq).map(decodeKey);
    },

    async deleteKeys(set, kid) {
      ensureOpen();
      const keys = keySets.get(set);
      if (keys === undefined) return 0;
      const kept = kid === undefined ? [] : keys.filter((k) => k.kid !== kid);
      const count = keys.length - kept.length;
      if (kept.length === 0) keySets.delete(set);
      else keySets.set(set, kept);
      if (count > 0) keysVersion++;
      return count;
    },

    async keysVersion() {
      ensureOpen();
      return keysVersion;
    },

    async close() {
      closed = true;
    },
  };
}
