/**
 * `gatehouse serve`: opens the store named by the DSN (the embedded PGlite store by default), loads the
 * schema file when one is configured, and serves the authorization planes until SIGINT/SIGTERM, then shuts
 * down gracefully (in-flight requests finish, then the store closes). With `redis.url`, the identity
 * service keeps its flows in Redis and tells the other nodes about revoked sessions through it.
 */
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parseArgs } from "node:util";
import type { Redis } from "ioredis";
import { GatehouseError } from "../../common/errors.js";
import { openPermissionEngine, type PermissionEngine } from "../../engine/permission-engine.js";
import type { SchemaLanguage } from "../../engine/schema/ir.js";
import { ChangelogTailer } from "../../engine/replication/changelog-tailer.js";
import { createPgListener } from "../../engine/replication/pg-listener.js";
import { createRedisStream } from "../../engine/replication/redis-stream.js";
import { CHANGELOG_CHANNEL } from "../../engine/store/postgres-store.js";
import {
  createMemoryStore,
  createPostgresExecutor,
  createSqlStore,
  openPgliteExecutor,
  type SqlExecutor,
  type TupleStore,
} from "../../engine/store/index.js";
import { startIdentityPlanes, type IdentityPlanes } from "../../services/identity/identity-service.js";
import { loadIdentityDeps } from "../../services/identity/setup.js";
import { describeRedis, openIdentityRedis } from "../../services/identity/redis-client.js";
import { createRedisSessionRevocations, type SessionRevocationChannel } from "../../services/identity/session-revocations.js";
import { withRedisFlows } from "../../services/identity/store/redis-flows.js";
import type { WebHookConfig } from "../../services/identity/hooks/web-hook.js";
import { rateLimitSubmissions } from "../../services/identity/rate-limit/submit-hook.js";
import { createSubmitRateLimiter, type SubmitRateLimiter } from "../../services/identity/rate-limit/submit-limits.js";
import type { IdentityStore } from "../../services/identity/store/identity-store.js";
import { createMemoryIdentityStore } from "../../services/identity/store/memory-identity-store.js";
import { createSqlIdentityStore } from "../../services/identity/store/sql-identity-store.js";
import { createServerMetrics } from "../../gateways/observability/metrics.js";
import { startAuthzPlanes, type AuthzPlanes } from "../../gateways/authz-planes.js";
import { describeConfigKeys, loadConfig, type Dsn, type GatehouseConfig } from "../config/config.js";
import { startOAuth2Planes, type OAuth2Planes } from "../../services/oauth2/oauth2-service.js";
import type { OAuth2Store } from "../../services/oauth2/store/oauth2-store.js";
import { createMemoryOAuth2Store } from "../../services/oauth2/store/memory-oauth2-store.js";
import { createSqlOAuth2Store } from "../../services/oauth2/store/sql-oauth2-store.js";
import { withRedisArtifacts } from "../../services/oauth2/store/redis-artifacts.js";
import type { OAuth2BridgeRef } from "../../services/identity/oauth2-bridge.js";
import { identityClaims } from "../../services/identity/claims.js";
import type { ProxyPlanes } from "../../services/proxy/proxy-service.js";
import { startProxy } from "../../services/proxy/setup.js";

const usage = `Usage: gatehouse serve [--config FILE] [--dsn memory|pglite:PATH|postgres://…] [--schema FILE]

Serves the authorization API: read plane (default :4466), write plane (:4467), OPL syntax check (:4469);
the identity service (:4433 public, :4434 admin), the OAuth2 service (:4444 public, :4445 admin) and the
gateway (:4455 reverse proxy, :4456 decisions API, Envoy ext_authz and rules).
Settings come from defaults, then --config (YAML), then GATEHOUSE_* variables, then flags:
${describeConfigKeys()
  .map((k) => `  ${k.path.padEnd(34)} ${k.env}`)
  .join("\n")}
`;

/** The stores of every service, over one database. */
export interface Stores {
  readonly tuples: TupleStore;
  readonly identities: IdentityStore;
  readonly oauth2: OAuth2Store;
  close(): Promise<void>;
}

