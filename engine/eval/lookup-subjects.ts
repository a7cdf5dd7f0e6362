/** `lookupSubjects`: every subject of a type that has a relation on an object (OpenFGA ListUsers). */
import { InvalidArgumentError, NotFoundError } from "../../common/errors.js";
import type { GraphView } from "../graph/graph-view.js";
import type { Schema } from "../schema/ir.js";
import type { Subject } from "../tuple.js";
import { decide } from "./check.js";
import { Checker } from "./checker.js";
import { resolveMaxDepth, type EvalOptions, type PageOptions } from "./options.js";
import { paginate } from "./paginate.js";
import { findRelation, requireRelation } from "./schema-access.js";

/**
 * A subject lookup on `namespace:object#relation`. `subjectNamespace` `""` asks for bare subject ids (Keto);
 * otherwise typed objects `T:x`, or subject sets `T:x#subjectRelation` when `subjectRelation` is given.
 */
export interface LookupSubjectsRequest {
  readonly namespace: string;
  readonly object: string;
  readonly relation: string;
  readonly subjectNamespace: string;
  readonly subjectRelation?: string;
}

/** Options of `lookupSubjects`. */
export interface LookupSubjectsOptions extends EvalOptions, PageOptions {
  /**
   * When a wildcard `T:*` reaches the userset and is itself allowed, also list every `T:x` the view knows that
   * the check allows, so that `check(s)` equals membership for every known subject. Default false: list `T:*`
   * in their stead (OpenFGA's ListUsers), plus the subjects stored along the way.
   */
  listWildcardMembers?: boolean;
}

/** One page of subjects, sorted by id; `nextCursor` is present when more follow. */
export interface LookupSubjectsResult {
  subjects: Subject[];
  nextCursor?: string;
}

/**
 * The subjects of the requested kind for which `check` is true, sorted by id and paginated like
 * `lookupResources`. Candidates are the subjects stored along a forward walk of the userset (through subject
 * sets, computed usersets and tuple-to-usersets); the wildcard `T:*` itself when it is reached; and every
 * id of the type the view knows when a complement is reached, or when a reached wildcard is not itself
 * allowed (or `listWildcardMembers` is set). Each candidate is confirmed with `check`, so every listed
 * subject is allowed, and every allowed subject the view knows is listed or covered by a listed `T:*`.
 */
export function lookupSubjects(
  schema: Schema,
  view: GraphView,
  request: LookupSubjectsRequest,
  options?: LookupSubjectsOptions,
): LookupSubjectsResult {
  const { namespace, object, relation } = request;
  const maxDepth = resolveMaxDepth(options);
  const plan = planSubjects(schema, view, request, options);
  const checker = new Checker(schema, view);
  const allowed = (id: string): boolean => {
    const subject = plan.make(id);
    return decide(checker.resolve(namespace, object, relation, subject, maxDepth), { namespace, object, relation, subject }, maxDepth);
  };
  if (plan.everyone === "always" || (plan.everyone === "unless-wildcard-allowed" && !allowed("*"))) plan.addKnown();
  const page = paginate(plan.candidates, options, allowed);
  const subjects = page.ids.map(plan.make);
  return page.nextCursor === undefined ? { subjects } : { subjects, nextCursor: page.nextCursor };
}

/** The candidates of a subject lookup, before any check: shared by the synchronous and the batched path. */
export interface SubjectLookupPlan {
  /** The subject an id stands for. */
  readonly make: (id: string) => Subject;
  /** Ids found along the walk (and `*` when a wildcard or complement was reached). */
  readonly candidates: Set<string>;
  /**
   * Whether every known id of the subject type must be a candidate too: always (a complement, or wildcard
   * members asked for), only when the wildcard subject `T:*` is itself not allowed, or never.
   */
  readonly everyone: "always" | "unless-wildcard-allowed" | "never";
  /** Adds every id of the subject type the view knows to `candidates`. */
  addKnown(): void;
}

