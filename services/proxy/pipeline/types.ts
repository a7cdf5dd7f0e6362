/**
 * The contract of the access pipeline (Oathkeeper's `pipeline/*`): the request as every front door hands it
 * over, the session the handlers build, the prepared handlers of one rule, and what the pipeline decides.
 *
 * Handlers are prepared once per rule when a rule set is loaded (configuration merged, validated, templates
 * compiled), so a bad handler configuration refuses the rule set instead of failing requests, and the request
 * path does no parsing.
 */
import type { GatehouseError } from "../../../common/errors.js";
import type { AccessRule, MatchingStrategy } from "../rules/rule.js";

/** Header map with lower-case names, as node:http gives it. */
export type HeaderMap = Readonly<Record<string, string | readonly string[] | undefined>>;

/** The request being decided, reconstructed by the front door (proxy, decisions API, ext_authz). */
export interface PipelineRequest {
  /** Upper-case method. */
  readonly method: string;
  /** `scheme://host/path?query` as the client addressed it (the matcher drops the query). */
  readonly url: URL;
  readonly headers: HeaderMap;
  /** The client's IP address (after trusted `X-Forwarded-For` handling). */
  readonly remoteAddress: string;
}

/** What the matched rule captured and the request it matched (`.MatchContext` in templates). */
export interface MatchContext {
  readonly regexpCaptureGroups: readonly string[];
  readonly url: URL;
  readonly method: string;
  readonly header: HeaderMap;
}

/** Oathkeeper's `AuthenticationSession`, built by the authenticator and read/extended by later handlers. */
export interface AuthenticationSession {
  subject: string;
  extra: Record<string, unknown>;
  /** Headers to set on the forwarded request (mutators write here; lower-case or canonical names). */
  header: Record<string, string>;
  readonly matchContext: MatchContext;
}

/** Where a handler's configuration sits, for error messages, and the rule set's matching strategy. */
export interface PrepareContext {
  /** e.g. `rule "api" authenticators[1] (cookie_session)`. */
  readonly where: string;
  readonly strategy: MatchingStrategy;
}

/** A prepared authenticator: throws `NotResponsibleError` to hand over to the next one. */
export interface PreparedAuthenticator {
  authenticate(request: PipelineRequest, session: AuthenticationSession): Promise<void>;
}

/** A prepared authorizer: returns to allow, throws (`ForbiddenError`, or another error) to refuse. */
export interface PreparedAuthorizer {
  authorize(request: PipelineRequest, session: AuthenticationSession): Promise<void>;
}

/** A prepared mutator: changes `session.header` (and may add to `session.extra`). */
export interface PreparedMutator {
  mutate(request: PipelineRequest, session: AuthenticationSession): Promise<void>;
}

/** The response an error handler answers a refused request with. */
export interface DenialResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A prepared error handler. */
export interface PreparedErrorHandler {
  /** Whether its `when` clauses select this error for this request. */
  matches(error: GatehouseError, request: PipelineRequest): boolean;
  handle(error: GatehouseError, request: PipelineRequest): DenialResponse;
}

/**
 * A handler of one stage by name. `prepare` gets the global configuration with the rule's deep-merged over it,
 * validates it (throwing `InvalidArgumentError` naming `context.where` and the key) and returns the prepared
 * handler.
 */
export interface HandlerFactory<Prepared> {
  readonly name: string;
  prepare(config: Readonly<Record<string, unknown>>, context: PrepareContext): Prepared;
}

/** The pipeline's answer. */
export type Decision =
  | {
      readonly kind: "allow";
      readonly rule: AccessRule;
      readonly session: AuthenticationSession;
      /** Headers to set on the forwarded request (the session's after the mutators). */
      readonly headers: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: "deny";
      /** Undefined when no rule matched (or several did). */
      readonly rule: AccessRule | undefined;
      readonly error: GatehouseError;
      readonly response: DenialResponse;
    };

/** The pipeline every front door calls: match a rule, run its handlers, answer. */
export interface AccessPipeline {
  /** Never throws: every failure becomes a `deny` with the error handlers' response. */
  decide(request: PipelineRequest): Promise<Decision>;
}
