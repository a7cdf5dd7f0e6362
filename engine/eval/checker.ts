/**
 * The check machine behind `check` and the lookups. It answers "is the subject in ns:obj#rel?" with three
 * values (true, false, depth-exhausted), so a branch that decides still wins over a sibling that ran out of
 * depth, and only an undecided top-level result becomes an error.
 *
 * It is iterative: every userset node is a generator that yields the sub-nodes it needs, and one loop drives
 * an explicit stack of them. Deep graphs (chains of thousands of groups when maxDepth is raised) therefore
 * never grow the JS stack; only the nesting of one relation's rewrite does, which the schema bounds.
 *
 * Cycles: the nodes on the current resolution path are in `path`; a revisit counts as not-a-member (OpenFGA)
 * and taints every result computed from it. Memo: a definitive, untainted result is stored per (node,
 * subject) with the depth it needed, and reused whenever at least that much depth remains. Results touched by
 * any cycle cut are path-dependent once exclusion or complement sit on the cycle, so they are never stored.
 *
 * Union-only checks: when nothing the requested relation can reach is an intersection, exclusion or
 * complement, membership is plain reachability, so a node is explored once per check (again only with more
 * depth left), and a revisit counts as not-a-member like a cycle. Without this, the path-based cut explores
 * every simple path: a clique of groups that all contain each other costs n! steps. With intersections or
 * negations the path-based cut is kept, because there a node's value can depend on the path.
 */
import type { RelationDef, Rewrite, Schema } from "../schema/ir.js";
import type { GraphView } from "../graph/graph-view.js";
import type { Subject } from "../tuple.js";
import { acceptsWildcard, findRelation, storedSubjectAllowed, subjectKey } from "./schema-access.js";
import { closureSome } from "./schema-index.js";

/** Three-valued membership. */
export const FALSE = 0;
export const TRUE = 1;
/** Undecided because a needed sub-check had no depth left. */
export const DEPTH_EXCEEDED = 2;
/** One of FALSE, TRUE, DEPTH_EXCEEDED. */
export type Tri = typeof FALSE | typeof TRUE | typeof DEPTH_EXCEEDED;

/** The result of evaluating a node or a rewrite. */
export interface Outcome {
  readonly value: Tri;
  /** The remaining depth this result needs to come out the same (meaningless for DEPTH_EXCEEDED). */
  readonly needed: number;
  /** True when a cycle cut influenced the result: it must not be memoized. */
  readonly cut: boolean;
}

interface NodeRequest {
  readonly namespace: string;
  readonly object: string;
  readonly relation: string;
  /** Remaining depth when this node is evaluated; a node needs at least 1. */
  readonly depth: number;
}

type Step = Generator<NodeRequest, Outcome, Outcome>;

interface Frame {
  readonly key: string;
  readonly depth: number;
  readonly run: Step;
}

const DEFINITE_TRUE: Outcome = { value: TRUE, needed: 0, cut: false };
const DEFINITE_FALSE: Outcome = { value: FALSE, needed: 0, cut: false };
const CYCLE: Outcome = { value: FALSE, needed: 0, cut: true };

/** Folds the outcomes of a union (decides on TRUE) or an intersection (decides on FALSE). */
class Fold {
  private needed = 0;
  private cut = false;
  private exceeded = false;
  private decided: Outcome | undefined;

  constructor(private readonly decisive: Tri) {}

  /** Adds a branch; true when the fold is decided and the remaining branches can be skipped. */
  add(o: Outcome): boolean {
    if (o.value === this.decisive) {
      // The deciding branch alone determines the result, so only its depth and taint matter.
      this.decided = o;
      return true;
    }
    if (o.value === DEPTH_EXCEEDED) this.exceeded = true;
    this.needed = Math.max(this.needed, o.needed);
    this.cut ||= o.cut;
    return false;
  }

  result(): Outcome {
    if (this.decided !== undefined) return this.decided;
    if (this.exceeded) return { value: DEPTH_EXCEEDED, needed: this.needed, cut: this.cut };
    return { value: this.decisive === TRUE ? FALSE : TRUE, needed: this.needed, cut: this.cut };
  }
}

