/**
 * Tuple filters outside SQL: matching a tuple, a canonical form (for page-token fingerprints) and a
 * human-readable form (for error messages).
 */
import type { RelationTuple } from "../tuple.js";
import { formatSubject } from "../tuple.js";
import type { TupleFilter } from "./tuple-store.js";

/** True when the tuple matches every field the filter sets. */
export function tupleMatchesFilter(tuple: RelationTuple, filter: TupleFilter): boolean {
  if (filter.namespace !== undefined && tuple.namespace !== filter.namespace) return false;
  if (filter.object !== undefined && tuple.object !== filter.object) return false;
  if (filter.relation !== undefined && tuple.relation !== filter.relation) return false;
  const s = tuple.subject;
  if (filter.subject !== undefined) {
    const f = filter.subject;
    if (f.kind === "id") {
      if (s.kind !== "id" || s.id !== f.id) return false;
    } else if (s.kind !== "set" || s.namespace !== f.namespace || s.object !== f.object || s.relation !== f.relation) {
      return false;
    }
  }
  // Bare ids have neither a namespace nor a relation, so these two never match them (not even with "").
  if (filter.subjectNamespace !== undefined && (s.kind !== "set" || s.namespace !== filter.subjectNamespace)) return false;
  if (filter.subjectRelation !== undefined && (s.kind !== "set" || s.relation !== filter.subjectRelation)) return false;
  return true;
}

/**
 * A canonical string for a filter: equal for filters that select the same tuples field by field, whatever
 * the property order or explicit `undefined`s of the object.
 */
export function canonicalFilter(filter: TupleFilter): string {
  const s = filter.subject;
  return JSON.stringify([
    filter.namespace ?? null,
    filter.object ?? null,
    filter.relation ?? null,
    s === undefined ? null : s.kind === "id" ? ["id", s.id] : ["set", s.namespace, s.object, s.relation],
    filter.subjectNamespace ?? null,
    filter.subjectRelation ?? null,
  ]);
}

/** A short description of a filter for error messages, e.g. `{namespace="doc", subject="user:anne"}`. */
export function describeFilter(filter: TupleFilter): string {
  const parts: string[] = [];
  if (filter.namespace !== undefined) parts.push(`namespace=${JSON.stringify(filter.namespace)}`);
  if (filter.object !== undefined) parts.push(`object=${JSON.stringify(filter.object)}`);
  if (filter.relation !== undefined) parts.push(`relation=${JSON.stringify(filter.relation)}`);
  if (filter.subject !== undefined) parts.push(`subject=${JSON.stringify(formatSubject(filter.subject))}`);
  if (filter.subjectNamespace !== undefined) parts.push(`subjectNamespace=${JSON.stringify(filter.subjectNamespace)}`);
  if (filter.subjectRelation !== undefined) parts.push(`subjectRelation=${JSON.stringify(filter.subjectRelation)}`);
  return `{${parts.join(", ")}}`;
}
