/**
 * An access rule in Oathkeeper's shape (`rule/rule.go`), as read from JSON or YAML rule files: which requests
 * it matches, and the pipeline that decides them (authenticators, authorizers, mutators, error handlers),
 * plus the upstream the reverse proxy forwards to.
 *
 * Gatehouse extends the format compatibly: `match.headers` (header values a request must carry),
 * `authorizers` (several, all must allow; `authorizer` is the Oathkeeper single form) and `priority`
 * (a higher number wins when several rules match; equal priorities are ambiguous, as in Oathkeeper).
 */

/** One pipeline step: a handler name and its per-rule configuration (merged over the global one). */
export interface HandlerConfig {
  readonly handler: string;
  readonly config?: Readonly<Record<string, unknown>>;
}

/** `match` of a rule. */
export interface RuleMatch {
  /** `scheme://host/path` pattern with `<…>` variable parts (regexp or glob, per the matching strategy). */
  readonly url: string;
  /** HTTP methods (case-insensitive); empty = none match (as Oathkeeper). */
  readonly methods: readonly string[];
  /** Header name (case-insensitive) -> exact value the request must carry (Gatehouse extension). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** `upstream` of a rule (reverse-proxy mode). */
export interface RuleUpstream {
  readonly url: string;
  readonly preserve_host?: boolean;
  readonly strip_path?: string;
}

/** A validated rule. */
export interface AccessRule {
  readonly id: string;
  readonly version?: string;
  readonly description?: string;
  readonly match: RuleMatch;
  readonly authenticators: readonly HandlerConfig[];
  /** Every one must allow (Oathkeeper's single `authorizer` becomes a one-element list). */
  readonly authorizers: readonly HandlerConfig[];
  readonly mutators: readonly HandlerConfig[];
  readonly errors: readonly HandlerConfig[];
  readonly upstream?: RuleUpstream;
  /** Higher wins among several matching rules (default 0). */
  readonly priority: number;
}

/** How `<…>` parts of `match.url` are read (Oathkeeper's `access_rules.matching_strategy`). */
export type MatchingStrategy = "regexp" | "glob";

/** What a request offers the matcher. */
export interface MatchableRequest {
  readonly method: string;
  /** `scheme://host/path` (no query; the path cleaned). */
  readonly url: string;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** A matched rule and what the match captured (`MatchContext.RegexpCaptureGroups`). */
export interface RuleMatchResult {
  readonly rule: AccessRule;
  readonly captures: readonly string[];
}
