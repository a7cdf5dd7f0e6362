/**
 * The check machine of `../checker.ts`, ported to interned ids for worker threads: the same three-valued
 * results, depth accounting, memo, cycle cuts and union-only reachability mode, decision for decision.
 *
 * Instead of one generator per userset node it runs an explicit state machine over a stack held in typed
 * arrays (struct of arrays): a NODE frame per userset node on the path and one frame per rewrite operator
 * being evaluated inside it. A frame that needs a sub-result opens a node (answered at once from the memo,
 * a cycle cut or the depth limit, or pushed as a new frame) and is stepped again with the answer in the
 * result registers `rv, rn, rc` (value, needed depth, cut). Nothing is allocated per node, and deep graphs
 * grow the arrays, never the JS stack. A computed userset has no frame of its own: it opens its node
 * directly for the operator that contains it, since it costs no depth and passes its answer through.
 *
 * Subjects are node triples: a bare id is `(0, id, 0)`, a typed object `(type, id, 0)`, a subject set
 * `(type, id, relation)`.
 */
import type { IntGraph } from "../../graph/int-graph.js";
import {
  IntSchemaIndex,
  MAX_NAME_ID,
  OP_COMPLEMENT,
  OP_COMPUTED,
  OP_EXCLUSION,
  OP_INTERSECTION,
  OP_SIZE,
  OP_THIS,
  OP_TTU,
  OP_UNION,
  type IntSchema,
} from "./int-schema.js";
import { NodeTable, wasVisited } from "./node-table.js";

/** Three-valued membership, as in `../checker.ts`. */
export const FALSE = 0;
export const TRUE = 1;
export const DEPTH_EXCEEDED = 2;
export type IntTri = 0 | 1 | 2;

/** Frame kind of a userset node (rewrite frames use their op code). */
const NODE = 7;

// Fold flags (a fold of union/intersection branches, or the saved base of an exclusion).
const CUT = 1;
const EXCEEDED = 2;
// Exclusion: the base's value is kept in flags above the fold bits.
const BASE_SHIFT = 2;

/** A node's graph id before it is looked up. */
const UNKNOWN_NODE = -2;

/** Evaluates checks for one schema, graph and revision. Reuse it for a batch: the memo lives per subject. */
export class IntChecker {
  private readonly schema: IntSchemaIndex;
  private readonly ops: Int32Array;
  private readonly table = new NodeTable();

  // The current subject and what it implies.
  private hasSubject = false;
  private sType = 0;
  private sObject = 0;
  private sRelation = 0;
  /** The subject's graph node, -1 when no tuple mentions it. */
  private subjectNode = -1;
  /** The wildcard `T:*` node that would match the subject (OpenFGA typed objects only), or -1. */
  private wildcardNode = -1;
  private subjectIsWildcard = false;
  /** This check runs in union-only (reachability) mode. */
  private unionOnly = false;

  // The frame stack.
  private sp = 0;
  private capacity = 0;
  private kind = new Int32Array(0);
  /** Rewrite frames: op offset. NODE frames: def. */
  private op = new Int32Array(0);
  private phase = new Int32Array(0);
  private depth = new Int32Array(0);
  /** Rewrite frames: the NODE frame they evaluate for. */
  private owner = new Int32Array(0);
  /** Position in `subjects` (this, tuple-to-userset) or child index (union, intersection). */
  private iter = new Int32Array(0);
  private foldNeeded = new Int32Array(0);
  private foldFlags = new Int32Array(0);
  // NODE frames: the userset, its graph node (looked up on first use) and its table slot.
  private nType = new Int32Array(0);
  private nObject = new Int32Array(0);
  private nRelation = new Int32Array(0);
  private nGraph = new Int32Array(0);
  private nSlot = new Int32Array(0);
  private tableLayout = 0;
  /** THIS and TTU frames: where their subjects start in `subjects`. */
  private bufferStart = new Int32Array(0);
  /** A stack of subject nodes that THIS and TTU frames still have to visit (one segment per frame). */
  private subjects = new Int32Array(256);
  private bufferTop = 0;
  /** The node table holds results of earlier checks (of the current subject). */
  private memoInUse = false;

