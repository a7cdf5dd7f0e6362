import { describe, expect, it } from "vitest";
import type { Rewrite } from "../ir.js";
import { combineChain, flattenRewrite, type ChainOperand, type ChainOperator } from "./expression.js";
import { showRewrite } from "./show-rewrite.test-helper.js";

const pos = (column: number) => ({ line: 1, column });

/** Builds a chain from `a || b && c`-style text: single-letter operands, operators between. */
function chain(text: string): { operands: ChainOperand[]; operators: ChainOperator[] } {
  const parts = text.split(" ");
  const operands: ChainOperand[] = [];
  const operators: ChainOperator[] = [];
  parts.forEach((part, i) => {
    if (i % 2 === 0) operands.push({ rewrite: { kind: "computed", relation: part, pos: pos(i + 1) }, start: pos(i + 1) });
    else operators.push({ op: part === "||" ? "||" : "&&", start: pos(i + 1), end: pos(i + 2) });
  });
  return { operands, operators };
}

function combine(text: string, mode: "keto" | "typescript") {
  const { operands, operators } = chain(text);
  const result = combineChain(operands, operators, mode);
  return { shape: showRewrite(result.rewrite), ambiguous: result.ambiguousOperators, rewrite: result.rewrite };
}

describe("combineChain", () => {
  it("folds left to right with equal precedence in keto mode", () => {
    expect(combine("a || b && c", "keto").shape).toBe("and(or(a,b),c)");
    expect(combine("a && b || c", "keto").shape).toBe("or(and(a,b),c)");
    expect(combine("a && b || c && d", "keto").shape).toBe("and(or(and(a,b),c),d)");
  });

  it("binds && tighter than || in typescript mode", () => {
    expect(combine("a || b && c", "typescript").shape).toBe("or(a,and(b,c))");
    expect(combine("a && b || c && d", "typescript").shape).toBe("or(and(a,b),and(c,d))");
    expect(combine("a || b && c && d || e", "typescript").shape).toBe("or(a,and(b,c,d),e)");
  });

  it("flattens runs of one operator into an n-ary node", () => {
    expect(combine("a || b || c || d", "keto").shape).toBe("or(a,b,c,d)");
    expect(combine("a && b && c", "typescript").shape).toBe("and(a,b,c)");
    expect(combine("a || b && c && d", "keto").shape).toBe("and(or(a,b),c,d)");
  });

  it("marks the && operators whose grouping differs between the two readings", () => {
    expect(combine("a || b && c", "keto").ambiguous).toEqual([1]);
    expect(combine("a && b || c && d", "keto").ambiguous).toEqual([2]);
    expect(combine("a || b && c && d", "keto").ambiguous).toEqual([1, 2]);
  });

  it("marks nothing when both readings agree", () => {
    expect(combine("a && b || c", "keto").ambiguous).toEqual([]);
    expect(combine("a && b && c || d", "keto").ambiguous).toEqual([]);
    expect(combine("a || b || c", "keto").ambiguous).toEqual([]);
    expect(combine("a", "keto").ambiguous).toEqual([]);
  });

  it("positions a combined node at the start of its leftmost operand", () => {
    const { rewrite } = combine("a || b && c", "typescript");
    expect(rewrite.pos).toEqual(pos(1));
    if (rewrite.kind !== "union") throw new Error("expected union");
    expect(rewrite.children[1]?.pos).toEqual(pos(3));
  });
});

describe("flattenRewrite", () => {
  it("merges same-operator nodes at any depth, including under a complement", () => {
    const c = (relation: string): Rewrite => ({ kind: "computed", relation, pos: pos(1) });
    const nested: Rewrite = {
      kind: "complement",
      pos: pos(1),
      child: {
        kind: "union",
        pos: pos(1),
        children: [
          c("a"),
          { kind: "union", pos: pos(1), children: [c("b"), { kind: "union", pos: pos(1), children: [c("c")] }] },
          { kind: "intersection", pos: pos(1), children: [c("d"), { kind: "intersection", pos: pos(1), children: [c("e")] }] },
        ],
      },
    };
    expect(showRewrite(flattenRewrite(nested))).toBe("not(or(a,b,c,and(d,e)))");
  });
});
