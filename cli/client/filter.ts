/**
 * The filter flags of `tuples list` and `tuples delete`: each set flag must match, an absent one matches
 * anything. `--object ""` is a real value (the empty object id), so presence, not emptiness, decides.
 */
import { create } from "@bufbuild/protobuf";
import { subjectToProto } from "../../gateways/authz/convert.js";
import { RelationshipFilterSchema, type RelationshipFilter } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { parseSubjectOrUsage } from "./tuples.js";

/** The filter flags. */
export const filterOptions = {
  namespace: { type: "string" },
  object: { type: "string" },
  relation: { type: "string" },
  subject: { type: "string" },
  "subject-namespace": { type: "string" },
} as const;

/** Usage lines of `filterOptions`. */
export const filterUsage = `  --namespace NS         only tuples in this namespace
  --object ID            only tuples on this object
  --relation REL         only tuples with this relation
  --subject SUBJECT      only tuples with exactly this subject (john, user:anne, group:eng#member)
  --subject-namespace NS only tuples whose subject is a typed object or subject set of this namespace
`;

/** The filter flag values. */
export interface FilterFlags {
  namespace?: string | undefined;
  object?: string | undefined;
  relation?: string | undefined;
  subject?: string | undefined;
  "subject-namespace"?: string | undefined;
}

/** The RelationshipFilter of the flags, and whether any flag was set. */
export function filterFromFlags(flags: FilterFlags): { filter: RelationshipFilter; empty: boolean } {
  const filter = create(RelationshipFilterSchema, {
    ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
    ...(flags.object === undefined ? {} : { object: flags.object }),
    ...(flags.relation === undefined ? {} : { relation: flags.relation }),
    ...(flags.subject === undefined ? {} : { subject: subjectToProto(parseSubjectOrUsage(flags.subject, "--subject")) }),
    ...(flags["subject-namespace"] === undefined ? {} : { subjectNamespace: flags["subject-namespace"] }),
  });
  // Only the filter's own keys count: the flags object may carry every other flag of the command too.
  const empty = (Object.keys(filterOptions) as (keyof FilterFlags)[]).every((key) => flags[key] === undefined);
  return { filter, empty };
}