  // Result registers: the answer of the last finished frame or opened node.
  private rv = 0;
  private rn = 0;
  private rc = 0;

  constructor(
    schema: IntSchemaIndex | IntSchema,
    private readonly graph: IntGraph,
    private readonly revision: number,
    private readonly wildcardObject: number,
  ) {
    this.schema = schema instanceof IntSchemaIndex ? schema : new IntSchemaIndex(schema);
    this.ops = this.schema.ops;
    this.growStack(64);
  }

  /** The depth the last result needs to come out the same (meaningless for DEPTH_EXCEEDED). */
  get needed(): number {
    return this.rn;
  }

  /** True when a cycle cut influenced the last result. */
  get cut(): boolean {
    return this.rc !== 0;
  }

  /**
   * Is the subject `(sType, sObject, sRelation)` in `type:object#relation`, with `depth` nodes of path
   * allowed? FALSE, TRUE or DEPTH_EXCEEDED, exactly as `Checker.resolve(...).value`.
   */
  resolve(
    type: number,
    object: number,
    relation: number,
    sType: number,
    sObject: number,
    sRelation: number,
    depth: number,
  ): IntTri {
    if (!this.hasSubject || sType !== this.sType || sObject !== this.sObject || sRelation !== this.sRelation) {
      this.setSubject(sType, sObject, sRelation);
    }
    const def = this.schema.findRelation(type, relation);
    if (def < 0) return this.answer(FALSE, 0, 0);
    if (relation < 0 || relation >= MAX_NAME_ID) {
      // Only a non-strict undeclared relation the graph never saw gets here: plain `this` without tuples.
      return depth < 1 ? this.answer(DEPTH_EXCEEDED, depth + 1, 0) : this.answer(FALSE, 1, 0);
    }
    this.unionOnly = this.schema.defUnionOnly[def] === 1;
    // Results memoized by earlier checks of this subject are exact (a definitive, uncut result does not depend
    // on the path it was computed on: the Checker's memo relies on the same fact within one check).
    const reused = this.memoInUse;
    this.memoInUse = true;
    this.evaluate(type, object, relation, depth);
    if (this.rv === DEPTH_EXCEEDED && reused) {
      // But in union-only mode they skip the visits that would have cut later revisits of the same nodes,
      // which can turn a FALSE that `check()` (a fresh memo) finds into DEPTH_EXCEEDED. Rare (the answer is
      // an error): decide afresh.
      this.table.clear();
      this.evaluate(type, object, relation, depth);
    }
    return this.rv as IntTri;
  }

  private evaluate(type: number, object: number, relation: number, depth: number): void {
    this.table.beginCheck();
    this.sp = 0;
    this.bufferTop = 0;
    if (this.open(type, object, relation, depth, depth)) this.run();
  }

  private answer(value: number, needed: number, cut: number): IntTri {
    this.rv = value;
    this.rn = needed;
    this.rc = cut;
    return value as IntTri;
  }

  private setSubject(sType: number, sObject: number, sRelation: number): void {
    this.hasSubject = true;
    this.sType = sType;
    this.sObject = sObject;
    this.sRelation = sRelation;
    this.table.clear();
    this.memoInUse = false;
    const { graph, wildcardObject } = this;
    const valid = sType >= 0 && sObject >= 0 && sRelation >= 0;
    this.subjectNode = valid ? graph.findNode(sType, sObject, sRelation) : -1;
    this.subjectIsWildcard = this.schema.isWildcard(sType, sObject, sRelation, wildcardObject);
    // OpenFGA: a typed object (never a subject set) also matches a stored `T:*`.
    this.wildcardNode =
      this.schema.fga && sType > 0 && sRelation === 0 && wildcardObject >= 0 ? graph.findNode(sType, wildcardObject, 0) : -1;
  }

