/**
 * The OAuth2 store over SQL (PGlite, PostgreSQL; written to suit CockroachDB too), on the tables of
 * migration 4 in `engine/store/sql-migrations.ts`. It may share its executor (and database) with the tuple
 * and identity stores.
 *
 * Artifact lifetimes are reckoned on the database's clock: `upsert` stores `now() + expiresIn` and every
 * read, `consume` included, compares with `now()`, so nodes with skewed clocks still agree on what expired.
 * `consume` is one conditional UPDATE (`... WHERE consumed_at IS NULL AND unexpired`): concurrent consumers
 * of one record serialise on its row lock and exactly one sees the condition hold. The payload text is never
 * rewritten by `consume` (it round-trips byte for byte); reads add `consumed` from `consumed_at`.
 *
 * Uniqueness of client ids and of kids within a key set rests on the primary keys. Every key change bumps
 * `oauth2_keys_version` in `gatehouse_settings` in the same transaction, which is what `keysVersion` reads.
 */
import { UnavailableError } from "../../../common/errors.js";
import type { SqlExecutor, SqlQueryable, SqlRow, SqlValue } from "../../../engine/store/sql-executor.js";
import { toRevision, writeTransaction } from "../../../engine/store/sql-executor.js";
import { startSqlStore } from "../../../engine/store/sql-store.js";
import type { HydraClient } from "../clients/hydra-client.js";
import type { KeysetTokenCodec } from "./codec.js";
import {
  checkExpiresIn,
  clientExistsError,
  clientFilterOf,
  clientNotFoundError,
  compareConsents,
  consentCursorOf,
  consentFilterOf,
  createKeysetTokenCodec,
  decodeArtifact,
  decodeClient,
  decodeConsent,
  decodeKey,
  encodeArtifact,
  encodeClient,
  encodeConsent,
  encodeDate,
  encodeKey,
  hasPageToken,
  keyExistsError,
  resolvePageSize,
  storable,
} from "./codec.js";
import type { ArtifactPayload, ConsentRecord, ListClientsOptions, OAuth2Store, StorePage } from "./oauth2-store.js";

/** Options of `createSqlOAuth2Store`. */
export interface SqlOAuth2StoreOptions {
  /** The database to use. */
  readonly executor: SqlExecutor;
  /** Apply pending migrations at start (default true). With `false`, a database lacking migrations is refused. */
  readonly migrate?: boolean;
  /**
   * HMAC key for page tokens. Default: the random secret kept once per database in `gatehouse_settings`
   * (shared with the other stores), so every instance sharing the database accepts each other's tokens.
   */
  readonly paginationSecret?: string | Uint8Array;
  /** Whether `close()` also closes the executor (default true; false when the executor is shared). */
  readonly closeExecutor?: boolean;
}


const UNEXPIRED = "(expires_at IS NULL OR expires_at > now())";
/** The payload and when it was consumed (whole epoch seconds). */
const ARTIFACT_COLUMNS = "payload, floor(extract(epoch FROM consumed_at))::bigint AS consumed";
const CLIENT_COLUMNS = "client_id, client_name, owner, body, created_at, updated_at";
const CONSENT_COLUMNS = "id, subject, client_id, grant_id, login_session_id, remember, handled_at, expires_at, body";
const NEWEST_CONSENT_FIRST = "ORDER BY handled_at DESC, id DESC";

function bind(params: SqlValue[], value: SqlValue): string {
  params.push(value);
  return `$${params.length}`;
}

function artifactOfRow(row: SqlRow | undefined): ArtifactPayload | undefined {
  if (row === undefined) return undefined;
  const consumed = row["consumed"];
  return decodeArtifact(String(row["payload"]), consumed === null || consumed === undefined ? null : toRevision(consumed));
}

function consentOfRow(row: SqlRow): ConsentRecord {
  return decodeConsent({
    id: row["id"],
    subject: row["subject"],
    clientId: row["client_id"],
    grantId: row["grant_id"],
    loginSessionId: row["login_session_id"],
    remember: row["remember"],
    handledAt: row["handled_at"],
    expiresAt: row["expires_at"],
    body: row["body"],
  });
}

