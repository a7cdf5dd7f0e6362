/**
 * The tuple graph by interned ids, as the fast evaluator reads it. The snapshot's shared (SharedArrayBuffer)
 * tables implement it, so any worker thread holding the snapshot's layout can read it without copying and
 * without strings: the main thread interns names to ids before a request leaves it and maps ids back after.
 *
 * Ids: type 0 and relation 0 are the empty string, so a bare subject id `x` is the node (0, id("x"), 0) and a
 * typed object `user:anne` is (id("user"), id("anne"), 0). An object id may be negative: a name the snapshot
 * has never seen, numbered per request; no node has it.
 *
 * Edges are tuple versions. A list holds every version ever applied (until compaction), newest first, so a
 * reader filters with `edgeVisible(edge, revision)`; at one revision at most one version of a tuple is visible.
 */
export interface IntGraph {
  /** The node of `(type, object, relation)`, or -1 when no tuple ever mentioned it. */
  findNode(type: number, object: number, relation: number): number;
  /** True when a version of the tuple `node@subject` is live at `revision` (O(1) expected). */
  hasEdge(node: number, subject: number, revision: number): boolean;

  /** The newest edge of `node` whose subject is a subject set with a relation (`group:eng#member`), or -1. */
  firstSetEdge(node: number): number;
  /** The next (older) edge after `edge` in the same subject-set list, or -1. */
  nextSetEdge(edge: number): number;
  /** The newest edge of `node` whose subject has relation 0 (a typed object, a wildcard or a bare id), or -1. */
  firstDirectEdge(node: number): number;
  /** The next (older) edge after `edge` in the same direct list, or -1. */
  nextDirectEdge(edge: number): number;
  /** The newest edge whose subject is `subject` (the reverse index), or -1. */
  firstInEdge(subject: number): number;
  /** The next (older) edge with the same subject, or -1. */
  nextInEdge(edge: number): number;

  /** True when edge version `edge` is live at `revision`. */
  edgeVisible(edge: number, revision: number): boolean;
  /** The userset node of an edge (the tuple's `namespace:object#relation`). */
  edgeNode(edge: number): number;
  /** The subject node of an edge. */
  edgeSubject(edge: number): number;

  nodeType(node: number): number;
  nodeObject(node: number): number;
  nodeRelation(node: number): number;
}

/** Assigns ids to schema names on the main thread (the graph's interners), so a compiled schema matches the graph. */
export interface NameInterner {
  internType(name: string): number;
  internRelation(name: string): number;
}
