/**
 * The subset of GJSON paths (github.com/tidwall/gjson SYNTAX.md) that Oathkeeper users write in
 * `subject_from` / `extra_from`: dotted keys (`identity.id`), `\` escapes (`a\.b` is the key `a.b`), numeric
 * array indices (`emails.0`), `@this` (the value itself) and a final `#` (array length). Anything else
 * (wildcards, queries, other modifiers, pipes) is refused when the rule loads rather than answering nothing.
 */

export interface GjsonPath {
  readonly source: string;
  /** The value at the path, or undefined when the path does not resolve. */
  get(root: unknown): unknown;
}

type Step = { readonly kind: "key"; readonly key: string } | { readonly kind: "this" } | { readonly kind: "length" };

/** Compiles `path`; throws an `Error` whose message says what is not supported. */
export function compileGjsonPath(path: string): GjsonPath {
  if (path === "") throw new Error("the path is empty");
  const steps: Step[] = [];
  let current = "";
  let escaped = false;
  let hadEscape = false;
  const finish = () => {
    if (current === "" && !hadEscape) throw new Error("the path has an empty component");
    if (!hadEscape && current === "@this") steps.push({ kind: "this" });
    else if (!hadEscape && current === "#") steps.push({ kind: "length" });
    else {
      if (!hadEscape) {
        if (current.startsWith("@")) throw new Error(`the modifier ${JSON.stringify(current)} is not supported (only @this)`);
        if (current.startsWith("#")) throw new Error(`the query ${JSON.stringify(current)} is not supported`);
      }
      steps.push({ kind: "key", key: current });
    }
    current = "";
    hadEscape = false;
  };
  for (const ch of path) {
    if (escaped) {
      current += ch;
      escaped = false;
      hadEscape = true;
      continue;
    }
    if (ch === "\\") {
      escaped = true;
      continue;
    }
    if (ch === ".") {
      finish();
      continue;
    }
    if (ch === "*" || ch === "?") throw new Error(`wildcards ("${ch}") are not supported; escape it as "\\${ch}" for a literal key`);
    if (ch === "|") throw new Error('pipes ("|") are not supported');
    current += ch;
  }
  if (escaped) throw new Error("the path ends with a lone backslash");
  finish();
  const lengthAt = steps.findIndex((s) => s.kind === "length");
  if (lengthAt !== -1 && lengthAt !== steps.length - 1) throw new Error('"#" is supported only as the last component (array length)');

  return {
    source: path,
    get(root) {
      let value: unknown = root;
      for (const step of steps) {
        if (step.kind === "this") continue;
        if (step.kind === "length") return Array.isArray(value) ? value.length : undefined;
        if (Array.isArray(value)) {
          if (!/^(0|[1-9]\d*)$/.test(step.key)) return undefined;
          value = value[Number(step.key)];
        } else if (value !== null && typeof value === "object") {
          value = Object.hasOwn(value, step.key) ? (value as Record<string, unknown>)[step.key] : undefined;
        } else {
          return undefined;
        }
        if (value === undefined) return undefined;
      }
      return value;
    },
  };
}
