/**
 * Reads one access-rule document (a file's text) in Oathkeeper's format — a top-level list of rules, in JSON
 * or YAML — and validates it into `AccessRule`s. Every problem is an `InvalidArgumentError` whose message
 * names the file, the rule (id and index, or the index alone) and the field, e.g.
 * `rules.yaml: rule "api-users" (index 2): match.url: must be an absolute http(s) URL pattern`, and whose
 * details carry `field`, `file`, `ruleId`, `ruleIndex` and, where it can be found, `line`/`column`.
 *
 * Compatibility notes (Oathkeeper `rule/fetcher_default.go` `decode`, `rule/rule.go`, `rule/validator.go`):
 * - A text that is valid JSON is read as JSON, anything else as YAML (so a "JSON" file with a trailing comma
 *   or YAML flow syntax such as `[{id: a, …}]` still loads). When a text starting with `[` or `{` is not JSON
 *   and does not make valid rules as YAML either, the JSON syntax error is reported, with line and column.
 * - Unknown fields inside a rule are ignored, as Oathkeeper does (its `Rule.UnmarshalJSON` decodes with the
 *   plain decoder, so `DisallowUnknownFields` on the outer list never reaches them); `onWarning` hears of
 *   them so typos such as `authorizor` do not go unnoticed.
 * - In YAML, numbers and booleans given for string fields (`id: 12`) become strings, as `ghodss/yaml` does.
 * - An empty document is an empty rule list.
 * - `mutators` may be left out (Oathkeeper requires at least one; Gatehouse defaults to `noop`).
 * - `upstream` without a `url` is allowed and dropped (the decision API needs no upstream).
 * - gRPC rules (`match.full_method`) are refused with a clear message: not supported yet.
 */
import { METHODS } from "node:http";
import { LineCounter, parseDocument, type Document } from "yaml";
import { InvalidArgumentError } from "../../../common/errors.js";
import type { AccessRule, HandlerConfig, RuleMatch, RuleUpstream } from "./rule.js";

/** Handler names the gateway implements, per pipeline stage; rules naming others are refused. */
export interface KnownHandlers {
  readonly authenticators: readonly string[];
  readonly authorizers: readonly string[];
  readonly mutators: readonly string[];
  readonly errors: readonly string[];
}

export interface ParseRuleDocumentOptions {
  /** When given, every handler name is checked against these lists. */
  readonly knownHandlers?: KnownHandlers;
  /** Told about things that are accepted but probably wrong (unknown fields). */
  readonly onWarning?: (message: string) => void;
}

/** HTTP methods accepted in `match.methods` (those Node's HTTP parser knows). */
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);

const RULE_FIELDS = new Set([
  "id",
  "version",
  "description",
  "match",
  "authenticators",
  "authorizer",
  "authorizers",
  "mutators",
  "errors",
  "upstream",
  "priority",
]);
const MATCH_FIELDS = new Set(["url", "methods", "headers"]);
const HANDLER_FIELDS = new Set(["handler", "config"]);
const UPSTREAM_FIELDS = new Set(["url", "preserve_host", "strip_path"]);

const DEFAULT_MUTATORS: readonly HandlerConfig[] = Object.freeze([Object.freeze({ handler: "noop" })]);
const NO_HANDLERS: readonly HandlerConfig[] = Object.freeze([]);

type Path = readonly (string | number)[];

/** Where the rule being validated sits, for error messages. */
interface RuleContext {
  readonly source: string;
  readonly index: number;
  id: string | undefined;
  readonly yaml: boolean;
  readonly locate: (path: Path) => { line: number; column: number } | undefined;
  readonly warn: (message: string) => void;
}

/**
 * Parses and validates one rule document. `source` names the document in messages (usually the file path).
 * Throws `InvalidArgumentError` on the first problem; returns frozen rules in document order.
 */
export function parseRuleDocument(text: string, source: string, options: ParseRuleDocumentOptions = {}): AccessRule[] {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const { value, yaml, jsonError } = decode(body, source);
  if (jsonError === undefined) return validateDocument(value, yaml, body, source, options);
  // Not JSON but readable as YAML flow syntax: Oathkeeper would load it as YAML, so do we — but if it does not
  // make valid rules either, the author meant JSON, and the JSON syntax error is the useful report.
  try {
    return validateDocument(value, yaml, body, source, options);
  } catch {
    throw jsonSyntaxError(jsonError, body, source);
  }
}

