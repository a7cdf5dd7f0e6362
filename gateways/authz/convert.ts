/**
 * Conversions between the `gatehouse.authz.v1` messages and the engine's types. Every function that reads a
 * request takes the request field it is reading (e.g. `items[3].relationship`) so that a missing or malformed
 * value is an `InvalidArgumentError` naming exactly that field.
 */
import { create } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "../../common/errors.js";
import type { ExpandTree, UsersetRef } from "../../engine/eval/expand-tree.js";
import type { Consistency, ReadAt } from "../../engine/permission-engine.js";
import type { Diagnostic, SchemaLanguage as EngineLanguage } from "../../engine/schema/ir.js";
import { decodeSnaptoken, encodeSnaptoken } from "../../engine/snaptoken.js";
import type { Revision, TupleFilter, WritePrecondition } from "../../engine/store/tuple-store.js";
import type { RelationTuple, Subject as EngineSubject } from "../../engine/tuple.js";
import { UsersetTreeSchema, type UsersetTree } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import {
  RelationshipSchema,
  SnaptokenSchema,
  SubjectSchema,
  SubjectSetSchema,
  type Consistency as ProtoConsistency,
  type Relationship,
  type RelationshipFilter,
  type Snaptoken,
  type Subject,
  type SubjectSet,
} from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { Precondition_Kind, type Precondition } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import {
  SchemaDiagnosticSchema,
  SchemaDiagnostic_Severity,
  SchemaLanguage,
  SourcePositionSchema,
  type SchemaDiagnostic,
} from "../../proto/gen/gatehouse/authz/v1/schema_pb.js";

function missing(field: string): InvalidArgumentError {
  return new InvalidArgumentError(`${field} is required`, { details: { field }, reason: "missing_field" });
}

/** The engine subject of a proto subject; an unset subject or oneof is `invalid_argument` naming `field`. */
export function subjectFromProto(subject: Subject | undefined, field: string): EngineSubject {
  if (subject === undefined || subject.ref.case === undefined) throw missing(field);
  if (subject.ref.case === "id") return { kind: "id", id: subject.ref.value };
  const set = subject.ref.value;
  if (set.namespace === "") throw missing(`${field}.set.namespace`);
  return { kind: "set", namespace: set.namespace, object: set.object, relation: set.relation };
}

/** The proto subject of an engine subject. */
export function subjectToProto(subject: EngineSubject): Subject {
  return subject.kind === "id"
    ? create(SubjectSchema, { ref: { case: "id", value: subject.id } })
    : create(SubjectSchema, {
        ref: {
          case: "set",
          value: create(SubjectSetSchema, { namespace: subject.namespace, object: subject.object, relation: subject.relation }),
        },
      });
}

/**
 * The engine tuple of a relationship. `namespace`, `relation` and `subject` are required; the object may be
 * the empty id (the proto says so).
 */
export function relationshipFromProto(relationship: Relationship | undefined, field: string): RelationTuple {
  if (relationship === undefined) throw missing(field);
  if (relationship.namespace === "") throw missing(`${field}.namespace`);
  if (relationship.relation === "") throw missing(`${field}.relation`);
  return {
    namespace: relationship.namespace,
    object: relationship.object,
    relation: relationship.relation,
    subject: subjectFromProto(relationship.subject, `${field}.subject`),
  };
}

/** The proto relationship of an engine tuple. */
export function relationshipToProto(tuple: RelationTuple): Relationship {
  return create(RelationshipSchema, {
    namespace: tuple.namespace,
    object: tuple.object,
    relation: tuple.relation,
    subject: subjectToProto(tuple.subject),
  });
}

/**
 * The engine filter of a relationship filter. Presence matters: an unset field matches anything, `""` matches
 * the empty value. An unset filter is the empty filter.
 */
export function filterFromProto(filter: RelationshipFilter | undefined, field: string): TupleFilter {
  if (filter === undefined) return {};
  return {
    ...(filter.namespace === undefined ? {} : { namespace: filter.namespace }),
    ...(filter.object === undefined ? {} : { object: filter.object }),
    ...(filter.relation === undefined ? {} : { relation: filter.relation }),
    ...(filter.subject === undefined ? {} : { subject: subjectFromProto(filter.subject, `${field}.subject`) }),
    ...(filter.subjectNamespace === undefined ? {} : { subjectNamespace: filter.subjectNamespace }),
    ...(filter.subjectRelation === undefined ? {} : { subjectRelation: filter.subjectRelation }),
  };
}

/** True when the filter sets no field, i.e. matches every stored relationship. */
export function isEmptyFilter(filter: TupleFilter): boolean {
  return Object.keys(filter).length === 0;
}

/** The engine precondition of a proto one; an unspecified kind is `invalid_argument` naming `field.kind`. */
export function preconditionFromProto(precondition: Precondition, field: string): WritePrecondition {
  const filter = filterFromProto(precondition.filter, `${field}.filter`);
  switch (precondition.kind) {
    case Precondition_Kind.MUST_MATCH:
      return { kind: "must_match", filter };
    case Precondition_Kind.MUST_NOT_MATCH:
      return { kind: "must_not_match", filter };
    default:
      throw new InvalidArgumentError(`${field}.kind must be KIND_MUST_MATCH or KIND_MUST_NOT_MATCH`, {
        details: { field: `${field}.kind` },
      });
  }
}

