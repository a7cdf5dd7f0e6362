/**
 * Go `text/template` as Oathkeeper's handler configurations use it: text and actions, trim markers, comments,
 * pipelines, variables, `if`/`range`/`with` (with `else`, `else if`, `else with`), `break`/`continue`, Go's
 * builtin functions, Oathkeeper's `print`/`printIndex` and a subset of sprig, evaluated over the
 * AuthenticationSession (`{{ print .Subject }}`, `{{ .MatchContext.Header.Get "X-Api-Version" }}`).
 *
 * A template is parsed once (at rule load) into closures; a rendering (per request) only runs those closures.
 * Output size and `range` iterations are capped so a rule cannot make the gateway build huge strings.
 *
 * How JS values stand for Go values:
 * - string; number (printed as an int when it is a safe integer, else as Go prints a float64); boolean;
 *   null and undefined are nil;
 * - arrays are slices;
 * - plain objects (prototype `Object.prototype` or null) are maps: the entries are the own enumerable string
 *   keys; a missing key is nil (printed `<no value>`, as Oathkeeper's `missingkey=zero` over
 *   `map[string]interface{}` prints it);
 * - objects carrying `GO_TYPE` are structs: their own enumerable string keys are the fields (a missing field is
 *   an error);
 * - methods are the functions of an object's `GO_METHODS` table, or its own function-valued properties; a
 *   field chain calls them (intermediate ones without arguments, the last one with the command's arguments).
 */
import { GatehouseError, InvalidArgumentError, type GatehouseErrorOptions } from "../../../common/errors.js";
import type { AuthenticationSession, HeaderMap, MatchContext } from "./types.js";

export interface CompiledTemplate {
  readonly source: string;
  render(data: unknown): string;
}

/** Characters one rendering may produce (a runaway `range` or `printf` must not eat the gateway's memory). */
export const MAX_TEMPLATE_OUTPUT = 1024 * 1024;
/** Iterations of all `range` loops of one rendering. */
export const MAX_RANGE_ITERATIONS = 100_000;
/** Depth of nested blocks and parentheses a template may use (keeps the parser's recursion bounded). */
const MAX_NESTING = 100;
/** Depth of nested values printed or encoded. */
const MAX_VALUE_DEPTH = 100;

/** A template failed while rendering (index out of range, a missing field, a runaway loop, …). */
export class TemplateExecutionError extends GatehouseError {
  /** Where the template sits, e.g. `rule "api" mutators[0] (header): config.headers.X-User`. */
  readonly where: string;

  constructor(where: string, problem: string, options: GatehouseErrorOptions = {}) {
    super("internal", `${where}: ${problem}`, { reason: "template_execution_failed", ...options });
    this.name = "TemplateExecutionError";
    this.where = where;
  }
}

/** Parses once; throws InvalidArgumentError naming `where` and the position/problem for bad syntax or unknown functions. */
export function compileTemplate(source: string, where: string): CompiledTemplate {
  const info = new SourceInfo(source, where);
  const fail = (pos: number, problem: string): never => {
    const { line, column } = info.lineCol(pos);
    throw new InvalidArgumentError(`${where}: template syntax error at line ${line}, column ${column}: ${problem}`, {
      reason: "invalid_template",
      details: { line, column },
    });
  };
  const items = lexTemplate(source, fail);
  // Plain text renders as itself: no closures, no state.
  if (items.length === 0) return constantTemplate(source, "");
  const only = items[0];
  if (items.length === 1 && only !== undefined && only.k === "text") return constantTemplate(source, only.text);

  const parser = new Parser(source, items, fail);
  const nodes = parser.parse();
  const body = new Compiler(info, fail).list(nodes);
  const slots = parser.slotCount;
  return Object.freeze({
    source,
    render(data: unknown): string {
      const vars = new Array<unknown>(slots);
      vars[0] = data;
      const state = new State(vars);
      try {
        body(state, data);
      } catch (err) {
        if (err instanceof TemplateExecutionError) throw err;
        throw new TemplateExecutionError(where, "template failed", { cause: err });
      }
      return state.out;
    },
  });
}

function constantTemplate(source: string, text: string): CompiledTemplate {
  return Object.freeze({ source, render: (_data: unknown): string => text });
}

// ---------------------------------------------------------------------------------------------------------
// Go values
// ---------------------------------------------------------------------------------------------------------

const GO_TYPE = Symbol("go.type");
const GO_METHODS = Symbol("go.methods");
const GO_JSON = Symbol("go.json");
const TIME_MILLIS = Symbol("go.time");

type Method = (...args: unknown[]) => unknown;
type MethodTable = Readonly<Record<string, Method>>;
interface GoObject {
  [GO_TYPE]?: string;
  [GO_METHODS]?: MethodTable;
  [GO_JSON]?: () => unknown;
  [TIME_MILLIS]?: number;
}
type Obj = Record<string, unknown> & GoObject;

/** A failure inside a function or method; the evaluator adds `where` and the position. */
class Problem extends Error {}

function isMap(v: object): boolean {
  if ((v as GoObject)[GO_TYPE] !== undefined || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function hasEntry(map: object, key: string): boolean {
  return Object.prototype.propertyIsEnumerable.call(map, key);
}

function methodOf(obj: object, name: string): Method | undefined {
  const table = (obj as GoObject)[GO_METHODS];
  return table !== undefined && Object.hasOwn(table, name) ? table[name] : undefined;
}

function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return "<nil>";
  switch (typeof v) {
    case "string":
      return "string";
    case "number":
      return Number.isSafeInteger(v) ? "int" : "float64";
    case "boolean":
      return "bool";
    case "function":
      return "func";
    case "object": {
      if (Array.isArray(v)) return "[]interface {}";
      const type = (v as GoObject)[GO_TYPE];
      if (type !== undefined) return type;
      if (isMap(v)) return "map[string]interface {}";
      return (v as { constructor?: { name?: string } }).constructor?.name ?? "object";
    }
    default:
      return typeof v;
  }
}

/** Go's truth: false, 0, "", nil and empty slices/maps are false; structs are true. */
function truth(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  switch (typeof v) {
    case "boolean":
      return v;
    case "number":
      return v !== 0;
    case "string":
      return v.length > 0;
    case "object":
      if (Array.isArray(v)) return v.length > 0;
      if (isMap(v)) {
        for (const key in v) if (Object.hasOwn(v, key)) return true;
        return false;
      }
      return true;
    default:
      return true;
  }
}

// --- printing (fmt's %v) ----------------------------------------------------------------------------------

function formatNumber(n: number): string {
  if (Number.isSafeInteger(n)) return String(n);
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "+Inf" : "-Inf";
  return formatFloat(n);
}

/** A float64 as Go's %v prints it: shortest digits, exponent form below 1e-4 and from 1e6 (`1.5e+06`). */
function formatFloat(n: number): string {
  const e = n.toExponential();
  const at = e.indexOf("e");
  const exp = Number(e.slice(at + 1));
  if (exp < -4 || exp >= 6) return `${e.slice(0, at)}e${goExponent(exp)}`;
  return String(n);
}

function goExponent(exp: number): string {
  const abs = Math.abs(exp);
  return `${exp < 0 ? "-" : "+"}${abs < 10 ? "0" : ""}${abs}`;
}

function formatValue(v: unknown, depth = 0): string {
  if (v === null || v === undefined) return "<nil>";
  switch (typeof v) {
    case "string":
      return v;
    case "number":
      return formatNumber(v);
    case "boolean":
      return v ? "true" : "false";
    case "object":
      return formatObject(v, depth);
    case "function":
      return "<func>";
    default:
      return String(v);
  }
}

function formatObject(v: object, depth: number): string {
  if (depth >= MAX_VALUE_DEPTH) throw new Problem("value nested too deeply to print");
  if (Array.isArray(v)) {
    let out = "[";
    for (let i = 0; i < v.length; i++) out += (i > 0 ? " " : "") + formatValue(v[i], depth + 1);
    return `${out}]`;
  }
  const stringer = methodOf(v, "String");
  if (stringer !== undefined) return String(stringer.call(v));
  const type = (v as GoObject)[GO_TYPE];
  if (type !== undefined) {
    const fields = Object.keys(v).map((k) => formatValue((v as Obj)[k], depth + 1));
    return `${type.startsWith("*") ? "&" : ""}{${fields.join(" ")}}`;
  }
  if (isMap(v)) {
    const keys = Object.keys(v).sort();
    let out = "map[";
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      out += `${i > 0 ? " " : ""}${k}:${formatValue((v as Obj)[k], depth + 1)}`;
    }
    return `${out}]`;
  }
  return String(v);
}

/** fmt.Sprint: a space between operands when neither side is a string. */
function sprint(args: readonly unknown[]): string {
  let out = "";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (i > 0 && typeof arg !== "string" && typeof args[i - 1] !== "string") out += " ";
    out += formatValue(arg);
  }
  return out;
}

function sprintln(args: readonly unknown[]): string {
  return `${args.map((a) => formatValue(a)).join(" ")}\n`;
}