/** Options of `openStores`. */
export interface OpenStoresOptions {
  /** Keep the identity service's flows in Redis (`withRedisFlows`) instead of the DSN's store. */
  readonly flowsInRedis?: { readonly redis: Redis | string; readonly keyPrefix: string };
  /** Keep the OAuth2 service's short-lived artifacts (codes, sessions, interactions) in Redis. */
  readonly oauth2ArtifactsInRedis?: { readonly redis: Redis | string; readonly keyPrefix: string };
}

/** Opens the stores a DSN names; the SQL ones share one connection pool (PGlite allows one opener). */
export async function openStores(dsn: Dsn, options: OpenStoresOptions = {}): Promise<Stores> {
  const flows = options.flowsInRedis;
  const withFlows = (store: IdentityStore): IdentityStore => (flows === undefined ? store : withRedisFlows(store, flows));
  const artifacts = options.oauth2ArtifactsInRedis;
  const withArtifacts = (store: OAuth2Store): OAuth2Store => (artifacts === undefined ? store : withRedisArtifacts(store, artifacts));
  if (dsn.kind === "memory") {
    const tuples = createMemoryStore();
    const identities = withFlows(createMemoryIdentityStore());
    const oauth2 = withArtifacts(createMemoryOAuth2Store());
    return { tuples, identities, oauth2, close: async () => void (await Promise.all([tuples.close(), identities.close(), oauth2.close()])) };
  }
  const executor: SqlExecutor =
    dsn.kind === "pglite" ? await openPgliteExecutor({ dataDir: dsn.dataDir }) : createPostgresExecutor({ connectionString: dsn.url });
  try {
    const tuples = await createSqlStore({
      executor,
      closeExecutor: false,
      ...(dsn.kind === "postgres" ? { notifyChannel: CHANGELOG_CHANNEL } : {}),
    });
    const identities = withFlows(await createSqlIdentityStore({ executor, closeExecutor: false }));
    const oauth2 = withArtifacts(await createSqlOAuth2Store({ executor, closeExecutor: false }));
    return {
      tuples,
      identities,
      oauth2,
      async close() {
        await tuples.close();
        await identities.close();
        await oauth2.close();
        await executor.close();
      },
    };
  } catch (err) {
    await executor.close();
    throw err;
  }
}

function describeDsn(dsn: Dsn): string {
  switch (dsn.kind) {
    case "memory":
      return "in memory (nothing is kept after exit)";
    case "pglite":
      return `embedded PGlite in ${dsn.dataDir}`;
    case "postgres": {
      const url = new URL(dsn.url);
      return `PostgreSQL at ${url.host}${url.pathname}`;
    }
  }
}

function schemaLanguageOf(path: string): SchemaLanguage | undefined {
  const ext = extname(path);
  if (ext === ".ts" || ext === ".opl") return "opl";
  if (ext === ".fga") return "fga";
  return undefined;
}

/**
 * The changelog tailer of a node on a shared PostgreSQL store: LISTEN on the store's channel, plus the
 * Redis stream when Redis is configured, with polling as the fallback. Embedded stores have one process
 * and need none.
 */
function startTailer(config: GatehouseConfig, engine: PermissionEngine, log: (line: string) => void): ChangelogTailer | undefined {
  if (config.dsn.kind !== "postgres") return undefined;
  const { url } = config.dsn;
  const redisUrl = config.redis.url;
  const tailer = new ChangelogTailer({
    engine,
    pollIntervalMillis: config.replication.pollIntervalMillis,
    log,
    sources: [
      (events) => createPgListener({ connectionString: url, channel: CHANGELOG_CHANNEL }, events),
      ...(redisUrl === undefined ? [] : [(events: Parameters<typeof createRedisStream>[1]) => createRedisStream({ url: redisUrl, keyPrefix: config.redis.keyPrefix }, events)]),
    ],
  });
  tailer.start();
  return tailer;
}

