/**
 * The tuple forms the client commands read and write: Keto's text form `ns:obj#rel@subject`, Keto's JSON
 * shape `{namespace, object, relation, subject_id | subject_set}`, and OpenFGA's `{user, relation, object}`;
 * all become `gatehouse.authz.v1.Relationship`s. The engine's parser and the gateway's converters do the
 * work, so the CLI reads tuples exactly as the server's own APIs do.
 */
import { relationshipFromProto, relationshipToProto } from "../../gateways/authz/convert.js";
import { formatSubject, formatTuple, parseSubject, parseTuple, type Subject } from "../../engine/tuple.js";
import type { Relationship } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { UsageError } from "./errors.js";

/** Parses Keto's text form; a malformed text is a `UsageError` naming `where`. */
export function relationshipFromText(text: string, where: string): Relationship {
  try {
    return relationshipToProto(parseTuple(text.trim(), where));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Keto's text form of a relationship. */
export function relationshipToText(relationship: Relationship): string {
  return formatTuple(relationshipFromProto(relationship, "relationship"));
}

/** The text form of a relationship's subject. */
export function subjectText(relationship: Relationship): string {
  return formatSubject(relationshipFromProto(relationship, "relationship").subject);
}

/** Keto's JSON shape of a tuple, as `keto relation-tuple get --format json` and the REST API write it. */
export interface KetoTupleJson {
  namespace: string;
  object: string;
  relation: string;
  subject_id?: string;
  subject_set?: { namespace: string; object: string; relation: string };
}

/** Keto's JSON shape of a relationship. */
export function relationshipToKetoJson(relationship: Relationship): KetoTupleJson {
  const t = relationshipFromProto(relationship, "relationship");
  const base = { namespace: t.namespace, object: t.object, relation: t.relation };
  return t.subject.kind === "id"
    ? { ...base, subject_id: t.subject.id }
    : { ...base, subject_set: { namespace: t.subject.namespace, object: t.subject.object, relation: t.subject.relation } };
}

function stringField(value: Record<string, unknown>, key: string, where: string, required = true): string | undefined {
  const v = value[key];
  if (v === undefined && !required) return undefined;
  if (typeof v !== "string") throw new UsageError(`${where}: "${key}" must be a string`);
  return v;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A relationship from one entry of a tuple file: a text line, a Keto-shaped object or an OpenFGA-shaped one
 * (`user: user:anne`, `object: doc:readme`). `where` (file and index) prefixes every error.
 */
export function relationshipFromEntry(entry: unknown, where: string): Relationship {
  if (typeof entry === "string") return relationshipFromText(entry, where);
  if (!isRecord(entry)) throw new UsageError(`${where}: expected a tuple (text or object), got ${JSON.stringify(entry)}`);
  if ("user" in entry) {
    // OpenFGA's shape: object is `type:id`, user is `type:id` or `type:id#relation`.
    const object = stringField(entry, "object", where) ?? "";
    const user = stringField(entry, "user", where) ?? "";
    const relation = stringField(entry, "relation", where) ?? "";
    return relationshipFromText(`${object}#${relation}@${user}`, where);
  }
  const namespace = stringField(entry, "namespace", where) ?? "";
  const object = stringField(entry, "object", where) ?? "";
  const relation = stringField(entry, "relation", where) ?? "";
  const subjectId = stringField(entry, "subject_id", where, false);
  const set = entry.subject_set;
  let subject: Subject;
  if (subjectId !== undefined && set === undefined) {
    subject = { kind: "id", id: subjectId };
  } else if (subjectId === undefined && isRecord(set)) {
    const ns = stringField(set, "namespace", `${where}.subject_set`) ?? "";
    if (ns === "") throw new UsageError(`${where}.subject_set: "namespace" must not be empty`);
    subject = {
      kind: "set",
      namespace: ns,
      object: stringField(set, "object", `${where}.subject_set`) ?? "",
      relation: stringField(set, "relation", `${where}.subject_set`, false) ?? "",
    };
  } else if (typeof entry.subject === "string") {
    // A text subject (`subject: group:eng#member`), as the Keto CLI's text forms write it.
    subject = parseSubjectOrUsage(entry.subject, where);
  } else {
    throw new UsageError(`${where}: give exactly one of "subject_id" and "subject_set"`);
  }
  if (namespace === "") throw new UsageError(`${where}: "namespace" must not be empty`);
  if (relation === "") throw new UsageError(`${where}: "relation" must not be empty`);
  return relationshipToProto({ namespace, object, relation, subject });
}

/** Parses a subject text (`john`, `user:anne`, `group:eng#member`); malformed is a `UsageError`. */
export function parseSubjectOrUsage(text: string, where: string): Subject {
  try {
    return parseSubject(text, where);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}
