/**
 * Compiles the `match.url` pattern of an access rule, with Oathkeeper's semantics for both matching strategies.
 *
 * Both strategies delimit the variable parts with `<` and `>`; the delimiters nest (a `<` inside a variable part
 * opens a deeper level, and only the outermost `<…>` pairs delimit), and unbalanced delimiters are an error
 * (ladon `compiler/regex.go` `delimiterIndices`, repeated in Oathkeeper `rule/engine_glob.go`).
 *
 * - `regexp` (ladon `CompileRegex(pattern, '<', '>')`, used by Oathkeeper `rule/engine_regexp.go`): the text
 *   outside `<…>` is literal (quoted), every `<…>` becomes a capture group `(inner)`, the whole is anchored
 *   `^…$`; each inner text must be a valid regular expression on its own. The captures returned are all the
 *   groups of the match in order (Oathkeeper's `FindStringSubmatch` returns `Groups()[1:]`, which includes groups
 *   nested inside a variable part); a group that did not take part yields `""`.
 * - `glob` (Oathkeeper `compileGlob` over `gobwas/glob`): the text outside `<…>` is quoted with `glob.QuoteMeta`
 *   (so even a `*` there is literal), the inner texts are glob syntax, and the concatenation is compiled with the
 *   separators `.` and `/`: `*` = any run of non-separator characters, `**` = any run of characters, `?` = one
 *   non-separator character, `[abc]` / `[!abc]` / `[a-z]` / `[!a-z]` = a character class (separators not
 *   excluded), `{a,b}` = alternatives (nestable), `\c` = the character `c`. A glob has no captures.
 *
 * Differences that remain: JS `RegExp` is used instead of Go's `dlclark/regexp2`, so regexp syntax specific to one
 * engine (e.g. `(?P<name>…)`, inline `(?i)` flags on Node 20) behaves differently, and named groups are numbered in
 * source order (regexp2 numbers them after the unnamed ones). Neither engine is linear-time: a backtracking pattern
 * can be slow on a crafted URL, so patterns are limited to {@link MAX_URL_PATTERN_LENGTH} characters and rule
 * authors must avoid nested quantifiers; request URLs are bounded by the HTTP server's header-size limit.
 */
import { InvalidArgumentError } from "../../../common/errors.js";
import type { MatchingStrategy } from "./rule.js";

/** Longest `match.url` accepted (a guard against pathological patterns, not a guarantee). */
export const MAX_URL_PATTERN_LENGTH = 2048;

/** A compiled `match.url` pattern. */
export interface CompiledUrlPattern {
  readonly source: string;
  readonly strategy: MatchingStrategy;
  /** The pattern has no `<…>` part: it matches exactly one URL. */
  readonly isLiteral: boolean;
  /** The literal text before the first variable part (the whole pattern when literal). */
  readonly staticPrefix: string;
  /**
   * Literal strings at least one of which every matching URL starts with: `[staticPrefix]`, or one string per
   * scheme when the pattern starts with a plain scheme alternation such as `<https|http>://` (regexp) or
   * `<{https,http}>://` (glob).
   */
  readonly staticPrefixes: readonly string[];
  /** The schemes a matching URL can have, when they are literal (or a plain alternation); else undefined. */
  readonly schemes: readonly string[] | undefined;
  /** The host (with port, if any) every matching URL has, when literal and `schemes` is known; else undefined. */
  readonly host: string | undefined;
  /** The literal start of the path (from its `/`) when `host` is known; `""` when the pattern has no path. */
  readonly pathPrefix: string | undefined;
  /**
   * For a host with variable parts (`<[a-z]+>.tenant.example.com`): the literal end of the host from its first
   * `.` (`.tenant.example.com`), which every matching URL has right before a `/` or its end; else undefined.
   */
  readonly hostSuffix: string | undefined;
  /** Whether `url` (`scheme://host/path`) matches. */
  test(url: string): boolean;
  /** The capture groups when `url` matches (always `[]` for glob), otherwise undefined. */
  exec(url: string): readonly string[] | undefined;
}

/** A piece of a pattern: literal text or the inner text of a `<…>`. */
interface Part {
  readonly variable: boolean;
  readonly text: string;
}

function patternError(pattern: string, message: string, cause?: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`invalid match.url pattern ${JSON.stringify(pattern.slice(0, 200))}: ${message}`, {
    reason: "invalid_url_pattern",
    details: { field: "match.url" },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Splits at the outermost `<…>` pairs, as ladon's `delimiterIndices` does. */
function splitPattern(pattern: string): Part[] {
  const parts: Part[] = [];
  let level = 0;
  let start = 0;
  let literalStart = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "<") {
      level++;
      if (level === 1) start = i;
    } else if (c === ">") {
      level--;
      if (level === 0) {
        if (start > literalStart) parts.push({ variable: false, text: pattern.slice(literalStart, start) });
        parts.push({ variable: true, text: pattern.slice(start + 1, i) });
        literalStart = i + 1;
      } else if (level < 0) {
        throw patternError(pattern, "unbalanced < > delimiters");
      }
    }
  }
  if (level !== 0) throw patternError(pattern, "unbalanced < > delimiters");
  if (literalStart < pattern.length) parts.push({ variable: false, text: pattern.slice(literalStart) });
  return parts;
}