/**
 * Evaluates checks for one schema and view. Reuse one instance for many checks over the same view (the
 * lookups do) so the memo is shared; it is not safe to use after the view's snapshot has changed history.
 */
export class Checker {
  private readonly memo = new Map<string, { readonly value: Tri; readonly needed: number }>();
  private subject: Subject = { kind: "id", id: "" };
  private subjectPrefix = "";
  private wildcard: Subject | undefined;
  private readonly unionOnly = new Map<string, boolean>();
  /** Union-only checks: the most depth each node was opened with in this check. */
  private visited: Map<string, number> | undefined;

  constructor(
    private readonly schema: Schema,
    private readonly view: GraphView,
  ) {}

  /** Is `subject` in `namespace:object#relation`, with `depth` nodes of path allowed? */
  resolve(namespace: string, object: string, relation: string, subject: Subject, depth: number): Outcome {
    this.subject = subject;
    this.subjectPrefix = `${subjectKey(subject)}\u0002`;
    // The wildcard tuple that would match this subject (OpenFGA: typed objects only, never subject sets).
    this.wildcard =
      this.schema.language === "fga" && subject.kind === "set" && subject.relation === ""
        ? { kind: "set", namespace: subject.namespace, object: "*", relation: "" }
        : undefined;

    const closure = `${namespace}#${relation}`;
    let unionOnly = this.unionOnly.get(closure);
    if (unionOnly === undefined) {
      const negative = (rw: Rewrite): boolean => rw.kind === "intersection" || rw.kind === "exclusion" || rw.kind === "complement";
      unionOnly = !closureSome(this.schema, namespace, relation, negative);
      this.unionOnly.set(closure, unionOnly);
    }
    this.visited = unionOnly ? new Map() : undefined;

    const path = new Set<string>();
    const frames: Frame[] = [];
    const root = { namespace, object, relation, depth };
    const immediate = this.open(root, path, frames);
    if (immediate !== undefined) return immediate;
    let input: Outcome | undefined;
    for (;;) {
      const top = frames[frames.length - 1] as Frame;
      const step = top.run.next(input as Outcome);
      if (step.done === true) {
        frames.pop();
        path.delete(top.key);
        const out = this.close(top, step.value);
        const parent = frames[frames.length - 1];
        if (parent === undefined) return out;
        input = rebase(out, top.depth, parent.depth);
        continue;
      }
      const request = step.value;
      const answer = this.open(request, path, frames);
      input = answer === undefined ? undefined : rebase(answer, request.depth, top.depth);
    }
  }

  /** Answers a node at once (cycle, memo, no depth) or pushes a frame for it and returns undefined. */
  private open(request: NodeRequest, path: Set<string>, frames: Frame[]): Outcome | undefined {
    const key = `${request.namespace}\u0000${request.object}\u0000${request.relation}`;
    if (path.has(key)) return CYCLE;
    const def = findRelation(this.schema, request.namespace, request.relation);
    // A relation the schema no longer has holds nobody (tuples may outlive a schema change).
    if (def === undefined) return DEFINITE_FALSE;
    const memo = this.memo.get(this.subjectPrefix + key);
    if (memo !== undefined && memo.needed <= request.depth) return { value: memo.value, needed: memo.needed, cut: false };
    if (this.visited !== undefined) {
      // Explored already in this check with at least this much depth: nothing new can be found.
      const seen = this.visited.get(key);
      if (seen !== undefined && seen >= request.depth) return CYCLE;
      this.visited.set(key, request.depth);
    }
    if (request.depth < 1) return { value: DEPTH_EXCEEDED, needed: request.depth + 1, cut: false };
    path.add(key);
    frames.push({ key, depth: request.depth, run: this.rewrite(def.rewrite, request, def) });
    return undefined;
  }

  /** Finishes a node: normalises its depth need and memoizes it when definitive and untainted. */
  private close(frame: Frame, out: Outcome): Outcome {
    if (out.value === DEPTH_EXCEEDED) return out;
    // Evaluating a node at all takes one level; a decided result holds at any depth >= the one it ran at.
    const needed = Math.min(Math.max(1, out.needed), frame.depth);
    if (!out.cut) this.memo.set(this.subjectPrefix + frame.key, { value: out.value, needed });
    return { value: out.value, needed, cut: out.cut };
  }

