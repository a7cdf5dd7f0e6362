/**
 * The identity store over SQL (PGlite, PostgreSQL; written to suit CockroachDB too), on the tables of
 * migration 3 in `engine/store/sql-migrations.ts`. It may share its executor (and database) with the tuple
 * store.
 *
 * Uniqueness rests on the database's constraints, so it holds under concurrency: identifiers are inserted
 * with `ON CONFLICT DO NOTHING RETURNING`, which waits for a concurrent insert of the same identifier to
 * commit or roll back and then tells exactly which identifiers were taken; an external id or session clash is
 * recognised by the unique violation's constraint name. Either way the transaction rolls back whole.
 *
 * Reads of an identity with its credentials are one statement (identity × credentials × identifiers joined),
 * so they see one snapshot even while the identity is being updated.
 */
import { NotFoundError, UnavailableError } from "../../../common/errors.js";
import type { SqlExecutor, SqlQueryable, SqlRow, SqlValue } from "../../../engine/store/sql-executor.js";
import { sqlStateOf, writeTransaction } from "../../../engine/store/sql-executor.js";
import { startSqlStore } from "../../../engine/store/sql-store.js";
import type { Credential, CredentialType, IdentityWithCredentials, Page, Session, StoredFlow } from "../model.js";
import type { CredentialRecord, IdentityFilter, IdentityRecord, SessionFilter } from "./codec.js";
import {
  decodeCredential,
  decodeFlow,
  decodeIdentity,
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
import type { KeysetTokenCodec } from "./page-token.js";
import { createKeysetTokenCodec } from "./page-token.js";

/** Options of `createSqlIdentityStore`. */
export interface SqlIdentityStoreOptions {
  /** The database to use. */
  readonly executor: SqlExecutor;
  /** Apply pending migrations at start (default true). With `false`, a database lacking migrations is refused. */
  readonly migrate?: boolean;
  /**
   * HMAC key for page tokens. Default: the random secret kept once per database in `gatehouse_settings`
   * (shared with the tuple store), so every instance sharing the database accepts each other's tokens.
   */
  readonly paginationSecret?: string | Uint8Array;
  /** Whether `close()` also closes the executor (default true; false when the executor is shared). */
  readonly closeExecutor?: boolean;
}


/**
 * Whether every key can be a TEXT value. PostgreSQL's TEXT cannot hold U+0000 (the stores refuse to write
 * it), so a lookup by such a key finds nothing; without this check the database would fail the query.
 */
function storable(...keys: readonly string[]): boolean {
  return keys.every((key) => typeof key === "string" && !key.includes("\u0000"));
}

function bind(params: SqlValue[], value: SqlValue): string {
  params.push(value);
  return `$${params.length}`;
}

/** The name of the constraint a violation broke (pg and PGlite report it; else it is in the message). */
function constraintOf(err: unknown): string {
  if (typeof err === "object" && err !== null && "constraint" in err) {
    const name = (err as { constraint: unknown }).constraint;
    if (typeof name === "string" && name !== "") return name;
  }
  const match = /constraint "([^"]+)"/.exec(err instanceof Error ? err.message : "");
  return match?.[1] ?? "";
}

const IDENTITY_COLUMNS = `id, schema_id, traits, state, state_changed_at, metadata_public, metadata_admin, external_id,
  verifiable_addresses, recovery_addresses, created_at, updated_at`;

function identityValues(r: IdentityRecord, params: SqlValue[]): string[] {
  return [
    bind(params, r.id),
    bind(params, r.schemaId),
    bind(params, r.traits),
    bind(params, r.state),
    `${bind(params, r.stateChangedAt)}::timestamptz`,
    bind(params, r.metadataPublic),
    bind(params, r.metadataAdmin),
    bind(params, r.externalId),
    bind(params, r.verifiableAddresses),
    bind(params, r.recoveryAddresses),
    `${bind(params, r.createdAt)}::timestamptz`,
    `${bind(params, r.updatedAt)}::timestamptz`,
  ];
}

