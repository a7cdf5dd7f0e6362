/**
 * RFC 6902 JSON Patch over JSON values, with RFC 6901 JSON Pointers (`~1` is `/`, `~0` is `~`), for
 * `PATCH /admin/identities/{id}`.
 *
 * - `parseJsonPatch` checks the document's shape and names the offending operation and member
 *   (`patch[2].path: …`), so a malformed patch never reaches the data.
 * - `applyJsonPatch` works on a deep copy and returns it: a failing operation (including a `test`) throws
 *   and leaves the input untouched, so a patch applies entirely or not at all (RFC 6902 §5).
 *
 * Prototype pollution: pointers naming `__proto__` are refused, members are read only when they are own
 * properties (`Object.hasOwn`) and written with `Object.defineProperty`, so no patch can reach or replace an
 * object's prototype (`constructor` and `prototype` are ordinary member names then).
 */

/** The six operations. */
export type JsonPatchOpName = "add" | "remove" | "replace" | "move" | "copy" | "test";

/** One operation, checked by `parseJsonPatch`. */
export interface JsonPatchOperation {
  readonly op: JsonPatchOpName;
  readonly path: string;
  /** For `move` and `copy`. */
  readonly from?: string;
  /** For `add`, `replace` and `test`. */
  readonly value?: unknown;
}

/** Why a patch failed: `malformed` (its shape), `unprocessable` (a path that does not fit the document), `test_failed`. */
export type JsonPatchErrorKind = "malformed" | "unprocessable" | "test_failed";

/** A patch that is malformed or cannot be applied; `index` and `field` name the operation and member. */
export class JsonPatchError extends Error {
  constructor(
    readonly kind: JsonPatchErrorKind,
    /** The operation's position in the patch; undefined when the patch as a whole is at fault. */
    readonly index: number | undefined,
    /** `op`, `path`, `from` or `value`. */
    readonly field: string | undefined,
    detail: string,
  ) {
    super(`${index === undefined ? "patch" : `patch[${index}]${field === undefined ? "" : `.${field}`}`}: ${detail}`);
    this.name = "JsonPatchError";
  }
}

const OPS: ReadonlySet<string> = new Set(["add", "remove", "replace", "move", "copy", "test"]);

type Json = unknown;
type Container = Record<string, Json> | Json[];

const isObject = (v: unknown): v is Record<string, Json> => v !== null && typeof v === "object" && !Array.isArray(v);
const isContainer = (v: unknown): v is Container => v !== null && typeof v === "object";

/** Splits a JSON Pointer into unescaped reference tokens; `""` is the whole document. Throws a message. */
export function parseJsonPointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new Error(`"${pointer}" is not a JSON Pointer (it must be empty or start with "/")`);
  return pointer
    .slice(1)
    .split("/")
    .map((token) => {
      if (/~(?![01])/.test(token)) throw new Error(`"${pointer}" has a "~" not followed by 0 or 1`);
      const unescaped = token.replace(/~1/g, "/").replace(/~0/g, "~");
      if (unescaped === "__proto__") throw new Error(`"${pointer}" names __proto__, which is not allowed`);
      return unescaped;
    });
}