/** Quotes every JS regular-expression metacharacter (outside a character class). */
export function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
}

/** Quotes for use inside a JS character class. */
function escapeClassChar(c: string): string {
  return /[\\\]\[^-]/.test(c) ? `\\${c}` : c;
}

/** `glob.QuoteMeta`: escapes `* ? \ [ ] { }`. */
function quoteGlob(text: string): string {
  return text.replace(/[*?\\[\]{}]/g, "\\$&");
}

const GLOB_NON_SEPARATOR = "[^./]";

/**
 * Translates a gobwas/glob pattern (separators `.` and `/`) into an unanchored JS regular-expression source,
 * following the gobwas lexer: escapes apply everywhere outside classes; `,` and `}` are operators only inside
 * `{…}`; `]` is literal outside a class; a class is `[` `!`? then either one range `lo-hi` or a non-empty set.
 */
function globToRegExpSource(glob: string, original: string): string {
  let out = "";
  let depth = 0;
  let i = 0;
  while (i < glob.length) {
    const c = glob[i] as string;
    if (c === "\\") {
      const next = glob[i + 1];
      if (next === undefined) throw patternError(original, "glob: trailing backslash");
      out += escapeRegExp(next);
      i += 2;
    } else if (c === "*") {
      if (glob[i + 1] === "*") {
        out += "[\\s\\S]*";
        i += 2;
      } else {
        out += `${GLOB_NON_SEPARATOR}*`;
        i += 1;
      }
    } else if (c === "?") {
      out += GLOB_NON_SEPARATOR;
      i += 1;
    } else if (c === "[") {
      i += 1;
      let negated = false;
      if (glob[i] === "!") {
        negated = true;
        i += 1;
      }
      const lo = glob[i];
      if (lo === undefined) throw patternError(original, "glob: unclosed character class");
      let body: string;
      if (glob[i + 1] === "-") {
        const hi = glob[i + 2];
        if (hi === undefined) throw patternError(original, "glob: unclosed character class");
        if (hi < lo) throw patternError(original, `glob: empty character range ${lo}-${hi}`);
        body = `${escapeClassChar(lo)}-${escapeClassChar(hi)}`;
        i += 3;
      } else {
        let chars = "";
        while (i < glob.length && glob[i] !== "]") {
          if (glob[i] === "\\") {
            const next = glob[i + 1];
            if (next === undefined) throw patternError(original, "glob: trailing backslash");
            chars += next;
            i += 2;
          } else {
            chars += glob[i];
            i += 1;
          }
        }
        if (chars === "") throw patternError(original, "glob: empty character class");
        body = Array.from(chars, escapeClassChar).join("");
      }
      if (glob[i] !== "]") throw patternError(original, "glob: expected ] to close the character class");
      i += 1;
      out += negated ? `[^${body}]` : `[${body}]`;
    } else if (c === "{") {
      depth++;
      out += "(?:";
      i += 1;
    } else if (c === "," && depth > 0) {
      out += "|";
      i += 1;
    } else if (c === "}" && depth > 0) {
      depth--;
      out += ")";
      i += 1;
    } else {
      out += escapeRegExp(c);
      i += 1;
    }
  }
  if (depth !== 0) throw patternError(original, "glob: unclosed {");
  return out;
}