/** The snaptoken message of a revision. */
export function snaptokenOf(revision: Revision): Snaptoken {
  return create(SnaptokenSchema, { token: encodeSnaptoken(revision) });
}

/** The revision a snaptoken message names; a missing or bad token is `invalid_argument` naming `field`. */
export function revisionFromProto(token: Snaptoken | undefined, field: string): Revision {
  if (token === undefined || token.token === "") throw missing(field);
  return decodeSnaptoken(token.token, field);
}

/** The engine consistency of a proto one; unset (or an unset oneof) is `minimize_latency`. */
export function consistencyFromProto(consistency: ProtoConsistency | undefined, field = "consistency"): Consistency {
  const requirement = consistency?.requirement;
  switch (requirement?.case) {
    case undefined:
    case "minimizeLatency":
      return { kind: "minimize_latency" };
    case "fullyConsistent":
      return { kind: "fully_consistent" };
    case "atLeastAsFresh":
      return { kind: "at_least_as_fresh", revision: revisionFromProto(requirement.value, `${field}.at_least_as_fresh`) };
    case "atExactSnapshot":
      return { kind: "at_exact_snapshot", revision: revisionFromProto(requirement.value, `${field}.at_exact_snapshot`) };
  }
}

/** The fields every read request shares. */
export interface ProtoReadFields {
  consistency?: ProtoConsistency | undefined;
  maxDepth?: number;
  contextualRelationships?: readonly Relationship[];
}

/** The engine `ReadAt` of a read request: consistency, depth (0 = engine limit) and contextual tuples. */
export function readAtFromProto(request: ProtoReadFields): ReadAt {
  const contextual = (request.contextualRelationships ?? []).map((r, i) =>
    relationshipFromProto(r, `contextual_relationships[${i}]`),
  );
  return {
    consistency: consistencyFromProto(request.consistency),
    ...(request.maxDepth === undefined || request.maxDepth === 0 ? {} : { maxDepth: request.maxDepth }),
    ...(contextual.length === 0 ? {} : { contextualTuples: contextual }),
  };
}

function usersetToProto(userset: UsersetRef): SubjectSet {
  return create(SubjectSetSchema, { namespace: userset.namespace, object: userset.object, relation: userset.relation });
}

/** The proto userset tree of an engine expand tree. */
export function expandTreeToProto(tree: ExpandTree): UsersetTree {
  const base = { userset: usersetToProto(tree.userset), truncated: tree.truncated === true };
  const children = (nodes: readonly ExpandTree[]) => nodes.map(expandTreeToProto);
  switch (tree.kind) {
    case "leaf":
      return create(UsersetTreeSchema, {
        ...base,
        kind: {
          case: "leaf",
          value: { subjects: tree.subjects.map(subjectToProto), children: children(tree.children), cyclic: tree.cyclic === true },
        },
      });
    case "union":
      return create(UsersetTreeSchema, { ...base, kind: { case: "union", value: { children: children(tree.children) } } });
    case "intersection":
      return create(UsersetTreeSchema, { ...base, kind: { case: "intersection", value: { children: children(tree.children) } } });
    case "exclusion":
      return create(UsersetTreeSchema, {
        ...base,
        kind: { case: "exclusion", value: { base: expandTreeToProto(tree.base), subtract: expandTreeToProto(tree.subtract) } },
      });
    case "complement":
      return create(UsersetTreeSchema, { ...base, kind: { case: "complement", value: { child: expandTreeToProto(tree.child) } } });
    case "computed":
      return create(UsersetTreeSchema, {
        ...base,
        kind: { case: "computed", value: { target: usersetToProto(tree.target), child: expandTreeToProto(tree.child) } },
      });
    case "tupleToUserset":
      return create(UsersetTreeSchema, {
        ...base,
        kind: {
          case: "tupleToUserset",
          value: { tuplesetRelation: tree.tupleset, computedRelation: tree.computed, children: children(tree.children) },
        },
      });
  }
}

/** The proto diagnostic of an engine one. */
export function diagnosticToProto(diagnostic: Diagnostic): SchemaDiagnostic {
  return create(SchemaDiagnosticSchema, {
    severity: diagnostic.severity === "error" ? SchemaDiagnostic_Severity.ERROR : SchemaDiagnostic_Severity.WARNING,
    message: diagnostic.message,
    start: create(SourcePositionSchema, diagnostic.start),
    ...(diagnostic.end === undefined ? {} : { end: create(SourcePositionSchema, diagnostic.end) }),
    construct: diagnostic.construct,
  });
}

/** The engine language of a proto one; `undefined` for UNSPECIFIED (detect); an unknown value names `field`. */
export function languageFromProto(language: SchemaLanguage, field = "language"): EngineLanguage | undefined {
  switch (language) {
    case SchemaLanguage.UNSPECIFIED:
      return undefined;
    case SchemaLanguage.OPL:
      return "opl";
    case SchemaLanguage.FGA:
      return "fga";
    default:
      throw new InvalidArgumentError(`${field}: unknown schema language ${String(language)}`, { details: { field } });
  }
}

/** The proto language of an engine one. */
export function languageToProto(language: EngineLanguage): SchemaLanguage {
  return language === "fga" ? SchemaLanguage.FGA : SchemaLanguage.OPL;
}
