/**
 * Finds the access rule for a request, as Oathkeeper's `Rule.IsMatching` + `RepositoryMemory.Match` do, but over an
 * immutable index instead of a linear scan under a lock.
 *
 * A rule matches a request when the request method is one of `match.methods` (case-insensitive), every header in
 * `match.headers` is present with exactly that value (Gatehouse extension; names case-insensitive), and
 * `match.url` matches `scheme://host/path` (query excluded, path cleaned — see {@link matchableUrl}). Of the
 * matching rules the one with the highest `priority` wins; none → `NotFoundError` (reason `no_rule_matched`,
 * Oathkeeper's `ErrMatchesNoRule`, 404); several with the same top priority → `MultipleRulesMatchedError`
 * (code `internal`, reason `multiple_rules_matched`, Oathkeeper's `ErrMatchesMoreThanOneRule`, 500).
 *
 * The index gives the same answer as testing every rule: a rule is only left out of the candidates when its
 * pattern's literal start proves it cannot match. Rules whose scheme and host are literal (or a plain scheme
 * alternation such as `<https|http>`) are filed under `scheme://host`, then under each method, then under their
 * literal path prefix (a map from prefix to rules plus the sorted list of prefix lengths, so a lookup costs one
 * map probe per distinct prefix length). The others are filed, per method, under their whole literal prefix and
 * tried too. Patterns are compiled once, at construction; a reload builds a new matcher and swaps the reference.
 */
import { GatehouseError, InvalidArgumentError, NotFoundError } from "../../../common/errors.js";
import type { AccessRule, MatchableRequest, MatchingStrategy, RuleMatchResult } from "./rule.js";
import { compileUrlPattern, type CompiledUrlPattern } from "./url-pattern.js";

/** More than one rule matched with the same (top) priority: a configuration error, HTTP 500. */
export class MultipleRulesMatchedError extends GatehouseError {
  /** The ids of the rules that tied, in rule order. */
  readonly ruleIds: readonly string[];

  constructor(ruleIds: readonly string[]) {
    const shown = ruleIds.slice(0, 10).map((id) => JSON.stringify(id));
    const more = ruleIds.length > shown.length ? ` and ${ruleIds.length - shown.length} more` : "";
    super("internal", `expected exactly one rule but found multiple rules: ${shown.join(", ")}${more}`, {
      reason: "multiple_rules_matched",
      details: { rule_ids: ruleIds.slice(0, 10) },
    });
    this.name = "MultipleRulesMatchedError";
    this.ruleIds = Object.freeze([...ruleIds]);
  }
}

/** An immutable rule matcher. */
export interface RuleMatcher {
  readonly strategy: MatchingStrategy;
  /** The rules, in the order given. */
  readonly rules: readonly AccessRule[];
  /** The single best rule for the request, or throws `NotFoundError` / `MultipleRulesMatchedError`. */
  match(request: MatchableRequest): RuleMatchResult;
  /** The rules the index selects for the request (before URL and header checks), in rule order. For tests/debugging. */
  candidates(request: MatchableRequest): readonly AccessRule[];
}

// ---------------------------------------------------------------------------------------------------------------
// Request URL

const SCHEME = /^[a-z][a-z0-9+.-]*$/;
const BAD_HOST = /[/?#\s\u0000-\u001f\u007f]/;

/** Percent-decodes a path as Go's `url.URL.Path` holds it (`%2F` included); a malformed escape is an error. */
function decodePath(raw: string): string {
  if (!raw.includes("%")) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; ) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new InvalidArgumentError("invalid URL escape in the request path", { reason: "invalid_request_url" });
      }
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      const cp = raw.codePointAt(i) as number;
      const ch = String.fromCodePoint(cp);
      for (const b of Buffer.from(ch, "utf8")) bytes.push(b);
      i += ch.length;
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Go's `path.Clean`: one `/` between elements, `.` removed, `..` resolved, no trailing `/` (except the root). */
export function cleanPath(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  const out: string[] = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(seg);
  }
  const joined = out.join("/");
  if (rooted) return `/${joined}`;
  return joined === "" ? "." : joined;
}

/**
 * The string rules are matched against: `scheme://host/path`. The scheme is lower-cased (as Go's URL parser does),
 * the host kept as given (Oathkeeper compares it case-sensitively), the query and fragment dropped, the path
 * percent-decoded (Go's `URL.Path` is the decoded path) and cleaned with `path.Clean` semantics; a path not starting
 * with `/` gets one, and an empty path becomes `/`. Throws `InvalidArgumentError` (reason `invalid_request_url`) for
 * a malformed scheme, host or escape.
 */