function validateDocument(
  value: unknown,
  yaml: boolean,
  body: string,
  source: string,
  options: ParseRuleDocumentOptions,
): AccessRule[] {
  const locate = locator(body);
  const warn = options.onWarning ?? (() => undefined);

  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError(
      `${source}: must be a list of access rules (Oathkeeper's format), got ${describe(value)}`,
      { details: { field: "", file: source, ...(locate([]) ?? {}) } },
    );
  }

  const rules: AccessRule[] = [];
  const seen = new Map<string, number>();
  value.forEach((raw: unknown, index: number) => {
    const ctx: RuleContext = { source, index, id: undefined, yaml, locate, warn };
    const rule = parseRule(raw, ctx, options.knownHandlers);
    const earlier = seen.get(rule.id);
    if (earlier !== undefined) {
      throw ruleError(ctx, ["id"], `duplicate id, already used by the rule at index ${earlier}`);
    }
    seen.set(rule.id, index);
    rules.push(rule);
  });
  return rules;
}

/** The prefix of every message about one rule: `file: rule "id" (index n)` or `file: rule at index n`. */
export function describeRule(source: string, id: string | undefined, index: number): string {
  return id === undefined ? `${source}: rule at index ${index}` : `${source}: rule "${id}" (index ${index})`;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

function decode(text: string, source: string): { value: unknown; yaml: boolean; jsonError?: Error } {
  const trimmed = text.trimStart();
  const looksJson = trimmed.startsWith("[") || trimmed.startsWith("{");
  let jsonError: Error | undefined;
  if (looksJson) {
    try {
      return { value: JSON.parse(text) as unknown, yaml: false };
    } catch (error) {
      jsonError = error instanceof Error ? error : new Error(String(error));
    }
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    if (jsonError !== undefined) throw jsonSyntaxError(jsonError, text, source);
    const pos = lineCounter.linePos(first.pos[0]);
    throw new InvalidArgumentError(
      `${source}: invalid YAML at line ${pos.line}, column ${pos.col}: ${firstLine(first.message)}`,
      { details: { field: "", file: source, line: pos.line, column: pos.col }, cause: first },
    );
  }
  const value = doc.toJS({ maxAliasCount: 1000 }) as unknown;
  return jsonError === undefined ? { value, yaml: true } : { value, yaml: true, jsonError };
}

function jsonSyntaxError(error: Error, text: string, source: string): InvalidArgumentError {
  const found = findJsonError(text);
  const offset = found?.offset ?? text.length;
  const reason = found?.reason ?? error.message;
  const { line, column } = lineColumn(text, offset);
  return new InvalidArgumentError(`${source}: invalid JSON at line ${line}, column ${column}: ${reason}`, {
    details: { field: "", file: source, line, column },
    cause: error,
  });
}

/**
 * Where a JSON text first goes wrong, and why (V8's `JSON.parse` messages do not always carry a position,
 * and vary between Node versions). A small recursive-descent scan over RFC 8259's grammar.
 */
function findJsonError(text: string): { offset: number; reason: string } | undefined {
  let i = 0;
  const fail = (reason: string): never => {
    throw { offset: i, reason };
  };
  const ws = (): void => {
    while (i < text.length && " \t\r\n".includes(text.charAt(i))) i++;
  };
  const what = (): string => (i >= text.length ? "end of input" : `'${text.charAt(i)}'`);
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(`unexpected ${what()}, expected a value`);
  };
  const string = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return;
      }
      if (c < 32) fail("control character in string (newlines must be written \\n)");
      if (c === 92) {
        const e = text.charAt(i + 1);
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("bad \\u escape in string");
          i += 6;
        } else if ('"\\/bfnrt'.includes(e) && e !== "") i += 2;
        else fail("bad escape in string");
      } else i++;
    }
  };
  const number = (): void => {
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (m === null) fail(`unexpected ${what()}, expected a value`);
    else i += m[0].length;
  };
  const value = (): void => {
    ws();
    const c = text.charAt(i);
    if (c === "{") {
      i++;
      ws();
      if (text.charAt(i) === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text.charAt(i) !== '"') fail(`unexpected ${what()}, expected a property name in double quotes`);
        string();
        ws();
        if (text.charAt(i) !== ":") fail(`unexpected ${what()}, expected ':' after the property name`);
        i++;
        value();
        ws();
        if (text.charAt(i) === ",") {
          i++;
          continue;
        }
        if (text.charAt(i) === "}") {
          i++;
          return;
        }
        fail(`unexpected ${what()}, expected ',' or '}'`);
      }
    }
    if (c === "[") {
      i++;
      ws();
      if (text.charAt(i) === "]") {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text.charAt(i) === ",") {
          i++;
          continue;
        }
        if (text.charAt(i) === "]") {
          i++;
          return;
        }
        fail(`unexpected ${what()}, expected ',' or ']'`);
      }
    }
    if (c === '"') return string();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    return number();
  };
  try {
    value();
    ws();
    if (i < text.length) fail(`unexpected ${what()} after the end of the document`);
    return undefined;
  } catch (thrown) {
    return thrown as { offset: number; reason: string };
  }
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** Finds the line/column of a path in the document (or of its nearest existing ancestor); lazy. */
function locator(text: string): (path: Path) => { line: number; column: number } | undefined {
  let cached: { doc: Document; counter: LineCounter } | undefined;
  return (path) => {
    try {
      if (cached === undefined) {
        const counter = new LineCounter();
        cached = { doc: parseDocument(text, { lineCounter: counter, prettyErrors: false }), counter };
      }
      for (let n = path.length; n >= 0; n--) {
        const node: unknown = n === 0 ? cached.doc.contents : cached.doc.getIn(path.slice(0, n), true);
        const range = (node as { range?: readonly number[] } | null | undefined)?.range;
        const start = range?.[0];
        if (typeof start === "number") {
          const pos = cached.counter.linePos(start);
          return { line: pos.line, column: pos.col };
        }
      }
    } catch {
      // positions are a convenience; never let them hide the real error
    }
    return undefined;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Validation

function parseRule(raw: unknown, ctx: RuleContext, known: KnownHandlers | undefined): AccessRule {
  if (!isObject(raw)) throw ruleError(ctx, [], `must be an object, got ${describe(raw)}`);

  const id = stringField(raw["id"], ctx, ["id"]);
  if (id === undefined || id.trim() === "") throw ruleError(ctx, ["id"], "is required and must be a non-empty string");
  ctx.id = id;

  for (const key of Object.keys(raw)) {
    if (!RULE_FIELDS.has(key)) {
      ctx.warn(`${describeRule(ctx.source, ctx.id, ctx.index)}: unknown field "${key}" ignored`);
    }
  }

  const version = optionalString(raw["version"], ctx, ["version"]);
  const description = optionalString(raw["description"], ctx, ["description"]);
  const match = parseMatch(raw["match"], ctx);

  const authenticators = handlerList(raw["authenticators"], ctx, "authenticators", known?.authenticators, "authenticator");
  if (authenticators === undefined || authenticators.length === 0) {
    throw ruleError(ctx, ["authenticators"], 'needs at least one authenticator, e.g. [{ handler: "anonymous" }]');
  }

  const single = raw["authorizer"];
  const several = raw["authorizers"];
  const hasSingle = single !== undefined && single !== null;
  const hasSeveral = several !== undefined && several !== null;
  if (hasSingle && hasSeveral) {
    throw ruleError(ctx, ["authorizers"], 'give either "authorizer" (Oathkeeper) or "authorizers" (Gatehouse), not both');
  }
  let authorizers: readonly HandlerConfig[];
  if (hasSingle) {
    authorizers = Object.freeze([handler(single, ctx, ["authorizer"], known?.authorizers, "authorizer")]);
  } else {
    authorizers = handlerList(several, ctx, "authorizers", known?.authorizers, "authorizer") ?? NO_HANDLERS;
    if (authorizers.length === 0) {
      throw ruleError(ctx, [hasSeveral ? "authorizers" : "authorizer"], 'needs an authorizer, e.g. { handler: "allow" }');
    }
  }

  const mutatorList = handlerList(raw["mutators"], ctx, "mutators", known?.mutators, "mutator");
  const mutators = mutatorList === undefined || mutatorList.length === 0 ? DEFAULT_MUTATORS : mutatorList;
  const errors = handlerList(raw["errors"], ctx, "errors", known?.errors, "error handler") ?? NO_HANDLERS;
  const upstream = parseUpstream(raw["upstream"], ctx);

  const rawPriority = raw["priority"];
  let priority = 0;
  if (rawPriority !== undefined && rawPriority !== null) {
    if (typeof rawPriority !== "number" || !Number.isSafeInteger(rawPriority)) {
      throw ruleError(ctx, ["priority"], `must be a whole number, got ${describe(rawPriority)}`);
    }
    priority = rawPriority;
  }

  const rule: AccessRule = {
    id,
    ...(version === undefined ? {} : { version }),
    ...(description === undefined ? {} : { description }),
    match,
    authenticators,
    authorizers,
    mutators,
    errors,
    ...(upstream === undefined ? {} : { upstream }),
    priority,
  };
  return Object.freeze(rule);
}

function parseMatch(raw: unknown, ctx: RuleContext): RuleMatch {
  if (raw === undefined || raw === null) throw ruleError(ctx, ["match"], "is required ({ url, methods })");
  if (!isObject(raw)) throw ruleError(ctx, ["match"], `must be an object with url and methods, got ${describe(raw)}`);
  if ("full_method" in raw || "authority" in raw) {
    throw ruleError(ctx, ["match", "full_method"], "gRPC matching rules (authority/full_method) are not supported yet");
  }
  warnUnknown(raw, MATCH_FIELDS, ctx, "match");

  const url = stringField(raw["url"], ctx, ["match", "url"]);
  if (url === undefined || url === "") throw ruleError(ctx, ["match", "url"], "is required (an absolute http(s) URL pattern)");
  if (!/^(?:https?|<[^<>]+>):\/\/[^/]/.test(url)) {
    throw ruleError(
      ctx,
      ["match", "url"],
      `must be an absolute http(s) URL pattern such as "https://api.example.com/users/<[0-9]+>", got "${url}"`,
    );
  }
  if (!balanced(url)) throw ruleError(ctx, ["match", "url"], `has unbalanced < > delimiters: "${url}"`);

  const rawMethods = raw["methods"];
  const methods: string[] = [];
  if (rawMethods === undefined || rawMethods === null) {
    ctx.warn(`${describeRule(ctx.source, ctx.id, ctx.index)}: match.methods is missing, the rule matches no request`);
  } else if (!Array.isArray(rawMethods)) {
    throw ruleError(ctx, ["match", "methods"], `must be a list of HTTP methods, got ${describe(rawMethods)}`);
  } else {
    rawMethods.forEach((m: unknown, i: number) => {
      if (typeof m !== "string") throw ruleError(ctx, ["match", "methods", i], `must be an HTTP method name, got ${describe(m)}`);
      const upper = m.trim().toUpperCase();
      if (!KNOWN_METHODS.has(upper)) throw ruleError(ctx, ["match", "methods", i], `unknown HTTP method "${m}"`);
      if (!methods.includes(upper)) methods.push(upper);
    });
  }

  const rawHeaders = raw["headers"];
  let headers: Record<string, string> | undefined;
  if (rawHeaders !== undefined && rawHeaders !== null) {
    if (!isObject(rawHeaders)) {
      throw ruleError(ctx, ["match", "headers"], `must be an object of header name to value, got ${describe(rawHeaders)}`);
    }
    headers = {};
    for (const [name, value] of Object.entries(rawHeaders)) {
      const lower = name.trim().toLowerCase();
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(lower)) {
        throw ruleError(ctx, ["match", "headers", name], `"${name}" is not a valid header name`);
      }
      if (Object.hasOwn(headers, lower)) throw ruleError(ctx, ["match", "headers", name], `header "${name}" is given twice`);
      const text = stringField(value, ctx, ["match", "headers", name]);
      if (text === undefined) throw ruleError(ctx, ["match", "headers", name], "must be a string");
      headers[lower] = text;
    }
    Object.freeze(headers);
  }

  return Object.freeze({ url, methods: Object.freeze(methods), ...(headers === undefined ? {} : { headers }) });
}

function parseUpstream(raw: unknown, ctx: RuleContext): RuleUpstream | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) throw ruleError(ctx, ["upstream"], `must be an object ({ url, preserve_host, strip_path }), got ${describe(raw)}`);
  warnUnknown(raw, UPSTREAM_FIELDS, ctx, "upstream");

  const url = optionalString(raw["url"], ctx, ["upstream", "url"]);
  const preserve = raw["preserve_host"];
  if (preserve !== undefined && preserve !== null && typeof preserve !== "boolean") {
    throw ruleError(ctx, ["upstream", "preserve_host"], `must be true or false, got ${describe(preserve)}`);
  }
  const stripPath = optionalString(raw["strip_path"], ctx, ["upstream", "strip_path"]);
  if (url === undefined || url === "") {
    if (typeof preserve === "boolean" || (stripPath !== undefined && stripPath !== "")) {
      ctx.warn(`${describeRule(ctx.source, ctx.id, ctx.index)}: upstream has no url, its other settings are ignored`);
    }
    return undefined;
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.host === "") {
    throw ruleError(ctx, ["upstream", "url"], `must be an absolute http(s) URL such as "http://backend:8080", got "${url}"`);
  }
  return Object.freeze({
    url,
    ...(typeof preserve === "boolean" ? { preserve_host: preserve } : {}),
    ...(stripPath === undefined || stripPath === "" ? {} : { strip_path: stripPath }),
  });
}

