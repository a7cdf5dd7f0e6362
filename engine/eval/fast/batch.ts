/**
 * A batch of checks by ids, as a worker evaluates it: one revision, one result byte per check, in input order.
 * Checks are grouped by subject internally, so one checker's memo (which lives per subject) serves a group.
 * Only values are needed here, so checks go through `IntChecker.decide` (the union-only fast path first).
 */
import type { IntGraph } from "../../graph/int-graph.js";
import { IntChecker } from "./int-checker.js";
import type { IntSchemaIndex } from "./int-schema.js";

/** Ints per check in `CheckBatch.items`: type, object, relation, sType, sObject, sRelation, depth. */
export const CHECK_ITEM_INTS = 7;
/** The result byte of a check that failed inside the evaluator (0, 1, 2 are FALSE, TRUE, DEPTH_EXCEEDED). */
export const INTERNAL_ERROR = 3;

/** Checks at one revision. Plain data with a typed array, so it transfers to a worker cheaply. */
export interface CheckBatch {
  readonly revision: number;
  /** The graph's id of `*`, or -1 when the graph has none. */
  readonly wildcardObject: number;
  /** CHECK_ITEM_INTS ints per check. */
  readonly items: Int32Array;
}

/** Evaluates every check of `batch`: FALSE (0), TRUE (1), DEPTH_EXCEEDED (2) or INTERNAL_ERROR (3) each. */
export function evaluateBatch(schema: IntSchemaIndex, graph: IntGraph, batch: CheckBatch): Uint8Array {
  const { items } = batch;
  if (items.length % CHECK_ITEM_INTS !== 0) {
    throw new RangeError(`check batch: ${items.length} ints is not a multiple of ${CHECK_ITEM_INTS}`);
  }
  const count = items.length / CHECK_ITEM_INTS;
  const results = new Uint8Array(count);
  if (count === 0) return results;
  const checker = checkerFor(schema, graph, batch.revision, batch.wildcardObject);
  const order = subjectOrder(items, count);
  for (let k = 0; k < count; k++) {
    const i = order === undefined ? k : (order[k] as number);
    const at = i * CHECK_ITEM_INTS;
    try {
      results[i] = checker.decide(
        items[at] as number,
        items[at + 1] as number,
        items[at + 2] as number,
        items[at + 3] as number,
        items[at + 4] as number,
        items[at + 5] as number,
        items[at + 6] as number,
      );
    } catch {
      // One bad check must not sink the batch; the caller maps this to an internal error for that check.
      results[i] = INTERNAL_ERROR;
    }
  }
  return results;
}

// The last batch's checker, reused when the next batch reads the same schema, graph (one layout generation)
// and revision: a graph is immutable at a revision it has reached, so its memo and node cache stay valid, and
// a small batch does not pay for the checker's tables.
let lastChecker: IntChecker | undefined;

function checkerFor(schema: IntSchemaIndex, graph: IntGraph, revision: number, wildcardObject: number): IntChecker {
  const c = lastChecker;
  if (c !== undefined && c.schema === schema && c.graph === graph && c.revision === revision && c.wildcardObject === wildcardObject) {
    return c;
  }
  lastChecker = new IntChecker(schema, graph, revision, wildcardObject);
  return lastChecker;
}

/** Check indices grouped by subject (stable), or undefined when each subject's checks are already adjacent. */
function subjectOrder(items: Int32Array, count: number): Uint32Array | undefined {
  // Adjacent runs suffice for the memo; sort only when a subject comes back after another one.
  const seen = new Set<number>();
  let grouped = true;
  for (let i = 0, at = 0; i < count; i++, at += CHECK_ITEM_INTS) {
    if (i > 0 && sameSubject(items, at, at - CHECK_ITEM_INTS)) continue;
    const key = subjectKey(items, at);
    if (seen.has(key)) {
      grouped = false;
      break;
    }
    seen.add(key);
  }
  if (grouped) return undefined;
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  const s = CHECK_ITEM_INTS;
  order.sort(
    (a, b) =>
      (items[a * s + 4] as number) - (items[b * s + 4] as number) ||
      (items[a * s + 3] as number) - (items[b * s + 3] as number) ||
      (items[a * s + 5] as number) - (items[b * s + 5] as number) ||
      a - b,
  );
  return order;
}

function sameSubject(items: Int32Array, a: number, b: number): boolean {
  return items[a + 3] === items[b + 3] && items[a + 4] === items[b + 4] && items[a + 5] === items[b + 5];
}

/**
 * The subject's packed node key (exact for ids in range). A collision of out-of-range ids only costs a
 * sort, never a wrong answer: the checker compares the subject's three ids itself.
 */
function subjectKey(items: Int32Array, at: number): number {
  const type = (items[at + 3] as number) & 2047;
  const relation = (items[at + 5] as number) & 2047;
  return (items[at + 4] as number) * 4194304 + relation * 2048 + type;
}