/** sprig's strval. */
function strval(v: unknown): string {
  return typeof v === "string" ? v : formatValue(v);
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** strconv.Quote (or QuoteRune with `'`). */
function goQuote(s: string, quote: '"' | "'" = '"'): string {
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c === 0x07) out += "\\a";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x0b) out += "\\v";
    else if (c < 0x80) out += `\\x${hex(c, 2)}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += "\\ufffd";
    else if (PRINTABLE.test(ch)) out += ch;
    else out += c <= 0xffff ? `\\u${hex(c, 4)}` : `\\U${hex(c, 8)}`;
  }
  return out + quote;
}

// --- encoding/json, as sprig's toJson uses it ------------------------------------------------------------

function goJson(v: unknown, depth: number): string {
  if (v === null || v === undefined) return "null";
  switch (typeof v) {
    case "string":
      return jsonString(v);
    case "number":
      if (!Number.isFinite(v)) throw new Problem(`json: unsupported value: ${formatNumber(v)}`);
      return String(v);
    case "boolean":
      return v ? "true" : "false";
    case "object":
      break;
    default:
      throw new Problem(`json: unsupported type: ${goTypeName(v)}`);
  }
  if (depth >= MAX_VALUE_DEPTH) throw new Problem("json: value nested too deeply");
  if (Array.isArray(v)) return `[${v.map((x) => goJson(x, depth + 1)).join(",")}]`;
  const custom = (v as GoObject)[GO_JSON];
  if (custom !== undefined) {
    // A struct's JSON form: a plain object whose keys are in field order (Go keeps that order).
    const shape = custom();
    return shape !== null && typeof shape === "object" && isMap(shape) ? jsonObject(shape as Obj, Object.keys(shape), depth) : goJson(shape, depth + 1);
  }
  const struct = (v as GoObject)[GO_TYPE] !== undefined;
  if (!struct && !isMap(v)) throw new Problem(`json: unsupported type: ${goTypeName(v)}`);
  // Go sorts map keys; struct fields keep their declaration order.
  return jsonObject(v as Obj, struct ? Object.keys(v) : Object.keys(v).sort(), depth);
}

function jsonObject(v: Obj, keys: readonly string[], depth: number): string {
  return `{${keys.map((k) => `${jsonString(k)}:${goJson(v[k], depth + 1)}`).join(",")}}`;
}

/** A JSON string as Go writes it: HTML-safe (`<`, `>`, `&` escaped), U+2028/2029 escaped. */
function jsonString(s: string): string {
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c === 0x22) rep = '\\"';
    else if (c === 0x5c) rep = "\\\\";
    else if (c < 0x20) rep = c === 0x0a ? "\\n" : c === 0x0d ? "\\r" : c === 0x09 ? "\\t" : c === 0x08 ? "\\b" : c === 0x0c ? "\\f" : `\\u${hex(c, 4)}`;
    else if (c === 0x3c || c === 0x3e || c === 0x26 || c === 0x2028 || c === 0x2029) rep = `\\u${hex(c, 4)}`;
    else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      rep = "\\ufffd";
    }
    if (rep !== undefined) {
      out += s.slice(from, i) + rep;
      from = i + 1;
    }
  }
  return `${out}${s.slice(from)}"`;
}

// --- escapers ------------------------------------------------------------------------------------------

const HEX_UPPER = "0123456789ABCDEF";

/** url.QueryEscape. */
function queryEscape(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    if ((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x5f || b === 0x2e || b === 0x7e) {
      out += String.fromCharCode(b);
    } else if (b === 0x20) out += "+";
    else out += `%${HEX_UPPER[b >> 4]}${HEX_UPPER[b & 15]}`;
  }
  return out;
}

/** template.HTMLEscapeString. */
function htmlEscape(s: string): string {
  let out = "";
  for (const ch of s) {
    switch (ch) {
      case '"':
        out += "&#34;";
        break;
      case "'":
        out += "&#39;";
        break;
      case "&":
        out += "&amp;";
        break;
      case "<":
        out += "&lt;";
        break;
      case ">":
        out += "&gt;";
        break;
      case "\0":
        out += "\uFFFD";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

/** template.JSEscapeString. */
function jsEscape(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === "\\" || ch === "'" || ch === '"') out += `\\${ch}`;
    else if (ch === "<" || ch === ">" || ch === "&" || ch === "=") out += `\\u${hex(c, 4).toUpperCase()}`;
    else if (c < 0x20) out += `\\u${hex(c, 4).toUpperCase()}`;
    else if (c < 0x80 || PRINTABLE.test(ch)) out += ch;
    else out += `\\u${hex(c, 4).toUpperCase()}`;
  }
  return out;
}

/** The argument handling of Go's html/js/urlquery: one string as is, anything else through fmt.Sprint. */
function evalArgs(args: readonly unknown[]): string {
  const [first] = args;
  return args.length === 1 && typeof first === "string" ? first : sprint(args);
}

// --- printf -------------------------------------------------------------------------------------------------

function sprintf(format: string, args: readonly unknown[]): string {
  let out = "";
  let next = 0;
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf("%", i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    let minus = false;
    let zero = false;
    let plus = false;
    for (; i < format.length; i++) {
      const c = format[i];
      if (c === "-") minus = true;
      else if (c === "0") zero = true;
      else if (c === "+") plus = true;
      else if (c !== "#" && c !== " ") break;
    }
    let width = -1;
    for (; i < format.length && format.charCodeAt(i) >= 0x30 && format.charCodeAt(i) <= 0x39; i++) {
      width = Math.max(width, 0) * 10 + format.charCodeAt(i) - 0x30;
    }
    let prec = -1;
    if (format[i] === ".") {
      prec = 0;
      for (i++; i < format.length && format.charCodeAt(i) >= 0x30 && format.charCodeAt(i) <= 0x39; i++) prec = prec * 10 + format.charCodeAt(i) - 0x30;
    }
    if (width > MAX_TEMPLATE_OUTPUT || prec > MAX_TEMPLATE_OUTPUT) throw new Problem("printf width or precision too large");
    const verb = format[i];
    if (verb === undefined) {
      out += "%!(NOVERB)";
      break;
    }
    i++;
    if (verb === "%") {
      out += "%";
      continue;
    }
    if (next >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const arg = args[next++];
    let s = formatVerb(verb, arg, prec, plus, 0);
    if (width > s.length) {
      if (minus) s = s.padEnd(width);
      else if (zero && typeof arg === "number" && "dfFeEgxX".includes(verb)) {
        s = s.startsWith("-") || s.startsWith("+") ? s[0] + s.slice(1).padStart(width - 1, "0") : s.padStart(width, "0");
      } else s = s.padStart(width);
    }
    out += s;
  }
  if (next < args.length) {
    const extra = args.slice(next).map((a) => (a === null || a === undefined ? "<nil>" : `${goTypeName(a)}=${formatValue(a)}`));
    out += `%!(EXTRA ${extra.join(", ")})`;
  }
  return out;
}

function badVerb(verb: string, arg: unknown): string {
  return arg === null || arg === undefined ? `%!${verb}(<nil>)` : `%!${verb}(${goTypeName(arg)}=${formatValue(arg)})`;
}

function formatVerb(verb: string, arg: unknown, prec: number, plus: boolean, depth: number): string {
  if (verb === "v") return formatValue(arg);
  if (verb === "T") return goTypeName(arg);
  if (depth >= MAX_VALUE_DEPTH) throw new Problem("value nested too deeply to print");
  // fmt applies the verb to the elements of slices and maps.
  if (Array.isArray(arg)) return `[${arg.map((x) => formatVerb(verb, x, prec, plus, depth + 1)).join(" ")}]`;
  if (arg !== null && typeof arg === "object" && isMap(arg)) {
    const keys = Object.keys(arg).sort();
    return `map[${keys.map((k) => `${formatVerb(verb, k, prec, plus, depth + 1)}:${formatVerb(verb, (arg as Obj)[k], prec, plus, depth + 1)}`).join(" ")}]`;
  }
  const int = typeof arg === "number" && Number.isSafeInteger(arg);
  switch (verb) {
    case "s":
      if (typeof arg === "string") return prec >= 0 ? Array.from(arg).slice(0, prec).join("") : arg;
      if (arg !== null && typeof arg === "object" && methodOf(arg, "String") !== undefined) return formatValue(arg);
      return badVerb(verb, arg);
    case "q":
      if (typeof arg === "string") return goQuote(arg);
      if (int && (arg as number) >= 0 && (arg as number) <= 0x10ffff) return goQuote(String.fromCodePoint(arg as number), "'");
      return badVerb(verb, arg);
    case "d":
      return int ? `${plus && (arg as number) >= 0 ? "+" : ""}${arg as number}` : badVerb(verb, arg);
    case "t":
      return typeof arg === "boolean" ? String(arg) : badVerb(verb, arg);
    case "x":
    case "X": {
      let s: string | undefined;
      if (typeof arg === "string") s = Buffer.from(arg, "utf8").toString("hex");
      else if (int) s = (arg as number).toString(16);
      if (s === undefined) return badVerb(verb, arg);
      return verb === "X" ? s.toUpperCase() : s;
    }
    case "f":
    case "F":
      return typeof arg === "number" ? `${plus && arg >= 0 ? "+" : ""}${arg.toFixed(Math.min(prec < 0 ? 6 : prec, 100))}` : badVerb(verb, arg);
    case "e":
    case "E": {
      if (typeof arg !== "number") return badVerb(verb, arg);
      const e = arg.toExponential(Math.min(prec < 0 ? 6 : prec, 100));
      const at = e.indexOf("e");
      const s = `${e.slice(0, at)}e${goExponent(Number(e.slice(at + 1)))}`;
      return verb === "E" ? s.toUpperCase() : s;
    }
    case "g":
      return typeof arg === "number" ? (Number.isFinite(arg) ? formatFloat(arg) : formatNumber(arg)) : badVerb(verb, arg);
    case "c":
      return int && (arg as number) >= 0 && (arg as number) <= 0x10ffff ? String.fromCodePoint(arg as number) : badVerb(verb, arg);
    case "U":
      return int && (arg as number) >= 0 ? `U+${hex(arg as number, 4).toUpperCase()}` : badVerb(verb, arg);
    default:
      return badVerb(verb, arg);
  }
}

// --- builtins and functions -------------------------------------------------------------------------------

function stringArg(args: readonly unknown[], i: number): string {
  const v = args[i];
  if (typeof v === "string") return v;
  throw new Problem(`wrong type for argument ${i + 1}; expected string, got ${goTypeName(v)}`);
}

function intArg(args: readonly unknown[], i: number): number {
  const v = args[i];
  if (typeof v === "number" && Number.isInteger(v)) return v;
  throw new Problem(`wrong type for argument ${i + 1}; expected int, got ${goTypeName(v)}`);
}

function boolArg(args: readonly unknown[], i: number): boolean {
  const v = args[i];
  if (typeof v === "boolean") return v;
  throw new Problem(`wrong type for argument ${i + 1}; expected bool, got ${goTypeName(v)}`);
}

function mapArg(args: readonly unknown[], i: number): Obj {
  const v = args[i];
  if (v !== null && typeof v === "object" && isMap(v)) return v as Obj;
  throw new Problem(`wrong type for argument ${i + 1}; expected map[string]interface {}, got ${goTypeName(v)}`);
}

function listArg(args: readonly unknown[], i: number): readonly unknown[] {
  const v = args[i];
  if (Array.isArray(v)) return v;
  throw new Problem(`wrong type for argument ${i + 1}; expected a list, got ${goTypeName(v)}`);
}

function timeArg(args: readonly unknown[], i: number): number {
  const v = args[i];
  const millis = v !== null && typeof v === "object" ? (v as GoObject)[TIME_MILLIS] : undefined;
  if (millis !== undefined) return millis;
  throw new Problem(`wrong type for argument ${i + 1}; expected time.Time, got ${goTypeName(v)}`);
}

type BasicKind = "nil" | "bool" | "number" | "string" | "other";

function basicKind(v: unknown): BasicKind {
  if (v === null || v === undefined) return "nil";
  switch (typeof v) {
    case "boolean":
      return "bool";
    case "number":
      return "number";
    case "string":
      return "string";
    default:
      return "other";
  }
}

function goEqual(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka === "nil" || kb === "nil") return ka === kb;
  if (ka !== kb) throw new Problem("incompatible types for comparison");
  if (ka === "other" && (Array.isArray(a) || isMap(a as object) || Array.isArray(b) || isMap(b as object))) {
    throw new Problem(`non-comparable type ${goTypeName(Array.isArray(a) || isMap(a as object) ? a : b)}`);
  }
  return a === b;
}

function goLess(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka !== "number" && ka !== "string") throw new Problem("invalid type for comparison");
  if (ka !== kb) throw new Problem(kb === "number" || kb === "string" ? "incompatible types for comparison" : "invalid type for comparison");
  return (a as number | string) < (b as number | string);
}