function handlerList(
  raw: unknown,
  ctx: RuleContext,
  field: string,
  known: readonly string[] | undefined,
  kind: string,
): readonly HandlerConfig[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw ruleError(ctx, [field], `must be a list of { handler, config } objects, got ${describe(raw)}`);
  return Object.freeze(raw.map((item: unknown, i: number) => handler(item, ctx, [field, i], known, kind)));
}

function handler(raw: unknown, ctx: RuleContext, path: Path, known: readonly string[] | undefined, kind: string): HandlerConfig {
  if (!isObject(raw)) throw ruleError(ctx, path, `must be an object { handler, config? }, got ${describe(raw)}`);
  warnUnknown(raw, HANDLER_FIELDS, ctx, fieldName(path));
  const name = stringField(raw["handler"], ctx, [...path, "handler"]);
  if (name === undefined || name.trim() === "") throw ruleError(ctx, [...path, "handler"], "is required (a handler name)");
  if (known !== undefined && !known.includes(name)) {
    const list = known.length === 0 ? "none" : [...known].sort().join(", ");
    throw ruleError(ctx, [...path, "handler"], `unknown ${kind} "${name}" (known: ${list})`);
  }
  const config = raw["config"];
  if (config === undefined || config === null) return Object.freeze({ handler: name });
  if (!isObject(config)) throw ruleError(ctx, [...path, "config"], `must be an object, got ${describe(config)}`);
  return Object.freeze({ handler: name, config: deepFreeze(config) });
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function ruleError(ctx: RuleContext, path: Path, message: string): InvalidArgumentError {
  const field = fieldName(path);
  const position = ctx.locate([ctx.index, ...path]);
  return new InvalidArgumentError(`${describeRule(ctx.source, ctx.id, ctx.index)}: ${field === "" ? "" : `${field}: `}${message}`, {
    details: {
      field,
      file: ctx.source,
      ruleIndex: ctx.index,
      ...(ctx.id === undefined ? {} : { ruleId: ctx.id }),
      ...(position ?? {}),
    },
  });
}

/** `["authenticators", 0, "handler"]` -> `authenticators[0].handler`. */
function fieldName(path: Path): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? part : `.${part}`;
  }
  return out;
}

