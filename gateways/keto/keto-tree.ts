/**
 * Keto's expand tree, built from the engine's userset tree. Both transports render this one shape: REST as
 * `expandedPermissionTree` JSON, gRPC as `SubjectTree`.
 *
 * Mapping (the engine follows OPL rewrites, Keto without `expand_rewrites` shows stored tuples only):
 * - a userset's stored subjects (`leaf`) → a `union` node for the userset, one child per stored subject:
 *   subject ids and typed objects (`User:x`, empty relation) are `leaf`s, subject sets are expanded in turn;
 * - `union` and `tupleToUserset` → their children spliced into the enclosing union (a tuple-to-userset is a
 *   union over the usersets it points at, and unions nest associatively);
 * - `computed` → the target userset's node (membership in it is membership here);
 * - `intersection`, `exclusion` → nodes of that type; `exclusion` has the children [base, subtract];
 * - `complement` (OPL `!`) → a `not` node with one child. gRPC's NodeType has no NOT, so it goes out as
 *   NODE_TYPE_UNSPECIFIED there, as Keto's own `TreeNodeType.ToProto` does for its REST-only types.
 * Depth follows Keto's `BuildTree`: a subject set reached with one level left is a `leaf` naming it, and a
 * subject set with no tuples (or one already on the path: a cycle) is a `leaf` too. A root with no tuples
 * at all is "not found" (Q6).
 */
import type { ExpandTree, UsersetRef } from "../../engine/eval/expand-tree.js";
import { subjectSet, type Subject, type SubjectSet } from "../../engine/tuple.js";

/** Keto's node types (REST spelling). gRPC knows only the first four plus unspecified. */
export type KetoNodeType = "union" | "exclusion" | "intersection" | "leaf" | "not" | "unspecified";

/** One node of Keto's expand tree: the subject it stands for and its children. */
export interface KetoTree {
  type: KetoNodeType;
  subject: Subject;
  children: KetoTree[];
}

const setOf = (u: UsersetRef): SubjectSet => subjectSet(u.namespace, u.object, u.relation);
const leaf = (subject: Subject): KetoTree => ({ type: "leaf", subject, children: [] });

/** True when no stored tuple contributed to the tree (Keto's "no relation tuple found"). */
function isEmpty(t: ExpandTree): boolean {
  switch (t.kind) {
    case "leaf":
      return t.subjects.length === 0;
    case "computed":
    case "complement":
      return isEmpty(t.child);
    case "exclusion":
      return isEmpty(t.base) && isEmpty(t.subtract);
    case "union":
    case "intersection":
    case "tupleToUserset":
      return t.children.every(isEmpty);
  }
}

/** The node for a userset reached with `rest` levels left, or undefined where Keto's BuildTree returns nil. */
function userset(t: ExpandTree, rest: number): KetoTree | undefined {
  if (isEmpty(t) || (t.kind === "leaf" && t.cyclic === true)) return undefined;
  if (rest <= 1) return leaf(setOf(t.userset));
  return node(t, rest);
}

/** `t` as one node standing for its userset. */
function node(t: ExpandTree, rest: number): KetoTree {
  const subject = setOf(t.userset);
  switch (t.kind) {
    case "leaf":
    case "union":
    case "tupleToUserset": {
      const children = parts(t, rest);
      // Keto's non-strict permits are `this ∪ rewrite`; with no tuples under the permit itself, the union
      // would only wrap the rewrite's node for the same userset, so that node stands alone.
      const only = children[0];
      if (children.length === 1 && only !== undefined && only.type !== "leaf" && sameSubject(only.subject, subject)) return only;
      return { type: "union", subject, children };
    }
    case "computed":
      return userset(t.child, rest) ?? leaf(setOf(t.target));
    case "intersection":
      return { type: "intersection", subject, children: t.children.map((c) => node(c, rest)) };
    case "exclusion":
      return { type: "exclusion", subject, children: [node(t.base, rest), node(t.subtract, rest)] };
    case "complement":
      return { type: "not", subject, children: [node(t.child, rest)] };
  }
}

/** The children `t` contributes to an enclosing union of the same userset. */
function parts(t: ExpandTree, rest: number): KetoTree[] {
  switch (t.kind) {
    case "leaf": {
      const out: KetoTree[] = [];
      let next = 0;
      for (const s of t.subjects) {
        if (s.kind === "id" || s.relation === "") {
          out.push(leaf(s));
          continue;
        }
        // `children` holds the expansions of the expandable subject sets, in the order of `subjects`.
        const c = t.children[next];
        if (c !== undefined && sameUserset(c.userset, s)) {
          next++;
          out.push(userset(c, rest - 1) ?? leaf(s));
        } else {
          out.push(leaf(s));
        }
      }
      return out;
    }
    case "union":
      return t.children.flatMap((c) => parts(c, rest));
    case "tupleToUserset":
      // Each tupleset subject is a hop, as in the engine's depth count.
      return t.children.map((c) => userset(c, rest - 1) ?? leaf(setOf(c.userset)));
    case "computed":
    case "intersection":
    case "exclusion":
    case "complement":
      return [node(t, rest)];
  }
}

function sameSubject(a: Subject, b: SubjectSet): boolean {
  return a.kind === "set" && sameUserset(b, a);
}

function sameUserset(u: UsersetRef, s: SubjectSet): boolean {
  return u.namespace === s.namespace && u.object === s.object && u.relation === s.relation;
}

/**
 * Keto's tree for the engine's tree of a userset, `depth` levels deep (already clamped, Q4); undefined when
 * no stored tuple contributes (REST answers 404, gRPC an empty response, Q6).
 */
export function toKetoTree(tree: ExpandTree, depth: number): KetoTree | undefined {
  return userset(tree, depth);
}
