/**
 * The userset tree `expand` returns: plain, JSON-serialisable data. Every node names the userset whose
 * rewrite it belongs to; `leaf` nodes hold the stored subjects and, as children, the expansions of the
 * subject sets among them; `computed` and `tupleToUserset` nodes hold the expansions of the usersets they
 * point at.
 */
import type { Subject } from "../tuple.js";

/** A userset `namespace:object#relation`. */
export interface UsersetRef {
  namespace: string;
  object: string;
  relation: string;
}

interface NodeBase {
  /** The userset whose rewrite this node is part of. */
  userset: UsersetRef;
  /** Set when the node cap cut this node's subjects or children (and on the root when anything was cut). */
  truncated?: true;
}

/** The stored subjects of `userset` (the rewrite's `this`), typed-filtered by the current schema. */
export interface ExpandLeaf extends NodeBase {
  kind: "leaf";
  /** Bare ids and typed objects (incl. wildcards `T:*`), then subject sets; each group in insertion order. */
  subjects: Subject[];
  /** The expansions of the subject sets among `subjects`, in the same order. */
  children: ExpandTree[];
  /** Set when `userset` is already being expanded on this path: the cycle is cut here, with no subjects. */
  cyclic?: true;
}

/** Members of any child. */
export interface ExpandUnion extends NodeBase {
  kind: "union";
  children: ExpandTree[];
}

/** Members of every child. */
export interface ExpandIntersection extends NodeBase {
  kind: "intersection";
  children: ExpandTree[];
}

/** Members of `base` that are not members of `subtract`. */
export interface ExpandExclusion extends NodeBase {
  kind: "exclusion";
  base: ExpandTree;
  subtract: ExpandTree;
}

/** Everyone who is not a member of `child` (OPL `!`). */
export interface ExpandComplement extends NodeBase {
  kind: "complement";
  child: ExpandTree;
}

/** Membership in another relation of the same object; `child` is its expansion. */
export interface ExpandComputed extends NodeBase {
  kind: "computed";
  target: UsersetRef;
  child: ExpandTree;
}

/** For every stored `T:x` of `tupleset`, membership in `T:x#computed`; one child per such userset. */
export interface ExpandTupleToUserset extends NodeBase {
  kind: "tupleToUserset";
  tupleset: string;
  computed: string;
  children: ExpandTree[];
}

/** A node of the userset tree. */
export type ExpandTree =
  | ExpandLeaf
  | ExpandUnion
  | ExpandIntersection
  | ExpandExclusion
  | ExpandComplement
  | ExpandComputed
  | ExpandTupleToUserset;