/** Builds the anchored JS RegExp for a pattern, per strategy. */
function compileRegExp(pattern: string, parts: readonly Part[], strategy: MatchingStrategy): RegExp {
  let source: string;
  if (strategy === "regexp") {
    source = "";
    for (const part of parts) {
      if (!part.variable) {
        source += escapeRegExp(part.text);
        continue;
      }
      try {
        // ladon compiles every variable part on its own first, so a part cannot break out of its group.
        new RegExp(part.text);
      } catch (err) {
        throw patternError(pattern, `<${part.text}> is not a valid regular expression`, err);
      }
      source += `(${part.text})`;
    }
  } else {
    const glob = parts.map((p) => (p.variable ? p.text : quoteGlob(p.text))).join("");
    source = globToRegExpSource(glob, pattern);
  }
  try {
    return new RegExp(`^${source}$`);
  } catch (err) {
    throw patternError(pattern, "does not compile", err);
  }
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;
const REGEXP_SCHEME_TERM = /^[A-Za-z][A-Za-z0-9]*\??$/;
const GLOB_SCHEME_TERM = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * The literal schemes a leading variable part stands for, when it is a plain alternation of scheme names:
 * regexp `https|http` or `https?`, glob `{https,http}` or a bare word. Otherwise undefined.
 */
function schemeAlternatives(inner: string, strategy: MatchingStrategy): string[] | undefined {
  const out: string[] = [];
  if (strategy === "regexp") {
    for (const term of inner.split("|")) {
      if (!REGEXP_SCHEME_TERM.test(term)) return undefined;
      if (term.endsWith("?")) {
        out.push(term.slice(0, -1), term.slice(0, -2));
      } else {
        out.push(term);
      }
    }
  } else {
    const body = inner.startsWith("{") && inner.endsWith("}") ? inner.slice(1, -1) : inner;
    for (const term of body.split(",")) {
      if (!GLOB_SCHEME_TERM.test(term)) return undefined;
      out.push(term);
    }
  }
  // Every alternative must be a plain scheme, or the prefixes derived from them would not cover every match.
  if (out.length === 0 || !out.every((s) => SCHEME.test(s))) return undefined;
  return [...new Set(out)];
}

/**
 * The literal text a variable host ends with, from its first `.`: the literal text between the last variable
 * part after `://` and the first literal `/` (or the pattern's end). Whatever the variable parts match, a
 * matching URL has this text immediately before a `/` or its end, which is all the index relies on.
 */
function variableHostSuffix(parts: readonly Part[]): string | undefined {
  let afterScheme = false;
  let sawVariable = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as Part;
    if (part.variable) {
      if (afterScheme) sawVariable = true;
      continue;
    }
    let text = part.text;
    if (!afterScheme) {
      const sep = text.indexOf("://");
      if (sep < 0) continue;
      afterScheme = true;
      text = text.slice(sep + 3);
    }
    const slash = text.indexOf("/");
    const last = slash >= 0 || i === parts.length - 1;
    if (!last) continue;
    if (!sawVariable) return undefined;
    const literal = slash >= 0 ? text.slice(0, slash) : text;
    const dot = literal.indexOf(".");
    return dot < 0 || literal.length - dot < 2 ? undefined : literal.slice(dot);
  }
  return undefined;
}

/** Compiles `match.url` for a strategy. Throws `InvalidArgumentError` (reason `invalid_url_pattern`). */
export function compileUrlPattern(pattern: string, strategy: MatchingStrategy): CompiledUrlPattern {
  if (pattern.length > MAX_URL_PATTERN_LENGTH) {
    throw patternError(pattern, `longer than ${MAX_URL_PATTERN_LENGTH} characters`);
  }
  const parts = splitPattern(pattern);
  const isLiteral = parts.every((p) => !p.variable);
  const first = parts[0];
  const staticPrefix = first !== undefined && !first.variable ? first.text : "";

  // Scheme, host and path prefix, where literal.
  let schemes: string[] | undefined;
  let rest: string | undefined; // literal text after "://" up to the next variable part
  let restIsAll = false; // nothing variable after `rest`
  const sep = staticPrefix.indexOf("://");
  if (sep >= 0) {
    const scheme = staticPrefix.slice(0, sep);
    if (SCHEME.test(scheme)) {
      schemes = [scheme];
      rest = staticPrefix.slice(sep + 3);
      restIsAll = isLiteral;
    }
  } else if (first?.variable === true) {
    const second = parts[1];
    if (second !== undefined && !second.variable && second.text.startsWith("://")) {
      schemes = schemeAlternatives(first.text, strategy);
      if (schemes !== undefined) {
        rest = second.text.slice(3);
        restIsAll = parts.length === 2;
      }
    }
  }
  let host: string | undefined;
  let pathPrefix: string | undefined;
  if (schemes !== undefined && rest !== undefined) {
    const slash = rest.indexOf("/");
    if (slash >= 0) {
      host = rest.slice(0, slash);
      pathPrefix = rest.slice(slash);
    } else if (restIsAll) {
      host = rest;
      pathPrefix = "";
    }
  }
  const staticPrefixes =
    first?.variable === true && schemes !== undefined && rest !== undefined
      ? schemes.map((s) => `${s}://${rest}`)
      : [staticPrefix];

  const hostSuffix = host === undefined ? variableHostSuffix(parts) : undefined;

  // A literal pattern is compared as a string; the others go through the compiled regexp.
  const re = isLiteral ? undefined : compileRegExp(pattern, parts, strategy);
  const withCaptures = strategy === "regexp";
  return Object.freeze({
    source: pattern,
    strategy,
    isLiteral,
    staticPrefix,
    staticPrefixes: Object.freeze(staticPrefixes),
    schemes: schemes === undefined ? undefined : Object.freeze(schemes),
    host,
    pathPrefix,
    hostSuffix,
    test: re === undefined ? (url: string) => url === pattern : (url: string) => re.test(url),
    exec:
      re === undefined
        ? (url: string) => (url === pattern ? [] : undefined)
        : (url: string): readonly string[] | undefined => {
            const m = re.exec(url);
            if (m === null) return undefined;
            return withCaptures ? m.slice(1).map((g) => g ?? "") : [];
          },
  });
}