function goLen(v: unknown): number {
  if (typeof v === "string") return Buffer.byteLength(v, "utf8");
  if (Array.isArray(v)) return v.length;
  if (v !== null && typeof v === "object" && isMap(v)) return Object.keys(v).length;
  throw new Problem(v === null || v === undefined ? "len of nil pointer" : `len of type ${goTypeName(v)}`);
}

function goIndex(args: readonly unknown[]): unknown {
  let item = args[0];
  for (let i = 1; i < args.length; i++) {
    const key = args[i];
    if (item === null || item === undefined) throw new Problem("index of untyped nil");
    if (Array.isArray(item) || typeof item === "string") {
      if (typeof key !== "number" || !Number.isInteger(key)) throw new Problem(`cannot index slice/array with type ${goTypeName(key)}`);
      const bytes = typeof item === "string" ? Buffer.from(item, "utf8") : undefined;
      const length = bytes !== undefined ? bytes.length : (item as readonly unknown[]).length;
      if (key < 0 || key >= length) throw new Problem(`index out of range: ${key}`);
      item = bytes !== undefined ? bytes[key] : (item as readonly unknown[])[key];
    } else if (typeof item === "object" && isMap(item)) {
      if (typeof key !== "string") throw new Problem(`value has type ${goTypeName(key)}; should be string`);
      item = hasEntry(item, key) ? (item as Obj)[key] : undefined;
    } else {
      throw new Problem(`can't index item of type ${goTypeName(item)}`);
    }
  }
  return item;
}

/** Oathkeeper's printIndex: element i of a slice printed with %v, "" for nil, non-slices and i ≥ len. */
function printIndex(list: unknown, i: number): string {
  if (!Array.isArray(list) || i >= list.length) return "";
  // Go's reflect indexing panics on a negative index; the template turns that into an error.
  if (i < 0) throw new Problem(`index out of range: ${i}`);
  return formatValue(list[i]);
}

