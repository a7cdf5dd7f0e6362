/**
 * Keto's semantics over the engine, shared by the gRPC services and the REST handler: depth clamping (Q4),
 * limits as "not allowed" outside strict mode (Q5), batch limits, pinned revisions, Keto's expand tree,
 * Keto's pagination limits and namespace checks. The transports only translate shapes and pick how an
 * unknown namespace answers (Q1).
 */
import { toKetoError } from "./keto-errors.js";
import { GatehouseError, InvalidArgumentError, NotFoundError, toGatehouseError } from "../../common/errors.js";
import type { Consistency } from "../../engine/permission-engine.js";
import type { Revision, TupleFilter, TupleWrite } from "../../engine/store/tuple-store.js";
import type { RelationTuple } from "../../engine/tuple.js";
import { toKetoTree, type KetoTree } from "./keto-tree.js";
import { clampDepth, KETO_DEFAULT_PAGE_SIZE, KETO_MAX_PAGE_SIZE, type ResolvedKetoOptions } from "./options.js";

/** How a check treats a namespace the schema lacks: REST answers false, gRPC fails (Q1). */
export type UnknownNamespace = "deny" | "error";

/** One result of a batch check, in request order. */
export interface BatchItemResult {
  allowed: boolean;
  /** The error message of this item; "" when it was decided. */
  error: string;
}

/** Keto's default read: the node's head (see `pinRevision`). */
const KETO_READ: Consistency = { kind: "latest_applied" };

/**
 * The revision a read evaluates at, fixed before evaluating so a batch reads one state and a check that
 * ends in an error still has a revision to report.
 */
export function pinRevision(o: ResolvedKetoOptions, consistency: Consistency | undefined): Promise<Revision> {
  // Keto reads the database on every request, so its clients expect their own writes at once: read at the
  // node's head rather than at the quantized revision of `minimize_latency`.
  return o.engine.resolveConsistency(consistency ?? KETO_READ);
}

function isReason(err: unknown, reason: string): boolean {
  return err instanceof GatehouseError && err.reason === reason;
}

/** Is the tuple allowed at `revision`? Applies Q4 (depth), Q5 (limits) and the caller's Q1 choice. */
export async function checkAt(
  o: ResolvedKetoOptions,
  tuple: RelationTuple,
  requestedDepth: number,
  revision: Revision,
  unknownNamespace: UnknownNamespace,
): Promise<boolean> {
  try {
    const result = await o.engine.check(tuple, {
      consistency: { kind: "at_exact_snapshot", revision },
      maxDepth: clampDepth(requestedDepth, o.maxReadDepth),
    });
    return result.allowed;
  } catch (err) {
    // Q5: outside strict mode Keto turns max_depth_exceeded into "not a member".
    if (!o.strictLimits && isReason(err, "max_depth_exceeded")) return false;
    // Q1: the REST check maps the mapper's not-found to allowed=false; gRPC passes it on.
    if (unknownNamespace === "deny" && isReason(err, "namespace_not_found")) return false;
    throw err;
  }
}

/** Rejects a batch above `limit.max_batch_check_size` with Keto's message. */
export function assertBatchSize(o: ResolvedKetoOptions, size: number): void {
  if (size > o.maxBatchCheckSize) {
    throw new InvalidArgumentError(`batch exceeds max size of ${o.maxBatchCheckSize}`, {
      details: { field: "tuples", size, max: o.maxBatchCheckSize },
      reason: "batch_too_large",
    });
  }
}

/**
 * Checks every tuple at one revision; an item that fails carries its message in `error` and allowed=false,
 * in input order. Items that failed to decode are passed as errors and keep their position.
 */