/** A string field; in YAML, scalars such as `12` or `true` are taken as their text (as `ghodss/yaml`). */
function stringField(raw: unknown, ctx: RuleContext, path: Path): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === "string") return raw;
  if (ctx.yaml && (typeof raw === "number" || typeof raw === "boolean")) return String(raw);
  throw ruleError(ctx, path, `must be a string, got ${describe(raw)}`);
}

function optionalString(raw: unknown, ctx: RuleContext, path: Path): string | undefined {
  return stringField(raw, ctx, path);
}

function warnUnknown(raw: Record<string, unknown>, allowed: ReadonlySet<string>, ctx: RuleContext, where: string): void {
  for (const key of Object.keys(raw)) {
    if (!allowed.has(key)) ctx.warn(`${describeRule(ctx.source, ctx.id, ctx.index)}: ${where}: unknown field "${key}" ignored`);
  }
}

function balanced(pattern: string): boolean {
  let depth = 0;
  for (const ch of pattern) {
    if (ch === "<") depth++;
    else if (ch === ">") {
      depth--;
      if (depth < 0) return false;
    }
  }
  return depth === 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return value instanceof Date ? "a date" : "an object";
  if (typeof value === "string") return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}

function firstLine(message: string): string {
  return message.split("\n")[0] ?? message;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
