/** `check`: is a subject in `namespace:object#relation`? */
import { LimitExceededError } from "../../common/errors.js";
import type { GraphView } from "../graph/graph-view.js";
import type { Schema } from "../schema/ir.js";
import { formatSubject, type Subject } from "../tuple.js";
import { Checker, DEPTH_EXCEEDED, TRUE, type Outcome } from "./checker.js";
import { resolveMaxDepth, type EvalOptions } from "./options.js";
import { requireRelation } from "./schema-access.js";

/** A check: is `subject` in `namespace:object#relation`? */
export interface CheckRequest {
  readonly namespace: string;
  readonly object: string;
  readonly relation: string;
  readonly subject: Subject;
}

/** The error for a check that ran out of depth before it could decide. */
export function maxDepthExceeded(request: CheckRequest, maxDepth: number): LimitExceededError {
  const { namespace, object, relation, subject } = request;
  return new LimitExceededError(
    `max depth ${maxDepth} exceeded while checking ${namespace}:${object}#${relation}@${formatSubject(subject)}`,
    { reason: "max_depth_exceeded", details: { maxDepth } },
  );
}

/** Turns a three-valued outcome into the answer, throwing when it is undecided. */
export function decide(outcome: Outcome, request: CheckRequest, maxDepth: number): boolean {
  if (outcome.value === DEPTH_EXCEEDED) throw maxDepthExceeded(request, maxDepth);
  return outcome.value === TRUE;
}

/**
 * Is `subject` in `namespace:object#relation` under `schema`, reading `view`? Pure and synchronous.
 *
 * Throws `NotFoundError` (`namespace_not_found` / `relation_not_found`) when the schema lacks the requested
 * namespace or relation, and `LimitExceededError` (`max_depth_exceeded`) when the answer needs more depth
 * than `maxDepth` allows. Cycles count as not-a-member.
 */
export function check(schema: Schema, view: GraphView, request: CheckRequest, options?: EvalOptions): boolean {
  requireRelation(schema, request.namespace, request.relation);
  const maxDepth = resolveMaxDepth(options);
  const outcome = new Checker(schema, view).resolve(
    request.namespace,
    request.object,
    request.relation,
    request.subject,
    maxDepth,
  );
  return decide(outcome, request, maxDepth);
}