/** Opens an OAuth2 store on an SQL database, migrating it first unless `migrate: false`. */
export async function createSqlOAuth2Store(options: SqlOAuth2StoreOptions): Promise<OAuth2Store> {
  const { executor } = options;
  const codec: KeysetTokenCodec = createKeysetTokenCodec(await startSqlStore(options));
  let closed = false;

  function ensureOpen(): void {
    if (closed) throw new UnavailableError("the OAuth2 store is closed");
  }

  /** A write transaction, retried on serialisation conflicts (`writeTransaction` in sql-executor.ts). */
  const writeTx = <T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> => writeTransaction(executor, fn);

  /** Bumps the keys version; call inside the transaction of a key change. */
  async function bumpKeysVersion(tx: SqlQueryable): Promise<void> {
    await tx.query(`UPDATE gatehouse_settings SET value = (CAST(value AS BIGINT) + 1)::text WHERE name = 'oauth2_keys_version'`);
  }

  async function findArtifactBy(column: "uid" | "user_code", model: string, value: string): Promise<ArtifactPayload | undefined> {
    if (!storable(model, value)) return undefined;
    const result = await executor.query(
      `SELECT ${ARTIFACT_COLUMNS} FROM oauth2_artifacts WHERE model = $1 AND ${column} = $2 AND ${UNEXPIRED} LIMIT 1`,
      [model, value],
    );
    return artifactOfRow(result.rows[0]);
  }

  return {
    // ---- artifacts ----

    async upsert(model, id, payload, expiresInSeconds) {
      ensureOpen();
      const r = encodeArtifact(model, id, payload);
      const expiresIn = checkExpiresIn(expiresInSeconds);
      await executor.query(
        `INSERT INTO oauth2_artifacts (model, id, payload, grant_id, account_id, uid, user_code, expires_at, consumed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + CAST($8 AS DOUBLE PRECISION) * INTERVAL '1 second',
           to_timestamp(CAST($9 AS DOUBLE PRECISION)))
         ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
           account_id = excluded.account_id, uid = excluded.uid, user_code = excluded.user_code,
           expires_at = excluded.expires_at, consumed_at = excluded.consumed_at`,
        [r.model, r.id, r.payload, r.grantId, r.accountId, r.uid, r.userCode, expiresIn ?? null, r.consumed],
      );
    },

    async find(model, id) {
      ensureOpen();
      if (!storable(model, id)) return undefined;
      const result = await executor.query(
        `SELECT ${ARTIFACT_COLUMNS} FROM oauth2_artifacts WHERE model = $1 AND id = $2 AND ${UNEXPIRED}`,
        [model, id],
      );
      return artifactOfRow(result.rows[0]);
    },

    async findByUid(model, uid) {
      ensureOpen();
      return findArtifactBy("uid", model, uid);
    },

    async findByUserCode(model, userCode) {
      ensureOpen();
      return findArtifactBy("user_code", model, userCode);
    },

    async consume(model, id) {
      ensureOpen();
      if (!storable(model, id)) return false;
      const result = await executor.query(
        `UPDATE oauth2_artifacts SET consumed_at = now()
         WHERE model = $1 AND id = $2 AND consumed_at IS NULL AND ${UNEXPIRED}`,
        [model, id],
      );
      return result.rowCount > 0;
    },

    async destroy(model, id) {
      ensureOpen();
      if (!storable(model, id)) return;
      await executor.query(`DELETE FROM oauth2_artifacts WHERE model = $1 AND id = $2`, [model, id]);
    },

    async revokeByGrantId(grantId) {
      ensureOpen();
      if (!storable(grantId)) return;
      await executor.query(`DELETE FROM oauth2_artifacts WHERE grant_id = $1`, [grantId]);
    },

    async destroyByAccountId(model, accountId) {
      ensureOpen();
      if (!storable(model, accountId)) return 0;
      const result = await executor.query(
        `DELETE FROM oauth2_artifacts WHERE model = $1 AND account_id = $2 RETURNING ${UNEXPIRED} AS live`,
        [model, accountId],
      );
      return result.rows.filter((row) => row["live"] === true).length;
    },

    async deleteExpired(before) {
      ensureOpen();
      const cutoff = encodeDate(before, "before");
      const artifacts = await executor.query(`DELETE FROM oauth2_artifacts WHERE expires_at < $1::timestamptz`, [cutoff]);
      const consents = await executor.query(`DELETE FROM oauth2_consents WHERE expires_at < $1::timestamptz`, [cutoff]);
      return artifacts.rowCount + consents.rowCount;
    },

    // ---- clients ----

    async createClient(client) {
      ensureOpen();
      const c = encodeClient(client);
      const result = await executor.query(
        `INSERT INTO oauth2_clients (${CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5::timestamptz, $6::timestamptz)
         ON CONFLICT (client_id) DO NOTHING`,
        [c.clientId, c.clientName, c.owner, c.body, c.createdAt, c.updatedAt],
      );
      if (result.rowCount === 0) clientExistsError(c.clientId);
    },

    async updateClient(client) {
      ensureOpen();
      const c = encodeClient(client);
      const result = await executor.query(
        `UPDATE oauth2_clients SET client_name = $2, owner = $3, body = $4, created_at = $5::timestamptz,
           updated_at = $6::timestamptz WHERE client_id = $1`,
        [c.clientId, c.clientName, c.owner, c.body, c.createdAt, c.updatedAt],
      );
      if (result.rowCount === 0) clientNotFoundError(c.clientId);
    },

    async getClient(clientId) {
      ensureOpen();
      if (!storable(clientId)) return undefined;
      const result = await executor.query(`SELECT body FROM oauth2_clients WHERE client_id = $1`, [clientId]);
      const row = result.rows[0];
      return row === undefined ? undefined : decodeClient(row["body"]);
    },

    async listClients(listOptions: ListClientsOptions = {}): Promise<StorePage<HydraClient>> {
      ensureOpen();
      const filter = clientFilterOf(listOptions);
      const pageSize = resolvePageSize(listOptions.pageSize);
      const params: SqlValue[] = [];
      const conds: string[] = [];
      if (filter.clientName !== null) conds.push(`client_name = ${bind(params, filter.clientName)}`);
      if (filter.owner !== null) conds.push(`owner = ${bind(params, filter.owner)}`);
      if (hasPageToken(listOptions.pageToken)) {
        const [after] = codec.decode("oauth2_clients", listOptions.pageToken, 1, filter);
        conds.push(`client_id > ${bind(params, after as string)}`);
      }
      const where = conds.length === 0 ? "" : `WHERE ${conds.join(" AND ")}`;
      const result = await executor.query(
        `SELECT client_id, body FROM oauth2_clients ${where} ORDER BY client_id LIMIT ${bind(params, pageSize + 1)}`,
        params,
      );
      const rows = result.rows.slice(0, pageSize);
      const last = rows[rows.length - 1];
      return {
        items: rows.map((row) => decodeClient(row["body"])),
        ...(result.rows.length > pageSize && last !== undefined
          ? { nextPageToken: codec.encode("oauth2_clients", [String(last["client_id"])], filter) }
          : {}),
      };
    },

    async deleteClient(clientId) {
      ensureOpen();
      if (!storable(clientId)) return false;
      const result = await executor.query(`DELETE FROM oauth2_clients WHERE client_id = $1`, [clientId]);
      return result.rowCount > 0;
    },

    // ---- consents ----

    async putConsent(record) {
      ensureOpen();
      const c = encodeConsent(record);
      await executor.query(
        `INSERT INTO oauth2_consents (${CONSENT_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6::boolean, $7::timestamptz, $8::timestamptz, $9)
         ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, client_id = excluded.client_id,
           grant_id = excluded.grant_id, login_session_id = excluded.login_session_id, remember = excluded.remember,
           handled_at = excluded.handled_at, expires_at = excluded.expires_at, body = excluded.body`,
        [c.id, c.subject, c.clientId, c.grantId, c.loginSessionId, String(c.remember), c.handledAt, c.expiresAt, c.body],
      );
    },

    async findRememberedConsent(subject, clientId) {
      ensureOpen();
      if (!storable(subject, clientId)) return undefined;
      const result = await executor.query(
        `SELECT ${CONSENT_COLUMNS} FROM oauth2_consents
         WHERE subject = $1 AND client_id = $2 AND remember AND ${UNEXPIRED}
         ${NEWEST_CONSENT_FIRST} LIMIT 1`,
        [subject, clientId],
      );
      const row = result.rows[0];
      return row === undefined ? undefined : consentOfRow(row);
    },

    async listConsents(subject, listOptions = {}) {
      ensureOpen();
      const filter = consentFilterOf(subject, listOptions);
      const pageSize = resolvePageSize(listOptions.pageSize);
      let after: { handledAt: string; id: string } | undefined;
      if (hasPageToken(listOptions.pageToken)) {
        after = consentCursorOf(codec.decode("oauth2_consents", listOptions.pageToken, 2, filter));
      }
      if (!storable(subject) || (filter.loginSessionId !== null && !storable(filter.loginSessionId))) return { items: [] };
      const params: SqlValue[] = [subject];
      const conds = ["subject = $1"];
      if (filter.loginSessionId !== null) conds.push(`login_session_id = ${bind(params, filter.loginSessionId)}`);
      if (after !== undefined) {
        conds.push(`(handled_at, id) < (${bind(params, after.handledAt)}::timestamptz, ${bind(params, after.id)})`);
      }
      const result = await executor.query(
        `SELECT ${CONSENT_COLUMNS} FROM oauth2_consents WHERE ${conds.join(" AND ")}
         ${NEWEST_CONSENT_FIRST} LIMIT ${bind(params, pageSize + 1)}`,
        params,
      );
      const consents = result.rows.map(consentOfRow);
      const items = consents.slice(0, pageSize);
      const last = items[items.length - 1];
      return {
        items,
        ...(consents.length > pageSize && last !== undefined
          ? { nextPageToken: codec.encode("oauth2_consents", [last.handledAt.toISOString(), last.id], filter) }
          : {}),
      };
    },

    async deleteConsents(subject, clientId) {
      ensureOpen();
      if (!storable(subject) || (clientId !== undefined && !storable(clientId))) return [];
      const result =
        clientId === undefined
          ? await executor.query(`DELETE FROM oauth2_consents WHERE subject = $1 RETURNING ${CONSENT_COLUMNS}`, [subject])
          : await executor.query(`DELETE FROM oauth2_consents WHERE subject = $1 AND client_id = $2 RETURNING ${CONSENT_COLUMNS}`, [
              subject,
              clientId,
            ]);
      return result.rows
        .map(consentOfRow)
        .sort((a, b) => compareConsents({ handledAt: a.handledAt.toISOString(), id: a.id }, { handledAt: b.handledAt.toISOString(), id: b.id }));
    },

    // ---- keys ----

    async addKey(key) {
      ensureOpen();
      const k = encodeKey(key);
      await writeTx(async (tx) => {
        const inserted = await tx.query(
          `INSERT INTO oauth2_keys (set_name, kid, jwk, created_at) VALUES ($1, $2, $3, $4::timestamptz)
           ON CONFLICT (set_name, kid) DO NOTHING`,
          [k.set, k.kid, k.jwk, k.createdAt],
        );
        if (inserted.rowCount === 0) keyExistsError(k.set, k.kid);
        await bumpKeysVersion(tx);
      });
    },

    async listKeys(set) {
      ensureOpen();
      if (!storable(set)) return [];
      const result = await executor.query(
        `SELECT set_name, kid, jwk, created_at FROM oauth2_keys WHERE set_name = $1 ORDER BY seq DESC`,
        [set],
      );
      return result.rows.map((row) =>
        decodeKey({ set: row["set_name"], kid: row["kid"], jwk: row["jwk"], createdAt: row["created_at"] }),
      );
    },

    async deleteKeys(set, kid) {
      ensureOpen();
      if (!storable(set) || (kid !== undefined && !storable(kid))) return 0;
      return writeTx(async (tx) => {
        const result =
          kid === undefined
            ? await tx.query(`DELETE FROM oauth2_keys WHERE set_name = $1`, [set])
            : await tx.query(`DELETE FROM oauth2_keys WHERE set_name = $1 AND kid = $2`, [set, kid]);
        if (result.rowCount > 0) await bumpKeysVersion(tx);
        return result.rowCount;
      });
    },

    async keysVersion() {
      ensureOpen();
      const result = await executor.query(`SELECT value FROM gatehouse_settings WHERE name = 'oauth2_keys_version'`);
      return toRevision(result.rows[0]?.["value"] ?? 0);
    },

    async close() {
      if (closed) return;
      closed = true;
      if (options.closeExecutor !== false) await executor.close();
    },
  };
}
