/**
 * Keto's REST shapes (reference §1.3): relationships in JSON bodies and query strings, the Location query of
 * a created tuple, and the expand tree with its empty-namespace tuples.
 */
import { InvalidArgumentError } from "../../common/errors.js";
import type { TupleFilter } from "../../engine/store/tuple-store.js";
import { subjectId, subjectSet, type RelationTuple, type Subject } from "../../engine/tuple.js";
import type { KetoTree } from "./keto-tree.js";

/** A relationship as Keto's JSON carries it. */
export interface RelationshipJson {
  namespace: string;
  object: string;
  relation: string;
  subject_id?: string;
  subject_set?: { namespace: string; object: string; relation: string };
}

/** Keto's expandedPermissionTree. */
export interface ExpandTreeJson {
  type: string;
  tuple: RelationshipJson;
  children?: ExpandTreeJson[];
}

const SUBJECT_SET_KEYS = ["subject_set.namespace", "subject_set.object", "subject_set.relation"] as const;

function bad(field: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError(`${field === "" ? "" : `${field}: `}${message}`, { details: { field: field === "" ? "body" : field } });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function stringField(o: Record<string, unknown>, key: string, prefix: string): string {
  const v = o[key];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw bad(`${prefix}${key}`, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** A relationship from a JSON value; `prefix` names its position (e.g. `tuples[2].`). */
export function tupleFromJson(value: unknown, prefix = ""): RelationTuple {
  if (!isObject(value)) throw bad(prefix.replace(/\.$/, ""), "expected a relationship object");
  const hasId = value["subject_id"] !== undefined && value["subject_id"] !== null;
  const hasSet = value["subject_set"] !== undefined && value["subject_set"] !== null;
  if (hasId && hasSet) {
    throw bad(`${prefix}subject_id`, `exactly one of subject_set or subject_id has to be provided, got both ${prefix}subject_id and ${prefix}subject_set`);
  }
  let subject: Subject;
  if (hasId) {
    subject = subjectId(stringField(value, "subject_id", prefix));
  } else if (hasSet) {
    const set = value["subject_set"];
    if (!isObject(set)) throw bad(`${prefix}subject_set`, "expected an object {namespace, object, relation}");
    const p = `${prefix}subject_set.`;
    subject = subjectSet(stringField(set, "namespace", p), stringField(set, "object", p), stringField(set, "relation", p));
  } else {
    throw bad(`${prefix}subject_id`, `subject is not allowed to be nil: provide ${prefix}subject_id or ${prefix}subject_set`);
  }
  return {
    namespace: stringField(value, "namespace", prefix),
    object: stringField(value, "object", prefix),
    relation: stringField(value, "relation", prefix),
    subject,
  };
}

function subjectJson(subject: Subject): Pick<RelationshipJson, "subject_id" | "subject_set"> {
  return subject.kind === "id"
    ? { subject_id: subject.id }
    : { subject_set: { namespace: subject.namespace, object: subject.object, relation: subject.relation } };
}

/** A relationship as JSON. */
export function tupleToJson(tuple: RelationTuple): RelationshipJson {
  return { namespace: tuple.namespace, object: tuple.object, relation: tuple.relation, ...subjectJson(tuple.subject) };
}

/** The query string Keto puts in `Location` (Go's `url.Values.Encode`: keys sorted). */
export function tupleToQuery(tuple: RelationTuple): string {
  const q = new URLSearchParams();
  q.set("namespace", tuple.namespace);
  q.set("object", tuple.object);
  q.set("relation", tuple.relation);
  const s = tuple.subject;
  if (s.kind === "id") q.set("subject_id", s.id);
  else {
    q.set("subject_set.namespace", s.namespace);
    q.set("subject_set.object", s.object);
    q.set("subject_set.relation", s.relation);
  }
  q.sort();
  return q.toString();
}

/**
 * The subject of a query string: `subject_id`, or all three `subject_set.*` (`subject_set.relation=` empty
 * is a typed subject, Q7). Both forms at once is an error naming the fields; so is an incomplete subject set.
 */
export function subjectFromQuery(q: URLSearchParams): Subject | undefined {
  if (q.has("subject")) {
    throw bad("subject", 'provide "subject_id" or "subject_set.*"; support for "subject" was dropped');
  }
  const setKeys = SUBJECT_SET_KEYS.filter((k) => q.has(k));
  if (q.has("subject_id") && setKeys.length > 0) {
    throw bad("subject_id", `exactly one of subject_set or subject_id has to be provided, got subject_id and ${setKeys.join(", ")}`);
  }
  if (q.has("subject_id")) return subjectId(q.get("subject_id") ?? "");
  if (setKeys.length === 0) return undefined;
  const missing = SUBJECT_SET_KEYS.filter((k) => !q.has(k));
  if (missing.length > 0) {
    throw bad(missing[0] ?? "subject_set", `incomplete subject, provide "subject_id" or a complete "subject_set.*" (missing ${missing.join(", ")})`);
  }
  return subjectSet(q.get("subject_set.namespace") ?? "", q.get("subject_set.object") ?? "", q.get("subject_set.relation") ?? "");
}

/** A checked tuple from a query string; absent namespace/object/relation are "" as in Keto. */
export function tupleFromQuery(q: URLSearchParams): RelationTuple {
  const subject = subjectFromQuery(q);
  if (subject === undefined) throw bad("subject_id", 'subject is not allowed to be nil: provide "subject_id" or "subject_set.*"');
  return { namespace: q.get("namespace") ?? "", object: q.get("object") ?? "", relation: q.get("relation") ?? "", subject };
}

/** A relation query from a query string: each parameter present filters, absent ones match anything. */
export function filterFromQuery(q: URLSearchParams): TupleFilter {
  const subject = subjectFromQuery(q);
  const get = (k: string) => q.get(k);
  const namespace = get("namespace");
  const object = get("object");
  const relation = get("relation");
  return {
    ...(namespace === null ? {} : { namespace }),
    ...(object === null ? {} : { object }),
    ...(relation === null ? {} : { relation }),
    ...(subject === undefined ? {} : { subject }),
  };
}

/** An integer query parameter (absent: `fallback`); anything else is `invalid_argument` naming it. */
export function intParam(q: URLSearchParams, name: string, fallback: number): number {
  const raw = q.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^[+-]?\d{1,10}$/.test(raw.trim())) throw bad(name, `unable to parse ${JSON.stringify(raw)} as an integer`);
  return Number(raw.trim());
}

/** Keto's expand tree as JSON: every node's tuple has empty namespace/object/relation and only a subject. */
export function treeToJson(tree: KetoTree): ExpandTreeJson {
  const out: ExpandTreeJson = {
    type: tree.type,
    tuple: { namespace: "", object: "", relation: "", ...subjectJson(tree.subject) },
  };
  // Keto omits empty children (`omitempty`).
  if (tree.children.length > 0) out.children = tree.children.map(treeToJson);
  return out;
}