function identityOfRow(row: SqlRow): IdentityWithCredentials["identity"] {
  return decodeIdentity({
    id: row["id"],
    schemaId: row["schema_id"],
    traits: row["traits"],
    state: row["state"],
    stateChangedAt: row["state_changed_at"],
    metadataPublic: row["metadata_public"],
    metadataAdmin: row["metadata_admin"],
    externalId: row["external_id"],
    verifiableAddresses: row["verifiable_addresses"],
    recoveryAddresses: row["recovery_addresses"],
    createdAt: row["created_at"],
    updatedAt: row["updated_at"],
  });
}

const SESSION_COLUMNS = "id, token_hash, identity_id, active, expires_at, authenticated_at, issued_at, aal, methods, devices";

function sessionOfRow(row: SqlRow): Session {
  return decodeSession({
    id: row["id"],
    tokenHash: row["token_hash"],
    identityId: row["identity_id"],
    active: row["active"],
    expiresAt: row["expires_at"],
    authenticatedAt: row["authenticated_at"],
    issuedAt: row["issued_at"],
    aal: row["aal"],
    methods: row["methods"],
    devices: row["devices"],
  });
}

const FLOW_COLUMNS = "id, kind, type, issued_at, expires_at, request_url, return_to, csrf_token_hash, state";

function flowOfRow(row: SqlRow): StoredFlow {
  return decodeFlow({
    id: row["id"],
    kind: row["kind"],
    type: row["type"],
    issuedAt: row["issued_at"],
    expiresAt: row["expires_at"],
    requestUrl: row["request_url"],
    returnTo: row["return_to"],
    csrfTokenHash: row["csrf_token_hash"],
    state: row["state"],
  });
}