  /** `storedSubjectAllowed` for the check's subject. */
  private subjectAllowed(def: number): boolean {
    const s = this.schema;
    if (s.ketoNonStrict) return true;
    if (this.sType === 0) return s.bareSubjectIds;
    if (this.subjectIsWildcard) return s.acceptsWildcard(def, this.sType);
    return s.listsSubject(def, this.sType, this.sRelation);
  }

  /**
   * Opens the node `type:object#relation` for the frame on top of the stack (or as the root). Answers it at
   * once into the registers (cycle, no relation, memo, explored, no depth; rebased to the requester's depth)
   * and returns false, or pushes its frame and returns true.
   */
  private open(type: number, object: number, relation: number, depth: number, requesterDepth: number): boolean {
    const table = this.table;
    const def = this.schema.findRelation(type, relation);
    // A relation the schema no longer has holds nobody (tuples may outlive a schema change). No node on the
    // path lacks a relation, so answering this before the path check changes nothing.
    if (def < 0) {
      this.rv = FALSE;
      this.rn = 0;
      this.rc = 0;
      return false;
    }
    const slot = table.slot(object, relation * MAX_NAME_ID + type);
    if (table.layout !== this.tableLayout) this.refreshSlots();
    if (table.onPath[slot] === 1) {
      this.rv = FALSE;
      this.rn = 0;
      this.rc = 1;
      return false;
    }
    const memo = table.memoNeeded[slot] as number;
    if (memo >= 0 && memo <= depth) {
      this.rv = table.memoValue[slot] as number;
      this.rn = memo + requesterDepth - depth;
      this.rc = 0;
      return false;
    }
    if (this.unionOnly) {
      // Explored already in this check with at least this much depth: nothing new can be found.
      const seen = table.visited[slot] as number;
      if (wasVisited(seen) && seen >= depth) {
        this.rv = FALSE;
        this.rn = 0;
        this.rc = 1;
        return false;
      }
      table.visited[slot] = depth;
    }
    if (depth < 1) {
      this.rv = DEPTH_EXCEEDED;
      this.rn = depth + 1 + requesterDepth - depth;
      this.rc = 0;
      return false;
    }
    table.onPath[slot] = 1;
    const f = this.push(NODE, def, depth, 0);
    this.nType[f] = type;
    this.nObject[f] = object;
    this.nRelation[f] = relation;
    this.nGraph[f] = UNKNOWN_NODE;
    this.nSlot[f] = slot;
    return true;
  }

  /** Starts evaluating op `at` for frame `f` (a NODE frame or a rewrite frame of one). */
  private start(at: number, f: number): void {
    const owner = this.kind[f] === NODE ? f : (this.owner[f] as number);
    const depth = this.depth[f] as number;
    if (this.ops[at] === OP_COMPUTED) {
      // Same object: no hop, no depth, and no frame (its answer passes through unchanged).
      this.open(this.nType[owner] as number, this.nObject[owner] as number, this.ops[at + 1] as number, depth, depth);
      return;
    }
    const child = this.push(this.ops[at] as number, at, depth, 0);
    this.owner[child] = owner;
  }

