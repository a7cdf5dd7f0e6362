/**
 * The server configuration: defaults, then a YAML file, then `GATEHOUSE_*` environment variables, then
 * command-line flags, validated against one description of every key. A bad value is rejected at start with
 * an error naming the key and where it came from.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parse as parseYaml } from "yaml";
import { InvalidArgumentError } from "../../common/errors.js";

/** Where the server keeps its data: `memory`, `pglite:PATH` (embedded, default) or a PostgreSQL URL. */
export type Dsn = { kind: "memory" } | { kind: "pglite"; dataDir: string } | { kind: "postgres"; url: string };

/** One plane's listener. */
export interface PlaneConfig {
  host: string;
  port: number;
}

/** The whole configuration, every key filled. */
export interface GatehouseConfig {
  dsn: Dsn;
  serve: {
    read: PlaneConfig;
    write: PlaneConfig;
    opl: PlaneConfig;
    /** The identity service's public plane (Kratos's 4433) and admin plane (4434). */
    identityPublic: PlaneConfig;
    identityAdmin: PlaneConfig;
    /** The OAuth2 service's public plane (Hydra's 4444) and admin plane (4445). */
    oauth2Public: PlaneConfig;
    oauth2Admin: PlaneConfig;
    /** The gateway's reverse proxy (Oathkeeper's 4455) and API port (4456: decisions, ext_authz, rules). */
    proxy: PlaneConfig;
    proxyApi: PlaneConfig;
    /** Where cleartext HTTP/2 connections go: grpc-js (fast gRPC) or connect-node (also Connect over h2c). */
    h2c: "grpc-js" | "connect";
    /** How long a graceful shutdown waits for in-flight requests before closing connections. */
    shutdownTimeoutMillis: number;
    /** SHA-256 hex hashes of the write plane's API keys; empty = no key needed (Keto's default). */
    writeApiKeyHashes: string[];
  };
  namespaces: {
    /** A schema file (OPL or OpenFGA DSL) loaded at start, like Keto's `namespaces.location`. */
    location: string | undefined;
    /** Keto's strict mode for OPL schemas. */
    strict: boolean;
  };
  engine: {
    /** Worker threads evaluating checks on the shared snapshot; 0 evaluates on the main thread. */
    evaluatorThreads: number;
    /** Bytes of the check-result cache; 0 disables it. */
    checkCacheBytes: number;
    /** `minimize_latency` reads at the head as of the last multiple of this many ms; 0 reads the head. */
    quantizationMillis: number;
    /** How long older revisions stay readable from memory (at_exact_snapshot, old snaptokens). */
    retentionMillis: number;
  };
  identity: {
    /** The URL browsers and apps reach the public plane at; default `http://127.0.0.1:<public port>`. */
    publicBaseUrl: string | undefined;
    /** A JSON Schema file used as the default identity schema; absent = the built-in email + name schema. */
    schemaLocation: string | undefined;
    /** More identity schemas: id and JSON Schema file. */
    schemas: { id: string; path: string }[];
    /** The schema of identities whose flow names none. */
    defaultSchemaId: string;
    /** How long a session lasts (Kratos: 24 h). */
    sessionLifespanMillis: number;
    /** How long a whoami answer is reused from memory (revocations evict at once); 0 = no cache. */
    sessionCacheTtlMillis: number;
    /** Sign the identity in right after registration (Kratos's `session` hook). */
    sessionAfterRegistration: boolean;
    /** How long a login or registration flow can be submitted (Kratos: 1 h). */
    flowLifespanMillis: number;
    /** Browser flows: where browsers are sent; absent = the built-in pages under `<public base>/ui/`. */
    loginUiUrl: string | undefined;
    registrationUiUrl: string | undefined;
    /** After signing in without `return_to` (default `<public base>/ui/welcome`). */
    defaultReturnUrl: string | undefined;
    /** After signing out without `return_to` (default `<public base>/ui/login`). */
    logoutReturnUrl: string | undefined;
    /** URLs `return_to` may point at (same origin, same or deeper path) besides the public base URL. */
    allowedReturnUrls: string[];
    /** Login and registration submissions allowed per identifier and per client IP within the window (0 = off). */
    rateLimitIdentifierAttempts: number;
    rateLimitIpAttempts: number;
    rateLimitWindowMillis: number;
    /** Proxies in front that append the client to `X-Forwarded-For` (0: use the socket's address). */
    trustedProxyHops: number;
    /** Kratos's `web_hook` after registration; absent url = none. */
    registrationWebHook: {
      url: string | undefined;
      parse: boolean;
      canInterrupt: boolean;
      ignore: boolean;
      timeoutMillis: number;
      /** One extra request header, `Name: value` (e.g. an API key the receiver checks). */
      authHeader: string | undefined;
    };
    /** SHA-256 hex hashes of the admin plane's API keys; empty = open (Kratos's default). */
    adminApiKeyHashes: string[];
    /** Shortest password accepted (Kratos: 8). */
    passwordMinLength: number;
    /** A file of breached passwords (plain or SHA-1 hex, optionally `:count`, one a line) refused with 4000034; absent = none. */
    passwordBreachedList: string | undefined;
    /** argon2id cost: memory in KiB, iterations, lanes (OWASP's minimum by default). */
    argon2MemoryKib: number;
    argon2Iterations: number;
    argon2Parallelism: number;
  };
  oauth2: {
    /** The issuer: the public plane's URL as clients see it; default `http://127.0.0.1:<public port>`. */
    issuer: string | undefined;
    /** The login, consent and logout apps; absent = the identity service's built-in pages (`/ui/oauth2/*`). */
    loginUrl: string | undefined;
    consentUrl: string | undefined;
    logoutUrl: string | undefined;
    /** Hydra's `secrets.system`: the first signs and encrypts, all verify (rotation); empty = one generated and kept in the store. */
    systemSecrets: string[];
    /** Prefix of opaque tokens (`<prefix>_at_…`). */
    tokenPrefix: string;
    accessTokenLifespanMillis: number;
    refreshTokenLifespanMillis: number;
    idTokenLifespanMillis: number;
    authCodeLifespanMillis: number;
    loginConsentRequestLifespanMillis: number;
    authenticationSessionLifespanMillis: number;
    /** Require PKCE from confidential clients too (public clients always need it). */
    pkceEnforced: boolean;
    /** PBKDF2-SHA256 iterations of new client secrets (Hydra: 25,000). */
    clientSecretIterations: number;
    /** Traits the `email` and `name` claims come from (dotted paths into an identity's traits). */
    emailClaimTrait: string;
    nameClaimTrait: string;
    /** SHA-256 hex hashes of the admin plane's API keys; empty = open (Hydra's admin port has none). */
    adminApiKeyHashes: string[];
    /** Trust `X-Forwarded-Proto`/`-Host` from a TLS-terminating proxy in front of the public plane. */
    trustProxy: boolean;
    /** Refuse outgoing requests (back-channel logout, `jwks_uri`) to loopback and private addresses (Hydra's `clients.http.disallow_private_ip_ranges`). */
    disallowPrivateIpRanges: boolean;
  };
  proxy: {
    /** Rule files and directories (Oathkeeper's `access_rules.repositories`; `file://` accepted). */
    ruleSources: string[];
    /** How `<…>` in `match.url` is read (Oathkeeper's `access_rules.matching_strategy`). */
    matchingStrategy: "regexp" | "glob";
    /** Reload rules when their files change. */
    watchRules: boolean;
    /** CIDRs whose `X-Forwarded-*` the reverse proxy believes (none by default, as Oathkeeper). */
    trustedProxies: string[];
    /** CIDRs whose `X-Forwarded-*` describe the request on the decisions API (loopback and private by default). */
    decisionsTrustedProxies: string[];
    /** Handler settings in Oathkeeper's shape (`<name>: {enabled, config}`), merged over Gatehouse's defaults. */
    authenticators: Record<string, unknown>;
    authorizers: Record<string, unknown>;
    mutators: Record<string, unknown>;
    /** `{fallback: [...], handlers: {<name>: {enabled, config}}}` as Oathkeeper's `errors`. */
    errors: Record<string, unknown>;
    /** The authz read plane the `permission` authorizer asks; absent = the engine of this process. */
    permissionsUrl: string | undefined;
    /** Entries of the in-memory credential cache (sessions, introspection results). */
    cacheMaxEntries: number;
    /** Keep cached credentials in Redis (when `redis.url` is set) so every node shares them. */
    cacheInRedis: boolean;
    /** Timeout of the gateway's calls to session, introspection, token and remote-authorizer endpoints. */
    outboundTimeoutMillis: number;
  };
  redis: {
    /** A Redis URL (`redis://host:6379/0`); absent means no Redis (PostgreSQL notifications and polling only). */
    url: string | undefined;
    /** Prefix of every key Gatehouse writes, so several deployments (or tests) can share one Redis. */
    keyPrefix: string;
  };
  replication: {
    /** How often a node asks the store for its head when no push notification source is healthy. */
    pollIntervalMillis: number;
    /** How long a read carrying a snaptoken newer than this node's snapshot waits before UNAVAILABLE. */
    snaptokenWaitMillis: number;
  };
  changelog: {
    /** How long the store keeps deleted tuple versions (the changelog Watch and lagging nodes read). */
    retentionMillis: number;
    /** How often the changelog garbage collector runs; 0 disables it. */
    gcIntervalMillis: number;
  };
  watch: {
    /** How long a Watch stream may stay blocked on a client that does not read before it is closed. */
    sendTimeoutMillis: number;
  };
  limit: {
    /** The global depth limit; requests may ask for less (Keto's `limit.max_read_depth`). */
    maxReadDepth: number;
    /** Items per BatchCheck on Gatehouse's API. */
    maxBatchCheckSize: number;
    /** Items per BatchCheck on Keto's API (Keto's own default is 10). */
    ketoMaxBatchCheckSize: number;
  };
}

