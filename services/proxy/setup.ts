/**
 * Builds the gateway from the server configuration: its dependencies (outbound HTTP client, credential cache
 * in memory or Redis, the permission checker, the id_token keys), its handler settings, and its planes.
 */
import type { Redis } from "ioredis";
import type { PermissionEngine } from "../../engine/permission-engine.js";
import type { ServerMetrics } from "../../gateways/observability/metrics.js";
import { trustedProxies } from "./front/forwarded.js";
import { engineChecker, remoteChecker } from "./pipeline/authorizers/permission-checkers.js";
import type { CredentialCache } from "./pipeline/credential-cache.js";
import type { PermissionChecker } from "./pipeline/deps.js";
import { createMemoryCredentialCache } from "./pipeline/memory-credential-cache.js";
import { createSigningKeySource } from "./pipeline/mutators/signing-keys.js";
import { createOutboundHttp } from "./pipeline/outbound-http.js";
import { createRedisCredentialCache } from "./pipeline/redis-credential-cache.js";
import { defaultHandlerSettings, pipelineSettingsOf, type LocalServiceUrls, type RawHandlerSettings } from "./proxy-settings.js";
import { startProxyPlanes, type ProxyPlanes } from "./proxy-service.js";

/** The proxy part of the server configuration (`GatehouseConfig["proxy"]` plus the listeners). */
export interface ProxySetupConfig extends RawHandlerSettings {
  readonly proxy: { readonly host: string; readonly port: number };
  readonly api: { readonly host: string; readonly port: number };
  readonly ruleSources: readonly string[];
  readonly matchingStrategy: "regexp" | "glob";
  readonly watchRules: boolean;
  readonly trustedProxies: readonly string[];
  readonly decisionsTrustedProxies: readonly string[];
  readonly permissionsUrl: string | undefined;
  readonly cacheMaxEntries: number;
  readonly outboundTimeoutMillis: number;
}

export interface ProxySetupOptions {
  readonly config: ProxySetupConfig;
  readonly urls: LocalServiceUrls;
  /** The engine of this process (the `permission` authorizer's checker unless `permissionsUrl` is set). */
  readonly engine?: Pick<PermissionEngine, "check">;
  /** Shared credential cache in Redis (when configured). */
  readonly redis?: { readonly client: Redis; readonly keyPrefix: string };
  readonly log: (line: string) => void;
  readonly metrics?: ServerMetrics;
  readonly shutdownTimeoutMillis?: number;
}

export async function startProxy(options: ProxySetupOptions): Promise<ProxyPlanes> {
  const { config, log } = options;
  const settings = pipelineSettingsOf(config, defaultHandlerSettings(options.urls));
  const http = createOutboundHttp({ timeoutMillis: config.outboundTimeoutMillis });
  const memory = createMemoryCredentialCache({ maxEntries: config.cacheMaxEntries });
  const cache: CredentialCache =
    options.redis === undefined
      ? memory
      : createRedisCredentialCache({ redis: options.redis.client, keyPrefix: options.redis.keyPrefix, log, fallback: memory });
  let remote: (PermissionChecker & { close(): void }) | undefined;
  let permissions: PermissionChecker | undefined;
  if (config.permissionsUrl !== undefined) permissions = remote = remoteChecker({ url: config.permissionsUrl });
  else if (options.engine !== undefined) permissions = engineChecker(options.engine);
  const signingKeys = createSigningKeySource({ http, log, ownKeys: "generate" });
  try {
    const planes = await startProxyPlanes({
      proxy: config.proxy,
      api: config.api,
      ruleSources: config.ruleSources,
      matchingStrategy: config.matchingStrategy,
      watchRules: config.watchRules,
      settings,
      deps: { http, cache, ...(permissions === undefined ? {} : { permissions }), signingKeys, log },
      proxyTrustedProxies: trustedProxies(config.trustedProxies, "proxy.trusted_proxies"),
      decisionsTrustedProxies: trustedProxies(config.decisionsTrustedProxies, "proxy.decisions.trusted_proxies"),
      log,
      ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
      ...(options.shutdownTimeoutMillis === undefined ? {} : { shutdownTimeoutMillis: options.shutdownTimeoutMillis }),
    });
    return {
      ...planes,
      async close() {
        await planes.close();
        remote?.close();
      },
    };
  } catch (error) {
    remote?.close();
    await http.close();
    throw error;
  }
}