/** Runs the changelog garbage collector every `gcIntervalMillis` (each node may; runs are idempotent). */
function startGarbageCollector(config: GatehouseConfig, store: TupleStore, log: (line: string) => void): () => void {
  const every = config.changelog.gcIntervalMillis;
  if (every === 0) return () => {};
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    store
      .collectGarbage(config.changelog.retentionMillis)
      .then((gc) => {
        if (gc.removedVersions > 0) log(`changelog: removed ${gc.removedVersions} deleted tuple versions; history starts after revision ${gc.horizon}`);
      })
      .catch((err: unknown) => log(`changelog: garbage collection failed: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        running = false;
      });
  }, every);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The login and registration rate limiters: shared through Redis when it is configured (so every node counts
 * one budget), in memory otherwise; undefined when both limits are 0.
 */
function submitLimiters(config: GatehouseConfig): Record<"login" | "registration", SubmitRateLimiter> | undefined {
  const { rateLimitIdentifierAttempts: perIdentifier, rateLimitIpAttempts: perIp, rateLimitWindowMillis } = config.identity;
  if (perIdentifier === 0 && perIp === 0) return undefined;
  const windowSeconds = Math.max(1, Math.round(rateLimitWindowMillis / 1000));
  const rules = {
    perIdentifier: perIdentifier === 0 ? [] : [{ limit: perIdentifier, windowSeconds }],
    perIp: perIp === 0 ? [] : [{ limit: perIp, windowSeconds }],
  };
  const store = config.redis.url === undefined ? ("memory" as const) : { redis: config.redis.url, keyPrefix: `${config.redis.keyPrefix}ratelimit:` };
  return {
    login: createSubmitRateLimiter({ store, rules, name: "login" }),
    registration: createSubmitRateLimiter({ store, rules, name: "registration" }),
  };
}

/** The registration web hook the configuration describes, if any. */
function webHookOf(config: GatehouseConfig): WebHookConfig | undefined {
  const hook = config.identity.registrationWebHook;
  if (hook.url === undefined) return undefined;
  const header = hook.authHeader;
  const colon = header?.indexOf(":") ?? -1;
  return {
    url: hook.url,
    parse: hook.parse,
    canInterrupt: hook.canInterrupt,
    ignore: hook.ignore,
    timeoutMillis: hook.timeoutMillis,
    ...(header === undefined || colon < 0 ? {} : { headers: { [header.slice(0, colon).trim()]: header.slice(colon + 1).trim() } }),
  };
}

/** A running server: its ports and how to stop it. */
export interface RunningServer {
  readonly planes: AuthzPlanes;
  /** The engine behind the planes (benchmarks and embedding use it directly). */
  readonly engine: PermissionEngine;
  /** The identity service's planes. */
  readonly identity: IdentityPlanes;
  /** The OAuth2 service's planes. */
  readonly oauth2: OAuth2Planes;
  /** The gateway's reverse proxy and API port. */
  readonly proxy: ProxyPlanes;
  stop(): Promise<void>;
}

/** Starts everything the configuration describes. */
export async function startServer(config: GatehouseConfig, log: (line: string) => void): Promise<RunningServer> {
  // With Redis: the identity flows live there, and session revocations reach the other nodes through it.
  const redisUrl = config.redis.url;
  const identityRedis = redisUrl === undefined ? undefined : openIdentityRedis(redisUrl);
  const identityPrefix = `${config.redis.keyPrefix}identity:`;
  let stores: Stores;
  try {
    stores = await openStores(
      config.dsn,
      identityRedis === undefined
        ? {}
        : {
            flowsInRedis: { redis: identityRedis, keyPrefix: identityPrefix },
            oauth2ArtifactsInRedis: { redis: identityRedis, keyPrefix: `${config.redis.keyPrefix}oauth2:` },
          },
    );
  } catch (err) {
    identityRedis?.disconnect();
    throw err;
  }
  const revocations: SessionRevocationChannel | undefined =
    redisUrl === undefined
      ? undefined
      : createRedisSessionRevocations({
          url: redisUrl,
          ...(identityRedis === undefined ? {} : { publisher: identityRedis }),
          channel: `${identityPrefix}session-revoked`,
          onError: (err) => log(`identity: ${err.message} (other nodes drop revoked sessions when their cache entries expire)`),
        });
  const closeIdentityRedis = async (): Promise<void> => {
    await revocations?.close();
    identityRedis?.disconnect();
  };
  const store = stores.tuples;
  let tailer: ChangelogTailer | undefined;
  let stopCollector = (): void => {};
  let identity: IdentityPlanes | undefined;
  let oauth2: OAuth2Planes | undefined;
  let proxy: ProxyPlanes | undefined;
  // The identity service's built-in login and consent app reaches the OAuth2 service through this, set once
  // the OAuth2 service is up (each needs the other's URL).
  const oauth2Bridge: OAuth2BridgeRef = { current: undefined };
  let stopLimiters = async (): Promise<void> => {};
  let authzPlanes: AuthzPlanes | undefined;
  let openedEngine: PermissionEngine | undefined;
  try {
    const engine = (openedEngine = await openPermissionEngine({
      store,
      maxDepth: config.limit.maxReadDepth,
      oplStrict: config.namespaces.strict,
      evaluator: { threads: config.engine.evaluatorThreads },
      cache: { maxBytes: config.engine.checkCacheBytes },
      quantizationMs: config.engine.quantizationMillis,
      retentionMs: config.engine.retentionMillis,
      snaptokenWaitMs: config.replication.snaptokenWaitMillis,
    }));
    const location = config.namespaces.location;
    if (location !== undefined) {
      const text = readFileSync(location, "utf8");
      const stored = await engine.storedSchema();
      // Writing the same schema again would only add a revision; a changed file replaces the stored one.
      if (stored?.text !== text) {
        const language = schemaLanguageOf(location);
        const { diagnostics } = await engine.writeSchema(text, language);
        log(`loaded schema from ${location}`);
        for (const d of diagnostics) log(`${location}:${d.start.line}:${d.start.column}: ${d.severity}: ${d.message}`);
      }
    }
    tailer = startTailer(config, engine, log);
    stopCollector = startGarbageCollector(config, store, log);
    const running = tailer;
    const planes = (authzPlanes = await startAuthzPlanes({
      engine,
      streamSendTimeoutMillis: config.watch.sendTimeoutMillis,
      ...(running === undefined ? {} : { replicationStats: () => running.stats() }),
      read: config.serve.read,
      write: config.serve.write,
      opl: config.serve.opl,
      h2c: config.serve.h2c,
      shutdownTimeoutMillis: config.serve.shutdownTimeoutMillis,
      writeApiKeyHashes: config.serve.writeApiKeyHashes,
      maxBatchCheckSize: config.limit.maxBatchCheckSize,
      ketoMaxBatchCheckSize: config.limit.ketoMaxBatchCheckSize,
      ketoMaxReadDepth: config.limit.maxReadDepth,
      // How far this node's snapshot trails the store; read on each scrape of /metrics.
      revisionLag: async () => Math.max(0, (await store.headRevision()) - engine.revision),
    }));
    const identityDeps = await loadIdentityDeps({
      ...(config.identity.schemaLocation === undefined ? {} : { schemaLocation: config.identity.schemaLocation }),
      schemas: config.identity.schemas,
      defaultSchemaId: config.identity.defaultSchemaId,
      ...(config.identity.passwordBreachedList === undefined ? {} : { breachedListPath: config.identity.passwordBreachedList }),
      argon2: {
        memoryKiB: config.identity.argon2MemoryKib,
        iterations: config.identity.argon2Iterations,
        parallelism: config.identity.argon2Parallelism,
      },
      policy: { minLength: config.identity.passwordMinLength },
    });
    await identityDeps.warmUp();
    const limiters = submitLimiters(config);
    const webHook = webHookOf(config);
    stopLimiters = async () => {
      await Promise.all(Object.values(limiters ?? {}).map((l) => l.close()));
    };
    identity = await startIdentityPlanes({
      ...(limiters === undefined ? {} : { beforeSubmit: rateLimitSubmissions(limiters, config.identity.trustedProxyHops) }),
      store: stores.identities,
      schemas: identityDeps.schemas,
      hasher: identityDeps.hasher,
      policy: identityDeps.policy,
      public: config.serve.identityPublic,
      admin: config.serve.identityAdmin,
      ...(config.identity.publicBaseUrl === undefined ? {} : { publicBaseUrl: config.identity.publicBaseUrl }),
      sessionLifespanMillis: config.identity.sessionLifespanMillis,
      sessionCacheTtlMillis: config.identity.sessionCacheTtlMillis,
      ...(revocations === undefined ? {} : { sessionRevocations: revocations }),
      sessionAfterRegistration: config.identity.sessionAfterRegistration,
      ...(webHook === undefined ? {} : { registrationWebHook: webHook }),
      log,
      flowLifespanMillis: config.identity.flowLifespanMillis,
      browser: {
        ...(config.identity.loginUiUrl === undefined ? {} : { loginUiUrl: config.identity.loginUiUrl }),
        ...(config.identity.registrationUiUrl === undefined ? {} : { registrationUiUrl: config.identity.registrationUiUrl }),
        ...(config.identity.defaultReturnUrl === undefined ? {} : { defaultReturnUrl: config.identity.defaultReturnUrl }),
        ...(config.identity.logoutReturnUrl === undefined ? {} : { logoutReturnUrl: config.identity.logoutReturnUrl }),
        allowedReturnUrls: config.identity.allowedReturnUrls,
      },
      adminApiKeyHashes: config.identity.adminApiKeyHashes,
      oauth2: oauth2Bridge,
      shutdownTimeoutMillis: config.serve.shutdownTimeoutMillis,
      metrics: createServerMetrics({ processMetrics: false }),
    });
    const identityPlanes = identity;
    const oauth2Config = config.oauth2;
    const oauth2Planes = (oauth2 = await startOAuth2Planes({
      store: stores.oauth2,
      public: config.serve.oauth2Public,
      admin: config.serve.oauth2Admin,
      ...(oauth2Config.issuer === undefined ? {} : { issuer: oauth2Config.issuer }),
      urls: () => ({
        login: oauth2Config.loginUrl ?? `${identityPlanes.publicBaseUrl}/ui/oauth2/login`,
        consent: oauth2Config.consentUrl ?? `${identityPlanes.publicBaseUrl}/ui/oauth2/consent`,
        logout: oauth2Config.logoutUrl ?? `${identityPlanes.publicBaseUrl}/ui/oauth2/logout`,
      }),
      accounts: identityClaims(stores.identities, { email: oauth2Config.emailClaimTrait, name: oauth2Config.nameClaimTrait }),
      systemSecrets: oauth2Config.systemSecrets,
      tokenPrefix: oauth2Config.tokenPrefix,
      lifespans: {
        accessToken: Math.round(oauth2Config.accessTokenLifespanMillis / 1000),
        refreshToken: Math.round(oauth2Config.refreshTokenLifespanMillis / 1000),
        idToken: Math.round(oauth2Config.idTokenLifespanMillis / 1000),
        authorizationCode: Math.round(oauth2Config.authCodeLifespanMillis / 1000),
        deviceCode: Math.round(oauth2Config.authCodeLifespanMillis / 1000),
        loginConsentRequest: Math.round(oauth2Config.loginConsentRequestLifespanMillis / 1000),
        authenticationSession: Math.round(oauth2Config.authenticationSessionLifespanMillis / 1000),
      },
      pkceForAllClients: oauth2Config.pkceEnforced,
      clientSecretIterations: oauth2Config.clientSecretIterations,
      adminApiKeyHashes: oauth2Config.adminApiKeyHashes,
      trustProxy: oauth2Config.trustProxy,
      disallowPrivateIpRanges: oauth2Config.disallowPrivateIpRanges,
      log,
      shutdownTimeoutMillis: config.serve.shutdownTimeoutMillis,
      metrics: createServerMetrics({ processMetrics: false }),
    }));
    oauth2Bridge.current = oauth2Planes.flows;
    const proxyConfig = config.proxy;
    const proxyPlanes = (proxy = await startProxy({
      config: { ...proxyConfig, proxy: config.serve.proxy, api: config.serve.proxyApi },
      urls: {
        identityPublic: identityPlanes.publicBaseUrl,
        oauth2Public: oauth2Planes.issuer,
        oauth2Admin: `http://127.0.0.1:${oauth2Planes.ports.admin}`,
        proxy: `http://127.0.0.1:${config.serve.proxy.port}`,
      },
      engine,
      ...(identityRedis === undefined || !proxyConfig.cacheInRedis ? {} : { redis: { client: identityRedis, keyPrefix: `${config.redis.keyPrefix}proxy:` } }),
      log,
      shutdownTimeoutMillis: config.serve.shutdownTimeoutMillis,
      metrics: createServerMetrics({ processMetrics: false }),
    }));
    log(`store: ${describeDsn(config.dsn)}`);
    log(`read plane listening on ${config.serve.read.host}:${planes.ports.read}`);
    log(`write plane listening on ${config.serve.write.host}:${planes.ports.write}${config.serve.writeApiKeyHashes.length > 0 ? " (API keys required)" : ""}`);
    log(`opl plane listening on ${config.serve.opl.host}:${planes.ports.opl}`);
    log(`identity public plane listening on ${config.serve.identityPublic.host}:${identityPlanes.ports.public} (${identityPlanes.publicBaseUrl})`);
    log(`identity admin plane listening on ${config.serve.identityAdmin.host}:${identityPlanes.ports.admin}${config.identity.adminApiKeyHashes.length > 0 ? " (API keys required)" : ""}`);
    if (identityDeps.breachedPasswords !== undefined) {
      log(`identity: refusing the ${identityDeps.breachedPasswords} breached passwords listed in ${config.identity.passwordBreachedList ?? ""}`);
    }
    if (identityRedis !== undefined) log(`identity: flows and session revocations in Redis at ${describeRedis(identityRedis)} (${identityPrefix}*)`);
    log(`oauth2 public plane listening on ${config.serve.oauth2Public.host}:${oauth2Planes.ports.public} (issuer ${oauth2Planes.issuer})`);
    log(`oauth2 admin plane listening on ${config.serve.oauth2Admin.host}:${oauth2Planes.ports.admin}${oauth2Config.adminApiKeyHashes.length > 0 ? " (API keys required)" : ""}`);
    log(`proxy listening on ${config.serve.proxy.host}:${proxyPlanes.ports.proxy}, API (decisions, ext_authz, rules) on ${config.serve.proxyApi.host}:${proxyPlanes.ports.api} (${proxyPlanes.rules.rules().length} access rules)`);
    if (oauth2Config.systemSecrets.length === 0) log("oauth2: no oauth2.secrets.system configured; using the secret generated and kept in the store");
    return {
      planes,
      engine,
      identity: identityPlanes,
      oauth2: oauth2Planes,
      proxy: proxyPlanes,
      async stop() {
        await Promise.all([planes.close(), identityPlanes.close(), oauth2Planes.close(), proxyPlanes.close()]);
        stopCollector();
        await running?.stop();
        await stopLimiters();
        await engine.close();
        await stores.close();
        await closeIdentityRedis();
      },
    };
  } catch (err) {
    // Whatever started must stop, or the process would linger half up (a port taken by another process).
    stopCollector();
    await proxy?.close();
    await oauth2?.close();
    await identity?.close();
    await stopLimiters();
    await authzPlanes?.close();
    await tailer?.stop();
    await openedEngine?.close();
    await stores.close();
    await closeIdentityRedis();
    throw err;
  }
}

/** Runs `gatehouse serve`; resolves with the exit code after a signal-triggered shutdown. */
export async function runServe(args: readonly string[]): Promise<number> {
  let values: { config?: string; dsn?: string; schema?: string; help?: boolean };
  try {
    values = parseArgs({
      args: [...args],
      options: {
        config: { type: "string" },
        dsn: { type: "string" },
        schema: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`gatehouse serve: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  const log = (line: string): void => {
    process.stderr.write(`gatehouse: ${line}\n`);
  };
  let server: RunningServer;
  try {
    const configFile = values.config ?? process.env.GATEHOUSE_CONFIG;
    const config = loadConfig({
      ...(configFile === undefined ? {} : { file: configFile }),
      flags: { dsn: values.dsn, "namespaces.location": values.schema },
    });
    server = await startServer(config, log);
  } catch (err) {
    const message = err instanceof GatehouseError ? err.message : (err as Error).message;
    process.stderr.write(`gatehouse serve: ${message}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log(`${signal} received, shutting down`);
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve();
    };
    const onInt = (): void => stop("SIGINT");
    const onTerm = (): void => stop("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
  });
  await server.stop();
  log("stopped");
  return 0;
}
