/** `expand`: the userset tree of `namespace:object#relation`, following rewrites, not just stored tuples. */
import { InvalidArgumentError, LimitExceededError } from "../../common/errors.js";
import type { GraphView } from "../graph/graph-view.js";
import type { RelationDef, Rewrite, Schema } from "../schema/ir.js";
import type { ExpandLeaf, ExpandTree, UsersetRef } from "./expand-tree.js";
import { resolveMaxDepth, type EvalOptions } from "./options.js";
import { findRelation, requireRelation, storedSubjectAllowed } from "./schema-access.js";

/** Options of `expand`. */
export interface ExpandOptions extends EvalOptions {
  /** Cap on nodes plus leaf subjects in the tree (Keto's `max_expand_size`); beyond it, nodes are marked truncated. Default 4,000. */
  maxNodes?: number;
}

/** The default `maxNodes`. */
export const DEFAULT_MAX_NODES = 4000;

interface ExpandRequest {
  readonly userset: UsersetRef;
  readonly depth: number;
}

type Step = Generator<ExpandRequest, ExpandTree, ExpandTree>;

interface Frame {
  readonly key: string;
  readonly run: Step;
}

const keyOf = (u: UsersetRef): string => `${u.namespace}\u0000${u.object}\u0000${u.relation}`;

/**
 * The userset tree of `namespace:object#relation`. Depth counts as in `check` (each subject-set or
 * tuple-to-userset hop costs one); expanding past it throws `LimitExceededError` (`max_depth_exceeded`).
 * A userset met again on its own path becomes a `cyclic` leaf. Unknown namespace or relation: `NotFoundError`.
 * Iterative, like `check`, so deep trees do not grow the JS stack.
 */
export function expand(
  schema: Schema,
  view: GraphView,
  request: { readonly namespace: string; readonly object: string; readonly relation: string },
  options?: ExpandOptions,
): ExpandTree {
  requireRelation(schema, request.namespace, request.relation);
  const maxDepth = resolveMaxDepth(options);
  const maxNodes = options?.maxNodes ?? DEFAULT_MAX_NODES;
  if (!Number.isSafeInteger(maxNodes) || maxNodes < 1) {
    throw new InvalidArgumentError(`maxNodes: ${maxNodes} is not a positive integer`, { details: { field: "maxNodes" } });
  }
  const expander = new Expander(schema, view, maxDepth, maxNodes);
  const root = { namespace: request.namespace, object: request.object, relation: request.relation };
  const tree = expander.run({ userset: root, depth: maxDepth });
  if (expander.truncated) tree.truncated = true;
  return tree;
}

class Expander {
  private nodes = 0;
  truncated = false;

  constructor(
    private readonly schema: Schema,
    private readonly view: GraphView,
    private readonly maxDepth: number,
    private readonly maxNodes: number,
  ) {}

  run(root: ExpandRequest): ExpandTree {
    const path = new Set<string>();
    const frames: Frame[] = [];
    const immediate = this.open(root, path, frames);
    if (immediate !== undefined) return immediate;
    let input: ExpandTree | undefined;
    for (;;) {
      const top = frames[frames.length - 1] as Frame;
      const step = top.run.next(input as ExpandTree);
      if (step.done === true) {
        frames.pop();
        path.delete(top.key);
        if (frames.length === 0) return step.value;
        input = step.value;
        continue;
      }
      input = this.open(step.value, path, frames);
    }
  }

  private open(request: ExpandRequest, path: Set<string>, frames: Frame[]): ExpandTree | undefined {
    const { userset } = request;
    const key = keyOf(userset);
    if (path.has(key)) return this.leaf(userset, { cyclic: true });
    const def = findRelation(this.schema, userset.namespace, userset.relation);
    if (def === undefined) return this.leaf(userset, {});
    if (request.depth < 1) {
      throw new LimitExceededError(
        `max depth ${this.maxDepth} exceeded while expanding ${userset.namespace}:${userset.object}#${userset.relation}`,
        { reason: "max_depth_exceeded", details: { maxDepth: this.maxDepth } },
      );
    }
    if (this.exhausted()) return this.leaf(userset, { truncated: true });
    path.add(key);
    frames.push({ key, run: this.rewrite(def.rewrite, request, def) });
    return undefined;
  }

  /** True when the node budget is spent; marks the tree truncated. */
  private exhausted(): boolean {
    if (this.nodes < this.maxNodes) return false;
    this.truncated = true;
    return true;
  }

  private leaf(userset: UsersetRef, flags: { cyclic?: true; truncated?: true }): ExpandLeaf {
    this.nodes++;
    return { kind: "leaf", userset, subjects: [], children: [], ...flags };
  }

  private *rewrite(rw: Rewrite, node: ExpandRequest, def: RelationDef): Step {
    const { userset } = node;
    this.nodes++;
    switch (rw.kind) {
      case "this":
        return yield* this.direct(node, def);
      case "computed": {
        const target = { namespace: userset.namespace, object: userset.object, relation: rw.relation };
        return { kind: "computed", userset, target, child: yield { userset: target, depth: node.depth } };
      }
      case "tupleToUserset": {
        const out: ExpandTree = { kind: "tupleToUserset", userset, tupleset: rw.tupleset, computed: rw.computed, children: [] };
        const tuplesetDef = findRelation(this.schema, userset.namespace, rw.tupleset);
        if (tuplesetDef === undefined) return out;
        for (const s of this.view.subjects(userset.namespace, userset.object, rw.tupleset)) {
          if (s.kind !== "set" || !storedSubjectAllowed(this.schema, tuplesetDef, s)) continue;
          if (findRelation(this.schema, s.namespace, rw.computed) === undefined) continue;
          if (this.exhausted()) {
            out.truncated = true;
            break;
          }
          const target = { namespace: s.namespace, object: s.object, relation: rw.computed };
          out.children.push(yield { userset: target, depth: node.depth - 1 });
        }
        return out;
      }
      case "union":
      case "intersection": {
        const children: ExpandTree[] = [];
        for (const child of rw.children) children.push(yield* this.rewrite(child, node, def));
        return { kind: rw.kind, userset, children };
      }
      case "exclusion": {
        const base = yield* this.rewrite(rw.base, node, def);
        const subtract = yield* this.rewrite(rw.subtract, node, def);
        return { kind: "exclusion", userset, base, subtract };
      }
      case "complement":
        return { kind: "complement", userset, child: yield* this.rewrite(rw.child, node, def) };
    }
  }

  private *direct(node: ExpandRequest, def: RelationDef): Step {
    const { userset } = node;
    const leaf: ExpandLeaf = { kind: "leaf", userset, subjects: [], children: [] };
    for (const s of this.view.subjects(userset.namespace, userset.object, userset.relation)) {
      if (!storedSubjectAllowed(this.schema, def, s)) continue;
      if (this.exhausted()) {
        leaf.truncated = true;
        return leaf;
      }
      this.nodes++;
      leaf.subjects.push(s);
    }
    for (const s of leaf.subjects) {
      if (s.kind !== "set" || s.relation === "") continue;
      if (findRelation(this.schema, s.namespace, s.relation) === undefined) continue;
      if (this.exhausted()) {
        leaf.truncated = true;
        break;
      }
      leaf.children.push(yield { userset: { namespace: s.namespace, object: s.object, relation: s.relation }, depth: node.depth - 1 });
    }
    return leaf;
  }
}