  /** Drives the stack until the root node is closed; its outcome is left in the registers. */
  private run(): void {
    const graph = this.graph;
    const schema = this.schema;
    const ops = this.ops;
    const revision = this.revision;
    for (;;) {
      const f = this.sp - 1;
      switch (this.kind[f]) {
        case NODE: {
          if (this.phase[f] === 0) {
            this.phase[f] = 1;
            this.start(schema.defRoot[this.op[f] as number] as number, f);
            continue;
          }
          // The relation's rewrite answered: close the node.
          this.sp = f;
          const slot = this.nSlot[f] as number;
          const depth = this.depth[f] as number;
          this.table.onPath[slot] = 0;
          if (this.rv !== DEPTH_EXCEEDED) {
            // Evaluating a node at all takes one level; a decided result holds at any depth >= the one it ran at.
            let needed = this.rn < 1 ? 1 : this.rn;
            if (needed > depth) needed = depth;
            this.rn = needed;
            if (this.rc === 0) {
              this.table.memoNeeded[slot] = needed;
              this.table.memoValue[slot] = this.rv;
            }
          }
          if (f === 0) return;
          // Re-express the need in the requester's terms (a hop child ran one level lower).
          const parentDepth = this.depth[f - 1] as number;
          if (this.rn !== 0 && parentDepth !== depth) this.rn += parentDepth - depth;
          continue;
        }

        case OP_THIS: {
          const owner = this.owner[f] as number;
          const def = this.op[owner] as number;
          let i: number;
          if (this.phase[f] === 0) {
            const node = this.graphNode(owner);
            this.bufferStart[f] = this.bufferTop;
            if (node >= 0) {
              // The exact tuple, then a matching wildcard.
              if (this.subjectNode >= 0 && this.subjectAllowed(def) && graph.hasEdge(node, this.subjectNode, revision)) {
                this.finish(f, TRUE, 0, 0);
                continue;
              }
              if (
                this.wildcardNode >= 0 &&
                schema.acceptsWildcard(def, this.sType) &&
                graph.hasEdge(node, this.wildcardNode, revision)
              ) {
                this.finish(f, TRUE, 0, 0);
                continue;
              }
              // The live subject sets the type list allows (storedSubjectAllowed of a set: never a wildcard).
              const strict = !schema.ketoNonStrict;
              for (let e = graph.firstSetEdge(node); e >= 0; e = graph.nextSetEdge(e)) {
                if (!graph.edgeVisible(e, revision)) continue;
                const s = graph.edgeSubject(e);
                if (strict && !schema.listsSubject(def, graph.nodeType(s), graph.nodeRelation(s))) continue;
                this.buffer(s);
              }
            }
            this.phase[f] = 1;
            this.foldNeeded[f] = 0;
            this.foldFlags[f] = 0;
            i = this.bufferTop;
          } else {
            // A stored subject set answered.
            if (this.rv === TRUE) {
              this.release(f);
              continue;
            }
            this.fold(f);
            i = this.iter[f] as number;
          }
          // Membership in the next subject set, oldest first as the string view lists them (the buffer holds
          // them newest first). The order matters: union-only mode's visit cuts make DEPTH_EXCEEDED vs FALSE
          // depend on it.
          if (--i >= (this.bufferStart[f] as number)) {
            this.iter[f] = i;
            const s = this.subjects[i] as number;
            const depth = this.depth[f] as number;
            this.open(graph.nodeType(s), graph.nodeObject(s), graph.nodeRelation(s), depth - 1, depth);
          } else {
            this.finishFold(f, FALSE);
          }
          continue;
        }

        case OP_TTU: {
          const computed = ops[(this.op[f] as number) + 2] as number;
          let i: number;
          if (this.phase[f] === 0) {
            const owner = this.owner[f] as number;
            const tupleset = ops[(this.op[f] as number) + 1] as number;
            const tuplesetDef = schema.findRelation(this.nType[owner] as number, tupleset);
            if (tuplesetDef < 0) {
              this.finish(f, FALSE, 0, 0);
              continue;
            }
            this.bufferStart[f] = this.bufferTop;
            const node = graph.findNode(this.nType[owner] as number, this.nObject[owner] as number, tupleset);
            if (node >= 0) {
              // `view.subjects`: typed objects then subject sets, each oldest first; buffered in reverse.
              this.bufferTupleset(graph.firstSetEdge(node), false, tuplesetDef, computed);
              this.bufferTupleset(graph.firstDirectEdge(node), true, tuplesetDef, computed);
            }
            this.phase[f] = 1;
            this.foldNeeded[f] = 0;
            this.foldFlags[f] = 0;
            i = this.bufferTop;
          } else {
            // A tupleset subject's computed relation answered.
            if (this.rv === TRUE) {
              this.release(f);
              continue;
            }
            this.fold(f);
            i = this.iter[f] as number;
          }
          if (--i >= (this.bufferStart[f] as number)) {
            this.iter[f] = i;
            const s = this.subjects[i] as number;
            const depth = this.depth[f] as number;
            this.open(graph.nodeType(s), graph.nodeObject(s), computed, depth - 1, depth);
          } else {
            this.finishFold(f, FALSE);
          }
          continue;
        }

        case OP_UNION:
        case OP_INTERSECTION: {
          const at = this.op[f] as number;
          const decisive = this.kind[f] === OP_UNION ? TRUE : FALSE;
          let next: number;
          if (this.phase[f] === 0) {
            this.phase[f] = 1;
            this.foldNeeded[f] = 0;
            this.foldFlags[f] = 0;
            next = 0;
          } else {
            // The deciding branch alone determines the result, so only its depth and taint matter.
            if (this.rv === decisive) {
              this.sp = f;
              continue;
            }
            this.fold(f);
            next = (this.iter[f] as number) + 1;
          }
          if (next < (ops[at + 2] as number)) {
            this.iter[f] = next;
            this.start(schema.children[(ops[at + 1] as number) + next] as number, f);
          } else {
            this.finishFold(f, decisive === TRUE ? FALSE : TRUE);
          }
          continue;
        }

        case OP_EXCLUSION: {
          const at = this.op[f] as number;
          const phase = this.phase[f];
          if (phase === 0) {
            this.phase[f] = 1;
            this.start(ops[at + 1] as number, f);
          } else if (phase === 1) {
            // The base answered.
            if (this.rv === FALSE) {
              this.sp = f;
              continue;
            }
            this.phase[f] = 2;
            this.foldNeeded[f] = this.rn;
            this.foldFlags[f] = (this.rv << BASE_SHIFT) | this.rc;
            this.start(ops[at + 2] as number, f);
          } else {
            // The subtraction answered. A member of it is out whatever the base says, even an undecided base.
            if (this.rv === TRUE) {
              this.finish(f, FALSE, this.rn, this.rc);
              continue;
            }
            const flags = this.foldFlags[f] as number;
            const base = flags >> BASE_SHIFT;
            const baseNeeded = this.foldNeeded[f] as number;
            this.finish(
              f,
              base === DEPTH_EXCEEDED || this.rv === DEPTH_EXCEEDED ? DEPTH_EXCEEDED : TRUE,
              baseNeeded > this.rn ? baseNeeded : this.rn,
              (flags & CUT) | this.rc,
            );
          }
          continue;
        }

        case OP_COMPLEMENT: {
          if (this.phase[f] === 0) {
            this.phase[f] = 1;
            this.start(ops[(this.op[f] as number) + 1] as number, f);
          } else {
            const value = this.rv === DEPTH_EXCEEDED ? DEPTH_EXCEEDED : this.rv === TRUE ? FALSE : TRUE;
            this.finish(f, value, this.rn, this.rc);
          }
          continue;
        }

        default:
          throw new Error(`int checker: bad frame kind ${this.kind[f]}`);
      }
    }
  }

