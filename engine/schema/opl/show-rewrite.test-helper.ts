/** Test helper: renders a Rewrite compactly so tests can assert tree shapes in one line. */
import type { Rewrite } from "../ir.js";

/** `or(a,and(b,c))`, `not(a)`, `a->b` (tuple to userset), `this`; computed relations by name. */
export function showRewrite(rewrite: Rewrite): string {
  switch (rewrite.kind) {
    case "this":
      return "this";
    case "computed":
      return rewrite.relation;
    case "tupleToUserset":
      return `${rewrite.tupleset}->${rewrite.computed}`;
    case "union":
      return `or(${rewrite.children.map(showRewrite).join(",")})`;
    case "intersection":
      return `and(${rewrite.children.map(showRewrite).join(",")})`;
    case "complement":
      return `not(${showRewrite(rewrite.child)})`;
    case "exclusion":
      return `but_not(${showRewrite(rewrite.base)},${showRewrite(rewrite.subtract)})`;
  }
}