/** The defaults: Keto's ports, the embedded store in ./.gatehouse/data. */
export function defaultConfig(): GatehouseConfig {
  return {
    dsn: { kind: "pglite", dataDir: "./.gatehouse/data" },
    serve: {
      read: { host: "0.0.0.0", port: 4466 },
      write: { host: "0.0.0.0", port: 4467 },
      opl: { host: "0.0.0.0", port: 4469 },
      identityPublic: { host: "0.0.0.0", port: 4433 },
      identityAdmin: { host: "0.0.0.0", port: 4434 },
      oauth2Public: { host: "0.0.0.0", port: 4444 },
      oauth2Admin: { host: "0.0.0.0", port: 4445 },
      proxy: { host: "0.0.0.0", port: 4455 },
      proxyApi: { host: "0.0.0.0", port: 4456 },
      h2c: "grpc-js",
      shutdownTimeoutMillis: 10_000,
      writeApiKeyHashes: [],
    },
    namespaces: { location: undefined, strict: false },
    engine: {
      evaluatorThreads: availableParallelism(),
      checkCacheBytes: 32 * 1024 * 1024,
      quantizationMillis: 5_000,
      retentionMillis: 3_600_000,
    },
    identity: {
      publicBaseUrl: undefined,
      schemaLocation: undefined,
      schemas: [],
      defaultSchemaId: "default",
      sessionLifespanMillis: 24 * 3_600_000,
      sessionCacheTtlMillis: 5_000,
      sessionAfterRegistration: true,
      flowLifespanMillis: 3_600_000,
      loginUiUrl: undefined,
      registrationUiUrl: undefined,
      defaultReturnUrl: undefined,
      logoutReturnUrl: undefined,
      allowedReturnUrls: [],
      rateLimitIdentifierAttempts: 10,
      rateLimitIpAttempts: 100,
      rateLimitWindowMillis: 300_000,
      trustedProxyHops: 0,
      registrationWebHook: { url: undefined, parse: false, canInterrupt: false, ignore: false, timeoutMillis: 10_000, authHeader: undefined },
      adminApiKeyHashes: [],
      passwordMinLength: 8,
      passwordBreachedList: undefined,
      argon2MemoryKib: 19_456,
      argon2Iterations: 2,
      argon2Parallelism: 1,
    },
    oauth2: {
      issuer: undefined,
      loginUrl: undefined,
      consentUrl: undefined,
      logoutUrl: undefined,
      systemSecrets: [],
      tokenPrefix: "gh",
      accessTokenLifespanMillis: 3_600_000,
      refreshTokenLifespanMillis: 720 * 3_600_000,
      idTokenLifespanMillis: 3_600_000,
      authCodeLifespanMillis: 600_000,
      loginConsentRequestLifespanMillis: 1_800_000,
      authenticationSessionLifespanMillis: 720 * 3_600_000,
      pkceEnforced: false,
      clientSecretIterations: 25_000,
      emailClaimTrait: "email",
      nameClaimTrait: "name",
      adminApiKeyHashes: [],
      trustProxy: false,
      disallowPrivateIpRanges: false,
    },
    proxy: {
      ruleSources: [],
      matchingStrategy: "regexp",
      watchRules: true,
      trustedProxies: [],
      decisionsTrustedProxies: ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
      authenticators: {},
      authorizers: {},
      mutators: {},
      errors: {},
      permissionsUrl: undefined,
      cacheMaxEntries: 10_000,
      cacheInRedis: true,
      outboundTimeoutMillis: 5_000,
    },
    redis: { url: undefined, keyPrefix: "gatehouse:" },
    replication: { pollIntervalMillis: 1_000, snaptokenWaitMillis: 2_000 },
    changelog: { retentionMillis: 86_400_000, gcIntervalMillis: 300_000 },
    watch: { sendTimeoutMillis: 30_000 },
    limit: { maxReadDepth: 25, maxBatchCheckSize: 1000, ketoMaxBatchCheckSize: 10 },
  };
}

