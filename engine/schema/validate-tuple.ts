import { InvalidArgumentError } from "../../common/errors.js";
import { formatTuple, WILDCARD, type RelationTuple } from "../tuple.js";
import type { RelationDef, Schema } from "./ir.js";

/** Longest object or subject id accepted, as OpenFGA's limits (Keto has none; unbounded ids hurt indexes). */
export const MAX_ID_LENGTH = 1024;

// Control characters would make the `ns:obj#rel@subject` text form ambiguous in logs and files.
const CONTROL = /[\u0000-\u001f\u007f]/;

function reject(tuple: RelationTuple, field: string, why: string): never {
  throw new InvalidArgumentError(`${field}: ${why} in tuple ${formatTuple(tuple)}`, {
    details: { field, tuple: formatTuple(tuple) },
    reason: "invalid_tuple",
  });
}

function checkId(tuple: RelationTuple, field: string, id: string): void {
  if (id.length > MAX_ID_LENGTH) reject(tuple, field, `id is longer than ${MAX_ID_LENGTH} characters`);
  if (CONTROL.test(id)) reject(tuple, field, "id contains a control character");
}

/** Finds the relation a tuple is stored under, or rejects the tuple naming the missing piece. */
function relationOf(schema: Schema, tuple: RelationTuple, field: string): RelationDef {
  const type = schema.types.get(tuple.namespace);
  if (type === undefined) reject(tuple, `${field}.namespace`, `unknown namespace "${tuple.namespace}"`);
  const relation = type.relations.get(tuple.relation);
  if (relation === undefined) {
    reject(tuple, `${field}.relation`, `namespace "${tuple.namespace}" has no relation "${tuple.relation}"`);
  }
  if (relation.kind === "permission") {
    reject(tuple, `${field}.relation`, `"${tuple.namespace}#${tuple.relation}" is a permission and cannot be written`);
  }
  return relation;
}

/**
 * Checks that a tuple may be stored under the schema: known namespace and relation (not a permission), a
 * well-formed object id, and a subject whose type the relation accepts. Throws `InvalidArgumentError` whose
 * message names the field and the tuple; `field` prefixes the reported field (e.g. `tuples[3]`).
 */
export function validateTuple(schema: Schema, tuple: RelationTuple, field = "tuple"): void {
  if (schema.ketoNonStrict === true) {
    // Keto's non-strict mode checks only that the namespace exists (and we keep ids sane).
    if (!schema.types.has(tuple.namespace)) reject(tuple, `${field}.namespace`, `unknown namespace "${tuple.namespace}"`);
    if (tuple.relation === "") reject(tuple, `${field}.relation`, "the relation is empty");
    checkId(tuple, `${field}.object`, tuple.object);
    checkId(tuple, tuple.subject.kind === "id" ? `${field}.subject_id` : `${field}.subject.object`, tuple.subject.kind === "id" ? tuple.subject.id : tuple.subject.object);
    return;
  }
  const relation = relationOf(schema, tuple, field);
  checkId(tuple, `${field}.object`, tuple.object);
  if (schema.language === "fga" && tuple.object === WILDCARD) {
    reject(tuple, `${field}.object`, `the wildcard "*" can only be a subject`);
  }
  const subject = tuple.subject;
  if (subject.kind === "id") {
    checkId(tuple, `${field}.subject_id`, subject.id);
    if (!schema.bareSubjectIds) {
      reject(tuple, `${field}.subject`, `a bare subject id "${subject.id}" is not allowed; use type:id`);
    }
    return;
  }
  checkId(tuple, `${field}.subject.object`, subject.object);
  const subjectType = schema.types.get(subject.namespace);
  if (subjectType === undefined) {
    reject(tuple, `${field}.subject.namespace`, `unknown subject namespace "${subject.namespace}"`);
  }
  if (subject.relation !== "" && !subjectType.relations.has(subject.relation)) {
    reject(tuple, `${field}.subject.relation`, `namespace "${subject.namespace}" has no relation "${subject.relation}"`);
  }
  // In OpenFGA `user:*` is a wildcard and must be declared as such; in OPL (Keto) `*` is an ordinary id.
  const wildcard = schema.language === "fga" && subject.object === WILDCARD && subject.relation === "";
  const allowed = relation.directTypes.some((t) =>
    wildcard
      ? t.type === subject.namespace && t.wildcard === true
      : t.type === subject.namespace && t.wildcard !== true && (t.relation ?? "") === subject.relation,
  );
  if (!allowed) {
    const shown = wildcard
      ? `${subject.namespace}:*`
      : subject.relation === ""
        ? subject.namespace
        : `${subject.namespace}#${subject.relation}`;
    const accepted = relation.directTypes
      .map((t) => (t.wildcard === true ? `${t.type}:*` : t.relation === undefined ? t.type : `${t.type}#${t.relation}`))
      .join(", ");
    reject(
      tuple,
      `${field}.subject`,
      `subject type ${shown} is not allowed in ${tuple.namespace}#${tuple.relation} (allowed: ${accepted || "none"})`,
    );
  }
}
