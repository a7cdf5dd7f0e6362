/**
 * The access pipeline (Oathkeeper's `proxy/request_handler.go`), one implementation behind the reverse proxy,
 * the decisions API and Envoy's ext_authz: match one rule, try its authenticators in order until one is
 * responsible, require every authorizer to allow, run the mutators, and answer refusals through the first error
 * handler whose `when` selects the error (the rule's, then the global fallback).
 *
 * A rule set is prepared as a whole when it is loaded (`prepareRuleSet`): unknown or disabled handlers and
 * bad handler configuration refuse the set, so requests never meet a half-configured rule.
 */
import { GatehouseError, InternalError, toGatehouseError } from "../../../common/errors.js";
import { createRuleMatcher, matchableUrl, type RuleMatcher } from "../rules/matcher.js";
import type { AccessRule, HandlerConfig, MatchingStrategy } from "../rules/rule.js";
import { jsonDenial } from "./error-handlers/error-handlers.js";
import { NotResponsibleError, UnauthorizedError } from "./errors.js";
import { mergeHandlerConfig, type PipelineSettings, type StageSettings } from "./handler-settings.js";
import type {
  AccessPipeline,
  AuthenticationSession,
  Decision,
  HandlerFactory,
  PipelineRequest,
  PreparedAuthenticator,
  PreparedAuthorizer,
  PreparedErrorHandler,
  PreparedMutator,
} from "./types.js";

/** Every handler the gateway implements, per stage. */
export interface HandlerRegistry {
  readonly authenticators: readonly HandlerFactory<PreparedAuthenticator>[];
  readonly authorizers: readonly HandlerFactory<PreparedAuthorizer>[];
  readonly mutators: readonly HandlerFactory<PreparedMutator>[];
  readonly errors: readonly HandlerFactory<PreparedErrorHandler>[];
}

interface Named<P> {
  readonly name: string;
  readonly handler: P;
}

/** A rule with its handlers prepared. */
export interface PreparedRule {
  readonly rule: AccessRule;
  readonly authenticators: readonly Named<PreparedAuthenticator>[];
  readonly authorizers: readonly Named<PreparedAuthorizer>[];
  readonly mutators: readonly Named<PreparedMutator>[];
  readonly errors: readonly PreparedErrorHandler[];
}

/** A loaded rule set: the matcher and every rule prepared. Immutable; replaced as a whole on reload. */
export interface PreparedRuleSet {
  readonly matcher: RuleMatcher;
  readonly rules: ReadonlyMap<string, PreparedRule>;
  /** `errors.fallback`, prepared with the global configuration. */
  readonly fallback: readonly PreparedErrorHandler[];
}

export interface PrepareRuleSetOptions {
  readonly settings: PipelineSettings;
  readonly registry: HandlerRegistry;
  readonly strategy: MatchingStrategy;
}

type Stage = "authenticators" | "authorizers" | "mutators" | "errors";

const STAGE_NOUN: Record<Stage, string> = {
  authenticators: "authenticator",
  authorizers: "authorizer",
  mutators: "mutator",
  errors: "error handler",
};

/** Handler names per stage, for the rule parser's check. */
export function knownHandlersOf(registry: HandlerRegistry): Record<Stage, string[]> {
  return {
    authenticators: registry.authenticators.map((f) => f.name),
    authorizers: [...registry.authorizers.map((f) => f.name)],
    mutators: registry.mutators.map((f) => f.name),
    errors: registry.errors.map((f) => f.name),
  };
}

function prepareHandler<P>(
  stage: Stage,
  factories: readonly HandlerFactory<P>[],
  settings: StageSettings,
  config: HandlerConfig,
  where: string,
  strategy: MatchingStrategy,
): P {
  const factory = factories.find((f) => f.name === config.handler);
  if (factory === undefined) {
    throw new GatehouseError("invalid_argument", `${where}: unknown ${STAGE_NOUN[stage]} "${config.handler}"`, {
      reason: "unknown_handler",
      details: { field: `${stage}.handler` },
    });
  }
  const setting = settings[config.handler];
  if (setting === undefined || !setting.enabled) {
    throw new GatehouseError(
      "invalid_argument",
      `${where}: the ${STAGE_NOUN[stage]} "${config.handler}" is not enabled (set ${stage}.${config.handler}.enabled: true in the proxy configuration)`,
      { reason: "handler_disabled", details: { field: `${stage}.${config.handler}.enabled` } },
    );
  }
  return factory.prepare(mergeHandlerConfig(setting.config, config.config), { where, strategy });
}