  /** The graph node of NODE frame `f`, looked up on first use. */
  private graphNode(f: number): number {
    let node = this.nGraph[f] as number;
    if (node === UNKNOWN_NODE) {
      node = this.graph.findNode(this.nType[f] as number, this.nObject[f] as number, this.nRelation[f] as number);
      this.nGraph[f] = node;
    }
    return node;
  }

  /** Adds the (non-deciding) branch in the registers to frame `f`'s fold. */
  private fold(f: number): void {
    let flags = this.foldFlags[f] as number;
    if (this.rv === DEPTH_EXCEEDED) flags |= EXCEEDED;
    flags |= this.rc;
    this.foldFlags[f] = flags;
    if (this.rn > (this.foldNeeded[f] as number)) this.foldNeeded[f] = this.rn;
  }

  /** Pops frame `f` with its fold's result: undecided if a branch ran out of depth, else `otherwise`. */
  private finishFold(f: number, otherwise: number): void {
    const flags = this.foldFlags[f] as number;
    const kind = this.kind[f];
    if (kind === OP_THIS || kind === OP_TTU) this.bufferTop = this.bufferStart[f] as number;
    this.finish(f, (flags & EXCEEDED) !== 0 ? DEPTH_EXCEEDED : otherwise, this.foldNeeded[f] as number, flags & CUT);
  }

