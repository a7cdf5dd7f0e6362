/**
 * The password policy Kratos applies on registration and password change (NIST 800-63 style): a minimum
 * length, the 72-byte maximum that keeps bcrypt-compatible hashes honest, a check that the password does
 * not resemble the identity's identifiers, and an optional offline list of breached passwords. No network:
 * Kratos's haveibeenpwned range queries are replaced by a list loaded from a file.
 */

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { InvalidArgumentError } from "../../../common/errors.js";
import {
  textPasswordIdentifierTooSimilar,
  textPasswordMaxLength,
  textPasswordMinLength,
  textPasswordTooManyBreaches,
  type UiText,
} from "../schema/ui.js";

/** Kratos's default minimum, in characters (code points). */
export const DEFAULT_MIN_PASSWORD_LENGTH = 8;
/** The maximum, in UTF-8 bytes (bcrypt's limit, which Kratos enforces for every hasher). */
export const MAX_PASSWORD_BYTES = 72;
/** Similarity is not computed for longer operands (bytes), bounding the quadratic work. */
export const SIMILARITY_MAX_OPERAND_BYTES = 256;

/** Options of `checkPassword`. */
export interface PasswordPolicyOptions {
  /** Minimum length in characters; default 8. */
  readonly minLength?: number;
  /** Reject passwords resembling an identifier (4000031); default true. */
  readonly identifierSimilarityCheck?: boolean;
  /** Passwords known from breaches (4000034); none by default. */
  readonly breachedPasswords?: BreachedPasswordList;
}

/**
 * Checks a new password. `identifiers` are the identity's password identifiers (e.g. from
 * `IdentitySchemaRegistry.passwordIdentifiers`). Returns the violated rules as messages for the `password`
 * node, in the order min length, max length, similarity, breach; empty when the password is acceptable.
 */
export function checkPassword(
  password: string,
  identifiers: readonly string[],
  options: PasswordPolicyOptions = {},
): UiText[] {
  const minLength = options.minLength ?? DEFAULT_MIN_PASSWORD_LENGTH;
  if (!Number.isInteger(minLength) || minLength < 1) {
    throw new InvalidArgumentError(`minLength must be an integer >= 1, got ${minLength}`, {
      details: { field: "minLength" },
    });
  }
  const errors: UiText[] = [];
  const characters = [...password].length;
  if (characters < minLength) errors.push(textPasswordMinLength(minLength, characters));
  const bytes = Buffer.byteLength(password, "utf8");
  if (bytes > MAX_PASSWORD_BYTES) errors.push(textPasswordMaxLength(MAX_PASSWORD_BYTES, bytes));
  if ((options.identifierSimilarityCheck ?? true) && identifiers.some((id) => tooSimilar(id, password))) {
    errors.push(textPasswordIdentifierTooSimilar());
  }
  if (options.breachedPasswords?.has(password) === true) errors.push(textPasswordTooManyBreaches());
  return errors;
}

/**
 * Kratos's similarity rule: too similar when the edit distance of the lower-cased strings is below 5, or
 * their longest common substring covers more than half of the password. Skipped when either is empty or
 * longer than 256 bytes.
 */
export function tooSimilar(identifier: string, password: string): boolean {
  if (identifier === "" || password === "") return false;
  if (
    Buffer.byteLength(identifier, "utf8") > SIMILARITY_MAX_OPERAND_BYTES ||
    Buffer.byteLength(password, "utf8") > SIMILARITY_MAX_OPERAND_BYTES
  ) {
    return false;
  }
  const a = [...identifier.toLowerCase()];
  const b = [...password.toLowerCase()];
  return levenshtein(a, b) < 5 || longestCommonSubstring(a, b) / b.length > 0.5;
}

/** Edit distance (insert, delete, substitute; each costs 1) over code points. */
export function levenshtein(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    [previous, current] = [current, previous];
  }
  return previous[b.length]!;
}

/** Length of the longest contiguous run shared by both, over code points. */
export function longestCommonSubstring(a: readonly string[], b: readonly string[]): number {
  let best = 0;
  let previous = new Array<number>(b.length + 1).fill(0);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      current[j] = a[i - 1] === b[j - 1] ? previous[j - 1]! + 1 : 0;
      if (current[j]! > best) best = current[j]!;
    }
    [previous, current] = [current, previous];
    current.fill(0);
  }
  return best;
}

// ---- breached passwords ------------------------------------------------------------------------------------

const sha1Line = /^([0-9a-fA-F]{40})(?::[0-9]+)?$/;

function sha1Hex(password: string): string {
  return createHash("sha1").update(password, "utf8").digest("hex").toUpperCase();
}

/**
 * A set of breached passwords kept as upper-case SHA-1 hex digests (about 100 bytes per entry in memory:
 * meant for lists of the most common passwords, up to a few million, not the full HIBP corpus).
 */
export class BreachedPasswordList {
  readonly #digests: ReadonlySet<string>;

  /** Prefer `createBreachedPasswordList` or `loadBreachedPasswordList`. */
  constructor(digests: ReadonlySet<string>) {
    this.#digests = digests;
  }

  /** Number of distinct entries. */
  get size(): number {
    return this.#digests.size;
  }

  /** Whether the password is on the list. */
  has(password: string): boolean {
    return this.#digests.has(sha1Hex(password));
  }
}

function addEntry(digests: Set<string>, line: string): void {
  const entry = line.trim();
  if (entry === "" || entry.startsWith("#")) return;
  const match = sha1Line.exec(entry);
  digests.add(match === null ? sha1Hex(entry) : match[1]!.toUpperCase());
}

/**
 * Builds a list from entries, each either a SHA-1 hex digest (optionally `:count`, as in HIBP downloads) or
 * a plain password. Entries are trimmed; empty ones and `#` comments are skipped. A plain password that is
 * itself 40 hex digits is taken for a digest.
 */
export function createBreachedPasswordList(entries: Iterable<string>): BreachedPasswordList {
  const digests = new Set<string>();
  for (const entry of entries) addEntry(digests, entry);
  return new BreachedPasswordList(digests);
}

/** Reads a list file (UTF-8, one entry per line, as `createBreachedPasswordList` takes them) line by line. */
export async function loadBreachedPasswordList(path: string): Promise<BreachedPasswordList> {
  const digests = new Set<string>();
  const stream = createReadStream(path, { encoding: "utf8" });
  try {
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    for await (const line of lines) addEntry(digests, line);
  } catch (err) {
    throw new InvalidArgumentError(`cannot read the breached password list ${path}`, {
      details: { field: "breachedPasswordsFile", path },
      cause: err,
    });
  } finally {
    stream.destroy();
  }
  return new BreachedPasswordList(digests);
}