function isGoSpace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) ||
    c === 0x20 ||
    c === 0x85 ||
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** strings.TrimSpace. */
function trimSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isGoSpace(s.charCodeAt(start))) start++;
  while (end > start && isGoSpace(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

const LETTER_OR_DIGIT = /^[\p{L}\p{N}]$/u;

/** strings.Title: upper-cases the first letter of each word. */
function goTitle(s: string): string {
  let out = "";
  let prev = " ";
  for (const ch of s) {
    out += isWordSeparator(prev) ? ch.toUpperCase() : ch;
    prev = ch;
  }
  return out;
}

function isWordSeparator(ch: string): boolean {
  const c = ch.codePointAt(0) as number;
  if (c < 0x80) return !((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f);
  if (LETTER_OR_DIGIT.test(ch)) return false;
  return isGoSpace(c);
}

/** strings.Replace(s, old, new, -1), refusing a result beyond the output cap before building it. */
function replaceAll(s: string, old: string, replacement: string): string {
  let count = 0;
  if (old === "") count = s.length + 1;
  else for (let at = s.indexOf(old); at >= 0; at = s.indexOf(old, at + old.length)) count++;
  if (s.length + count * (replacement.length - old.length) > MAX_TEMPLATE_OUTPUT) {
    throw new Problem(`result would exceed ${MAX_TEMPLATE_OUTPUT} characters`);
  }
  // A function replacer: `$&` and friends in the replacement must stay literal.
  return s.replaceAll(old, () => replacement);
}

/** strings.Split. */
function goSplit(s: string, sep: string): string[] {
  return sep === "" ? Array.from(s) : s.split(sep);
}

/** sprig's strslice: list elements (nil dropped) as strings, a scalar as a one-element list. */
function strslice(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x) => x !== null && x !== undefined).map(strval);
  if (v === null || v === undefined) return [];
  return [strval(v)];
}

function newMap(): Obj {
  return Object.create(null) as Obj;
}

function makeDict(args: readonly unknown[]): Obj {
  const dict = newMap();
  for (let i = 0; i < args.length; i += 2) dict[strval(args[i])] = i + 1 < args.length ? args[i + 1] : "";
  return dict;
}

function b64dec(s: string): string {
  // Go's StdEncoding is strict (padding required, nothing outside the alphabet) and sprig returns the error text.
  const clean = s.includes("\r") || s.includes("\n") ? s.split("\r").join("").split("\n").join("") : s;
  for (let i = 0; i < clean.length; i++) {
    const c = clean.charCodeAt(i);
    const alphabet = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
    if (alphabet) continue;
    const padding = c === 0x3d && clean.length % 4 === 0 && (i === clean.length - 1 || (i === clean.length - 2 && clean[i + 1] === "="));
    if (!padding) return `illegal base64 data at input byte ${i}`;
  }
  if (clean.length % 4 !== 0) return `illegal base64 data at input byte ${clean.length - (clean.length % 4)}`;
  return Buffer.from(clean, "base64").toString("utf8");
}

function toJson(v: unknown): string {
  try {
    return goJson(v, 0);
  } catch (err) {
    // sprig's toJson drops the encoding error and yields "".
    if (err instanceof Problem) return "";
    throw err;
  }
}

function timeValue(millis: number): Obj {
  const iso = (): string => new Date(millis).toISOString();
  const value: Obj = {
    [GO_TYPE]: "time.Time",
    [TIME_MILLIS]: millis,
    [GO_METHODS]: {
      String: fixedArity("String", 0, () => {
        const [date, time] = iso().slice(0, -1).split("T") as [string, string];
        return `${date} ${trimFraction(time)} +0000 UTC`;
      }),
      Unix: fixedArity("Unix", 0, () => Math.floor(millis / 1000)),
      UnixMilli: fixedArity("UnixMilli", 0, () => millis),
    },
    [GO_JSON]: () => `${trimFraction(iso().slice(0, -1))}Z`,
  };
  return value;
}

/** Go prints fractional seconds without trailing zeros (and none for whole seconds). */
function trimFraction(time: string): string {
  const dot = time.lastIndexOf(".");
  if (dot < 0) return time;
  let end = time.length;
  while (end > dot + 1 && time[end - 1] === "0") end--;
  return end === dot + 1 ? time.slice(0, dot) : time.slice(0, end);
}

interface FuncDef {
  readonly min: number;
  readonly max: number;
  readonly fn: (args: unknown[]) => unknown;
  /** `and`/`or` evaluate their arguments lazily, stopping at the deciding one. */
  readonly lazy?: "and" | "or";
}

const VARIADIC = Number.POSITIVE_INFINITY;

function fnDef(min: number, max: number, fn: (args: unknown[]) => unknown): FuncDef {
  return { min, max, fn };
}

function notNil(v: unknown): boolean {
  return v !== null && v !== undefined;
}

const FUNCS: ReadonlyMap<string, FuncDef> = new Map<string, FuncDef>([
  // Go's builtins.
  ["and", { min: 1, max: VARIADIC, fn: () => undefined, lazy: "and" }],
  ["or", { min: 1, max: VARIADIC, fn: () => undefined, lazy: "or" }],
  ["not", fnDef(1, 1, (a) => !truth(a[0]))],
  ["len", fnDef(1, 1, (a) => goLen(a[0]))],
  ["index", fnDef(1, VARIADIC, goIndex)],
  // Oathkeeper replaces `print`: one operand, nil prints as "". Several operands print as fmt.Sprint does.
  ["print", fnDef(0, VARIADIC, (a) => (a.length === 1 ? (notNil(a[0]) ? formatValue(a[0]) : "") : sprint(a)))],
  ["printf", fnDef(1, VARIADIC, (a) => sprintf(stringArg(a, 0), a.slice(1)))],
  ["println", fnDef(0, VARIADIC, sprintln)],
  ["urlquery", fnDef(0, VARIADIC, (a) => queryEscape(evalArgs(a)))],
  ["html", fnDef(0, VARIADIC, (a) => htmlEscape(evalArgs(a)))],
  ["js", fnDef(0, VARIADIC, (a) => jsEscape(evalArgs(a)))],
  ["eq", fnDef(2, VARIADIC, (a) => a.slice(1).some((b) => goEqual(a[0], b)))],
  ["ne", fnDef(2, 2, (a) => !goEqual(a[0], a[1]))],
  ["lt", fnDef(2, 2, (a) => goLess(a[0], a[1]))],
  ["le", fnDef(2, 2, (a) => goLess(a[0], a[1]) || goEqual(a[0], a[1]))],
  ["gt", fnDef(2, 2, (a) => !(goLess(a[0], a[1]) || goEqual(a[0], a[1])))],
  ["ge", fnDef(2, 2, (a) => !goLess(a[0], a[1]))],
  // Oathkeeper's own.
  ["printIndex", fnDef(2, 2, (a) => printIndex(a[0], intArg(a, 1)))],
  // sprig.
  ["default", fnDef(1, VARIADIC, (a) => (a.length > 1 && truth(a[1]) ? a[1] : a[0]))],
  ["empty", fnDef(1, 1, (a) => !truth(a[0]))],
  ["coalesce", fnDef(0, VARIADIC, (a) => a.find(truth))],
  ["ternary", fnDef(3, 3, (a) => (boolArg(a, 2) ? a[0] : a[1]))],
  ["quote", fnDef(0, VARIADIC, (a) => a.filter(notNil).map((v) => goQuote(strval(v))).join(" "))],
  ["squote", fnDef(0, VARIADIC, (a) => a.filter(notNil).map((v) => `'${strval(v)}'`).join(" "))],
  ["cat", fnDef(0, VARIADIC, (a) => a.filter(notNil).map(strval).join(" "))],
  ["lower", fnDef(1, 1, (a) => stringArg(a, 0).toLowerCase())],
  ["upper", fnDef(1, 1, (a) => stringArg(a, 0).toUpperCase())],
  ["title", fnDef(1, 1, (a) => goTitle(stringArg(a, 0)))],
  ["trim", fnDef(1, 1, (a) => trimSpace(stringArg(a, 0)))],
  ["trimPrefix", fnDef(2, 2, (a) => {
    const [prefix, s] = [stringArg(a, 0), stringArg(a, 1)];
    return s.startsWith(prefix) ? s.slice(prefix.length) : s;
  })],
  ["trimSuffix", fnDef(2, 2, (a) => {
    const [suffix, s] = [stringArg(a, 0), stringArg(a, 1)];
    return suffix !== "" && s.endsWith(suffix) ? s.slice(0, s.length - suffix.length) : s;
  })],
  ["hasPrefix", fnDef(2, 2, (a) => stringArg(a, 1).startsWith(stringArg(a, 0)))],
  ["hasSuffix", fnDef(2, 2, (a) => stringArg(a, 1).endsWith(stringArg(a, 0)))],
  ["contains", fnDef(2, 2, (a) => stringArg(a, 1).includes(stringArg(a, 0)))],
  ["replace", fnDef(3, 3, (a) => replaceAll(stringArg(a, 2), stringArg(a, 0), stringArg(a, 1)))],
  ["split", fnDef(2, 2, (a) => {
    const parts = goSplit(stringArg(a, 1), stringArg(a, 0));
    const map = newMap();
    parts.forEach((part, i) => (map[`_${i}`] = part));
    return map;
  })],
  ["splitList", fnDef(2, 2, (a) => goSplit(stringArg(a, 1), stringArg(a, 0)))],
  ["join", fnDef(2, 2, (a) => strslice(a[1]).join(stringArg(a, 0)))],
  ["toJson", fnDef(1, 1, (a) => toJson(a[0]))],
  ["toString", fnDef(1, 1, (a) => strval(a[0]))],
  ["b64enc", fnDef(1, 1, (a) => Buffer.from(stringArg(a, 0), "utf8").toString("base64"))],
  ["b64dec", fnDef(1, 1, (a) => b64dec(stringArg(a, 0)))],
  ["list", fnDef(0, VARIADIC, (a) => a)],
  ["dict", fnDef(0, VARIADIC, makeDict)],
  ["get", fnDef(2, 2, (a) => {
    const [map, key] = [mapArg(a, 0), stringArg(a, 1)];
    return hasEntry(map, key) ? map[key] : "";
  })],
  ["hasKey", fnDef(2, 2, (a) => hasEntry(mapArg(a, 0), stringArg(a, 1)))],
  ["keys", fnDef(0, VARIADIC, (a) => a.flatMap((_, i) => Object.keys(mapArg(a, i)).sort()))],
  ["first", fnDef(1, 1, (a) => listArg(a, 0)[0])],
  ["last", fnDef(1, 1, (a) => {
    const list = listArg(a, 0);
    return list[list.length - 1];
  })],
  ["now", fnDef(0, 0, () => timeValue(Date.now()))],
  ["unixEpoch", fnDef(1, 1, (a) => String(Math.floor(timeArg(a, 0) / 1000)))],
]);

// ---------------------------------------------------------------------------------------------------------
// The session as Go's template data
// ---------------------------------------------------------------------------------------------------------

/** The Go-shaped data for a session: { Subject, Extra, Header (the outgoing header map), MatchContext: { RegexpCaptureGroups, URL, Method, Header } } */
export function templateDataOf(session: AuthenticationSession): Record<string, unknown> {
  // Header maps and the URL are built on first read: most templates only read .Subject and .Extra.
  let header: Obj | undefined;
  let matchContext: Obj | undefined;
  const data: Obj = {
    [GO_TYPE]: "*authn.AuthenticationSession",
    [GO_JSON]: () => ({
      subject: session.subject,
      extra: session.extra,
      header: headerMapOf(session.header),
      match_context: matchContextOf(session.matchContext),
    }),
    Subject: session.subject,
    Extra: session.extra,
    get Header(): Obj {
      return (header ??= headerMapOf(session.header));
    },
    get MatchContext(): Obj {
      return (matchContext ??= matchContextOf(session.matchContext));
    },
  };
  return data;
}

function matchContextOf(mc: MatchContext): Obj {
  let url: Obj | undefined;
  let header: Obj | undefined;
  return {
    [GO_TYPE]: "authn.MatchContext",
    [GO_JSON]: () => ({
      regexp_capture_groups: mc.regexpCaptureGroups,
      url: urlOf(mc.url),
      method: mc.method,
      header: headerMapOf(mc.header),
    }),
    RegexpCaptureGroups: mc.regexpCaptureGroups,
    get URL(): Obj {
      return (url ??= urlOf(mc.url));
    },
    Method: mc.method,
    get Header(): Obj {
      return (header ??= headerMapOf(mc.header));
    },
  };
}

function fixedArity(name: string, arity: number, impl: Method): Method {
  return (...args: unknown[]) => {
    if (args.length !== arity) throw new Problem(`wrong number of args for ${name}: want ${arity} got ${args.length}`);
    return impl(...args);
  };
}

function decodeOr(raw: string): string {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** A Go *url.URL: its exported fields and the methods templates use (`String`, `Query`, …). */
function urlOf(u: URL): Obj {
  const rawQuery = u.search.slice(1);
  return {
    [GO_TYPE]: "*url.URL",
    [GO_METHODS]: {
      String: fixedArity("String", 0, () => u.href),
      Query: fixedArity("Query", 0, () => queryValuesOf(rawQuery)),
      Hostname: fixedArity("Hostname", 0, () => (u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname)),
      Port: fixedArity("Port", 0, () => u.port),
      EscapedPath: fixedArity("EscapedPath", 0, () => u.pathname),
      RequestURI: fixedArity("RequestURI", 0, () => u.pathname + u.search),
      IsAbs: fixedArity("IsAbs", 0, () => true),
    },
    // Go's field order (fmt and encoding/json use it).
    Scheme: u.protocol.slice(0, -1),
    Opaque: "",
    User: null,
    Host: u.host,
    // url.URL.Path and Fragment are the decoded forms.
    Path: decodeOr(u.pathname),
    RawPath: "",
    OmitHost: false,
    ForceQuery: false,
    RawQuery: rawQuery,
    Fragment: decodeOr(u.hash.slice(1)),
    RawFragment: "",
  };
}

function queryUnescape(s: string): string | undefined {
  try {
    return decodeURIComponent(s.includes("+") ? s.split("+").join(" ") : s);
  } catch {
    return undefined;
  }
}

/** url.Values of a raw query (url.ParseQuery: `&`-separated, pairs with `;` or bad escapes dropped). */
function queryValuesOf(rawQuery: string): Obj {
  const values = newMap();
  if (rawQuery !== "") {
    for (const part of rawQuery.split("&")) {
      if (part === "" || part.includes(";")) continue;
      const eq = part.indexOf("=");
      const key = queryUnescape(eq < 0 ? part : part.slice(0, eq));
      const value = eq < 0 ? "" : queryUnescape(part.slice(eq + 1));
      if (key === undefined || value === undefined) continue;
      const list = values[key] as string[] | undefined;
      if (list === undefined) values[key] = [value];
      else list.push(value);
    }
  }
  values[GO_METHODS] = {
    Get: fixedArity("Get", 1, (key) => firstOf(values, keyArg(key))),
    Has: fixedArity("Has", 1, (key) => hasEntry(values, keyArg(key))),
  };
  return values;
}

function keyArg(key: unknown): string {
  if (typeof key !== "string") throw new Problem(`wrong type for argument 1; expected string, got ${goTypeName(key)}`);
  return key;
}

function firstOf(map: Obj, key: string): string {
  if (!hasEntry(map, key)) return "";
  const list = map[key] as readonly string[];
  return list[0] ?? "";
}

const TOKEN_CHARS = (() => {
  const table = new Uint8Array(128);
  const chars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  return table;
})();

/** textproto.CanonicalMIMEHeaderKey: `x-api-version` → `X-Api-Version`; names with non-token bytes stay as they are. */
function canonicalHeaderKey(name: string): string {
  let out = "";
  let upper = true;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 128 || TOKEN_CHARS[c] !== 1) return name;
    if (upper && c >= 0x61 && c <= 0x7a) c -= 32;
    else if (!upper && c >= 0x41 && c <= 0x5a) c += 32;
    out += String.fromCharCode(c);
    upper = c === 0x2d;
  }
  return out;
}