/** Opens an identity store on an SQL database, migrating it first unless `migrate: false`. */
export async function createSqlIdentityStore(options: SqlIdentityStoreOptions): Promise<IdentityStore> {
  const { executor } = options;
  const codec: KeysetTokenCodec = createKeysetTokenCodec(await startSqlStore(options));
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new UnavailableError("the identity store is closed");
  }

  /** A write transaction, retried on serialisation conflicts (`writeTransaction` in sql-executor.ts). */
  const writeTx = <T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> => writeTransaction(executor, fn);

  /**
   * Identities matching `where` (a condition on `identity_identities`), in id order, at most `limit`, with
   * their credentials: one statement, so one snapshot.
   */
  async function selectEntries(where: string, params: SqlValue[], limit: number): Promise<IdentityWithCredentials[]> {
    const result = await executor.query(
      `SELECT i.id, i.schema_id, i.traits, i.state, i.state_changed_at, i.metadata_public, i.metadata_admin,
              i.external_id, i.verifiable_addresses, i.recovery_addresses, i.created_at, i.updated_at,
              c.type AS c_type, c.config AS c_config, c.version AS c_version, c.created_at AS c_created_at,
              c.updated_at AS c_updated_at, x.identifier AS x_identifier
       FROM (SELECT ${IDENTITY_COLUMNS} FROM identity_identities WHERE ${where} ORDER BY id LIMIT ${bind(params, limit)}) AS i
       LEFT JOIN identity_credentials c ON c.identity_id = i.id
       LEFT JOIN identity_credential_identifiers x ON x.identity_id = c.identity_id AND x.type = c.type
       ORDER BY i.id, c.type, x.seq`,
      params,
    );
    const entries = new Map<string, { row: SqlRow; credentials: Map<string, { row: SqlRow; identifiers: string[] }> }>();
    for (const row of result.rows) {
      const id = String(row["id"]);
      let entry = entries.get(id);
      if (entry === undefined) {
        entry = { row, credentials: new Map() };
        entries.set(id, entry);
      }
      if (row["c_type"] === null || row["c_type"] === undefined) continue;
      const type = String(row["c_type"]);
      let credential = entry.credentials.get(type);
      if (credential === undefined) {
        credential = { row, identifiers: [] };
        entry.credentials.set(type, credential);
      }
      if (row["x_identifier"] !== null && row["x_identifier"] !== undefined) credential.identifiers.push(String(row["x_identifier"]));
    }
    return [...entries.values()].map(({ row, credentials }) => {
      const byType: Partial<Record<CredentialType, Credential>> = {};
      for (const [type, c] of credentials) {
        byType[type as CredentialType] = decodeCredential(
          {
            type,
            config: c.row["c_config"],
            version: c.row["c_version"],
            createdAt: c.row["c_created_at"],
            updatedAt: c.row["c_updated_at"],
          },
          c.identifiers,
        );
      }
      return { identity: identityOfRow(row), credentials: byType };
    });
  }

  async function selectEntry(where: string, params: SqlValue[]): Promise<IdentityWithCredentials | undefined> {
    return (await selectEntries(where, params, 1))[0];
  }

  /** Inserts credentials and their identifiers; throws `AlreadyExistsError` for the first identifier taken. */
  async function insertCredentials(tx: SqlQueryable, identityId: string, credentials: readonly CredentialRecord[]): Promise<void> {
    if (credentials.length === 0) return;
    const params: SqlValue[] = [identityId];
    const values = credentials.map(
      (c) =>
        `($1, ${bind(params, c.type)}, ${bind(params, c.config)}, ${bind(params, c.version)}::int, ` +
        `${bind(params, c.createdAt)}::timestamptz, ${bind(params, c.updatedAt)}::timestamptz)`,
    );
    await tx.query(
      `INSERT INTO identity_credentials (identity_id, type, config, version, created_at, updated_at) VALUES ${values.join(", ")}`,
      params,
    );
    const idParams: SqlValue[] = [identityId];
    const idValues = credentials.flatMap((c) =>
      c.identifiers.map((identifier, seq) => `(${bind(idParams, c.type)}, ${bind(idParams, identifier)}, $1, ${bind(idParams, seq)}::int)`),
    );
    if (idValues.length === 0) return;
    // A conflicting row another transaction has not committed yet makes this wait for its outcome.
    const inserted = await tx.query(
      `INSERT INTO identity_credential_identifiers (type, identifier, identity_id, seq) VALUES ${idValues.join(", ")}
       ON CONFLICT (type, identifier) DO NOTHING RETURNING type, identifier`,
      idParams,
    );
    const stored = new Set(inserted.rows.map((r) => `${String(r["type"])}\u0000${String(r["identifier"])}`));
    const taken = firstTakenIdentifier(credentials, (type, identifier) => !stored.has(`${type}\u0000${identifier}`));
    if (taken !== undefined) identifierTakenError(taken.type, taken.identifier);
  }

  function identityWhere(filter: IdentityFilter, params: SqlValue[]): string[] {
    if (filter.kind === "ids") {
      const ids = JSON.stringify(filter.ids.filter((id) => storable(id)));
      return [`id IN (SELECT value FROM json_array_elements_text(${bind(params, ids)}::json) AS ids (value))`];
    }
    if (filter.kind === "identifier") {
      if (!storable(filter.identifier)) return ["FALSE"];
      return [`id IN (SELECT identity_id FROM identity_credential_identifiers WHERE identifier = ${bind(params, filter.identifier)})`];
    }
    return [];
  }

  function sessionWhere(filter: SessionFilter, params: SqlValue[]): string[] {
    const conds: string[] = [];
    if (filter.identityId !== undefined) {
      conds.push(storable(filter.identityId) ? `identity_id = ${bind(params, filter.identityId)}` : "FALSE");
    }
    if (filter.active !== undefined) conds.push(`active = ${bind(params, String(filter.active))}::boolean`);
    return conds;
  }

  return {
    async createIdentity(entry) {
      ensureOpen();
      const record = encodeEntry(entry);
      const r = record.identity;
      await writeTx(async (tx) => {
        const params: SqlValue[] = [];
        try {
          await tx.query(
            `INSERT INTO identity_identities (${IDENTITY_COLUMNS}) VALUES (${identityValues(r, params).join(", ")})`,
            params,
          );
        } catch (err) {
          if (sqlStateOf(err) !== "23505") throw err;
          if (constraintOf(err).includes("external_id") && r.externalId !== null) externalIdTakenError(r.externalId, err);
          identityExistsError(r.id, err);
        }
        await insertCredentials(tx, r.id, record.credentials);
      });
    },

    async updateIdentity(entry) {
      ensureOpen();
      const record = encodeEntry(entry);
      const r = record.identity;
      await writeTx(async (tx) => {
        const params: SqlValue[] = [];
        const values = identityValues(r, params);
        const columns = IDENTITY_COLUMNS.split(",").map((c) => c.trim());
        const sets = columns.slice(1).map((column, i) => `${column} = ${values[i + 1]}`);
        let updated: number;
        try {
          updated = (await tx.query(`UPDATE identity_identities SET ${sets.join(", ")} WHERE id = $1`, params)).rowCount;
        } catch (err) {
          if (sqlStateOf(err) === "23505" && r.externalId !== null) externalIdTakenError(r.externalId, err);
          throw err;
        }
        if (updated === 0) throw new NotFoundError(`identity ${r.id} does not exist`, { details: { field: "id" } });
        if (record.credentials.length === 0) return;
        // Replaced credentials go first; their identifiers follow by cascade and so are free to reuse.
        const delParams: SqlValue[] = [r.id];
        const types = record.credentials.map((c) => bind(delParams, c.type));
        await tx.query(`DELETE FROM identity_credentials WHERE identity_id = $1 AND type IN (${types.join(", ")})`, delParams);
        await insertCredentials(tx, r.id, record.credentials);
      });
    },

    async deleteCredential(identityId: string, type: CredentialType) {
      ensureOpen();
      if (!storable(identityId, type)) return false;
      const result = await executor.query(`DELETE FROM identity_credentials WHERE identity_id = $1 AND type = $2`, [identityId, type]);
      return result.rowCount > 0;
    },

    async getIdentity(id) {
      ensureOpen();
      if (!storable(id)) return undefined;
      return selectEntry(`id = $1`, [id]);
    },

    async getIdentityByExternalId(externalId) {
      ensureOpen();
      if (!storable(externalId)) return undefined;
      return selectEntry(`external_id = $1`, [externalId]);
    },

    async findByCredentialIdentifier(type, identifier) {
      ensureOpen();
      if (!storable(type, identifier)) return undefined;
      return selectEntry(
        `id = (SELECT identity_id FROM identity_credential_identifiers WHERE type = $1 AND identifier = $2)`,
        [type, identifier],
      );
    },

    async listIdentities(listOptions: ListIdentitiesOptions = {}): Promise<Page<IdentityWithCredentials>> {
      ensureOpen();
      const filter = identityFilterOf(listOptions);
      const pageSize = resolvePageSize(listOptions.pageSize);
      const params: SqlValue[] = [];
      const conds = identityWhere(filter, params);
      if (listOptions.pageToken !== undefined && listOptions.pageToken !== "") {
        const [after] = codec.decode("identities", listOptions.pageToken, 1, filter);
        conds.push(`id > ${bind(params, after as string)}`);
      }
      const entries = await selectEntries(conds.length === 0 ? "TRUE" : conds.join(" AND "), params, pageSize + 1);
      const items = entries.slice(0, pageSize);
      const last = items[items.length - 1];
      const nextPageToken =
        entries.length > pageSize && last !== undefined ? codec.encode("identities", [last.identity.id], filter) : undefined;
      return { items, nextPageToken };
    },

    async deleteIdentity(id) {
      ensureOpen();
      if (!storable(id)) return false;
      // Credentials, identifiers and sessions follow by cascade.
      const result = await executor.query(`DELETE FROM identity_identities WHERE id = $1`, [id]);
      return result.rowCount > 0;
    },

    async createSession(session) {
      ensureOpen();
      const s = encodeSession(session);
      try {
        await executor.query(
          `INSERT INTO identity_sessions (${SESSION_COLUMNS})
           VALUES ($1, $2, $3, $4::boolean, $5::timestamptz, $6::timestamptz, $7::timestamptz, $8, $9, $10)`,
          [s.id, s.tokenHash, s.identityId, String(s.active), s.expiresAt, s.authenticatedAt, s.issuedAt, s.aal, s.methods, s.devices],
        );
      } catch (err) {
        const state = sqlStateOf(err);
        if (state === "23505") sessionExistsError(constraintOf(err).includes("token_hash") ? "token_hash" : "id", err);
        if (state === "23503") {
          throw new NotFoundError(`identity ${s.identityId} does not exist`, { details: { field: "identity_id" }, cause: err });
        }
        throw err;
      }
    },

    async getSession(id) {
      ensureOpen();
      if (!storable(id)) return undefined;
      const result = await executor.query(`SELECT ${SESSION_COLUMNS} FROM identity_sessions WHERE id = $1`, [id]);
      const row = result.rows[0];
      return row === undefined ? undefined : sessionOfRow(row);
    },

    async getSessionByTokenHash(tokenHash) {
      ensureOpen();
      if (!storable(tokenHash)) return undefined;
      const result = await executor.query(`SELECT ${SESSION_COLUMNS} FROM identity_sessions WHERE token_hash = $1`, [tokenHash]);
      const row = result.rows[0];
      return row === undefined ? undefined : sessionOfRow(row);
    },

    async listSessions(listOptions: ListSessionsOptions = {}): Promise<Page<Session>> {
      ensureOpen();
      const filter = sessionFilterOf(listOptions);
      const pageSize = resolvePageSize(listOptions.pageSize);
      const params: SqlValue[] = [];
      const conds = sessionWhere(filter, params);
      if (listOptions.pageToken !== undefined && listOptions.pageToken !== "") {
        const after = sessionCursorOf(codec.decode("sessions", listOptions.pageToken, 2, filter));
        conds.push(`(issued_at, id) < (${bind(params, after.issuedAt)}::timestamptz, ${bind(params, after.id)})`);
      }
      const where = conds.length === 0 ? "" : `WHERE ${conds.join(" AND ")}`;
      const result = await executor.query(
        `SELECT ${SESSION_COLUMNS} FROM identity_sessions ${where} ORDER BY issued_at DESC, id DESC LIMIT ${bind(params, pageSize + 1)}`,
        params,
      );
      const sessions = result.rows.map(sessionOfRow);
      const items = sessions.slice(0, pageSize);
      const last = items[items.length - 1];
      const nextPageToken =
        sessions.length > pageSize && last !== undefined
          ? codec.encode("sessions", [last.issuedAt.toISOString(), last.id], filter)
          : undefined;
      return { items, nextPageToken };
    },

    async updateSession(id, change) {
      ensureOpen();
      const { active, expiresAt } = encodeSessionChange(change);
      if (!storable(id)) return false;
      const params: SqlValue[] = [id];
      const sets: string[] = [];
      if (active !== undefined) sets.push(`active = ${bind(params, String(active))}::boolean`);
      if (expiresAt !== undefined) sets.push(`expires_at = ${bind(params, expiresAt)}::timestamptz`);
      const result =
        sets.length === 0
          ? await executor.query(`SELECT 1 AS found FROM identity_sessions WHERE id = $1`, params)
          : await executor.query(`UPDATE identity_sessions SET ${sets.join(", ")} WHERE id = $1`, params);
      return result.rowCount > 0 || result.rows.length > 0;
    },

    async deleteSessionsOfIdentity(identityId) {
      ensureOpen();
      if (!storable(identityId)) return 0;
      const result = await executor.query(`DELETE FROM identity_sessions WHERE identity_id = $1`, [identityId]);
      return result.rowCount;
    },

    async saveFlow(flow) {
      ensureOpen();
      const f = encodeFlow(flow);
      await executor.query(
        `INSERT INTO identity_flows (${FLOW_COLUMNS})
         VALUES ($1, $2, $3, $4::timestamptz, $5::timestamptz, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, type = excluded.type, issued_at = excluded.issued_at,
           expires_at = excluded.expires_at, request_url = excluded.request_url, return_to = excluded.return_to,
           csrf_token_hash = excluded.csrf_token_hash, state = excluded.state`,
        [f.id, f.kind, f.type, f.issuedAt, f.expiresAt, f.requestUrl, f.returnTo, f.csrfTokenHash, f.state],
      );
    },

    async getFlow(id) {
      ensureOpen();
      if (!storable(id)) return undefined;
      const result = await executor.query(`SELECT ${FLOW_COLUMNS} FROM identity_flows WHERE id = $1`, [id]);
      const row = result.rows[0];
      return row === undefined ? undefined : flowOfRow(row);
    },

    async deleteExpiredFlows(before) {
      ensureOpen();
      const result = await executor.query(`DELETE FROM identity_flows WHERE expires_at < $1::timestamptz`, [
        encodeDate(before, "before"),
      ]);
      return result.rowCount;
    },

    async close() {
      if (closed) return;
      closed = true;
      if (options.closeExecutor !== false) await executor.close();
    },
  };
}
