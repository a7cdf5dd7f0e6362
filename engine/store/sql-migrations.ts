/**
 * Versioned schema migrations of the SQL stores, recorded in `gatehouse_migrations`.
 *
 * The SQL stays inside what PostgreSQL, PGlite and CockroachDB all accept: no advisory locks, no PL/pgSQL,
 * no column collations. Concurrent starts are made safe by the migrations table's primary key: each
 * migration runs in a transaction that first inserts its version row with `ON CONFLICT DO NOTHING`. A
 * second process doing the same blocks on the uncommitted row until the first commits, then sees the
 * conflict and skips the migration (or applies it, if the first rolled back).
 */
import { PreconditionFailedError } from "../../common/errors.js";
import type { SqlExecutor } from "./sql-executor.js";
import { sqlStateOf, toRevision } from "./sql-executor.js";

/** One schema change. Statements run in order, in one transaction, each without bind parameters. */
export interface Migration {
  /** Strictly increasing, never reused. */
  readonly version: number;
  /** A short snake_case description, stored next to the version. */
  readonly name: string;
  readonly up: readonly string[];
}

const TUPLE_KEY = "namespace, object, relation, subject_type, subject_id, subject_relation";

/** Every migration, in order. Append only: a released migration is never edited. */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "create_tuple_store",
    up: [
      // One row holding the head revision. Writers bump it first thing in their transaction, so its row lock
      // serialises them and commit order equals revision order.
      `CREATE TABLE gatehouse_revision (
        id INT NOT NULL PRIMARY KEY,
        revision BIGINT NOT NULL,
        CONSTRAINT gatehouse_revision_single_row CHECK (id = 1)
      )`,
      `INSERT INTO gatehouse_revision (id, revision) VALUES (1, 0)`,
      // Every version of every tuple: live while deleted_rev IS NULL. A bare subject id has subject_type ''
      // (a subject set always has a namespace); a typed object has subject_relation ''. The primary key is
      // the listing order plus created_rev (one key is created at most once per revision).
      `CREATE TABLE gatehouse_tuples (
        namespace TEXT NOT NULL,
        object TEXT NOT NULL,
        relation TEXT NOT NULL,
        subject_type TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        subject_relation TEXT NOT NULL,
        created_rev BIGINT NOT NULL,
        deleted_rev BIGINT NULL,
        CONSTRAINT gatehouse_tuples_pkey PRIMARY KEY (${TUPLE_KEY}, created_rev),
        CONSTRAINT gatehouse_tuples_revisions CHECK (deleted_rev IS NULL OR deleted_rev > created_rev)
      )`,
      `CREATE UNIQUE INDEX gatehouse_tuples_live ON gatehouse_tuples (${TUPLE_KEY}) WHERE deleted_rev IS NULL`,
      `CREATE INDEX gatehouse_tuples_by_subject ON gatehouse_tuples
        (subject_type, subject_id, subject_relation, namespace, relation, object)`,
      `CREATE INDEX gatehouse_tuples_by_created ON gatehouse_tuples (created_rev)`,
      // Also what a future garbage collector scans for old deleted versions.
      `CREATE INDEX gatehouse_tuples_by_deleted ON gatehouse_tuples (deleted_rev) WHERE deleted_rev IS NOT NULL`,
      `CREATE TABLE gatehouse_schemas (
        revision BIGINT NOT NULL PRIMARY KEY,
        language TEXT NOT NULL,
        text TEXT NOT NULL
      )`,
      // Database-wide settings, e.g. the generated pagination secret every instance sharing the data uses.
      `CREATE TABLE gatehouse_settings (
        name TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 2,
    name: "changelog_retention",
    up: [
      // When each revision was committed, so the garbage collector can keep history by time. Revisions
      // written before this migration have no row; they become collectable once a later one is old enough.
      `CREATE TABLE gatehouse_commits (
        revision BIGINT NOT NULL PRIMARY KEY,
        committed_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`,
      `CREATE INDEX gatehouse_commits_by_time ON gatehouse_commits (committed_at)`,
      // The changelog horizon: history at or before it may have been collected.
      `INSERT INTO gatehouse_settings (name, value) VALUES ('changelog_horizon', '0') ON CONFLICT (name) DO NOTHING`,
    ],
  },
  {
    version: 3,
    name: "create_identity_store",
    up: [
      // The identity service (services/identity/store/sql-identity-store.ts). JSON is kept as TEXT so it
      // round-trips exactly (key order, no JSONB normalisation) on PostgreSQL, PGlite and CockroachDB alike.
      // Ids are UUIDs chosen by the service; NULL external ids do not clash with each other.
      `CREATE TABLE identity_identities (
        id TEXT NOT NULL PRIMARY KEY,
        schema_id TEXT NOT NULL,
        traits TEXT NOT NULL,
        state TEXT NOT NULL,
        state_changed_at TIMESTAMPTZ NULL,
        metadata_public TEXT NULL,
        metadata_admin TEXT NULL,
        external_id TEXT NULL,
        verifiable_addresses TEXT NOT NULL,
        recovery_addresses TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        CONSTRAINT identity_identities_external_id_key UNIQUE (external_id)
      )`,
      // One credential per type and identity.
      `CREATE TABLE identity_credentials (
        identity_id TEXT NOT NULL,
        type TEXT NOT NULL,
        config TEXT NOT NULL,
        version INT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        CONSTRAINT identity_credentials_pkey PRIMARY KEY (identity_id, type),
        CONSTRAINT identity_credentials_identity FOREIGN KEY (identity_id)
          REFERENCES identity_identities (id) ON DELETE CASCADE
      )`,
      // The identifiers of each credential, in their order (seq). The primary key makes an identifier unique
      // per credential type across all identities, and is what a login looks up.
      `CREATE TABLE identity_credential_identifiers (
        type TEXT NOT NULL,
        identifier TEXT NOT NULL,
        identity_id TEXT NOT NULL,
        seq INT NOT NULL,
        CONSTRAINT identity_credential_identifiers_pkey PRIMARY KEY (type, identifier),
        CONSTRAINT identity_credential_identifiers_credential FOREIGN KEY (identity_id, type)
          REFERENCES identity_credentials (identity_id, type) ON DELETE CASCADE
      )`,
      `CREATE INDEX identity_credential_identifiers_by_identity ON identity_credential_identifiers (identity_id, type, seq)`,
      // The admin listing's credentials_identifier filter matches any credential type.
      `CREATE INDEX identity_credential_identifiers_by_identifier ON identity_credential_identifiers (identifier)`,
      // Sessions; only the SHA-256 of the token is stored. Listed newest first (issued_at, id descending).
      `CREATE TABLE identity_sessions (
        id TEXT NOT NULL PRIMARY KEY,
        token_hash TEXT NOT NULL,
        identity_id TEXT NOT NULL,
        active BOOLEAN NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        authenticated_at TIMESTAMPTZ NOT NULL,
        issued_at TIMESTAMPTZ NOT NULL,
        aal TEXT NOT NULL,
        methods TEXT NOT NULL,
        devices TEXT NOT NULL,
        CONSTRAINT identity_sessions_token_hash_key UNIQUE (token_hash),
        CONSTRAINT identity_sessions_identity FOREIGN KEY (identity_id)
          REFERENCES identity_identities (id) ON DELETE CASCADE
      )`,
      `CREATE INDEX identity_sessions_by_identity ON identity_sessions (identity_id, issued_at, id)`,
      `CREATE INDEX identity_sessions_by_issued ON identity_sessions (issued_at, id)`,
      // Self-service flows (login, registration), replaced as they progress and swept once expired.
      `CREATE TABLE identity_flows (
        id TEXT NOT NULL PRIMARY KEY,
        kind TEXT NOT NULL,
        type TEXT NOT NULL,
        issued_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL,
        request_url TEXT NOT NULL,
        return_to TEXT NULL,
        csrf_token_hash TEXT NULL,
        state TEXT NOT NULL
      )`,
      `CREATE INDEX identity_flows_by_expiry ON identity_flows (expires_at)`,
    ],
  },
  {
    version: 4,
    name: "create_oauth2_store",
    up: [
      // The OAuth2 service (services/oauth2/store/sql-oauth2-store.ts). JSON is kept as TEXT, as in migration 3.
      // What oidc-provider persists: one row per (model, id) with the payload and the fields it is looked up
      // by. `consume` sets consumed_at with a conditional UPDATE, so of concurrent consumers exactly one wins.
      `CREATE TABLE oauth2_artifacts (
        model TEXT NOT NULL,
        id TEXT NOT NULL,
        payload TEXT NOT NULL,
        grant_id TEXT NULL,
        account_id TEXT NULL,
        uid TEXT NULL,
        user_code TEXT NULL,
        expires_at TIMESTAMPTZ NULL,
        consumed_at TIMESTAMPTZ NULL,
        CONSTRAINT oauth2_artifacts_pkey PRIMARY KEY (model, id)
      )`,
      `CREATE INDEX oauth2_artifacts_by_grant ON oauth2_artifacts (grant_id) WHERE grant_id IS NOT NULL`,
      `CREATE INDEX oauth2_artifacts_by_account ON oauth2_artifacts (model, account_id) WHERE account_id IS NOT NULL`,
      `CREATE INDEX oauth2_artifacts_by_uid ON oauth2_artifacts (model, uid) WHERE uid IS NOT NULL`,
      `CREATE INDEX oauth2_artifacts_by_user_code ON oauth2_artifacts (model, user_code) WHERE user_code IS NOT NULL`,
      `CREATE INDEX oauth2_artifacts_by_expiry ON oauth2_artifacts (expires_at) WHERE expires_at IS NOT NULL`,
      // Clients in Hydra's JSON shape (body), listed in client_id order and filtered by name and owner.
      `CREATE TABLE oauth2_clients (
        client_id TEXT NOT NULL PRIMARY KEY,
        client_name TEXT NOT NULL,
        owner TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
      )`,
      // Consent sessions; a subject's are listed newest first (handled_at, id descending).
      `CREATE TABLE oauth2_consents (
        id TEXT NOT NULL PRIMARY KEY,
        subject TEXT NOT NULL,
        client_id TEXT NOT NULL,
        grant_id TEXT NOT NULL,
        login_session_id TEXT NULL,
        remember BOOLEAN NOT NULL,
        handled_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NULL,
        body TEXT NOT NULL
      )`,
      `CREATE INDEX oauth2_consents_by_client ON oauth2_consents (subject, client_id, handled_at)`,
      `CREATE INDEX oauth2_consents_by_subject ON oauth2_consents (subject, handled_at, id)`,
      `CREATE INDEX oauth2_consents_by_expiry ON oauth2_consents (expires_at) WHERE expires_at IS NOT NULL`,
      // JSON Web Key sets; seq orders a set newest first (most recently added).
      `CREATE TABLE oauth2_keys (
        set_name TEXT NOT NULL,
        kid TEXT NOT NULL,
        jwk TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        seq BIGSERIAL NOT NULL,
        CONSTRAINT oauth2_keys_pkey PRIMARY KEY (set_name, kid)
      )`,
      `CREATE INDEX oauth2_keys_by_set ON oauth2_keys (set_name, seq)`,
      // Bumped in the transaction of every key change, so nodes can poll one row to know when to reload keys.
      `INSERT INTO gatehouse_settings (name, value) VALUES ('oauth2_keys_version', '0') ON CONFLICT (name) DO NOTHING`,
    ],
  },
];

/** The schema version this code expects. */
export const LATEST_MIGRATION_VERSION: number = Math.max(...migrations.map((m) => m.version));

/** The outcome of `migrate`. */
export interface MigrateResult {
  /** Versions this call applied, in order (empty when the database was up to date). */
  readonly applied: readonly number[];
  /** The database's schema version afterwards. */
  readonly version: number;
}

/** Options of `migrate`. */
export interface MigrateOptions {
  /** The migrations to apply; default: all of `migrations`. Tests use a subset. */
  readonly migrations?: readonly Migration[];
}

async function hasMigrationsTable(executor: SqlExecutor): Promise<boolean> {
  const result = await executor.query(
    `SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'gatehouse_migrations'`,
  );
  return result.rows.length > 0;
}

/** The versions recorded in `gatehouse_migrations` (empty when the table does not exist). */
export async function appliedMigrations(executor: SqlExecutor): Promise<number[]> {
  if (!(await hasMigrationsTable(executor))) return [];
  const result = await executor.query(`SELECT version FROM gatehouse_migrations ORDER BY version`);
  return result.rows.map((r) => toRevision(r["version"]));
}

/** Applies pending migrations in order; safe to run from several processes at once. */
export async function migrate(executor: SqlExecutor, options: MigrateOptions = {}): Promise<MigrateResult> {
  const list = [...(options.migrations ?? migrations)].sort((a, b) => a.version - b.version);
  try {
    await executor.query(
      `CREATE TABLE IF NOT EXISTS gatehouse_migrations (
        version INT NOT NULL PRIMARY KEY,
        name TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`,
    );
  } catch (err) {
    // Two concurrent `CREATE TABLE IF NOT EXISTS` can both pass the existence check in PostgreSQL; the loser
    // fails on the catalog's unique index (23505), as a duplicate table (42P07) or as a duplicate of the
    // table's row type (42710, seen about once in 15 races). The table exists either way, which is all we need.
    const state = sqlStateOf(err);
    if (state !== "23505" && state !== "42P07" && state !== "42710") throw err;
  }
  const done = new Set(await appliedMigrations(executor));
  const applied: number[] = [];
  for (const m of list) {
    if (done.has(m.version)) continue;
    const ran = await executor.transaction(async (tx) => {
      const claim = await tx.query(
        `INSERT INTO gatehouse_migrations (version, name) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING RETURNING version`,
        [m.version, m.name],
      );
      if (claim.rows.length === 0) return false; // another process applied it meanwhile
      for (const statement of m.up) await tx.query(statement);
      return true;
    });
    if (ran) applied.push(m.version);
  }
  const versions = await appliedMigrations(executor);
  return { applied, version: versions.length === 0 ? 0 : Math.max(...versions) };
}

/** Throws `PreconditionFailedError` when the database lacks migrations this code needs (used with `migrate: false`). */
export async function assertMigrated(executor: SqlExecutor): Promise<void> {
  const versions = new Set(await appliedMigrations(executor));
  const missing = migrations.filter((m) => !versions.has(m.version)).map((m) => m.version);
  if (missing.length > 0) {
    throw new PreconditionFailedError(
      `the database schema is not up to date (missing migrations ${missing.join(", ")}); run \`gatehouse migrate\``,
      { details: { missingMigrations: missing } },
    );
  }
}
