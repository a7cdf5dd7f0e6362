/** Translation between Keto's v1alpha2 protobuf messages and the engine's tuples, filters and consistency. */
import { create } from "@bufbuild/protobuf";
import { InvalidArgumentError } from "../../common/errors.js";
import type { Consistency } from "../../engine/permission-engine.js";
import { decodeSnaptoken } from "../../engine/snaptoken.js";
import type { TupleFilter } from "../../engine/store/tuple-store.js";
import { subjectId, subjectSet, type RelationTuple, type Subject } from "../../engine/tuple.js";
import {
  RelationTupleSchema,
  SubjectSchema,
  SubjectSetSchema,
  type RelationQuery,
  type RelationTuple as RelationTupleMessage,
  type Subject as SubjectMessage,
} from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/relation_tuples_pb.js";

/** What Keto puts in every snaptoken field (Q2); clients that echo it back must not fail. */
export const KETO_PLACEHOLDER_SNAPTOKEN = "not yet implemented";

/** The engine subject of a proto subject; a missing subject or empty oneof is `invalid_argument`. */
export function subjectFromProto(subject: SubjectMessage | undefined, field: string): Subject {
  const ref = subject?.ref;
  if (ref?.case === "id") return subjectId(ref.value);
  if (ref?.case === "set") return subjectSet(ref.value.namespace, ref.value.object, ref.value.relation);
  throw new InvalidArgumentError(`${field}: subject is not allowed to be nil`, { details: { field } });
}

/** The proto subject of an engine subject. */
export function subjectToProto(subject: Subject): SubjectMessage {
  return create(SubjectSchema, {
    ref:
      subject.kind === "id"
        ? { case: "id", value: subject.id }
        : { case: "set", value: create(SubjectSetSchema, { namespace: subject.namespace, object: subject.object, relation: subject.relation }) },
  });
}

/** The engine tuple of a proto tuple; a missing tuple or subject is `invalid_argument` naming `field`. */
export function tupleFromProto(tuple: RelationTupleMessage | undefined, field: string): RelationTuple {
  if (tuple === undefined) throw new InvalidArgumentError(`${field}: relation tuple is missing`, { details: { field } });
  return {
    namespace: tuple.namespace,
    object: tuple.object,
    relation: tuple.relation,
    subject: subjectFromProto(tuple.subject, `${field}.subject`),
  };
}

/** The proto tuple of an engine tuple. */
export function tupleToProto(tuple: RelationTuple): RelationTupleMessage {
  return create(RelationTupleSchema, {
    namespace: tuple.namespace,
    object: tuple.object,
    relation: tuple.relation,
    subject: subjectToProto(tuple.subject),
  });
}

/** A filter from `RelationQuery` (every field optional: unset matches anything). */
export function filterFromRelationQuery(query: RelationQuery): TupleFilter {
  return {
    ...(query.namespace === undefined ? {} : { namespace: query.namespace }),
    ...(query.object === undefined ? {} : { object: query.object }),
    ...(query.relation === undefined ? {} : { relation: query.relation }),
    ...(query.subject?.ref.case === undefined ? {} : { subject: subjectFromProto(query.subject, "relation_query.subject") }),
  };
}

/** A filter from the deprecated `Query` messages, whose plain strings use "" for "not set". */
export function filterFromLegacyQuery(query: {
  namespace: string;
  object: string;
  relation: string;
  subject?: SubjectMessage | undefined;
}): TupleFilter {
  return {
    ...(query.namespace === "" ? {} : { namespace: query.namespace }),
    ...(query.object === "" ? {} : { object: query.object }),
    ...(query.relation === "" ? {} : { relation: query.relation }),
    ...(query.subject?.ref.case === undefined ? {} : { subject: subjectFromProto(query.subject, "query.subject") }),
  };
}

/**
 * The consistency a request asks for. Snaptokens are real (unlike Keto, Q2): `latest` means
 * fully_consistent, a snaptoken at_least_as_fresh, neither the engine's default (minimize_latency). Keto's
 * placeholder token counts as none, so clients that stored and echo it keep working.
 */
export function consistencyFromProto(latest: boolean, snaptoken: string): Consistency | undefined {
  if (latest) return { kind: "fully_consistent" };
  if (snaptoken === "" || snaptoken === KETO_PLACEHOLDER_SNAPTOKEN) return undefined;
  return { kind: "at_least_as_fresh", revision: decodeSnaptoken(snaptoken, "snaptoken") };
}