export function matchableUrl(scheme: string, host: string, pathAndQuery: string): string {
  const s = scheme.toLowerCase();
  if (!SCHEME.test(s)) {
    throw new InvalidArgumentError("invalid request scheme", { reason: "invalid_request_url" });
  }
  if (BAD_HOST.test(host)) {
    throw new InvalidArgumentError("invalid request host", { reason: "invalid_request_url" });
  }
  const q = pathAndQuery.search(/[?#]/);
  const rawPath = q >= 0 ? pathAndQuery.slice(0, q) : pathAndQuery;
  const decoded = decodePath(rawPath);
  const path = cleanPath(decoded.startsWith("/") ? decoded : `/${decoded}`);
  return `${s}://${host}${path}`;
}

/** Splits a matchable URL into its origin (`scheme://host`) and the rest (the path), as the index files rules. */
function splitOrigin(url: string): { origin: string; rest: string } | undefined {
  const sep = url.indexOf("://");
  if (sep < 0) return undefined;
  const slash = url.indexOf("/", sep + 3);
  const end = slash < 0 ? url.length : slash;
  return { origin: url.slice(0, end), rest: url.slice(end) };
}

// ---------------------------------------------------------------------------------------------------------------
// Index

/** Rules by literal prefix: a lookup probes one map entry per distinct prefix length. */
class PrefixIndex {
  private readonly byPrefix = new Map<string, number[]>();
  private lengths: number[] = [];

  add(prefix: string, rule: number): void {
    const list = this.byPrefix.get(prefix);
    if (list === undefined) {
      this.byPrefix.set(prefix, [rule]);
      if (!this.lengths.includes(prefix.length)) this.lengths.push(prefix.length);
    } else if (list[list.length - 1] !== rule) {
      list.push(rule);
    }
  }

  seal(): void {
    this.lengths = [...this.lengths].sort((a, b) => a - b);
  }

  /** Adds to `out` every rule whose prefix is a prefix of `text`. */
  collect(text: string, out: number[]): void {
    for (const len of this.lengths) {
      if (len > text.length) break;
      const list = this.byPrefix.get(text.slice(0, len));
      if (list !== undefined) for (const r of list) out.push(r);
    }
  }
}

/** Per-method prefix indexes. */
class MethodIndex {
  private readonly byMethod = new Map<string, PrefixIndex>();

  add(method: string, prefix: string, rule: number): void {
    let idx = this.byMethod.get(method);
    if (idx === undefined) {
      idx = new PrefixIndex();
      this.byMethod.set(method, idx);
    }
    idx.add(prefix, rule);
  }

  seal(): void {
    for (const idx of this.byMethod.values()) idx.seal();
  }

  collect(method: string, text: string, out: number[]): void {
    this.byMethod.get(method)?.collect(text, out);
  }
}

interface CompiledRule {
  readonly rule: AccessRule;
  readonly index: number;
  readonly url: CompiledUrlPattern;
  readonly methods: ReadonlySet<string>;
  readonly headers: readonly (readonly [string, string])[];
}

function normaliseMethod(method: string): string {
  return method.toUpperCase();
}

function headersMatch(
  required: readonly (readonly [string, string])[],
  headers: MatchableRequest["headers"],
): boolean {
  for (const [name, value] of required) {
    const actual = headers[name];
    if (actual === undefined) return false;
    if (typeof actual === "string" ? actual !== value : !actual.includes(value)) return false;
  }
  return true;
}

function compileRule(rule: AccessRule, index: number, strategy: MatchingStrategy): CompiledRule {
  let url: CompiledUrlPattern;
  try {
    url = compileUrlPattern(rule.match.url, strategy);
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      throw new InvalidArgumentError(`rule ${JSON.stringify(rule.id)}: ${err.message}`, {
        reason: err.reason ?? "invalid_url_pattern",
        details: { ...err.details, rule_id: rule.id },
        cause: err,
      });
    }
    throw err;
  }
  return {
    rule,
    index,
    url,
    methods: new Set(rule.match.methods.map(normaliseMethod)),
    headers: Object.entries(rule.match.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v] as const),
  };
}

class IndexedRuleMatcher implements RuleMatcher {
  readonly rules: readonly AccessRule[];
  private readonly compiled: readonly CompiledRule[];
  /** `scheme://host` → method → literal path prefix. */
  private readonly byOrigin = new Map<string, MethodIndex>();
  /** Rules whose host has variable parts but a literal end (`<x>.tenant.test`): that end → method. */
  private readonly byHostSuffix = new Map<string, MethodIndex>();
  private readonly longestHostSuffix: number;
  /** Rules without a literal origin or host end: method → literal URL prefix. */
  private readonly fallback = new MethodIndex();

