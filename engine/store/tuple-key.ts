/**
 * The flat, six-column key every store uses for a tuple, its total order and its string form. Keeping it in
 * one place means the memory store, the SQL store and the page-token codec agree on what "the same tuple"
 * and "the next tuple" mean.
 */
import type { RelationTuple } from "../tuple.js";

/**
 * `[namespace, object, relation, subjectType, subjectId, subjectRelation]`. A bare subject id has
 * `subjectType === ""` and `subjectRelation === ""`; a subject set always has a non-empty `subjectType`
 * (its namespace), which is what keeps the two apart.
 */
export type TupleKey = readonly [string, string, string, string, string, string];

/** The key of a tuple. */
export function tupleKeyOf(tuple: RelationTuple): TupleKey {
  const s = tuple.subject;
  return s.kind === "id"
    ? [tuple.namespace, tuple.object, tuple.relation, "", s.id, ""]
    : [tuple.namespace, tuple.object, tuple.relation, s.namespace, s.object, s.relation];
}

/** The tuple a key stands for (the inverse of `tupleKeyOf`). */
export function tupleFromKey(key: TupleKey): RelationTuple {
  const [namespace, object, relation, subjectType, subjectId, subjectRelation] = key;
  return {
    namespace,
    object,
    relation,
    subject:
      subjectType === ""
        ? { kind: "id", id: subjectId }
        : { kind: "set", namespace: subjectType, object: subjectId, relation: subjectRelation },
  };
}

/**
 * A map key for a tuple key. NUL cannot occur inside a field (stores reject it because PostgreSQL text
 * cannot hold it), so joining on it is unambiguous.
 */
export function tupleKeyString(key: TupleKey): string {
  return key.join("\u0000");
}

/**
 * Orders UTF-16 code units as Unicode code points (and so as UTF-8 bytes, PostgreSQL's "C" collation):
 * plain `<` would sort astral characters (surrogate pairs) before U+E000–U+FFFF.
 */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}

/** Compares two strings in code point order. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Compares two keys field by field in code point order: the memory store's listing order. */
export function compareTupleKeys(a: TupleKey, b: TupleKey): number {
  for (let i = 0; i < 6; i++) {
    const c = compareCodePoints(a[i] as string, b[i] as string);
    if (c !== 0) return c;
  }
  return 0;
}

/** True when the value has the shape of a `TupleKey` (used to validate decoded page tokens). */
export function isTupleKey(value: unknown): value is TupleKey {
  return Array.isArray(value) && value.length === 6 && value.every((v) => typeof v === "string");
}
