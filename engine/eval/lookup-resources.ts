/** `lookupResources`: every object of a type on which a subject has a relation (OpenFGA ListObjects). */
import type { GraphView } from "../graph/graph-view.js";
import type { Schema } from "../schema/ir.js";
import type { Subject } from "../tuple.js";
import { decide } from "./check.js";
import { Checker } from "./checker.js";
import { resolveMaxDepth, type EvalOptions, type PageOptions } from "./options.js";
import { paginate } from "./paginate.js";
import { requireRelation } from "./schema-access.js";
import { SchemaIndex } from "./schema-index.js";

/** A resource lookup: objects of type `namespace` where `subject` is in `#relation`. */
export interface LookupResourcesRequest {
  readonly namespace: string;
  readonly relation: string;
  readonly subject: Subject;
}

/** One page of object ids, sorted; `nextCursor` is present when more follow. */
export interface LookupResourcesResult {
  objects: string[];
  nextCursor?: string;
}

/**
 * Every object of type `namespace` for which `check(namespace:object#relation@subject)` is true, sorted by
 * id and paginated (`pageSize` default 100, `0` = all; `cursor` from the previous page).
 *
 * Candidates come from walking the graph backwards from the subject (stored tuples, wildcard tuples for a
 * typed object, subject sets, computed usersets and tuple-to-usersets); when the relation can reach a
 * complement, every object of the type known to the view is a candidate instead. Each candidate is then
 * confirmed with `check`, so the answer agrees with `check` by construction and is complete for every object
 * the view knows (an object that has no tuple at all is listed only through a complement's fallback, never
 * invented). A candidate that runs out of depth throws `LimitExceededError`.
 */
export function lookupResources(
  schema: Schema,
  view: GraphView,
  request: LookupResourcesRequest,
  options?: EvalOptions & PageOptions,
): LookupResourcesResult {
  const { namespace, relation, subject } = request;
  const maxDepth = resolveMaxDepth(options);
  const candidates = resourceCandidates(schema, view, request);
  const checker = new Checker(schema, view);
  const page = paginate(candidates, options, (object) =>
    decide(checker.resolve(namespace, object, relation, subject, maxDepth), { namespace, object, relation, subject }, maxDepth),
  );
  return page.nextCursor === undefined ? { objects: page.ids } : { objects: page.ids, nextCursor: page.nextCursor };
}

/**
 * Validates a resource lookup and lists its candidates (see `lookupResources`): objects that may hold the
 * relation, each still to be confirmed with a check.
 */
export function resourceCandidates(schema: Schema, view: GraphView, request: LookupResourcesRequest): Iterable<string> {
  const { namespace, relation, subject } = request;
  requireRelation(schema, namespace, relation);
  const index = new SchemaIndex(schema);
  return index.reachesComplement(namespace, relation)
    ? view.objectsOfType(namespace)
    : reverseCandidates(schema, view, index, namespace, subject);
}

/**
 * Objects of `namespace` on some userset that may contain `subject`: the closure of the usersets storing it,
 * through subject-set tuples, computed usersets and tuple-to-usersets. A superset of the answer (exclusions
 * and intersections are not applied here), bounded by the graph, not by depth.
 */
function reverseCandidates(schema: Schema, view: GraphView, index: SchemaIndex, namespace: string, subject: Subject): Set<string> {
  const candidates = new Set<string>();
  const seen = new Set<string>();
  const queue: { namespace: string; object: string; relation: string }[] = [];
  const reach = (ns: string, object: string, relation: string): void => {
    const key = `${ns}\u0000${object}\u0000${relation}`;
    if (seen.has(key)) return;
    seen.add(key);
    queue.push({ namespace: ns, object, relation });
  };

  for (const r of view.objectsWithSubject(subject)) reach(r.namespace, r.object, r.relation);
  if (subject.kind === "set" && subject.relation === "" && subject.object !== "*") {
    // Wildcard tuples `T:*` hold every typed object of T (the check decides whether the schema allows them).
    const wildcard: Subject = { kind: "set", namespace: subject.namespace, object: "*", relation: "" };
    for (const r of view.objectsWithSubject(wildcard)) reach(r.namespace, r.object, r.relation);
  }

  while (queue.length > 0) {
    const node = queue.pop() as { namespace: string; object: string; relation: string };
    if (node.namespace === namespace) candidates.add(node.object);
    // Relations of the same object that read this one.
    for (const user of index.computedUsersOf(node.namespace, node.relation)) reach(node.namespace, node.object, user);
    // Usersets that store this one as a subject set.
    const asSet: Subject = { kind: "set", namespace: node.namespace, object: node.object, relation: node.relation };
    for (const r of view.objectsWithSubject(asSet)) reach(r.namespace, r.object, r.relation);
    // Tuple-to-usersets whose tupleset holds this object (as a typed object or any subject set of it).
    const uses = index.tupleToUsersetUsersOf(node.relation);
    if (uses.length === 0) continue;
    const variants = ["", ...(schema.types.get(node.namespace)?.relations.keys() ?? [])];
    for (const use of uses) {
      for (const rel of variants) {
        const holder: Subject = { kind: "set", namespace: node.namespace, object: node.object, relation: rel };
        for (const r of view.objectsWithSubject(holder, use.type, use.tupleset)) reach(use.type, r.object, use.relation);
      }
    }
  }
  return candidates;
}