  constructor(
    rules: readonly AccessRule[],
    readonly strategy: MatchingStrategy,
  ) {
    this.rules = Object.freeze([...rules]);
    this.compiled = Object.freeze(this.rules.map((r, i) => compileRule(r, i, strategy)));
    for (const c of this.compiled) {
      const { schemes, host, pathPrefix, staticPrefixes } = c.url;
      for (const method of c.methods) {
        if (schemes !== undefined && host !== undefined && pathPrefix !== undefined) {
          for (const scheme of schemes) {
            const origin = `${scheme}://${host}`;
            let idx = this.byOrigin.get(origin);
            if (idx === undefined) {
              idx = new MethodIndex();
              this.byOrigin.set(origin, idx);
            }
            idx.add(method, pathPrefix, c.index);
          }
        } else if (c.url.hostSuffix !== undefined) {
          let idx = this.byHostSuffix.get(c.url.hostSuffix);
          if (idx === undefined) {
            idx = new MethodIndex();
            this.byHostSuffix.set(c.url.hostSuffix, idx);
          }
          idx.add(method, "", c.index);
        } else {
          for (const prefix of staticPrefixes) this.fallback.add(method, prefix, c.index);
        }
      }
    }
    for (const idx of this.byOrigin.values()) idx.seal();
    for (const idx of this.byHostSuffix.values()) idx.seal();
    this.longestHostSuffix = Math.max(0, ...[...this.byHostSuffix.keys()].map((k) => k.length));
    this.fallback.seal();
    Object.freeze(this);
  }

  private candidateIndexes(request: MatchableRequest): number[] {
    const method = normaliseMethod(request.method);
    const out: number[] = [];
    const split = splitOrigin(request.url);
    if (split !== undefined) this.byOrigin.get(split.origin)?.collect(method, split.rest, out);
    if (this.byHostSuffix.size > 0) this.collectByHostSuffix(method, request.url, out);
    this.fallback.collect(method, request.url, out);
    // A rule can be filed more than once (several scheme alternatives); keep rule order for deterministic errors.
    out.sort((a, b) => a - b);
    let n = 0;
    for (let i = 0; i < out.length; i++) if (i === 0 || out[i] !== out[i - 1]) out[n++] = out[i] as number;
    out.length = n;
    return out;
  }

  /**
   * Rules filed by host end: a matching URL has that end right before a `/` (or its end), starting at a `.`, so
   * every `.`-suffix ending at each `/` is looked up (a handful of map probes instead of every such rule's regexp).
   */
  private collectByHostSuffix(method: string, url: string, out: number[]): void {
    const start = url.indexOf("://") + 3;
    if (start < 3) return;
    for (let end = start; end <= url.length; end++) {
      if (end < url.length && url.charCodeAt(end) !== 0x2f) continue;
      for (let dot = url.lastIndexOf(".", end - 1); dot >= start && end - dot <= this.longestHostSuffix; dot = url.lastIndexOf(".", dot - 1)) {
        this.byHostSuffix.get(url.slice(dot, end))?.collect(method, "", out);
        if (dot === 0) break;
      }
    }
  }

  candidates(request: MatchableRequest): readonly AccessRule[] {
    return this.candidateIndexes(request).map((i) => (this.compiled[i] as CompiledRule).rule);
  }

  match(request: MatchableRequest): RuleMatchResult {
    const method = normaliseMethod(request.method);
    let best: { rule: CompiledRule; captures: readonly string[] } | undefined;
    let tied: CompiledRule[] = [];
    for (const i of this.candidateIndexes(request)) {
      const c = this.compiled[i] as CompiledRule;
      if (!c.methods.has(method) || !headersMatch(c.headers, request.headers)) continue;
      if (best !== undefined && c.rule.priority < best.rule.rule.priority) continue;
      const captures = c.url.exec(request.url);
      if (captures === undefined) continue;
      if (best === undefined || c.rule.priority > best.rule.rule.priority) {
        best = { rule: c, captures };
        tied = [c];
      } else {
        tied.push(c);
      }
    }
    if (best === undefined) {
      throw new NotFoundError("requested url does not match any rules", { reason: "no_rule_matched" });
    }
    if (tied.length > 1) throw new MultipleRulesMatchedError(tied.map((c) => c.rule.id));
    return { rule: best.rule.rule, captures: best.captures };
  }
}

/**
 * Compiles the rules' URL patterns for the strategy and builds the immutable index. Throws `InvalidArgumentError`
 * (reason `invalid_url_pattern`, details `rule_id`) for a pattern that does not compile — earlier than Oathkeeper,
 * which compiles on first use.
 */
export function createRuleMatcher(rules: readonly AccessRule[], strategy: MatchingStrategy): RuleMatcher {
  return new IndexedRuleMatcher(rules, strategy);
}