/** Prepares every rule; throws `InvalidArgumentError`-coded errors naming the rule, the handler and the key. */
export function prepareRuleSet(rules: readonly AccessRule[], options: PrepareRuleSetOptions): PreparedRuleSet {
  const { settings, registry, strategy } = options;
  const prepared = new Map<string, PreparedRule>();
  for (const rule of rules) {
    const stage = <P>(name: Stage, factories: readonly HandlerFactory<P>[], list: readonly HandlerConfig[]): Named<P>[] =>
      list.map((config, i) => ({
        name: config.handler,
        handler: prepareHandler(name, factories, settings[name], config, `rule "${rule.id}" ${name}[${i}] (${config.handler})`, strategy),
      }));
    prepared.set(rule.id, {
      rule,
      authenticators: stage("authenticators", registry.authenticators, rule.authenticators),
      authorizers: stage("authorizers", registry.authorizers, rule.authorizers),
      mutators: stage("mutators", registry.mutators, rule.mutators),
      errors: stage("errors", registry.errors, rule.errors).map((n) => n.handler),
    });
  }
  const fallback = settings.errorsFallback.map((name, i) =>
    prepareHandler("errors", registry.errors, settings.errors, { handler: name }, `errors.fallback[${i}] (${name})`, strategy),
  );
  return { matcher: createRuleMatcher(rules, strategy), rules: prepared, fallback };
}

/** What the pipeline reports per decision (metrics, logs). */
export interface DecisionObserver {
  (decision: Decision, durationMillis: number): void;
}

export interface AccessPipelineOptions {
  /** The current rule set (read per request, so a reload takes effect at once). */
  readonly ruleSet: () => PreparedRuleSet;
  /** Unexpected failures (handler bugs, not refusals) go here, with the rule id. */
  readonly log: (line: string) => void;
  readonly onDecision?: DecisionObserver;
}

export function createAccessPipeline(options: AccessPipelineOptions): AccessPipeline {
  const { log } = options;

  function deny(set: PreparedRuleSet, prepared: PreparedRule | undefined, raw: unknown, request: PipelineRequest): Decision {
    const error = toGatehouseError(raw);
    // Operators need to see failures of the gateway and of the services it consults; refusals are normal.
    if (error.code === "internal" || error.code === "unavailable") {
      log(`proxy: ${prepared === undefined ? "" : `rule "${prepared.rule.id}": `}${describeUnexpected(raw)}`);
    }
    const handlers = [...(prepared?.errors ?? []), ...set.fallback];
    for (const handler of handlers) {
      if (handler.matches(error, request)) {
        return { kind: "deny", rule: prepared?.rule, error, response: handler.handle(error, request) };
      }
    }
    return { kind: "deny", rule: prepared?.rule, error, response: jsonDenial(error, false) };
  }

  async function run(request: PipelineRequest): Promise<Decision> {
    const set = options.ruleSet();
    let prepared: PreparedRule | undefined;
    try {
      const url = request.url;
      const match = set.matcher.match({
        method: request.method,
        url: matchableUrl(url.protocol.slice(0, -1), url.host, url.pathname),
        headers: request.headers,
      });
      prepared = set.rules.get(match.rule.id);
      if (prepared === undefined) throw new InternalError(`rule "${match.rule.id}" matched but was not prepared`);
      const session: AuthenticationSession = {
        subject: "",
        extra: {},
        header: {},
        matchContext: { regexpCaptureGroups: match.captures, url, method: request.method, header: request.headers },
      };
      let authenticated = false;
      for (const { handler } of prepared.authenticators) {
        try {
          await handler.authenticate(request, session);
          authenticated = true;
          break;
        } catch (error) {
          if (error instanceof NotResponsibleError) continue;
          throw error;
        }
      }
      if (!authenticated) throw new UnauthorizedError("Access credentials are invalid", { reason: "no_authenticator_responsible" });
      for (const { handler } of prepared.authorizers) await handler.authorize(request, session);
      for (const { handler } of prepared.mutators) await handler.mutate(request, session);
      return { kind: "allow", rule: prepared.rule, session, headers: session.header };
    } catch (error) {
      return deny(set, prepared, error, request);
    }
  }

  return {
    async decide(request) {
      const started = performance.now();
      const decision = await run(request);
      options.onDecision?.(decision, performance.now() - started);
      return decision;
    },
  };
}

function describeUnexpected(error: unknown): string {
  if (error instanceof GatehouseError) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