/**
 * A configuration for tests, benchmarks and embedding: every plane on 127.0.0.1 with a free port (0),
 * over `dsn` (default in memory), reads at the node's head (no quantization, so a test sees its writes at
 * once), one evaluator thread, and no login rate limits. Read the bound ports from the running server.
 */
export function loopbackConfig(dsn: Dsn = { kind: "memory" }): GatehouseConfig {
  const config = defaultConfig();
  config.dsn = dsn;
  config.engine.quantizationMillis = 0;
  config.engine.evaluatorThreads = 1;
  // Tests and benchmarks submit many logins from one address; the suites that test limits turn them on.
  config.identity.rateLimitIdentifierAttempts = 0;
  config.identity.rateLimitIpAttempts = 0;
  for (const plane of [
    config.serve.read,
    config.serve.write,
    config.serve.opl,
    config.serve.identityPublic,
    config.serve.identityAdmin,
    config.serve.oauth2Public,
    config.serve.oauth2Admin,
    config.serve.proxy,
    config.serve.proxyApi,
  ]) {
    plane.host = "127.0.0.1";
    plane.port = 0;
  }
  return config;
}

/** Parses a DSN string; `source` names where it came from for the error. */
export function parseDsn(text: string, source: string): Dsn {
  if (text === "memory") return { kind: "memory" };
  if (text.startsWith("pglite:")) {
    const dataDir = text.slice("pglite:".length);
    if (dataDir === "") throw configError(source, `"pglite:" needs a folder, e.g. pglite:./.gatehouse/data`);
    return { kind: "pglite", dataDir };
  }
  if (/^postgres(ql)?:\/\//.test(text)) return { kind: "postgres", url: text };
  throw configError(source, `expected memory, pglite:PATH or postgres://…, got "${redact(text)}"`);
}

function redact(text: string): string {
  return text.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

function configError(source: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(`configuration ${source}: ${message}`, { details: { field: source } });
}

/** One settable key: its path in the file, its environment variable, and how to apply a raw value. */
interface KeySpec {
  path: string;
  env: string;
  /** The key holds a whole map (its environment variable is JSON). */
  subtree?: boolean;
  apply(config: GatehouseConfig, raw: unknown, source: string): void;
}

function asString(raw: unknown, source: string): string {
  if (typeof raw === "string") return raw;
  if (typeof raw === "number") return String(raw);
  throw configError(source, `expected a string, got ${JSON.stringify(raw)}`);
}

function asInt(raw: unknown, source: string, min: number, max: number): number {
  const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) {
    throw configError(source, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function asBool(raw: unknown, source: string): boolean {
  if (typeof raw === "boolean") return raw;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw configError(source, `expected true or false, got ${JSON.stringify(raw)}`);
}

function asHashes(raw: unknown, source: string): string[] {
  const list = typeof raw === "string" ? raw.split(",").map((s) => s.trim()).filter((s) => s !== "") : raw;
  if (!Array.isArray(list)) throw configError(source, "expected a list of SHA-256 hex hashes");
  return list.map((h, i) => {
    if (typeof h !== "string" || !/^[0-9a-f]{64}$/i.test(h)) {
      throw configError(`${source}[${i}]`, "expected a SHA-256 hash in hex (64 characters), never the key itself");
    }
    return h.toLowerCase();
  });
}

function asHttpUrl(raw: unknown, source: string): string {
  const text = asString(raw, source).trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw configError(source, `expected an absolute http:// or https:// URL, got "${text}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw configError(source, `expected an http:// or https:// URL, got "${text}"`);
  return text;
}

function asHttpUrls(raw: unknown, source: string): string[] {
  const list = typeof raw === "string" ? raw.split(",").map((s) => s.trim()).filter((s) => s !== "") : raw;
  if (!Array.isArray(list)) throw configError(source, "expected a list of http(s) URLs");
  return list.map((u, i) => asHttpUrl(u, `${source}[${i}]`));
}

const PLANE_KEY_NAMES: Record<
  "read" | "write" | "opl" | "identityPublic" | "identityAdmin" | "oauth2Public" | "oauth2Admin" | "proxy" | "proxyApi",
  string
> = {
  read: "read",
  write: "write",
  opl: "opl",
  identityPublic: "identity.public",
  identityAdmin: "identity.admin",
  oauth2Public: "oauth2.public",
  oauth2Admin: "oauth2.admin",
  proxy: "proxy",
  proxyApi: "proxy.api",
};

function planeKeys(plane: keyof typeof PLANE_KEY_NAMES): KeySpec[] {
  const name = PLANE_KEY_NAMES[plane];
  const upper = name.toUpperCase().replace(".", "_");
  return [
    {
      path: `serve.${name}.host`,
      env: `GATEHOUSE_SERVE_${upper}_HOST`,
      apply: (c, raw, source) => (c.serve[plane].host = asString(raw, source)),
    },
    {
      path: `serve.${name}.port`,
      env: `GATEHOUSE_SERVE_${upper}_PORT`,
      apply: (c, raw, source) => (c.serve[plane].port = asInt(raw, source, 0, 65535)),
    },
  ];
}

/** Every key the configuration accepts. */
const KEYS: readonly KeySpec[] = [
  { path: "dsn", env: "GATEHOUSE_DSN", apply: (c, raw, source) => (c.dsn = parseDsn(asString(raw, source), source)) },
  ...planeKeys("read"),
  ...planeKeys("write"),
  ...planeKeys("opl"),
  ...planeKeys("identityPublic"),
  ...planeKeys("identityAdmin"),
  ...planeKeys("oauth2Public"),
  ...planeKeys("oauth2Admin"),
  ...planeKeys("proxy"),
  ...planeKeys("proxyApi"),
  {
    path: "serve.h2c",
    env: "GATEHOUSE_SERVE_H2C",
    apply: (c, raw, source) => {
      const value = asString(raw, source);
      if (value !== "grpc-js" && value !== "connect") throw configError(source, `expected grpc-js or connect, got "${value}"`);
      c.serve.h2c = value;
    },
  },
  {
    path: "serve.shutdown_timeout_ms",
    env: "GATEHOUSE_SERVE_SHUTDOWN_TIMEOUT_MS",
    apply: (c, raw, source) => (c.serve.shutdownTimeoutMillis = asInt(raw, source, 0, 600_000)),
  },
  {
    path: "serve.write.api_key_hashes",
    env: "GATEHOUSE_SERVE_WRITE_API_KEY_HASHES",
    apply: (c, raw, source) => (c.serve.writeApiKeyHashes = asHashes(raw, source)),
  },
  {
    path: "namespaces.location",
    env: "GATEHOUSE_NAMESPACES_LOCATION",
    apply: (c, raw, source) => (c.namespaces.location = asString(raw, source).replace(/^file:\/\//, "")),
  },
  {
    path: "namespaces.strict",
    env: "GATEHOUSE_NAMESPACES_STRICT",
    apply: (c, raw, source) => (c.namespaces.strict = asBool(raw, source)),
  },
  {
    path: "engine.evaluator_threads",
    env: "GATEHOUSE_ENGINE_EVALUATOR_THREADS",
    apply: (c, raw, source) => (c.engine.evaluatorThreads = asInt(raw, source, 0, 256)),
  },
  {
    path: "engine.check_cache_bytes",
    env: "GATEHOUSE_ENGINE_CHECK_CACHE_BYTES",
    apply: (c, raw, source) => (c.engine.checkCacheBytes = asInt(raw, source, 0, 2 ** 40)),
  },
  {
    path: "engine.quantization_millis",
    env: "GATEHOUSE_ENGINE_QUANTIZATION_MILLIS",
    apply: (c, raw, source) => (c.engine.quantizationMillis = asInt(raw, source, 0, 3_600_000)),
  },
  {
    path: "engine.retention_millis",
    env: "GATEHOUSE_ENGINE_RETENTION_MILLIS",
    apply: (c, raw, source) => (c.engine.retentionMillis = asInt(raw, source, 0, 30 * 86_400_000)),
  },
  {
    path: "identity.public_base_url",
    env: "GATEHOUSE_IDENTITY_PUBLIC_BASE_URL",
    apply: (c, raw, source) => {
      const url = asString(raw, source);
      if (!/^https?:\/\//.test(url)) throw configError(source, `expected an http:// or https:// URL, got "${url}"`);
      c.identity.publicBaseUrl = url.replace(/\/+$/, "");
    },
  },
  {
    path: "identity.schema_location",
    env: "GATEHOUSE_IDENTITY_SCHEMA_LOCATION",
    apply: (c, raw, source) => (c.identity.schemaLocation = asString(raw, source).replace(/^file:\/\//, "")),
  },
  {
    path: "identity.schemas",
    env: "GATEHOUSE_IDENTITY_SCHEMAS",
    apply: (c, raw, source) => {
      // A list of `id=path` strings (comma-separated in the environment) or of {id, path} objects.
      const list = typeof raw === "string" ? raw.split(",").map((x) => x.trim()).filter((x) => x !== "") : raw;
      if (!Array.isArray(list)) throw configError(source, "expected a list of `id=path` entries");
      c.identity.schemas = list.map((entry, i) => {
        const pair =
          typeof entry === "string"
            ? entry.includes("=")
              ? { id: entry.slice(0, entry.indexOf("=")), path: entry.slice(entry.indexOf("=") + 1) }
              : undefined
            : entry !== null && typeof entry === "object"
              ? { id: (entry as Record<string, unknown>)["id"], path: (entry as Record<string, unknown>)["path"] }
              : undefined;
        if (pair === undefined || typeof pair.id !== "string" || !/^[A-Za-z0-9_.-]+$/.test(pair.id) || typeof pair.path !== "string" || pair.path === "") {
          throw configError(`${source}[${i}]`, "expected `id=path` (id: letters, digits, . _ -) or {id, path}");
        }
        return { id: pair.id, path: pair.path.replace(/^file:\/\//, "") };
      });
    },
  },
  {
    path: "identity.default_schema_id",
    env: "GATEHOUSE_IDENTITY_DEFAULT_SCHEMA_ID",
    apply: (c, raw, source) => (c.identity.defaultSchemaId = asString(raw, source)),
  },
  {
    path: "identity.session.lifespan_millis",
    env: "GATEHOUSE_IDENTITY_SESSION_LIFESPAN_MILLIS",
    apply: (c, raw, source) => (c.identity.sessionLifespanMillis = asInt(raw, source, 60_000, 365 * 86_400_000)),
  },
  {
    path: "identity.session.cache_ttl_millis",
    env: "GATEHOUSE_IDENTITY_SESSION_CACHE_TTL_MILLIS",
    apply: (c, raw, source) => (c.identity.sessionCacheTtlMillis = asInt(raw, source, 0, 3_600_000)),
  },
  {
    path: "identity.registration.session_after",
    env: "GATEHOUSE_IDENTITY_REGISTRATION_SESSION_AFTER",
    apply: (c, raw, source) => (c.identity.sessionAfterRegistration = asBool(raw, source)),
  },
  {
    path: "identity.flow.lifespan_millis",
    env: "GATEHOUSE_IDENTITY_FLOW_LIFESPAN_MILLIS",
    apply: (c, raw, source) => (c.identity.flowLifespanMillis = asInt(raw, source, 1_000, 30 * 86_400_000)),
  },
  {
    path: "identity.browser.login_ui_url",
    env: "GATEHOUSE_IDENTITY_BROWSER_LOGIN_UI_URL",
    apply: (c, raw, source) => (c.identity.loginUiUrl = asHttpUrl(raw, source)),
  },
  {
    path: "identity.browser.registration_ui_url",
    env: "GATEHOUSE_IDENTITY_BROWSER_REGISTRATION_UI_URL",
    apply: (c, raw, source) => (c.identity.registrationUiUrl = asHttpUrl(raw, source)),
  },
  {
    path: "identity.browser.default_return_url",
    env: "GATEHOUSE_IDENTITY_BROWSER_DEFAULT_RETURN_URL",
    apply: (c, raw, source) => (c.identity.defaultReturnUrl = asHttpUrl(raw, source)),
  },
  {
    path: "identity.browser.logout_return_url",
    env: "GATEHOUSE_IDENTITY_BROWSER_LOGOUT_RETURN_URL",
    apply: (c, raw, source) => (c.identity.logoutReturnUrl = asHttpUrl(raw, source)),
  },
  {
    path: "identity.browser.allowed_return_urls",
    env: "GATEHOUSE_IDENTITY_BROWSER_ALLOWED_RETURN_URLS",
    apply: (c, raw, source) => (c.identity.allowedReturnUrls = asHttpUrls(raw, source)),
  },
  {
    path: "identity.admin.api_key_hashes",
    env: "GATEHOUSE_IDENTITY_ADMIN_API_KEY_HASHES",
    apply: (c, raw, source) => (c.identity.adminApiKeyHashes = asHashes(raw, source)),
  },
  {
    path: "identity.password.min_length",
    env: "GATEHOUSE_IDENTITY_PASSWORD_MIN_LENGTH",
    apply: (c, raw, source) => (c.identity.passwordMinLength = asInt(raw, source, 6, 72)),
  },
  {
    path: "identity.password.breached_list",
    env: "GATEHOUSE_IDENTITY_PASSWORD_BREACHED_LIST",
    apply: (c, raw, source) => {
      const path = asString(raw, source).trim().replace(/^file:\/\//, "");
      c.identity.passwordBreachedList = path === "" ? undefined : path;
    },
  },
  {
    path: "identity.password.argon2.memory_kib",
    env: "GATEHOUSE_IDENTITY_PASSWORD_ARGON2_MEMORY_KIB",
    apply: (c, raw, source) => (c.identity.argon2MemoryKib = asInt(raw, source, 1_024, 4_194_304)),
  },
  {
    path: "identity.password.argon2.iterations",
    env: "GATEHOUSE_IDENTITY_PASSWORD_ARGON2_ITERATIONS",
    apply: (c, raw, source) => (c.identity.argon2Iterations = asInt(raw, source, 1, 10)),
  },
  {
    path: "identity.password.argon2.parallelism",
    env: "GATEHOUSE_IDENTITY_PASSWORD_ARGON2_PARALLELISM",
    apply: (c, raw, source) => (c.identity.argon2Parallelism = asInt(raw, source, 1, 16)),
  },
  {
    path: "identity.rate_limit.identifier_attempts",
    env: "GATEHOUSE_IDENTITY_RATE_LIMIT_IDENTIFIER_ATTEMPTS",
    apply: (c, raw, source) => (c.identity.rateLimitIdentifierAttempts = asInt(raw, source, 0, 1_000_000)),
  },
  {
    path: "identity.rate_limit.ip_attempts",
    env: "GATEHOUSE_IDENTITY_RATE_LIMIT_IP_ATTEMPTS",
    apply: (c, raw, source) => (c.identity.rateLimitIpAttempts = asInt(raw, source, 0, 1_000_000)),
  },
  {
    path: "identity.rate_limit.trusted_proxy_hops",
    env: "GATEHOUSE_IDENTITY_RATE_LIMIT_TRUSTED_PROXY_HOPS",
    apply: (c, raw, source) => (c.identity.trustedProxyHops = asInt(raw, source, 0, 10)),
  },
  {
    path: "identity.rate_limit.window_millis",
    env: "GATEHOUSE_IDENTITY_RATE_LIMIT_WINDOW_MILLIS",
    apply: (c, raw, source) => (c.identity.rateLimitWindowMillis = asInt(raw, source, 1_000, 86_400_000)),
  },
  {
    path: "identity.registration.web_hook.url",
    env: "GATEHOUSE_IDENTITY_REGISTRATION_WEB_HOOK_URL",
    apply: (c, raw, source) => {
      const url = asString(raw, source);
      if (!/^https?:\/\//.test(url)) throw configError(source, `expected an http:// or https:// URL, got "${url}"`);
      c.identity.registrationWebHook.url = url;
    },
  },
  {
    path: "identity.registration.web_hook.parse",
    env: "GATEHOUSE_IDENTITY_REGISTRATION_WEB_HOOK_PARSE",
    apply: (c, raw, source) => (c.identity.registrationWebHook.parse = asBool(raw, source)),
  },
  {
    path: "identity.registration.web_hook.can_interrupt",
    env: "GATEHOUSE_IDENTITY_REGISTRATION_WEB_HOOK_CAN_INTERRUPT",
    apply: (c, raw, source) => (c.identity.registrationWebHook.canInterrupt = asBool(raw, source)),
  },
  {
    path: "identity.registration.web_hook.ignore",
    env: "GATEHOUSE_IDENTITY_REGISTRATION_WEB_HOOK_IGNORE",
    apply: (c, raw, source) => (c.identity.registrationWebHook.ignore = asBool(raw, source)),
  },
  {
    path: "identity.registration.web_hook.timeout_millis",
    env: "GATEHOUSE_IDENTITY_REGISTRATION_WEB_HOOK_TIMEOUT_MILLIS",
    apply: (c, raw, source) => (c.identity.registrationWebHook.timeoutMillis = asInt(raw, source, 100, 120_000)),
  },
  {
    path: "identity.registration.web_hook.auth_header",
    env: "GATEHOUSE_IDENTITY_REGISTRATION_WEB_HOOK_AUTH_HEADER",
    apply: (c, raw, source) => {
      const text = asString(raw, source);
      if (!/^[A-Za-z0-9-]+:\s*\S/.test(text)) throw configError(source, "expected `Header-Name: value`");
      c.identity.registrationWebHook.authHeader = text;
    },
  },
  {
    path: "oauth2.issuer",
    env: "GATEHOUSE_OAUTH2_ISSUER",
    apply: (c, raw, source) => (c.oauth2.issuer = asHttpUrl(raw, source).replace(/\/+$/, "")),
  },
  { path: "oauth2.urls.login", env: "GATEHOUSE_OAUTH2_URLS_LOGIN", apply: (c, raw, source) => (c.oauth2.loginUrl = asHttpUrl(raw, source)) },
  { path: "oauth2.urls.consent", env: "GATEHOUSE_OAUTH2_URLS_CONSENT", apply: (c, raw, source) => (c.oauth2.consentUrl = asHttpUrl(raw, source)) },
  { path: "oauth2.urls.logout", env: "GATEHOUSE_OAUTH2_URLS_LOGOUT", apply: (c, raw, source) => (c.oauth2.logoutUrl = asHttpUrl(raw, source)) },
  {
    path: "oauth2.secrets.system",
    env: "GATEHOUSE_OAUTH2_SECRETS_SYSTEM",
    apply: (c, raw, source) => {
      const list = typeof raw === "string" ? raw.split(",").map((s) => s.trim()).filter((s) => s !== "") : raw;
      if (!Array.isArray(list)) throw configError(source, "expected a list of secrets (at least 16 characters each)");
      c.oauth2.systemSecrets = list.map((secret, i) => {
        if (typeof secret !== "string" || secret.length < 16) throw configError(`${source}[${i}]`, "a system secret needs at least 16 characters");
        return secret;
      });
    },
  },
  {
    path: "oauth2.token_prefix",
    env: "GATEHOUSE_OAUTH2_TOKEN_PREFIX",
    apply: (c, raw, source) => {
      const prefix = asString(raw, source);
      if (!/^[a-z][a-z0-9]{0,15}$/.test(prefix)) throw configError(source, `expected 1 to 16 lowercase letters or digits starting with a letter, got "${prefix}"`);
      c.oauth2.tokenPrefix = prefix;
    },
  },
  ...(
    [
      ["access_token", "accessTokenLifespanMillis", 60_000],
      ["refresh_token", "refreshTokenLifespanMillis", 60_000],
      ["id_token", "idTokenLifespanMillis", 60_000],
      ["auth_code", "authCodeLifespanMillis", 10_000],
      ["login_consent_request", "loginConsentRequestLifespanMillis", 60_000],
      ["authentication_session", "authenticationSessionLifespanMillis", 60_000],
    ] as const
  ).map(
    ([name, field, min]): KeySpec => ({
      path: `oauth2.ttl.${name}_millis`,
      env: `GATEHOUSE_OAUTH2_TTL_${name.toUpperCase()}_MILLIS`,
      apply: (c, raw, source) => (c.oauth2[field] = asInt(raw, source, min, 10 * 365 * 86_400_000)),
    }),
  ),
  { path: "oauth2.pkce.enforced", env: "GATEHOUSE_OAUTH2_PKCE_ENFORCED", apply: (c, raw, source) => (c.oauth2.pkceEnforced = asBool(raw, source)) },
  {
    path: "oauth2.client_secret.pbkdf2_iterations",
    env: "GATEHOUSE_OAUTH2_CLIENT_SECRET_PBKDF2_ITERATIONS",
    apply: (c, raw, source) => (c.oauth2.clientSecretIterations = asInt(raw, source, 1_000, 10_000_000)),
  },
  { path: "oauth2.claims.email", env: "GATEHOUSE_OAUTH2_CLAIMS_EMAIL", apply: (c, raw, source) => (c.oauth2.emailClaimTrait = asString(raw, source)) },
  { path: "oauth2.claims.name", env: "GATEHOUSE_OAUTH2_CLAIMS_NAME", apply: (c, raw, source) => (c.oauth2.nameClaimTrait = asString(raw, source)) },
  {
    path: "oauth2.admin.api_key_hashes",
    env: "GATEHOUSE_OAUTH2_ADMIN_API_KEY_HASHES",
    apply: (c, raw, source) => (c.oauth2.adminApiKeyHashes = asHashes(raw, source)),
  },
  { path: "oauth2.trust_proxy", env: "GATEHOUSE_OAUTH2_TRUST_PROXY", apply: (c, raw, source) => (c.oauth2.trustProxy = asBool(raw, source)) },
  {
    path: "oauth2.http.disallow_private_ip_ranges",
    env: "GATEHOUSE_OAUTH2_HTTP_DISALLOW_PRIVATE_IP_RANGES",
    apply: (c, raw, source) => (c.oauth2.disallowPrivateIpRanges = asBool(raw, source)),
  },
  {
    path: "redis.url",
    env: "GATEHOUSE_REDIS_URL",
    apply: (c, raw, source) => {
      const url = asString(raw, source);
      if (!/^rediss?:\/\//.test(url)) throw configError(source, `expected redis://… or rediss://…, got "${redact(url)}"`);
      c.redis.url = url;
    },
  },
  {
    path: "redis.key_prefix",
    env: "GATEHOUSE_REDIS_KEY_PREFIX",
    apply: (c, raw, source) => (c.redis.keyPrefix = asString(raw, source)),
  },
  {
    path: "replication.poll_interval_millis",
    env: "GATEHOUSE_REPLICATION_POLL_INTERVAL_MILLIS",
    apply: (c, raw, source) => (c.replication.pollIntervalMillis = asInt(raw, source, 10, 600_000)),
  },
  {
    path: "replication.snaptoken_wait_millis",
    env: "GATEHOUSE_REPLICATION_SNAPTOKEN_WAIT_MILLIS",
    apply: (c, raw, source) => (c.replication.snaptokenWaitMillis = asInt(raw, source, 0, 600_000)),
  },
  {
    path: "changelog.retention_millis",
    env: "GATEHOUSE_CHANGELOG_RETENTION_MILLIS",
    apply: (c, raw, source) => (c.changelog.retentionMillis = asInt(raw, source, 0, 365 * 86_400_000)),
  },
  {
    path: "changelog.gc_interval_millis",
    env: "GATEHOUSE_CHANGELOG_GC_INTERVAL_MILLIS",
    apply: (c, raw, source) => (c.changelog.gcIntervalMillis = asInt(raw, source, 0, 86_400_000)),
  },
  {
    path: "watch.send_timeout_millis",
    env: "GATEHOUSE_WATCH_SEND_TIMEOUT_MILLIS",
    apply: (c, raw, source) => (c.watch.sendTimeoutMillis = asInt(raw, source, 100, 3_600_000)),
  },
  {
    path: "limit.max_read_depth",
    env: "GATEHOUSE_LIMIT_MAX_READ_DEPTH",
    apply: (c, raw, source) => (c.limit.maxReadDepth = asInt(raw, source, 1, 65535)),
  },
  {
    path: "limit.max_batch_check_size",
    env: "GATEHOUSE_LIMIT_MAX_BATCH_CHECK_SIZE",
    apply: (c, raw, source) => (c.limit.maxBatchCheckSize = asInt(raw, source, 1, 100_000)),
  },
  {
    path: "limit.keto_max_batch_check_size",
    env: "GATEHOUSE_LIMIT_KETO_MAX_BATCH_CHECK_SIZE",
    apply: (c, raw, source) => (c.limit.ketoMaxBatchCheckSize = asInt(raw, source, 1, 100_000)),
  },
  ...proxyKeys(),
];

/** A map-valued setting: from YAML as is, from the environment as JSON. */
function asMap(raw: unknown, source: string): Record<string, unknown> {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      throw configError(source, "expected a JSON object");
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw configError(source, "expected a map");
  return value as Record<string, unknown>;
}

function asStringList(raw: unknown, source: string): string[] {
  const list = typeof raw === "string" ? raw.split(",").map((x) => x.trim()).filter((x) => x !== "") : raw;
  if (!Array.isArray(list) || !list.every((x) => typeof x === "string")) throw configError(source, "expected a list of strings");
  return list as string[];
}

function proxyKeys(): KeySpec[] {
  const stage = (name: "authenticators" | "authorizers" | "mutators" | "errors"): KeySpec => ({
    path: `proxy.${name}`,
    env: `GATEHOUSE_PROXY_${name.toUpperCase()}`,
    subtree: true,
    apply: (c, raw, source) => (c.proxy[name] = asMap(raw, source)),
  });
  return [
    {
      path: "proxy.access_rules.repositories",
      env: "GATEHOUSE_PROXY_ACCESS_RULES_REPOSITORIES",
      apply: (c, raw, source) => (c.proxy.ruleSources = asStringList(raw, source)),
    },
    {
      path: "proxy.access_rules.matching_strategy",
      env: "GATEHOUSE_PROXY_ACCESS_RULES_MATCHING_STRATEGY",
      apply: (c, raw, source) => {
        const value = asString(raw, source);
        if (value !== "regexp" && value !== "glob") throw configError(source, `expected regexp or glob, got "${value}"`);
        c.proxy.matchingStrategy = value;
      },
    },
    { path: "proxy.access_rules.watch", env: "GATEHOUSE_PROXY_ACCESS_RULES_WATCH", apply: (c, raw, source) => (c.proxy.watchRules = asBool(raw, source)) },
    {
      path: "proxy.trusted_proxies",
      env: "GATEHOUSE_PROXY_TRUSTED_PROXIES",
      apply: (c, raw, source) => (c.proxy.trustedProxies = asStringList(raw, source)),
    },
    {
      path: "proxy.decisions.trusted_proxies",
      env: "GATEHOUSE_PROXY_DECISIONS_TRUSTED_PROXIES",
      apply: (c, raw, source) => (c.proxy.decisionsTrustedProxies = asStringList(raw, source)),
    },
    stage("authenticators"),
    stage("authorizers"),
    stage("mutators"),
    stage("errors"),
    {
      path: "proxy.permissions.url",
      env: "GATEHOUSE_PROXY_PERMISSIONS_URL",
      apply: (c, raw, source) => (c.proxy.permissionsUrl = asHttpUrl(raw, source)),
    },
    {
      path: "proxy.cache.max_entries",
      env: "GATEHOUSE_PROXY_CACHE_MAX_ENTRIES",
      apply: (c, raw, source) => (c.proxy.cacheMaxEntries = asInt(raw, source, 1, 10_000_000)),
    },
    { path: "proxy.cache.redis", env: "GATEHOUSE_PROXY_CACHE_REDIS", apply: (c, raw, source) => (c.proxy.cacheInRedis = asBool(raw, source)) },
    {
      path: "proxy.outbound.timeout_millis",
      env: "GATEHOUSE_PROXY_OUTBOUND_TIMEOUT_MILLIS",
      apply: (c, raw, source) => (c.proxy.outboundTimeoutMillis = asInt(raw, source, 10, 600_000)),
    },
  ];
}

/** Every dotted path of a parsed YAML document's leaves (lists, and the maps at `subtrees`, count as leaves). */
function leaves(value: unknown, subtrees: ReadonlySet<string>, prefix = ""): [string, unknown][] {
  if (value === null || typeof value !== "object" || Array.isArray(value) || subtrees.has(prefix)) return [[prefix, value]];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leaves(v, subtrees, prefix === "" ? k : `${prefix}.${k}`));
}

/** Inputs of `loadConfig`. */
export interface ConfigSources {
  /** A YAML config file. */
  file?: string;
  /** Environment variables (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Values from flags, by dotted path (e.g. `{"dsn": "memory"}`); they win over everything. */
  flags?: Readonly<Record<string, unknown>>;
}

/** Builds the configuration from defaults, file, environment and flags, in that order. */
export function loadConfig(sources: ConfigSources = {}): GatehouseConfig {
  const config = defaultConfig();
  const byPath = new Map(KEYS.map((k) => [k.path, k]));
  if (sources.file !== undefined) {
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(sources.file, "utf8"));
    } catch (err) {
      throw configError(sources.file, (err as Error).message.split("\n")[0] ?? "unreadable");
    }
    if (doc !== null && doc !== undefined) {
      for (const [path, raw] of leaves(doc, new Set(KEYS.filter((k) => k.subtree === true).map((k) => k.path)))) {
        const key = byPath.get(path);
        if (key === undefined) {
          throw configError(`${sources.file}: ${path}`, `unknown key (known keys: ${KEYS.map((k) => k.path).join(", ")})`);
        }
        key.apply(config, raw, `${sources.file}: ${path}`);
      }
    }
  }
  const env = sources.env ?? process.env;
  for (const key of KEYS) {
    const raw = env[key.env];
    if (raw !== undefined && raw !== "") key.apply(config, raw, key.env);
  }
  for (const [path, raw] of Object.entries(sources.flags ?? {})) {
    if (raw === undefined) continue;
    const key = byPath.get(path);
    if (key === undefined) throw configError(`--${path}`, "unknown setting");
    key.apply(config, raw, `--${path.replace(/\./g, "-")}`);
  }
  return config;
}

/** The documented keys, for `gatehouse serve --help` and the README. */
export function describeConfigKeys(): { path: string; env: string }[] {
  return KEYS.map((k) => ({ path: k.path, env: k.env }));
}