  /** Pops a THIS or TTU frame decided by the branch in the registers, freeing its buffered subjects. */
  private release(f: number): void {
    this.bufferTop = this.bufferStart[f] as number;
    this.sp = f;
  }

  /** Buffers the live subjects of one tupleset list that lead somewhere (newest first). */
  private bufferTupleset(first: number, direct: boolean, tuplesetDef: number, computed: number): void {
    const { graph, schema, revision } = this;
    for (let e = first; e >= 0; e = direct ? graph.nextDirectEdge(e) : graph.nextSetEdge(e)) {
      if (!graph.edgeVisible(e, revision)) continue;
      const s = graph.edgeSubject(e);
      const sType = graph.nodeType(s);
      // Bare ids are not objects; types without the computed relation are skipped, as OpenFGA does.
      if (sType === 0) continue;
      if (!schema.storedSubjectAllowed(tuplesetDef, sType, graph.nodeObject(s), graph.nodeRelation(s), this.wildcardObject)) continue;
      if (schema.findRelation(sType, computed) < 0) continue;
      this.buffer(s);
    }
  }

  private buffer(subject: number): void {
    if (this.bufferTop === this.subjects.length) {
      const next = new Int32Array(this.subjects.length * 2);
      next.set(this.subjects);
      this.subjects = next;
    }
    this.subjects[this.bufferTop++] = subject;
  }

  /** Pops rewrite frame `f`, leaving its outcome in the registers for the frame below (same depth). */
  private finish(f: number, value: number, needed: number, cut: number): void {
    this.sp = f;
    this.rv = value;
    this.rn = needed;
    this.rc = cut;
  }

  private push(kind: number, op: number, depth: number, phase: number): number {
    if (this.sp === this.capacity) this.growStack(this.capacity * 2);
    const f = this.sp++;
    this.kind[f] = kind;
    this.op[f] = op;
    this.depth[f] = depth;
    this.phase[f] = phase;
    return f;
  }

  /** The node table moved its slots: find the path's nodes again. */
  private refreshSlots(): void {
    this.tableLayout = this.table.layout;
    for (let f = 0; f < this.sp; f++) {
      if (this.kind[f] !== NODE) continue;
      this.nSlot[f] = this.table.find(this.nObject[f] as number, (this.nRelation[f] as number) * MAX_NAME_ID + (this.nType[f] as number));
    }
  }

  private growStack(capacity: number): void {
    const grow = (a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> => {
      const next = new Int32Array(capacity);
      next.set(a);
      return next;
    };
    this.kind = grow(this.kind);
    this.op = grow(this.op);
    this.phase = grow(this.phase);
    this.depth = grow(this.depth);
    this.owner = grow(this.owner);
    this.iter = grow(this.iter);
    this.foldNeeded = grow(this.foldNeeded);
    this.foldFlags = grow(this.foldFlags);
    this.nType = grow(this.nType);
    this.nObject = grow(this.nObject);
    this.nRelation = grow(this.nRelation);
    this.nGraph = grow(this.nGraph);
    this.nSlot = grow(this.nSlot);
    this.bufferStart = grow(this.bufferStart);
    this.capacity = capacity;
  }
}
