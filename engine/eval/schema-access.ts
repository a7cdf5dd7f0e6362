/** Schema questions the evaluator asks: which relation a request names, which stored subjects count. */
import { NotFoundError } from "../../common/errors.js";
import type { RelationDef, Schema } from "../schema/ir.js";
import { WILDCARD, type Subject } from "../tuple.js";

// Keto non-strict mode: a permit also counts the tuples stored under its name, and an undeclared relation is
// a plain relation. The derived definitions are built once per definition or schema.
const nonStrictPermits = new WeakMap<RelationDef, RelationDef>();
const undeclaredRelations = new WeakMap<Schema, Map<string, RelationDef>>();

function nonStrictView(schema: Schema, namespace: string, relation: string, def: RelationDef | undefined): RelationDef | undefined {
  if (schema.ketoNonStrict !== true) return def;
  if (def === undefined) {
    const type = schema.types.get(namespace);
    if (type === undefined) return undefined;
    let byKey = undeclaredRelations.get(schema);
    if (byKey === undefined) undeclaredRelations.set(schema, (byKey = new Map()));
    const key = `${namespace}#${relation}`;
    let plain = byKey.get(key);
    if (plain === undefined) {
      plain = { name: relation, kind: "relation", directTypes: [], rewrite: { kind: "this", pos: type.pos }, pos: type.pos };
      byKey.set(key, plain);
    }
    return plain;
  }
  if (def.kind !== "permission") return def;
  let permit = nonStrictPermits.get(def);
  if (permit === undefined) {
    permit = { ...def, rewrite: { kind: "union", children: [{ kind: "this", pos: def.pos }, def.rewrite], pos: def.pos } };
    nonStrictPermits.set(def, permit);
  }
  return permit;
}

/** The relation a request names; `NotFoundError` naming the unknown namespace or relation otherwise. */
export function requireRelation(schema: Schema, namespace: string, relation: string, field = ""): RelationDef {
  const type = schema.types.get(namespace);
  if (type === undefined) {
    throw new NotFoundError(`namespace "${namespace}" is not defined in the schema`, {
      reason: "namespace_not_found",
      details: { field: `${field}namespace`, namespace },
    });
  }
  const def = nonStrictView(schema, namespace, relation, type.relations.get(relation));
  if (def === undefined) {
    throw new NotFoundError(`namespace "${namespace}" has no relation or permission "${relation}"`, {
      reason: "relation_not_found",
      details: { field: `${field}relation`, namespace, relation },
    });
  }
  return def;
}

/** The relation `namespace#relation`, or undefined (tuples may outlive a schema change). */
export function findRelation(schema: Schema, namespace: string, relation: string): RelationDef | undefined {
  return nonStrictView(schema, namespace, relation, schema.types.get(namespace)?.relations.get(relation));
}

/**
 * True when `subject` is a wildcard: `T:*` with an empty relation, in an OpenFGA schema. In OPL, as in Keto,
 * `*` is an ordinary id.
 */
export function isWildcard(schema: Schema, subject: Subject): boolean {
  return schema.language === "fga" && subject.kind === "set" && subject.object === WILDCARD && subject.relation === "";
}

/**
 * True when a tuple with this subject, stored under `def`, counts under the relation's current type list:
 * the schema may have changed since the tuple was written, and such tuples are ignored.
 */
export function storedSubjectAllowed(schema: Schema, def: RelationDef, subject: Subject): boolean {
  if (schema.ketoNonStrict === true) return true;
  if (subject.kind === "id") return schema.bareSubjectIds;
  if (isWildcard(schema, subject)) {
    return def.directTypes.some((a) => a.type === subject.namespace && a.wildcard === true);
  }
  return def.directTypes.some(
    (a) => a.type === subject.namespace && a.wildcard !== true && (a.relation ?? "") === subject.relation,
  );
}

/** True when the relation accepts the wildcard `T:*` for the subject's type. */
export function acceptsWildcard(def: RelationDef, type: string): boolean {
  return def.directTypes.some((a) => a.type === type && a.wildcard === true);
}

/** A stable text key of a subject (structural, unlike `formatSubject`, so odd ids cannot collide). */
export function subjectKey(subject: Subject): string {
  return subject.kind === "id" ? `\u0001${subject.id}` : `${subject.namespace}\u0000${subject.object}\u0000${subject.relation}`;
}