  private *rewrite(rw: Rewrite, node: NodeRequest, def: RelationDef): Step {
    switch (rw.kind) {
      case "this":
        return yield* this.direct(node, def);
      case "computed":
        // Same object: no hop, no depth.
        return yield { namespace: node.namespace, object: node.object, relation: rw.relation, depth: node.depth };
      case "tupleToUserset":
        return yield* this.tupleToUserset(rw.tupleset, rw.computed, node);
      case "union":
      case "intersection": {
        const fold = new Fold(rw.kind === "union" ? TRUE : FALSE);
        for (const child of rw.children) {
          if (fold.add(yield* this.rewrite(child, node, def))) break;
        }
        return fold.result();
      }
      case "exclusion": {
        const base = yield* this.rewrite(rw.base, node, def);
        if (base.value === FALSE) return base;
        const subtract = yield* this.rewrite(rw.subtract, node, def);
        // A member of the subtraction is out whatever the base says, even an undecided base.
        if (subtract.value === TRUE) return { value: FALSE, needed: subtract.needed, cut: subtract.cut };
        const value = base.value === DEPTH_EXCEEDED || subtract.value === DEPTH_EXCEEDED ? DEPTH_EXCEEDED : TRUE;
        return { value, needed: Math.max(base.needed, subtract.needed), cut: base.cut || subtract.cut };
      }
      case "complement": {
        const child = yield* this.rewrite(rw.child, node, def);
        const value = child.value === DEPTH_EXCEEDED ? DEPTH_EXCEEDED : child.value === TRUE ? FALSE : TRUE;
        return { value, needed: child.needed, cut: child.cut };
      }
    }
  }

  /** `this`: the exact tuple, a matching wildcard, or membership in a stored subject set. */
  private *direct(node: NodeRequest, def: RelationDef): Step {
    const { schema, view, subject } = this;
    const { namespace, object, relation } = node;
    if (storedSubjectAllowed(schema, def, subject) && view.hasTuple(namespace, object, relation, subject)) {
      return DEFINITE_TRUE;
    }
    const wildcard = this.wildcard;
    if (
      wildcard !== undefined &&
      wildcard.kind === "set" &&
      acceptsWildcard(def, wildcard.namespace) &&
      view.hasTuple(namespace, object, relation, wildcard)
    ) {
      return DEFINITE_TRUE;
    }
    const fold = new Fold(TRUE);
    for (const set of view.subjectSets(namespace, object, relation)) {
      if (!storedSubjectAllowed(schema, def, set)) continue;
      const hop = { namespace: set.namespace, object: set.object, relation: set.relation, depth: node.depth - 1 };
      if (fold.add(yield hop)) break;
    }
    return fold.result();
  }

  /** Tuple-to-userset: membership in `T:x#computed` for every stored `T:x` of the tupleset. */
  private *tupleToUserset(tupleset: string, computed: string, node: NodeRequest): Step {
    const tuplesetDef = findRelation(this.schema, node.namespace, tupleset);
    if (tuplesetDef === undefined) return DEFINITE_FALSE;
    const fold = new Fold(TRUE);
    for (const s of this.view.subjects(node.namespace, node.object, tupleset)) {
      if (s.kind !== "set" || !storedSubjectAllowed(this.schema, tuplesetDef, s)) continue;
      // Types without the computed relation are skipped, as OpenFGA does.
      if (findRelation(this.schema, s.namespace, computed) === undefined) continue;
      if (fold.add(yield { namespace: s.namespace, object: s.object, relation: computed, depth: node.depth - 1 })) break;
    }
    return fold.result();
  }
}

/** Re-expresses a child's depth need in the parent's terms (a hop child ran one level lower). */
function rebase(out: Outcome, childDepth: number, parentDepth: number): Outcome {
  if (out.needed === 0 || childDepth === parentDepth) return out;
  return { value: out.value, needed: out.needed + parentDepth - childDepth, cut: out.cut };
}