/** An http.Header: canonical names to value lists, with `Get` (first value, "" when absent) and `Values`. */
function headerMapOf(headers: HeaderMap): Obj {
  const map = newMap();
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    const key = canonicalHeaderKey(name);
    const list = (map[key] as string[] | undefined) ?? (map[key] = []);
    if (typeof value === "string") (list as string[]).push(value);
    else (list as string[]).push(...value);
  }
  map[GO_METHODS] = {
    Get: fixedArity("Get", 1, (name) => firstOf(map, canonicalHeaderKey(keyArg(name)))),
    Values: fixedArity("Values", 1, (name) => {
      const key = canonicalHeaderKey(keyArg(name));
      return hasEntry(map, key) ? map[key] : [];
    }),
  };
  return map;
}

// ---------------------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------------------

class SourceInfo {
  private starts: number[] | undefined;

  constructor(
    readonly text: string,
    readonly where: string,
  ) {}

  /** 1-based line and column of an offset (computed only when an error is reported). */
  lineCol(pos: number): { line: number; column: number } {
    if (this.starts === undefined) {
      const starts = [0];
      for (let i = this.text.indexOf("\n"); i >= 0; i = this.text.indexOf("\n", i + 1)) starts.push(i + 1);
      this.starts = starts;
    }
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= pos) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: pos - (this.starts[lo] as number) + 1 };
  }
}

type Fail = (pos: number, problem: string) => never;

type TokKind =
  | "field"
  | "var"
  | "ident"
  | "dot"
  | "nil"
  | "bool"
  | "string"
  | "number"
  | "pipe"
  | "lparen"
  | "rparen"
  | "declare"
  | "assign"
  | "comma";

interface Tok {
  readonly k: TokKind;
  readonly pos: number;
  readonly end: number;
  /** Whitespace precedes it (a field chain `.A.B` and operand separation depend on it). */
  readonly sp: boolean;
  /** Field name (without the dot), variable name (with `$`), identifier. */
  readonly name: string;
  readonly value: string | number | boolean | null;
}

type Item =
  | { readonly k: "text"; readonly text: string; readonly pos: number }
  | { readonly k: "action"; readonly toks: readonly Tok[]; readonly pos: number; readonly end: number };

function isSpace(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\r" || c === "\n";
}

function trimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length && isSpace(s[i])) i++;
  return s.slice(i);
}

function trimRightSpace(s: string): string {
  let i = s.length;
  while (i > 0 && isSpace(s[i - 1])) i--;
  return s.slice(0, i);
}

const WORD_CHAR = /^[\p{L}\p{Nd}_]$/u;

/** Length of the identifier character at `i` (letters, digits, `_`), 0 when there is none. */
function wordCharLength(src: string, i: number): number {
  const c = src.charCodeAt(i);
  if (Number.isNaN(c)) return 0;
  if (c < 0x80) return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f ? 1 : 0;
  const ch = String.fromCodePoint(src.codePointAt(i) as number);
  return WORD_CHAR.test(ch) ? ch.length : 0;
}

function scanWord(src: string, i: number): number {
  for (let n = wordCharLength(src, i); n > 0; n = wordCharLength(src, i)) i += n;
  return i;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function describeChar(src: string, i: number): string {
  const cp = src.codePointAt(i) as number;
  return `U+${hex(cp, 4).toUpperCase()} '${String.fromCodePoint(cp)}'`;
}

function lexTemplate(src: string, fail: Fail): Item[] {
  const items: Item[] = [];
  let i = 0;
  let trimNext = false;
  for (;;) {
    const open = src.indexOf("{{", i);
    let text = src.slice(i, open < 0 ? src.length : open);
    let textPos = i;
    if (trimNext) {
      const trimmed = trimLeftSpace(text);
      textPos += text.length - trimmed.length;
      text = trimmed;
    }
    if (open < 0) {
      if (text !== "") items.push({ k: "text", text, pos: textPos });
      return items;
    }
    let p = open + 2;
    // `{{- ` (dash and a space) trims the whitespace before the action; `{{-3}}` is the number -3.
    if (src[p] === "-" && isSpace(src[p + 1])) {
      text = trimRightSpace(text);
      p += 2;
    }
    if (text !== "") items.push({ k: "text", text, pos: textPos });
    if (src.startsWith("/*", p)) {
      const close = src.indexOf("*/", p + 2);
      if (close < 0) fail(open, "unclosed comment");
      const q = close + 2;
      if (src.startsWith("}}", q)) {
        i = q + 2;
        trimNext = false;
      } else if (isSpace(src[q]) && src.startsWith("-}}", q + 1)) {
        i = q + 4;
        trimNext = true;
      } else {
        fail(q, "comment ends before closing delimiter");
      }
      continue;
    }
    const action = lexAction(src, p, open, fail);
    items.push({ k: "action", toks: action.toks, pos: open, end: action.end });
    i = action.end;
    trimNext = action.trim;
  }
}

function atTerminator(src: string, q: number): boolean {
  if (q >= src.length) return true;
  const c = src[q];
  return isSpace(c) || c === "." || c === "," || c === "|" || c === ":" || c === "=" || c === ")" || c === "(" || src.startsWith("}}", q);
}

function lexAction(src: string, start: number, open: number, fail: Fail): { toks: Tok[]; end: number; trim: boolean } {
  const toks: Tok[] = [];
  let depth = 0;
  let sp = true;
  let p = start;
  const push = (k: TokKind, end: number, name = "", value: string | number | boolean | null = null): void => {
    toks.push({ k, pos: p, end, sp, name, value });
    sp = false;
    p = end;
  };
  for (;;) {
    if (p >= src.length) fail(open, "unclosed action");
    const c = src[p] as string;
    if (c === "}" && src[p + 1] === "}") {
      if (depth > 0) fail(p, "unclosed left paren");
      return { toks, end: p + 2, trim: false };
    }
    if (isSpace(c)) {
      // ` -}}` trims the whitespace after the action.
      if (src.startsWith("-}}", p + 1)) {
        if (depth > 0) fail(p, "unclosed left paren");
        return { toks, end: p + 4, trim: true };
      }
      p++;
      sp = true;
      continue;
    }
    switch (c) {
      case "|":
        push("pipe", p + 1);
        continue;
      case "(":
        depth++;
        push("lparen", p + 1);
        continue;
      case ")":
        if (--depth < 0) fail(p, "unexpected right paren");
        push("rparen", p + 1);
        continue;
      case ",":
        push("comma", p + 1);
        continue;
      case ":":
        if (src[p + 1] !== "=") fail(p, "expected :=");
        push("declare", p + 2);
        continue;
      case "=":
        push("assign", p + 1);
        continue;
      case '"': {
        let q = p + 1;
        for (;;) {
          const ch = src[q];
          if (ch === undefined || ch === "\n") fail(p, "unterminated quoted string");
          if (ch === '"') break;
          if (ch === "\\") {
            if (src[q + 1] === undefined || src[q + 1] === "\n") fail(p, "unterminated quoted string");
            q += 2;
          } else q++;
        }
        push("string", q + 1, "", unquote(src.slice(p + 1, q), '"', p, fail));
        continue;
      }
      case "`": {
        const q = src.indexOf("`", p + 1);
        if (q < 0) fail(p, "unterminated raw quoted string");
        // Go drops carriage returns from raw strings.
        push("string", q + 1, "", src.slice(p + 1, q).split("\r").join(""));
        continue;
      }
      case "'": {
        let q = p + 1;
        for (;;) {
          const ch = src[q];
          if (ch === undefined || ch === "\n") fail(p, "unterminated character constant");
          if (ch === "'") break;
          q += ch === "\\" ? 2 : 1;
        }
        const chars = Array.from(unquote(src.slice(p + 1, q), "'", p, fail));
        if (chars.length !== 1) fail(p, "malformed character constant");
        push("number", q + 1, "", (chars[0] as string).codePointAt(0) as number);
        continue;
      }
      case "$": {
        const q = scanWord(src, p + 1);
        if (!atTerminator(src, q)) fail(q, `bad character ${describeChar(src, q)}`);
        push("var", q, src.slice(p, q));
        continue;
      }
      case ".": {
        if (isDigit(src[p + 1])) break; // `.5` is a number
        if (wordCharLength(src, p + 1) === 0) {
          if (!atTerminator(src, p + 1)) fail(p + 1, `bad character ${describeChar(src, p + 1)}`);
          push("dot", p + 1);
          continue;
        }
        const q = scanWord(src, p + 1);
        if (!atTerminator(src, q)) fail(q, `bad character ${describeChar(src, q)}`);
        push("field", q, src.slice(p + 1, q));
        continue;
      }
      default:
        break;
    }
    if (c === "+" || c === "-" || c === "." || isDigit(c)) {
      const q = scanNumber(src, p);
      const text = src.slice(p, q);
      const value = parseGoNumber(text);
      if (value === undefined) fail(p, `bad number syntax: "${text}"`);
      push("number", q, "", value);
      continue;
    }
    if (wordCharLength(src, p) > 0) {
      const q = scanWord(src, p);
      if (!atTerminator(src, q)) fail(q, `bad character ${describeChar(src, q)}`);
      const word = src.slice(p, q);
      if (word === "true" || word === "false") push("bool", q, word, word === "true");
      else if (word === "nil") push("nil", q, word);
      else push("ident", q, word);
      continue;
    }
    fail(p, `unrecognized character in action: ${describeChar(src, p)}`);
  }
}

function scanNumber(src: string, p: number): number {
  let q = p;
  if (src[q] === "+" || src[q] === "-") q++;
  const hexadecimal = src[q] === "0" && (src[q + 1] === "x" || src[q + 1] === "X");
  while (q < src.length) {
    const c = src[q] as string;
    const prev = src[q - 1];
    if (wordCharLength(src, q) === 1 || c === ".") q++;
    else if ((c === "+" || c === "-") && !hexadecimal && (prev === "e" || prev === "E") && q > p + 1) q++;
    else break;
  }
  return q;
}

function parseGoNumber(text: string): number | undefined {
  let t = text;
  let sign = 1;
  if (t.startsWith("+") || t.startsWith("-")) {
    if (t.startsWith("-")) sign = -1;
    t = t.slice(1);
  }
  if (t.includes("_")) {
    if (t.startsWith("_") || t.endsWith("_") || t.includes("__")) return undefined;
    t = t.split("_").join("");
  }
  let value: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(t)) value = parseInt(t.slice(2), 16);
  else if (/^0[oO][0-7]+$/.test(t)) value = parseInt(t.slice(2), 8);
  else if (/^0[bB][01]+$/.test(t)) value = parseInt(t.slice(2), 2);
  else if (/^0[0-7]+$/.test(t)) value = parseInt(t, 8); // Go's legacy octal
  else if (/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) value = Number(t);
  else return undefined;
  return Number.isFinite(value) ? sign * value : undefined;
}

