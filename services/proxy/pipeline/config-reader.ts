/**
 * Typed reads of a handler's merged configuration. Every problem is an `InvalidArgumentError` whose message
 * names where the handler sits (`rule "api" authenticators[0] (jwt)`) and the key, so a bad rule file is
 * refused with a message that points at the fix.
 */
import { InvalidArgumentError } from "../../../common/errors.js";

export class ConfigReader {
  constructor(
    private readonly config: Readonly<Record<string, unknown>>,
    /** e.g. `rule "api" authenticators[0] (jwt)`. */
    readonly where: string,
    private readonly prefix = "config",
  ) {}

  /** A reader of the nested map under `key` (empty when absent). */
  child(key: string): ConfigReader {
    const value = this.config[key];
    if (value === undefined || value === null) return new ConfigReader({}, this.where, this.path(key));
    if (typeof value !== "object" || Array.isArray(value)) throw this.error(key, "must be an object");
    return new ConfigReader(value as Record<string, unknown>, this.where, this.path(key));
  }

  has(key: string): boolean {
    return this.config[key] !== undefined && this.config[key] !== null;
  }

  raw(key: string): unknown {
    return this.config[key];
  }

  /** The map under `key` as it is (for free-form maps such as header templates). */
  map(key: string): Readonly<Record<string, unknown>> | undefined {
    const value = this.config[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "object" || Array.isArray(value)) throw this.error(key, "must be an object");
    return value as Record<string, unknown>;
  }

  /** A map of strings (header names to templates, cookie names to templates). */
  stringMap(key: string): Readonly<Record<string, string>> | undefined {
    const value = this.map(key);
    if (value === undefined) return undefined;
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== "string") throw this.error(`${key}.${k}`, "must be a string");
    }
    return value as Record<string, string>;
  }

  string(key: string): string | undefined {
    const value = this.config[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") throw this.error(key, "must be a string");
    return value;
  }

  requiredString(key: string): string {
    const value = this.string(key);
    if (value === undefined || value === "") throw this.error(key, "is required");
    return value;
  }

  /** An absolute http(s) URL. */
  url(key: string): string | undefined {
    const value = this.string(key);
    if (value === undefined || value === "") return undefined;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw this.error(key, `must be an absolute URL, got ${JSON.stringify(value)}`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw this.error(key, `must be an http(s) URL, got ${JSON.stringify(value)}`);
    return value;
  }

  requiredUrl(key: string): string {
    const value = this.url(key);
    if (value === undefined) throw this.error(key, "is required");
    return value;
  }

  boolean(key: string): boolean | undefined {
    const value = this.config[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "boolean") throw this.error(key, "must be true or false");
    return value;
  }

  number(key: string): number | undefined {
    const value = this.config[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value)) throw this.error(key, "must be a number");
    return value;
  }

  /** A list of strings (a single string is accepted as a one-element list). */
  stringList(key: string): readonly string[] | undefined {
    const value = this.config[key];
    if (value === undefined || value === null) return undefined;
    const list = typeof value === "string" ? [value] : value;
    if (!Array.isArray(list) || !list.every((x) => typeof x === "string")) throw this.error(key, "must be a list of strings");
    return list as string[];
  }

  /** A Go duration (`"300ms"`, `"1.5s"`, `"1m30s"`, `"1h"`) or a number of milliseconds, in milliseconds. */
  duration(key: string): number | undefined {
    const value = this.config[key];
    if (value === undefined || value === null || value === "") return undefined;
    if (typeof value === "number" && Number.isFinite(value) && value >= 0) return value;
    if (typeof value === "string") {
      const millis = parseGoDuration(value);
      if (millis !== undefined) return millis;
    }
    throw this.error(key, `must be a duration such as "500ms", "30s" or "15m", got ${JSON.stringify(value)}`);
  }

  /** One of `allowed`. */
  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const value = this.string(key);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      throw this.error(key, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(value)}`);
    }
    return value as T;
  }

  /** An error about `key` (relative to this reader). */
  error(key: string, problem: string): InvalidArgumentError {
    const field = this.path(key);
    return new InvalidArgumentError(`${this.where}: ${field} ${problem}`, { reason: "invalid_handler_config", details: { field } });
  }

  private path(key: string): string {
    return `${this.prefix}.${key}`;
  }
}

const UNIT_MILLIS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Go's `time.ParseDuration` in milliseconds, or undefined when `text` is not one. */
export function parseGoDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === "0") return 0;
  const re = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * (UNIT_MILLIS[m[2] as string] as number);
    pos = re.lastIndex;
  }
  return pos === 0 ? undefined : total;
}