/** Validates a subject lookup and walks the graph for its candidates (see `lookupSubjects`). */
export function planSubjects(schema: Schema, view: GraphView, request: LookupSubjectsRequest, options?: LookupSubjectsOptions): SubjectLookupPlan {
  const { namespace, relation, subjectNamespace } = request;
  const subjectRelation = request.subjectRelation ?? "";
  requireRelation(schema, namespace, relation);
  if (subjectNamespace === "") {
    if (subjectRelation !== "") {
      throw new InvalidArgumentError("subjectRelation: bare subject ids have no relation", {
        details: { field: "subjectRelation" },
      });
    }
  } else if (subjectRelation !== "") {
    requireRelation(schema, subjectNamespace, subjectRelation, "subject");
  } else if (!schema.types.has(subjectNamespace)) {
    throw new NotFoundError(`namespace "${subjectNamespace}" is not defined in the schema`, {
      reason: "namespace_not_found",
      details: { field: "subjectNamespace", namespace: subjectNamespace },
    });
  }
  const make = (id: string): Subject =>
    subjectNamespace === ""
      ? { kind: "id", id }
      : { kind: "set", namespace: subjectNamespace, object: id, relation: subjectRelation };
  const walk = forwardCandidates(schema, view, request, subjectRelation);
  const candidates = walk.ids;
  const wildcardKind = schema.language === "fga" && subjectNamespace !== "" && subjectRelation === "";
  if (wildcardKind && (walk.wildcard || walk.complement)) candidates.add("*");
  // Known subjects that only a wildcard (or a complement) can admit. When `T:*` itself is listed it stands
  // for them, as in OpenFGA's ListUsers; when it is not (an exclusion removed `T:*` but not every `T:x`),
  // they must be listed one by one to stay complete.
  let everyone: SubjectLookupPlan["everyone"] = "never";
  if (walk.complement || (walk.wildcard && (options?.listWildcardMembers === true || !wildcardKind))) everyone = "always";
  else if (walk.wildcard) everyone = "unless-wildcard-allowed";
  return {
    make,
    candidates,
    everyone,
    addKnown() {
      for (const id of view.objectsOfType(subjectNamespace)) candidates.add(id);
    },
  };
}

interface ForwardWalk {
  /** Ids of matching subjects stored along the walk. */
  readonly ids: Set<string>;
  /** A wildcard `T:*` of the requested type was stored along the walk (OpenFGA schemas). */
  readonly wildcard: boolean;
  /** A complement was reached: membership is unbounded. */
  readonly complement: boolean;
}

/**
 * Walks from the userset to everything that can contribute members, collecting the stored subjects of the
 * requested kind. Exclusions contribute only their base (the subtraction never adds members).
 */
function forwardCandidates(schema: Schema, view: GraphView, request: LookupSubjectsRequest, subjectRelation: string): ForwardWalk {
  const { subjectNamespace } = request;
  const ids = new Set<string>();
  let wildcard = false;
  let complement = false;
  const seen = new Set<string>();
  const queue: { namespace: string; object: string; relation: string }[] = [];
  const reach = (namespace: string, object: string, relation: string): void => {
    const key = `${namespace}\u0000${object}\u0000${relation}`;
    if (seen.has(key) || findRelation(schema, namespace, relation) === undefined) return;
    seen.add(key);
    queue.push({ namespace, object, relation });
  };
  reach(request.namespace, request.object, request.relation);

  while (queue.length > 0) {
    const node = queue.pop() as { namespace: string; object: string; relation: string };
    const def = findRelation(schema, node.namespace, node.relation);
    if (def === undefined) continue;
    const pending = [def.rewrite];
    while (pending.length > 0) {
      const rw = pending.pop();
      if (rw === undefined) break;
      switch (rw.kind) {
        case "this":
          for (const s of view.subjects(node.namespace, node.object, node.relation)) {
            if (s.kind === "id") {
              if (subjectNamespace === "") ids.add(s.id);
              continue;
            }
            if (s.relation !== "") reach(s.namespace, s.object, s.relation);
            if (s.namespace !== subjectNamespace || s.relation !== subjectRelation) continue;
            if (schema.language === "fga" && s.object === "*" && s.relation === "") wildcard = true;
            else ids.add(s.object);
          }
          break;
        case "computed":
          reach(node.namespace, node.object, rw.relation);
          break;
        case "tupleToUserset":
          for (const s of view.subjects(node.namespace, node.object, rw.tupleset)) {
            if (s.kind === "set") reach(s.namespace, s.object, rw.computed);
          }
          break;
        case "union":
        case "intersection":
          pending.push(...rw.children);
          break;
        case "exclusion":
          pending.push(rw.base);
          break;
        case "complement":
          complement = true;
          break;
      }
    }
  }
  return { ids, wildcard, complement };
}
