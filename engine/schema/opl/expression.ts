/**
 * Turns a flat chain `operand (op operand)*` of a permit expression into a Rewrite, either the way Keto does
 * it (every binary operator folds left to right with equal precedence) or with TypeScript precedence (`&&`
 * binds tighter than `||`), and finds the operators where the two readings disagree.
 */
import type { Rewrite, SourcePosition } from "../ir.js";

/** A binary operator of a chain, with where it is written. */
export interface ChainOperator {
  readonly op: "||" | "&&";
  readonly start: SourcePosition;
  readonly end: SourcePosition;
}

/** An already-built operand and the start of its text (its `(`, `!` or `this`). */
export interface ChainOperand {
  readonly rewrite: Rewrite;
  readonly start: SourcePosition;
}

/** How binary operators group: `keto` folds left to right, `typescript` lets `&&` bind tighter. */
export type PrecedenceMode = "keto" | "typescript";

/** The result of combining a chain. */
export interface CombinedChain {
  readonly rewrite: Rewrite;
  /** Operators (indexes into the chain's operators) whose grouping differs between Keto and TypeScript. */
  readonly ambiguousOperators: readonly number[];
}

/** A binary tree over operand indexes; `lo..hi` is the range of operands a node covers. */
type Bin =
  | { readonly kind: "leaf"; readonly index: number; readonly lo: number; readonly hi: number }
  | {
      readonly kind: "op";
      readonly opIndex: number;
      readonly op: "||" | "&&";
      readonly left: Bin;
      readonly right: Bin;
      readonly lo: number;
      readonly hi: number;
    };

const leaf = (index: number): Bin => ({ kind: "leaf", index, lo: index, hi: index });

function node(ops: readonly ChainOperator[], opIndex: number, left: Bin, right: Bin): Bin {
  const op = ops[opIndex]?.op ?? "||";
  return { kind: "op", opIndex, op, left, right, lo: left.lo, hi: right.hi };
}

/** Keto: the tree built so far becomes the left child of each new operator (`parsePermissionExpressions`). */
function foldKeto(count: number, ops: readonly ChainOperator[]): Bin {
  let acc = leaf(0);
  for (let i = 0; i < ops.length && i + 1 < count; i++) acc = node(ops, i, acc, leaf(i + 1));
  return acc;
}

/** TypeScript: runs joined by `&&` first, then those runs joined by `||`, both left-associative. */
function foldTypescript(count: number, ops: readonly ChainOperator[]): Bin {
  const terms: Bin[] = [];
  const orIndexes: number[] = [];
  let current = leaf(0);
  for (let i = 0; i < ops.length && i + 1 < count; i++) {
    if (ops[i]?.op === "&&") {
      current = node(ops, i, current, leaf(i + 1));
    } else {
      terms.push(current);
      orIndexes.push(i);
      current = leaf(i + 1);
    }
  }
  terms.push(current);
  let acc = terms[0] ?? leaf(0);
  for (let k = 0; k < orIndexes.length; k++) {
    const right = terms[k + 1];
    const opIndex = orIndexes[k];
    if (right !== undefined && opIndex !== undefined) acc = node(ops, opIndex, acc, right);
  }
  return acc;
}

/** A canonical text of a tree after n-ary flattening, so trees that mean the same compare equal. */
function shapeOf(bin: Bin): string {
  if (bin.kind === "leaf") return String(bin.index);
  const parts: string[] = [];
  const collect = (b: Bin): void => {
    if (b.kind === "op" && b.op === bin.op) {
      collect(b.left);
      collect(b.right);
    } else {
      parts.push(shapeOf(b));
    }
  };
  collect(bin);
  return `${bin.op === "||" ? "or" : "and"}(${parts.join(",")})`;
}

/** The range of operands each operator covers in a tree, by operator index. */
function spans(bin: Bin, out: Map<number, string>): Map<number, string> {
  if (bin.kind === "op") {
    out.set(bin.opIndex, `${bin.lo}-${bin.hi}`);
    spans(bin.left, out);
    spans(bin.right, out);
  }
  return out;
}

function toRewrite(bin: Bin, operands: readonly ChainOperand[]): Rewrite {
  if (bin.kind === "leaf") {
    const operand = operands[bin.index];
    if (operand === undefined) throw new RangeError(`operand ${bin.index} missing`);
    return operand.rewrite;
  }
  const pos = operands[bin.lo]?.start ?? { line: 1, column: 1 };
  const children = [toRewrite(bin.left, operands), toRewrite(bin.right, operands)];
  return bin.op === "||" ? { kind: "union", children, pos } : { kind: "intersection", children, pos };
}

/**
 * Combines a chain of operands and operators (`operators.length === operands.length - 1`) into one
 * Rewrite in the given mode, flattened into n-ary unions and intersections. The ambiguous operators are the
 * `&&`s whose operand range differs between the Keto and the TypeScript tree, reported only when the two
 * trees really differ.
 */
export function combineChain(
  operands: readonly ChainOperand[],
  operators: readonly ChainOperator[],
  mode: PrecedenceMode,
): CombinedChain {
  const keto = foldKeto(operands.length, operators);
  const ts = foldTypescript(operands.length, operators);
  const chosen = mode === "keto" ? keto : ts;
  const rewrite = flattenRewrite(toRewrite(chosen, operands));
  if (shapeOf(keto) === shapeOf(ts)) return { rewrite, ambiguousOperators: [] };

  const ketoSpans = spans(keto, new Map());
  const tsSpans = spans(ts, new Map());
  const ambiguous: number[] = [];
  operators.forEach((op, i) => {
    if (op.op === "&&" && ketoSpans.get(i) !== tsSpans.get(i)) ambiguous.push(i);
  });
  // Unreachable in practice (differing trees always move some `&&`), but a warning must never get lost.
  if (ambiguous.length === 0) ambiguous.push(0);
  return { rewrite, ambiguousOperators: ambiguous };
}

/**
 * Merges nested unions into their parent union and nested intersections into their parent intersection,
 * at any depth and across parentheses, as Keto's `simplifyExpression` does.
 */
export function flattenRewrite(rewrite: Rewrite): Rewrite {
  switch (rewrite.kind) {
    case "union":
    case "intersection": {
      const children: Rewrite[] = [];
      for (const child of rewrite.children) {
        const flat = flattenRewrite(child);
        if (flat.kind === rewrite.kind) children.push(...flat.children);
        else children.push(flat);
      }
      return { kind: rewrite.kind, children, pos: rewrite.pos };
    }
    case "complement":
      return { kind: "complement", child: flattenRewrite(rewrite.child), pos: rewrite.pos };
    case "exclusion":
      return {
        kind: "exclusion",
        base: flattenRewrite(rewrite.base),
        subtract: flattenRewrite(rewrite.subtract),
        pos: rewrite.pos,
      };
    default:
      return rewrite;
  }
}