/** Go's escapes in "…" and '…' literals; \x and octal escapes are bytes, decoded as UTF-8 at the end. */
function unquote(body: string, quote: '"' | "'", pos: number, fail: Fail): string {
  if (!body.includes("\\")) return body;
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  const pushText = (s: string): void => {
    for (const b of encoder.encode(s)) bytes.push(b);
  };
  const hexAt = (from: number, n: number): number => {
    const digits = body.slice(from, from + n);
    if (digits.length !== n || !/^[0-9a-fA-F]+$/.test(digits)) fail(pos, "invalid escape in quoted string");
    return parseInt(digits, 16);
  };
  let i = 0;
  while (i < body.length) {
    const backslash = body.indexOf("\\", i);
    if (backslash < 0) {
      pushText(body.slice(i));
      break;
    }
    pushText(body.slice(i, backslash));
    const e = body[backslash + 1];
    i = backslash + 2;
    switch (e) {
      case "a":
        bytes.push(7);
        break;
      case "b":
        bytes.push(8);
        break;
      case "f":
        bytes.push(12);
        break;
      case "n":
        bytes.push(10);
        break;
      case "r":
        bytes.push(13);
        break;
      case "t":
        bytes.push(9);
        break;
      case "v":
        bytes.push(11);
        break;
      case "\\":
        bytes.push(0x5c);
        break;
      case '"':
      case "'":
        if (e !== quote) fail(pos, "invalid escape in quoted string");
        bytes.push(e.charCodeAt(0));
        break;
      case "x":
        bytes.push(hexAt(i, 2));
        i += 2;
        break;
      case "u":
      case "U": {
        const n = e === "u" ? 4 : 8;
        const cp = hexAt(i, n);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) fail(pos, "invalid escape in quoted string");
        pushText(String.fromCodePoint(cp));
        i += n;
        break;
      }
      default: {
        const digits = body.slice(i - 1, i + 2);
        if (!/^[0-7]{3}$/.test(digits) || parseInt(digits, 8) > 255) fail(pos, "invalid escape in quoted string");
        bytes.push(parseInt(digits, 8));
        i += 2;
      }
    }
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

// ---------------------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------------------

type Operand =
  | { readonly t: "fn"; readonly name: string; readonly pos: number }
  | { readonly t: "field"; readonly names: string[]; readonly pos: number }
  | { readonly t: "var"; readonly name: string; readonly slot: number; readonly names: string[]; readonly pos: number }
  | { readonly t: "chain"; readonly base: Operand; readonly names: string[]; readonly pos: number }
  | { readonly t: "pipe"; readonly pipe: Pipe; readonly pos: number }
  | { readonly t: "dot"; readonly pos: number }
  | { readonly t: "nil"; readonly pos: number }
  | { readonly t: "lit"; readonly value: string | number | boolean; readonly pos: number };

interface Command {
  readonly operands: readonly Operand[];
  readonly pos: number;
}

interface Pipe {
  /** Variable slots the pipeline declares or assigns (two only for `range $i, $v := …`). */
  readonly decl: readonly number[];
  readonly cmds: readonly Command[];
  readonly pos: number;
}

type Node =
  | { readonly t: "text"; readonly text: string; readonly pos: number }
  | { readonly t: "action"; readonly pipe: Pipe; readonly pos: number }
  | { readonly t: "if" | "with" | "range"; readonly pipe: Pipe; readonly list: readonly Node[]; readonly elseList: readonly Node[] | null; readonly pos: number }
  | { readonly t: "break" | "continue"; readonly pos: number };

interface Stop {
  readonly k: "end" | "else";
  readonly pos: number;
  readonly end: number;
  /** For `{{else if …}}`/`{{else with …}}`: the tokens from the keyword on. */
  readonly toks: readonly Tok[];
}

const KEYWORDS = new Set(["if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"]);

class Cursor {
  i = 0;
  constructor(
    readonly toks: readonly Tok[],
    /** Offset of the action's closing delimiter, for "missing value" errors. */
    readonly endPos: number,
  ) {}

  peek(offset = 0): Tok | undefined {
    return this.toks[this.i + offset];
  }
}

class Parser {
  /** Variables in scope, innermost last; slot 0 is `$`. */
  private readonly scopes: { name: string; slot: number }[] = [{ name: "$", slot: 0 }];
  slotCount = 1;
  private idx = 0;
  private rangeDepth = 0;
  private depth = 0;

  constructor(
    private readonly src: string,
    private readonly items: readonly Item[],
    private readonly fail: Fail,
  ) {}

  parse(): Node[] {
    const { nodes, stop } = this.list();
    if (stop !== null) this.fail(stop.pos, stop.k === "end" ? "unexpected {{end}} (no block to close)" : "unexpected {{else}} (no block to continue)");
    return nodes;
  }

  private describe(t: Tok): string {
    return JSON.stringify(this.src.slice(t.pos, t.end));
  }

  private list(): { nodes: Node[]; stop: Stop | null } {
    const nodes: Node[] = [];
    while (this.idx < this.items.length) {
      const item = this.items[this.idx++] as Item;
      if (item.k === "text") {
        nodes.push({ t: "text", text: item.text, pos: item.pos });
        continue;
      }
      const toks = item.toks;
      const first = toks[0];
      if (first === undefined) this.fail(item.pos, "missing value for command");
      if (first.k === "ident" && KEYWORDS.has(first.name)) {
        const second = toks[1];
        switch (first.name) {
          case "end":
            if (second !== undefined) this.fail(second.pos, `unexpected ${this.describe(second)} in end`);
            return { nodes, stop: { k: "end", pos: item.pos, end: item.end, toks: [] } };
          case "else":
            if (second !== undefined && !(second.k === "ident" && (second.name === "if" || second.name === "with"))) {
              this.fail(second.pos, `unexpected ${this.describe(second)} in else`);
            }
            return { nodes, stop: { k: "else", pos: item.pos, end: item.end, toks: toks.slice(1) } };
          case "if":
          case "with":
          case "range":
            nodes.push(this.control(first.name, toks, item.pos, item.end));
            continue;
          case "break":
          case "continue":
            if (this.rangeDepth === 0) this.fail(item.pos, `{{${first.name}}} outside {{range}}`);
            if (second !== undefined) this.fail(second.pos, `unexpected ${this.describe(second)} in {{${first.name}}}`);
            nodes.push({ t: first.name, pos: item.pos });
            continue;
          default:
            this.fail(first.pos, `{{${first.name}}} is not supported (a rule's template is self-contained)`);
        }
      }
      const cur = new Cursor(toks, item.end - 2);
      nodes.push({ t: "action", pipe: this.pipeline(cur, "command", 1, false), pos: item.pos });
    }
    return { nodes, stop: null };
  }

  private control(kind: "if" | "with" | "range", toks: readonly Tok[], pos: number, end: number): Node {
    if (++this.depth > MAX_NESTING) this.fail(pos, `blocks nested deeper than ${MAX_NESTING}`);
    const outer = this.scopes.length;
    const cur = new Cursor(toks, end - 2);
    cur.i = 1;
    const pipe = this.pipeline(cur, kind, kind === "range" ? 2 : 1, false);
    const inner = this.scopes.length;
    if (kind === "range") this.rangeDepth++;
    const body = this.list();
    if (kind === "range") this.rangeDepth--;
    // Variables declared inside the body end with it.
    this.scopes.length = inner;
    if (body.stop === null) this.fail(pos, `unclosed {{${kind}}}: no matching {{end}}`);
    let elseList: Node[] | null = null;
    if (body.stop.k === "else") {
      const chained = body.stop.toks[0];
      if (chained !== undefined) {
        // `{{else if …}}` is `{{else}}{{if …}}…{{end}}` sharing the one {{end}}.
        if (chained.name !== kind) this.fail(body.stop.pos, `{{else ${chained.name}}} cannot continue {{${kind}}}`);
        elseList = [this.control(kind, body.stop.toks, body.stop.pos, body.stop.end)];
      } else {
        const alt = this.list();
        this.scopes.length = inner;
        if (alt.stop === null) this.fail(pos, `unclosed {{${kind}}}: no matching {{end}}`);
        if (alt.stop.k !== "end") this.fail(alt.stop.pos, "expected {{end}}; found {{else}}");
        elseList = alt.nodes;
      }
    }
    this.scopes.length = outer;
    this.depth--;
    return { t: kind, pipe, list: body.nodes, elseList, pos };
  }

  private pipeline(cur: Cursor, context: string, maxDecl: number, parens: boolean): Pipe {
    const pos = cur.peek()?.pos ?? cur.endPos;
    let declToks: Tok[] = [];
    let assign = false;
    const t0 = cur.peek();
    const t1 = cur.peek(1);
    if (maxDecl > 0 && t0?.k === "var" && t1 !== undefined) {
      if (t1.k === "declare" || t1.k === "assign") {
        declToks = [t0];
        assign = t1.k === "assign";
        cur.i += 2;
      } else if (t1.k === "comma") {
        if (maxDecl < 2) this.fail(t1.pos, "too many declarations in command");
        const t2 = cur.peek(2);
        const t3 = cur.peek(3);
        if (t2?.k !== "var" || (t3?.k !== "declare" && t3?.k !== "assign")) this.fail(t1.pos, "expected `$a, $b :=` in range declaration");
        declToks = [t0, t2];
        assign = t3.k === "assign";
        cur.i += 4;
      }
    }
    const cmds: Command[] = [];
    for (;;) {
      cmds.push(this.command(cur, cmds.length === 0 ? context : "command"));
      if (cur.peek()?.k !== "pipe") break;
      cur.i++;
    }
    const next = cur.peek();
    if (parens) {
      if (next?.k !== "rparen") this.fail(next?.pos ?? cur.endPos, "unclosed left paren");
      cur.i++;
    } else if (next !== undefined) {
      this.fail(next.pos, `unexpected ${this.describe(next)} in command`);
    }
    // Declared after the commands are parsed: `$x := $x` cannot read the variable it declares.
    const decl = declToks.map((t) => (assign ? this.lookup(t) : this.declare(t)));
    return { decl, cmds, pos };
  }

  private command(cur: Cursor, context: string): Command {
    const pos = cur.peek()?.pos ?? cur.endPos;
    const operands: Operand[] = [];
    for (;;) {
      const t = cur.peek();
      if (t === undefined || t.k === "pipe" || t.k === "rparen") break;
      if (operands.length > 0 && !t.sp) this.fail(t.pos, `unexpected ${this.describe(t)} in operand`);
      operands.push(this.operand(cur));
    }
    if (operands.length === 0) this.fail(cur.peek()?.pos ?? cur.endPos, `missing value for ${context}`);
    return { operands, pos };
  }

  private operand(cur: Cursor): Operand {
    const t = cur.peek() as Tok;
    cur.i++;
    let base: Operand;
    switch (t.k) {
      case "ident":
        if (KEYWORDS.has(t.name)) this.fail(t.pos, `unexpected <${t.name}> in operand`);
        if (!FUNCS.has(t.name)) this.fail(t.pos, `function "${t.name}" not defined`);
        base = { t: "fn", name: t.name, pos: t.pos };
        break;
      case "field":
        base = { t: "field", names: [t.name], pos: t.pos };
        break;
      case "var":
        base = { t: "var", name: t.name, slot: this.lookup(t), names: [], pos: t.pos };
        break;
      case "dot":
        base = { t: "dot", pos: t.pos };
        break;
      case "nil":
        base = { t: "nil", pos: t.pos };
        break;
      case "bool":
      case "string":
      case "number":
        base = { t: "lit", value: t.value as string | number | boolean, pos: t.pos };
        break;
      case "lparen": {
        if (++this.depth > MAX_NESTING) this.fail(t.pos, `parentheses nested deeper than ${MAX_NESTING}`);
        base = { t: "pipe", pipe: this.pipeline(cur, "parenthesized pipeline", 0, true), pos: t.pos };
        this.depth--;
        break;
      }
      default:
        this.fail(t.pos, `unexpected ${this.describe(t)} in operand`);
    }
    // `.A.B`, `$x.A`, `(pipeline).A`: field tokens glued to the operand.
    const names: string[] = [];
    for (let next = cur.peek(); next?.k === "field" && !next.sp; next = cur.peek()) {
      names.push(next.name);
      cur.i++;
    }
    if (names.length === 0) return base;
    switch (base.t) {
      case "field":
      case "var":
        base.names.push(...names);
        return base;
      case "fn":
      case "pipe":
        return { t: "chain", base, names, pos: base.pos };
      default:
        return this.fail(t.end, `unexpected . after term ${this.describe(t)}`);
    }
  }

  private declare(t: Tok): number {
    const slot = this.slotCount++;
    this.scopes.push({ name: t.name, slot });
    return slot;
  }

  private lookup(t: Tok): number {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const scope = this.scopes[i] as { name: string; slot: number };
      if (scope.name === t.name) return scope.slot;
    }
    return this.fail(t.pos, `undefined variable "${t.name}"`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Compiler: the tree into closures
// ---------------------------------------------------------------------------------------------------------

class State {
  out = "";
  iterations = 0;
  constructor(readonly vars: unknown[]) {}
}

type Expr = (s: State, dot: unknown) => unknown;
/** A command; `final` is the previous pipeline stage's value (only read by commands that receive one). */
type Cmd = (s: State, dot: unknown, final: unknown) => unknown;
/** A statement; returns GO_ON, BREAK or CONTINUE. */
type Stmt = (s: State, dot: unknown) => number;

const GO_ON = 0;
const BREAK = 1;
const CONTINUE = 2;

/** Where in the source an evaluation happens: builds the execution errors. */
class Site {
  constructor(
    private readonly info: SourceInfo,
    private readonly pos: number,
  ) {}

  fail(problem: string, cause?: unknown): TemplateExecutionError {
    const { line, column } = this.info.lineCol(this.pos);
    const options: GatehouseErrorOptions = { details: { line, column } };
    if (cause !== undefined) options.cause = cause;
    return new TemplateExecutionError(this.info.where, `template failed at line ${line}, column ${column}: ${problem}`, options);
  }

  wrap(name: string, err: unknown): TemplateExecutionError {
    if (err instanceof TemplateExecutionError) return err;
    if (err instanceof Problem) return this.fail(`error calling ${name}: ${err.message}`);
    return this.fail(`error calling ${name}`, err);
  }

  checked(name: string, result: unknown): unknown {
    if (typeof result === "string" && result.length > MAX_TEMPLATE_OUTPUT) {
      throw this.fail(`${name} produced more than ${MAX_TEMPLATE_OUTPUT} characters`);
    }
    return result;
  }

  invoke(name: string, fn: Method, self: unknown, args: unknown[]): unknown {
    let result: unknown;
    try {
      result = fn.apply(self, args);
    } catch (err) {
      throw this.wrap(name, err);
    }
    return this.checked(name, result);
  }

  call(name: string, def: FuncDef, args: unknown[]): unknown {
    let result: unknown;
    try {
      result = def.fn(args);
    } catch (err) {
      throw this.wrap(name, err);
    }
    return this.checked(name, result);
  }
}

/** `receiver.name`, calling it when it is a method (with `args`, or none). */
function fieldOf(site: Site, receiver: unknown, name: string, args: unknown[] | null): unknown {
  if (receiver === null || receiver === undefined) throw site.fail(`nil pointer evaluating interface {}.${name}`);
  if (typeof receiver === "object" && !Array.isArray(receiver)) {
    const method = methodOf(receiver, name);
    if (method !== undefined) return site.invoke(name, method, receiver, args ?? []);
    // Own properties only: a map key such as "constructor" must not reach Object.prototype.
    if (Object.hasOwn(receiver, name)) {
      const value = (receiver as Obj)[name];
      if (typeof value === "function") return site.invoke(name, value as Method, receiver, args ?? []);
      if (args !== null && args.length > 0) throw site.fail(`${name} is not a method but has arguments`);
      return value;
    }
    if (isMap(receiver)) {
      if (args !== null && args.length > 0) throw site.fail(`${name} is not a method but has arguments`);
      return undefined;
    }
  }
  throw site.fail(`can't evaluate field ${name} in type ${goTypeName(receiver)}`);
}

function emit(s: State, text: string, site: Site): void {
  s.out += text;
  if (s.out.length > MAX_TEMPLATE_OUTPUT) throw site.fail(`output exceeds ${MAX_TEMPLATE_OUTPUT} characters`);
}

/** What an action prints: nil (a missing map key included) as Go's `<no value>`. */
function printable(site: Site, v: unknown): string {
  if (typeof v === "string") return v;
  if (v === null || v === undefined) return "<no value>";
  if (typeof v === "function") throw site.fail("can't print a function value");
  try {
    return formatValue(v);
  } catch (err) {
    throw site.wrap("print", err);
  }
}

class Compiler {
  constructor(
    private readonly info: SourceInfo,
    private readonly fail: Fail,
  ) {}

  private site(pos: number): Site {
    return new Site(this.info, pos);
  }

  list(nodes: readonly Node[]): Stmt {
    const stmts = nodes.map((n) => this.node(n));
    const [only] = stmts;
    if (stmts.length === 1 && only !== undefined) return only;
    return (s, dot) => {
      for (const stmt of stmts) {
        const r = stmt(s, dot);
        if (r !== GO_ON) return r;
      }
      return GO_ON;
    };
  }

  private node(n: Node): Stmt {
    switch (n.t) {
      case "text": {
        const { text } = n;
        const site = this.site(n.pos);
        return (s) => {
          emit(s, text, site);
          return GO_ON;
        };
      }
      case "action": {
        const pipe = this.pipe(n.pipe, true);
        const site = this.site(n.pos);
        // A declaration prints nothing.
        if (n.pipe.decl.length > 0) {
          return (s, dot) => {
            pipe(s, dot);
            return GO_ON;
          };
        }
        return (s, dot) => {
          emit(s, printable(site, pipe(s, dot)), site);
          return GO_ON;
        };
      }
      case "if": {
        const cond = this.pipe(n.pipe, true);
        const body = this.list(n.list);
        const alt = n.elseList === null ? null : this.list(n.elseList);
        return (s, dot) => (truth(cond(s, dot)) ? body(s, dot) : alt === null ? GO_ON : alt(s, dot));
      }
      case "with": {
        const value = this.pipe(n.pipe, true);
        const body = this.list(n.list);
        const alt = n.elseList === null ? null : this.list(n.elseList);
        return (s, dot) => {
          const v = value(s, dot);
          return truth(v) ? body(s, v) : alt === null ? GO_ON : alt(s, dot);
        };
      }
      case "range":
        return this.range(n.pipe, n.list, n.elseList, n.pos);
      case "break":
        return () => BREAK;
      case "continue":
        return () => CONTINUE;
    }
  }

  private range(pipeNode: Pipe, list: readonly Node[], elseList: readonly Node[] | null, pos: number): Stmt {
    const source = this.pipe(pipeNode, false);
    const [a, b] = pipeNode.decl;
    // One variable gets the element; two get index/key and element.
    const keySlot = b === undefined ? -1 : (a as number);
    const valueSlot = b === undefined ? (a ?? -1) : b;
    const body = this.list(list);
    const alt = elseList === null ? null : this.list(elseList);
    const site = this.site(pos);
    const tick = (s: State): void => {
      if (++s.iterations > MAX_RANGE_ITERATIONS) throw site.fail(`range iterations exceed ${MAX_RANGE_ITERATIONS}`);
    };
    return (s, dot) => {
      const v = source(s, dot);
      let count = 0;
      if (Array.isArray(v)) {
        count = v.length;
        for (let i = 0; i < v.length; i++) {
          tick(s);
          const item: unknown = v[i];
          if (keySlot >= 0) s.vars[keySlot] = i;
          if (valueSlot >= 0) s.vars[valueSlot] = item;
          if (body(s, item) === BREAK) break;
        }
      } else if (v !== null && typeof v === "object" && isMap(v)) {
        // Go ranges over maps in sorted key order.
        const keys = Object.keys(v).sort();
        count = keys.length;
        for (const key of keys) {
          tick(s);
          const item = (v as Obj)[key];
          if (keySlot >= 0) s.vars[keySlot] = key;
          if (valueSlot >= 0) s.vars[valueSlot] = item;
          if (body(s, item) === BREAK) break;
        }
      } else if (typeof v === "number") {
        if (!Number.isInteger(v)) throw site.fail(`range can't iterate over ${formatNumber(v)}`);
        if (keySlot >= 0) throw site.fail("can't use two variables to range over an integer");
        count = Math.max(0, v);
        for (let i = 0; i < v; i++) {
          tick(s);
          if (valueSlot >= 0) s.vars[valueSlot] = i;
          if (body(s, i) === BREAK) break;
        }
      } else if (v !== null && v !== undefined) {
        throw site.fail(`range can't iterate over a value of type ${goTypeName(v)}`);
      }
      return count === 0 && alt !== null ? alt(s, dot) : GO_ON;
    };
  }

  private pipe(p: Pipe, assign: boolean): Expr {
    const cmds = p.cmds.map((c, i) => this.command(c, i));
    const slot = assign && p.decl.length === 1 ? (p.decl[0] as number) : -1;
    const [only] = cmds;
    if (cmds.length === 1 && only !== undefined) {
      if (slot < 0) return (s, dot) => only(s, dot, undefined);
      return (s, dot) => (s.vars[slot] = only(s, dot, undefined));
    }
    return (s, dot) => {
      let v: unknown;
      for (const cmd of cmds) v = cmd(s, dot, v);
      if (slot >= 0) s.vars[slot] = v;
      return v;
    };
  }

  private command(c: Command, stage: number): Cmd {
    const [first, ...rest] = c.operands as [Operand, ...Operand[]];
    const piped = stage > 0;
    const args = rest.map((o) => this.arg(o));
    switch (first.t) {
      case "fn":
        return this.call(first.name, first.pos, args, piped);
      case "field":
        return this.fieldCommand(first.pos, null, first.names, args, piped);
      case "chain":
        return this.fieldCommand(first.pos, this.arg(first.base), first.names, args, piped);
      case "var": {
        const { slot } = first;
        if (first.names.length > 0) return this.fieldCommand(first.pos, (s) => s.vars[slot], first.names, args, piped);
        if (piped) this.fail(first.pos, `can't give argument to non-function ${first.name} (pipeline stage ${stage + 1})`);
        if (args.length > 0) this.fail(first.pos, `can't give argument to non-function ${first.name}`);
        return (s) => s.vars[slot];
      }
      default: {
        if (first.t === "nil") this.fail(first.pos, "nil is not a command");
        if (piped) this.fail(first.pos, `non executable command in pipeline stage ${stage + 1}`);
        if (args.length > 0) this.fail(first.pos, "can't give argument to non-function");
        const e = this.arg(first);
        return (s, dot) => e(s, dot);
      }
    }
  }

  private fieldCommand(pos: number, base: Expr | null, names: readonly string[], args: readonly Expr[], piped: boolean): Cmd {
    const site = this.site(pos);
    const last = names.length - 1;
    const lastName = names[last] as string;
    const n = args.length + (piped ? 1 : 0);
    const receiver = (s: State, dot: unknown): unknown => {
      let r = base === null ? dot : base(s, dot);
      for (let i = 0; i < last; i++) r = fieldOf(site, r, names[i] as string, null);
      return r;
    };
    if (n === 0) return (s, dot) => fieldOf(site, receiver(s, dot), lastName, null);
    return (s, dot, final) => {
      const r = receiver(s, dot);
      const values = new Array<unknown>(n);
      for (let i = 0; i < args.length; i++) values[i] = (args[i] as Expr)(s, dot);
      if (piped) values[n - 1] = final;
      return fieldOf(site, r, lastName, values);
    };
  }

  private call(name: string, pos: number, args: readonly Expr[], piped: boolean): Cmd {
    const def = FUNCS.get(name) as FuncDef;
    const n = args.length + (piped ? 1 : 0);
    if (n < def.min || n > def.max) {
      const want = def.max === def.min ? `${def.min}` : def.max === VARIADIC ? `at least ${def.min}` : `${def.min} to ${def.max}`;
      this.fail(pos, `wrong number of args for ${name}: want ${want} got ${n}`);
    }
    if (def.lazy !== undefined) {
      // Go's and/or stop at the first argument that decides (false for and, true for or).
      const stopOn = def.lazy === "or";
      return (s, dot, final) => {
        let v: unknown;
        for (const arg of args) {
          v = arg(s, dot);
          if (truth(v) === stopOn) return v;
        }
        return piped ? final : v;
      };
    }
    const site = this.site(pos);
    if (n === 0) return () => site.call(name, def, []);
    return (s, dot, final) => {
      const values = new Array<unknown>(n);
      for (let i = 0; i < args.length; i++) values[i] = (args[i] as Expr)(s, dot);
      if (piped) values[n - 1] = final;
      return site.call(name, def, values);
    };
  }

  /** An operand in argument position: fields and functions are evaluated without arguments. */
  private arg(o: Operand): Expr {
    switch (o.t) {
      case "fn": {
        const c = this.call(o.name, o.pos, [], false);
        return (s, dot) => c(s, dot, undefined);
      }
      case "field": {
        const c = this.fieldCommand(o.pos, null, o.names, [], false);
        return (s, dot) => c(s, dot, undefined);
      }
      case "var": {
        const { slot } = o;
        if (o.names.length === 0) return (s) => s.vars[slot];
        const c = this.fieldCommand(o.pos, (s) => s.vars[slot], o.names, [], false);
        return (s, dot) => c(s, dot, undefined);
      }
      case "chain": {
        const c = this.fieldCommand(o.pos, this.arg(o.base), o.names, [], false);
        return (s, dot) => c(s, dot, undefined);
      }
      case "pipe":
        return this.pipe(o.pipe, false);
      case "dot":
        return (_s, dot) => dot;
      case "nil":
        return () => null;
      case "lit": {
        const { value } = o;
        return () => value;
      }
    }
  }
}
