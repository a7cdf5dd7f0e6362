/**
 * Relation tuples, Keto's data model: `namespace:object#relation@subject`.
 *
 * A subject is one of
 * - a bare id (Keto's untyped `subject_id`): `john`;
 * - a typed object, which Keto models as a subject set with an empty relation: `User:john`;
 * - a subject set: `Group:eng#member`.
 * A wildcard `user:*` is a typed object whose id is `*`; the schema decides whether it means "everyone".
 */
import { InvalidArgumentError } from "../common/errors.js";

/** A bare subject id (Keto's `subject_id`). */
export interface SubjectId {
  readonly kind: "id";
  readonly id: string;
}

/** A subject set `namespace:object#relation`; `relation` is `""` for a typed object. */
export interface SubjectSet {
  readonly kind: "set";
  readonly namespace: string;
  readonly object: string;
  readonly relation: string;
}

/** The subject of a tuple or of a check. */
export type Subject = SubjectId | SubjectSet;

/** One relationship: `namespace:object#relation@subject`. */
export interface RelationTuple {
  readonly namespace: string;
  readonly object: string;
  readonly relation: string;
  readonly subject: Subject;
}

/** The id Keto and OpenFGA use for "every subject of this type". */
export const WILDCARD = "*";

/** A bare subject id. */
export function subjectId(id: string): SubjectId {
  return { kind: "id", id };
}

/** A subject set; omit `relation` for a typed object (`User:john`). */
export function subjectSet(namespace: string, object: string, relation = ""): SubjectSet {
  return { kind: "set", namespace, object, relation };
}

/** Formats a subject as Keto does: `john`, `User:john`, `Group:eng#member`. */
export function formatSubject(subject: Subject): string {
  if (subject.kind === "id") return subject.id;
  const base = `${subject.namespace}:${subject.object}`;
  return subject.relation === "" ? base : `${base}#${subject.relation}`;
}

/** Formats a tuple as `namespace:object#relation@subject`. */
export function formatTuple(tuple: RelationTuple): string {
  return `${tuple.namespace}:${tuple.object}#${tuple.relation}@${formatSubject(tuple.subject)}`;
}

/** True when both subjects are the same. */
export function subjectsEqual(a: Subject, b: Subject): boolean {
  if (a.kind === "id") return b.kind === "id" && a.id === b.id;
  return b.kind === "set" && a.namespace === b.namespace && a.object === b.object && a.relation === b.relation;
}

/** True when both tuples are the same relationship. */
export function tuplesEqual(a: RelationTuple, b: RelationTuple): boolean {
  return (
    a.namespace === b.namespace && a.object === b.object && a.relation === b.relation && subjectsEqual(a.subject, b.subject)
  );
}

/**
 * Parses a subject string: `john` (bare id), `User:john`, `Group:eng#member`, optionally wrapped in
 * parentheses as Keto's CLI allows. The first `:` separates namespace and object, the last `#` the relation.
 */
export function parseSubject(text: string, field = "subject"): Subject {
  let s = text.trim();
  if (s.startsWith("(") && s.endsWith(")")) s = s.slice(1, -1);
  const colon = s.indexOf(":");
  if (colon < 0) {
    if (s.includes("#")) {
      throw new InvalidArgumentError(`${field}: "${text}" has a relation but no namespace (expected type:id#relation)`, {
        details: { field },
      });
    }
    return subjectId(s);
  }
  const namespace = s.slice(0, colon);
  const rest = s.slice(colon + 1);
  const hash = rest.lastIndexOf("#");
  const object = hash < 0 ? rest : rest.slice(0, hash);
  const relation = hash < 0 ? "" : rest.slice(hash + 1);
  if (namespace === "") {
    throw new InvalidArgumentError(`${field}: "${text}" has an empty namespace`, { details: { field } });
  }
  return subjectSet(namespace, object, relation);
}

/** Parses `namespace:object#relation@subject`. */
export function parseTuple(text: string, field = "tuple"): RelationTuple {
  const at = text.indexOf("@");
  if (at < 0) {
    throw new InvalidArgumentError(`${field}: "${text}" is not of the form namespace:object#relation@subject`, {
      details: { field },
    });
  }
  const left = text.slice(0, at).trim();
  const colon = left.indexOf(":");
  const hash = left.lastIndexOf("#");
  if (colon <= 0 || hash < colon) {
    throw new InvalidArgumentError(`${field}: "${text}" is not of the form namespace:object#relation@subject`, {
      details: { field },
    });
  }
  return {
    namespace: left.slice(0, colon),
    object: left.slice(colon + 1, hash),
    relation: left.slice(hash + 1),
    subject: parseSubject(text.slice(at + 1), `${field}.subject`),
  };
}
