/**
 * The enforcement gateway (Oathkeeper's job): access rules from files, hot-reloaded; one access pipeline;
 * three front doors over it — the reverse proxy (default 4455), and on the API port (default 4456) the
 * decisions API, Envoy's gRPC `envoy.service.auth.v3.Authorization/Check`, `GET /rules[/{id}]`, the id_token
 * JWKS, health and metrics.
 */
import type { AddressInfo } from "node:net";
import { Counter, Histogram } from "prom-client";
import type { ServerMetrics } from "../../gateways/observability/metrics.js";
import { createPlaneServer, type PlaneServer } from "../../gateways/server/plane-server.js";
import { createApiRoutes } from "./front/decisions-api.js";
import { createExtAuthzService } from "./front/ext-authz.js";
import type { TrustedProxies } from "./front/forwarded.js";
import { createReverseProxy, type ReverseProxy } from "./front/reverse-proxy.js";
import type { PipelineDeps } from "./pipeline/deps.js";
import type { PipelineSettings } from "./pipeline/handler-settings.js";
import { createAccessPipeline, knownHandlersOf, prepareRuleSet, type PreparedRuleSet } from "./pipeline/pipeline.js";
import { createHandlerRegistry } from "./pipeline/registry.js";
import type { Decision } from "./pipeline/types.js";
import { createRuleRepository, type RuleRepository } from "./rules/rule-repository.js";
import type { MatchingStrategy } from "./rules/rule.js";

export interface ProxyPlanesOptions {
  readonly proxy: { readonly host: string; readonly port: number };
  readonly api: { readonly host: string; readonly port: number };
  /** Rule files and directories (`access_rules.repositories`). */
  readonly ruleSources: readonly string[];
  readonly matchingStrategy?: MatchingStrategy;
  /** Reload rules when their files change (default true). */
  readonly watchRules?: boolean;
  readonly settings: PipelineSettings;
  readonly deps: PipelineDeps;
  /** Peers whose `X-Forwarded-*` the reverse proxy believes. */
  readonly proxyTrustedProxies: TrustedProxies;
  /** Peers whose `X-Forwarded-*` describe the request on the decisions API. */
  readonly decisionsTrustedProxies: TrustedProxies;
  readonly log: (line: string) => void;
  readonly metrics?: ServerMetrics;
  readonly shutdownTimeoutMillis?: number;
}

export interface ProxyPlanes {
  readonly ports: { readonly proxy: number; readonly api: number };
  readonly rules: RuleRepository;
  close(): Promise<void>;
}

function decisionMetrics(metrics: ServerMetrics): (decision: Decision, millis: number) => void {
  const decisions = new Counter({
    name: "gatehouse_proxy_decisions_total",
    help: "Access decisions of the gateway, by rule, outcome and HTTP status.",
    labelNames: ["rule", "outcome", "status"] as const,
    registers: [metrics.registry],
  });
  const duration = new Histogram({
    name: "gatehouse_proxy_decision_duration_seconds",
    help: "Time the access pipeline took per decision, by rule.",
    labelNames: ["rule"] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [metrics.registry],
  });
  // prom-client hashes label values on every call; the bound children are looked up by one string instead.
  const children = new Map<string, { readonly count: { inc(): void }; readonly time: { observe(seconds: number): void } }>();
  return (decision, millis) => {
    const rule = decision.rule?.id ?? "";
    const status = String(decision.kind === "allow" ? 200 : decision.response.status);
    const key = `${rule}\u0000${decision.kind}\u0000${status}`;
    let child = children.get(key);
    if (child === undefined) {
      child = { count: decisions.labels(rule, decision.kind, status), time: duration.labels(rule) };
      children.set(key, child);
    }
    child.count.inc();
    child.time.observe(millis / 1000);
  };
}

export async function startProxyPlanes(options: ProxyPlanesOptions): Promise<ProxyPlanes> {
  const { log } = options;
  const strategy = options.matchingStrategy ?? "regexp";
  const registry = createHandlerRegistry(options.deps);
  let current: PreparedRuleSet | undefined;
  const rules = createRuleRepository({
    sources: options.ruleSources,
    knownHandlers: knownHandlersOf(registry),
    watch: options.watchRules ?? true,
    log,
    accept: (candidate) => {
      current = prepareRuleSet(candidate, { settings: options.settings, registry, strategy });
    },
  });
  await rules.load();
  const observe = options.metrics === undefined ? undefined : decisionMetrics(options.metrics);
  const pipeline = createAccessPipeline({
    ruleSet: () => current as PreparedRuleSet,
    log,
    ...(observe === undefined ? {} : { onDecision: observe }),
  });

  const proxy: ReverseProxy = createReverseProxy({ pipeline, trustedProxies: options.proxyTrustedProxies, log });
  const api: PlaneServer = createPlaneServer({
    ...options.api,
    plane: "proxy-api",
    http: createApiRoutes({
      pipeline,
      trustedProxies: options.decisionsTrustedProxies,
      rules: () => rules.rules(),
      rule: (id) => rules.get(id),
      ...(options.deps.signingKeys === undefined ? {} : { signingKeys: options.deps.signingKeys }),
    }),
    services: [createExtAuthzService({ pipeline })],
    ...(options.metrics === undefined ? {} : { metrics: options.metrics, serveMetrics: true }),
    ...(options.shutdownTimeoutMillis === undefined ? {} : { shutdownTimeoutMillis: options.shutdownTimeoutMillis }),
    readinessDetails: () => ({ rules: rules.rules().length, rule_reloads: rules.reloads, ...(rules.lastError === undefined ? {} : { rule_reload_error: rules.lastError }) }),
  });
  let apiPort: number;
  try {
    apiPort = (await api.listen()).port;
    await new Promise<void>((resolve, reject) => {
      proxy.server.once("error", reject);
      proxy.server.listen(options.proxy.port, options.proxy.host, () => {
        proxy.server.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    await api.close();
    await rules.close();
    throw error;
  }
  const proxyPort = (proxy.server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    ports: { proxy: proxyPort, api: apiPort },
    rules,
    close() {
      closing ??= (async () => {
        const proxyClosed = new Promise<void>((resolve) => proxy.server.close(() => resolve()));
        proxy.server.closeIdleConnections();
        proxy.destroyUpgraded();
        const timer = setTimeout(() => proxy.server.closeAllConnections(), options.shutdownTimeoutMillis ?? 10_000);
        timer.unref();
        await Promise.all([proxyClosed, api.close()]);
        clearTimeout(timer);
        await proxy.closePools();
        await rules.close();
        await options.deps.http.close();
      })();
      return closing;
    },
  };
}