/** Escapes one reference token for a JSON Pointer. */
export function escapeJsonPointerToken(token: string): string {
  return token.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** Checks a patch document (an array of operation objects) and returns its operations. */
export function parseJsonPatch(document: unknown): JsonPatchOperation[] {
  if (!Array.isArray(document)) throw new JsonPatchError("malformed", undefined, undefined, "a JSON Patch must be a JSON array of operations");
  return document.map((raw, index): JsonPatchOperation => {
    if (!isObject(raw)) throw new JsonPatchError("malformed", index, undefined, "must be an object");
    const op = raw["op"];
    if (typeof op !== "string" || !OPS.has(op)) {
      throw new JsonPatchError("malformed", index, "op", `must be one of add, remove, replace, move, copy, test${op === undefined ? "" : `, got ${JSON.stringify(op)}`}`);
    }
    const pointer = (field: "path" | "from"): string => {
      const value = raw[field];
      if (typeof value !== "string") throw new JsonPatchError("malformed", index, field, "must be a JSON Pointer string");
      try {
        parseJsonPointer(value);
      } catch (err) {
        throw new JsonPatchError("malformed", index, field, (err as Error).message);
      }
      return value;
    };
    const path = pointer("path");
    if (op === "move" || op === "copy") return { op, path, from: pointer("from") };
    if (op === "add" || op === "replace" || op === "test") {
      if (!Object.hasOwn(raw, "value")) throw new JsonPatchError("malformed", index, "value", `is required for "${op}"`);
      return { op, path, value: raw["value"] };
    }
    return { op: op as JsonPatchOpName, path };
  });
}

/** A deep copy of a JSON value (own enumerable members only). */
function clone(value: Json): Json {
  if (Array.isArray(value)) return value.map(clone);
  if (isObject(value)) {
    const out: Record<string, Json> = {};
    for (const key of Object.keys(value)) define(out, key, clone(value[key]));
    return out;
  }
  return value;
}

function define(target: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/** JSON equality as RFC 6902 §4.6 defines it for `test`: member order does not matter, array order does. */
export function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

/** An array index token: `0` or digits without a leading zero; `-` (the end) only when `allowEnd`. */
function arrayIndex(array: readonly Json[], token: string, allowEnd: boolean, fail: (why: string) => never): number {
  if (token === "-" && allowEnd) return array.length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) fail(`"${token}" is not an array index`);
  const index = Number(token);
  if (index > array.length || (!allowEnd && index === array.length)) fail(`index ${index} is out of bounds (the array has ${array.length} items)`);
  return index;
}

/** Applies `operations` to a copy of `document` and returns the copy; throws `JsonPatchError` (the input stays as it was). */
export function applyJsonPatch(document: Json, operations: readonly JsonPatchOperation[]): Json {
  let root = clone(document);
  operations.forEach((operation, index) => {
    const fail = (field: "path" | "from", why: string, kind: JsonPatchErrorKind = "unprocessable"): never => {
      throw new JsonPatchError(kind, index, field, why);
    };
    /** The container holding the pointer's last token, and that token. */
    const locate = (pointer: string, field: "path" | "from"): { parent: Container; token: string } => {
      let tokens: string[] = [];
      try {
        tokens = parseJsonPointer(pointer);
      } catch (err) {
        fail(field, (err as Error).message, "malformed");
      }
      const token = tokens.pop() as string;
      let node: Json = root;
      for (const t of tokens) {
        if (Array.isArray(node)) node = node[arrayIndex(node, t, false, (why) => fail(field, `${pointer}: ${why}`))];
        else if (isObject(node) && Object.hasOwn(node, t)) node = node[t];
        else fail(field, `${pointer}: "${t}" does not exist`);
      }
      if (!isContainer(node)) fail(field, `${pointer}: the parent is not an object or array`);
      return { parent: node as Container, token };
    };
    const get = (pointer: string, field: "path" | "from"): Json => {
      if (pointer === "") return root;
      const { parent, token } = locate(pointer, field);
      if (Array.isArray(parent)) return parent[arrayIndex(parent, token, false, (why) => fail(field, `${pointer}: ${why}`))];
      if (!Object.hasOwn(parent, token)) fail(field, `${pointer}: "${token}" does not exist`);
      return parent[token];
    };
    const remove = (pointer: string, field: "path" | "from"): Json => {
      if (pointer === "") fail(field, "the whole document cannot be removed");
      const { parent, token } = locate(pointer, field);
      if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, token, false, (why) => fail(field, `${pointer}: ${why}`)), 1)[0];
      if (!Object.hasOwn(parent, token)) fail(field, `${pointer}: "${token}" does not exist`);
      const old = parent[token];
      delete parent[token];
      return old;
    };
    const add = (pointer: string, value: Json): void => {
      if (pointer === "") {
        root = value;
        return;
      }
      const { parent, token } = locate(pointer, "path");
      if (Array.isArray(parent)) parent.splice(arrayIndex(parent, token, true, (why) => fail("path", `${pointer}: ${why}`)), 0, value);
      else define(parent, token, value);
    };

    const { op, path } = operation;
    switch (op) {
      case "add":
        add(path, clone(operation.value));
        break;
      case "remove":
        remove(path, "path");
        break;
      case "replace":
        get(path, "path"); // must exist
        if (path === "") root = clone(operation.value);
        else {
          const { parent, token } = locate(path, "path");
          if (Array.isArray(parent)) parent[Number(token)] = clone(operation.value);
          else define(parent, token, clone(operation.value));
        }
        break;
      case "move": {
        const from = operation.from as string;
        if (from === path) {
          get(from, "from");
          break;
        }
        if (path.startsWith(`${from}/`)) fail("from", `${from} cannot be moved into its own child ${path}`);
        add(path, remove(from, "from"));
        break;
      }
      case "copy":
        add(path, clone(get(operation.from as string, "from")));
        break;
      case "test":
        if (!jsonEqual(get(path, "path"), operation.value)) fail("path", `test failed: the value at "${path}" is not the expected value`, "test_failed");
        break;
    }
  });
  return root;
}