export async function batchCheckAt(
  o: ResolvedKetoOptions,
  items: readonly (RelationTuple | GatehouseError)[],
  requestedDepth: number,
  revision: Revision,
  unknownNamespace: UnknownNamespace,
): Promise<BatchItemResult[]> {
  const tuples = items.filter((item): item is RelationTuple => !(item instanceof GatehouseError));
  // One engine call for the whole batch, so the items are evaluated together (and in parallel in the pool).
  const { results: answers } = await o.engine.checkMany(tuples, {
    consistency: { kind: "at_exact_snapshot", revision },
    maxDepth: clampDepth(requestedDepth, o.maxReadDepth),
  });
  let next = 0;
  return items.map((item): BatchItemResult => {
    if (item instanceof GatehouseError) return { allowed: false, error: item.message };
    const answer = answers[next++] as boolean | GatehouseError;
    if (typeof answer === "boolean") return { allowed: answer, error: "" };
    if (!o.strictLimits && isReason(answer, "max_depth_exceeded")) return { allowed: false, error: "" };
    if (unknownNamespace === "deny" && isReason(answer, "namespace_not_found")) return { allowed: false, error: "" };
    return { allowed: false, error: toKetoError(answer).message };
  });
}

/** Keto's expand of `namespace:object#relation`; `tree` is undefined when no tuple contributes (Q6). */
export async function expandKeto(
  o: ResolvedKetoOptions,
  userset: { namespace: string; object: string; relation: string },
  requestedDepth: number,
  consistency: Consistency | undefined,
): Promise<{ tree: KetoTree | undefined; revision: Revision }> {
  // The engine expands to its own limit and we cut at Keto's depth: Keto shows a subject set it has no
  // depth left for as a leaf, where the engine would fail with max_depth_exceeded.
  const { tree, revision } = await o.engine.expand(userset, {
    consistency: consistency ?? KETO_READ,
    maxNodes: o.maxExpandSize,
  });
  return { tree: toKetoTree(tree, clampDepth(requestedDepth, o.maxReadDepth)), revision };
}

/** Keto's page size rule: unset or <= 0 means 100; above 500 means 500. */
export function ketoPageSize(requested: number): number {
  if (requested <= 0) return KETO_DEFAULT_PAGE_SIZE;
  return Math.min(requested, KETO_MAX_PAGE_SIZE);
}

/** One page of stored tuples; an unknown namespace in the filter is `not_found` (Keto's 404). */
export async function listTuples(
  o: ResolvedKetoOptions,
  filter: TupleFilter,
  pageSize: number,
  pageToken: string,
  consistency: Consistency | undefined,
): Promise<{ tuples: readonly RelationTuple[]; nextPageToken: string }> {
  const page = await o.engine.read(
    filter,
    { pageSize: ketoPageSize(pageSize), ...(pageToken === "" ? {} : { pageToken }) },
    { consistency: consistency ?? KETO_READ },
  );
  // Keto: an empty token means the last page.
  return { tuples: page.tuples, nextPageToken: page.nextPageToken ?? "" };
}

/**
 * Fails with `not_found` when the schema lacks `namespace`: Keto's namespace mapper answers 404 before a
 * write or delete reaches the store.
 */
export function requireNamespace(o: ResolvedKetoOptions, namespace: string, field: string): void {
  const schema = o.engine.schema;
  if (schema === undefined || !schema.types.has(namespace)) {
    throw new NotFoundError(`namespace "${namespace}" is not defined in the schema`, {
      reason: "namespace_not_found",
      details: { field, namespace },
    });
  }
}

/** Writes a batch of Keto deltas in one transaction (Keto's insert is idempotent: `touch`). */
export async function transact(
  o: ResolvedKetoOptions,
  writes: readonly TupleWrite[],
  fieldOf: (index: number) => string,
): Promise<Revision> {
  writes.forEach((w, i) => requireNamespace(o, w.tuple.namespace, `${fieldOf(i)}.namespace`));
  if (writes.length === 0) return o.engine.revision;
  return (await o.engine.write(writes)).revision;
}

/** Deletes every tuple matching the query. */
export async function deleteMatching(o: ResolvedKetoOptions, filter: TupleFilter): Promise<Revision> {
  if (filter.namespace !== undefined) requireNamespace(o, filter.namespace, "namespace");
  return (await o.engine.deleteByFilter(filter)).revision;
}

/** The namespaces of the current schema, in declaration order (empty before a schema is written). */
export function namespaceNames(o: ResolvedKetoOptions): string[] {
  return [...(o.engine.schema?.types.keys() ?? [])];
}
