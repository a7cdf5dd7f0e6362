/**
 * SQL fragments over `gatehouse_tuples`: tuple filters as WHERE conditions and tuple keys as multi-row
 * VALUES lists. Parameters are appended to a caller-owned array so fragments compose into one statement.
 */
import type { SqlValue } from "./sql-executor.js";
import type { TupleKey } from "./tuple-key.js";
import type { TupleFilter } from "./tuple-store.js";

/** The key columns in listing order. */
export const KEY_COLUMNS = "namespace, object, relation, subject_type, subject_id, subject_relation";

/** Appends a parameter and returns its placeholder. */
export function bind(params: SqlValue[], value: SqlValue): string {
  params.push(value);
  return `$${params.length}`;
}

/** The conditions (to be ANDed) selecting the tuples a filter matches. */
export function filterConditions(filter: TupleFilter, params: SqlValue[]): string[] {
  const conds: string[] = [];
  if (filter.namespace !== undefined) conds.push(`namespace = ${bind(params, filter.namespace)}`);
  if (filter.object !== undefined) conds.push(`object = ${bind(params, filter.object)}`);
  if (filter.relation !== undefined) conds.push(`relation = ${bind(params, filter.relation)}`);
  const s = filter.subject;
  if (s !== undefined) {
    if (s.kind === "id") {
      conds.push(`subject_type = ''`, `subject_id = ${bind(params, s.id)}`, `subject_relation = ''`);
    } else {
      conds.push(
        `subject_type = ${bind(params, s.namespace)}`,
        `subject_id = ${bind(params, s.object)}`,
        `subject_relation = ${bind(params, s.relation)}`,
      );
    }
  }
  // subject_type '' marks a bare id, which these two must never match (not even when asked for "").
  if (filter.subjectNamespace !== undefined) {
    conds.push(`subject_type <> ''`, `subject_type = ${bind(params, filter.subjectNamespace)}`);
  }
  if (filter.subjectRelation !== undefined) {
    conds.push(`subject_type <> ''`, `subject_relation = ${bind(params, filter.subjectRelation)}`);
  }
  return conds;
}

/** `(cols) > ($a, …)`: strictly after a key in listing order (a row comparison the key index serves). */
export function afterKeyCondition(key: TupleKey, params: SqlValue[]): string {
  return `(${KEY_COLUMNS}) > (${key.map((v) => bind(params, v)).join(", ")})`;
}

/** A multi-row VALUES body `($1::text, …), (…)` of keys, optionally followed by extra per-row values. */
export function keyValuesList(keys: readonly TupleKey[], params: SqlValue[], extra: readonly string[] = []): string {
  return keys
    .map((key) => `(${[...key.map((v) => `${bind(params, v)}::text`), ...extra].join(", ")})`)
    .join(", ");
}
