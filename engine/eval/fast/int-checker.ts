/**
 * The check machine of `../checker.ts`, ported to interned ids for worker threads: the same three-valued
 * results, depth accounting, memo, cycle cuts and union-only reachability mode, decision for decision.
 *
 * Instead of one generator per userset node it runs an explicit state machine over a stack of frame records
 * in one Int32Array: a NODE frame per userset node on the path and one frame per rewrite operator being
 * evaluated inside it. A frame that needs a sub-result opens a node (answered at once from the memo, a cycle
 * cut or the depth limit, or pushed as a new frame) and is stepped again with the answer in the result
 * registers `rv, rn, rc` (value, needed depth, cut). Nothing is allocated per node, and deep graphs grow the
 * array, never the JS stack. Computed usersets, and `this` or tuple-to-userset without subjects to visit
 * (most of them), are answered without a frame of their own.
 *
 * Subjects are node triples: a bare id is `(0, id, 0)`, a typed object `(type, id, 0)`, a subject set
 * `(type, id, relation)`.
 *
 * `decide` (what batches use) first tries a union-only check on the subject-driven fast path
 * (`union-fast-path.ts`), which returns the walk's value exactly or declines; `resolve` is the walk alone, so its
 * `needed` and `cut` still match the Checker's.
 */
import type { IntGraph } from "../../graph/int-graph.js";
import {
  IntSchemaIndex,
  MAX_NAME_ID,
  OP_COMPLEMENT,
  OP_COMPUTED,
  OP_EXCLUSION,
  OP_INTERSECTION,
  OP_THIS,
  OP_TTU,
  OP_UNION,
  type IntSchema,
} from "./int-schema.js";
import { GRAPH_NODE, NodeTable, UNKNOWN_NODE, UNVISITED, VISITED } from "./node-table.js";
import { UNDECIDED, UnionFastPath } from "./union-fast-path.js";
import { withRoom } from "./int-buffer.js";

/** Three-valued membership, as in `../checker.ts`. */
export const FALSE = 0;
export const TRUE = 1;
export const DEPTH_EXCEEDED = 2;
export type IntTri = 0 | 1 | 2;

/** Frame kind of a userset node (rewrite frames use their op code). */
const NODE = 7;

// Frame record fields (FRAME ints per frame; a frame is addressed by the offset of its record).
const KIND = 0;
/** Rewrite frames: op offset. NODE frames: def. */
const OP = 1;
const PHASE = 2;
const DEPTH = 3;
/** Rewrite frames: the offset of the NODE frame they evaluate for. */
const OWNER = 4;
/** Position in `subjects` (this, tuple-to-userset) or child index (union, intersection). */
const ITER = 5;
const FOLD_NEEDED = 6;
const FOLD_FLAGS = 7;
// NODE frames: the userset and its node-table slot.
const TYPE = 8;
const OBJECT = 9;
const RELATION = 10;
const SLOT = 11;
/** This and tuple-to-userset frames: where their subjects start in `subjects`. */
const BUFFER_START = 12;
const FRAME = 16;

// Fold flags (a fold of union/intersection branches, or the saved base of an exclusion).
const CUT = 1;
const EXCEEDED = 2;
// Exclusion: the base's value is kept in the flags above the fold bits.
const BASE_SHIFT = 2;

/** Phase of a this / tuple-to-userset frame that has buffered its subjects and visited none yet. */
const VISIT = 2;

// The subject's own tuples, indexed once it has been probed often enough (see `hasSubjectEdge`).
/** Probes through the graph's pair hash before indexing the subject's reverse list instead. */
const PROBES_BEFORE_INDEX = 4;
/** A reverse list longer than this stays unindexed (the pair hash answers in O(1) anyway). */
const MAX_INDEXED_EDGES = 256;
/** Slots of the index (a power of two, at least 2 * MAX_INDEXED_EDGES so probe chains stay short). */
const INDEX_SLOTS = 1024;
/** 32 - log2(INDEX_SLOTS): a multiplicative hash's top bits pick the slot. */
const INDEX_SHIFT = 22;
const INDEX_PENDING = 0;
const INDEX_BUILT = 1;
const INDEX_TOO_LONG = 2;

/** Evaluates checks for one schema, graph and revision. Reuse it for a batch: the memo lives per subject. */
export class IntChecker {
  readonly schema: IntSchemaIndex;
  private readonly ops: Int32Array;
  private readonly table = new NodeTable();
  /** The subject-driven shortcut for union-only checks (`decide`). */
  private readonly fast: UnionFastPath;

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
  /** INDEX_PENDING, INDEX_BUILT or INDEX_TOO_LONG: whether `hasSubjectEdge` answers from `indexKeys`. */
  private indexState = INDEX_PENDING;
  private subjectProbes = 0;
  /**
   * The userset nodes holding a version of `node@subject` live at the revision, as an open-addressing set
   * (key node + 1; a slot counts only when its stamp is the current subject's), so it is reset in O(1).
   */
  private readonly indexKeys = new Int32Array(INDEX_SLOTS);
  private readonly indexStamps = new Int32Array(INDEX_SLOTS);
  private indexStamp = 0;
  /** The node table holds results of earlier checks of the current subject. */
  private memoInUse = false;
  /** This check runs in union-only (reachability) mode. */
  private unionOnly = false;

  /** The frame records; `top` is the offset of the topmost one (-FRAME when empty). */
  private frames = new Int32Array(64 * FRAME);
  private top = -FRAME;
  private tableLayout = 0;
  /** A stack of subject nodes that this / tuple-to-userset frames still have to visit (a segment per frame). */
  private subjects = new Int32Array(256);
  private bufferTop = 0;

  // Result registers: the answer of the last finished frame or opened node.
  private rv = 0;
  private rn = 0;
  private rc = 0;

  constructor(
    schema: IntSchemaIndex | IntSchema,
    readonly graph: IntGraph,
    readonly revision: number,
    readonly wildcardObject: number,
  ) {
    this.schema = schema instanceof IntSchemaIndex ? schema : new IntSchemaIndex(schema);
    this.ops = this.schema.ops;
    this.fast = new UnionFastPath(this.schema, graph, revision, wildcardObject);
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
    this.useSubject(sType, sObject, sRelation);
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
      this.table.nextSubject();
      this.evaluate(type, object, relation, depth);
    }
    return this.rv as IntTri;
  }

  /**
   * `resolve(...)`, the value alone: a union-only check is first tried on the subject-driven fast path
   * (`union-fast-path.ts`), which answers exactly or not at all. `needed` and `cut` are meaningless after it.
   */
  decide(
    type: number,
    object: number,
    relation: number,
    sType: number,
    sObject: number,
    sRelation: number,
    depth: number,
  ): IntTri {
    this.useSubject(sType, sObject, sRelation);
    const def = this.schema.findRelation(type, relation);
    // Out-of-range relations and no depth are `resolve`'s special cases (and cheap there).
    if (def >= 0 && relation >= 0 && relation < MAX_NAME_ID && depth >= 1 && this.schema.defUnionOnly[def] === 1) {
      const value = this.fast.decide(type, object, relation, def, depth);
      if (value !== UNDECIDED) return value as IntTri;
    }
    return this.resolve(type, object, relation, sType, sObject, sRelation, depth);
  }

  /** Switches to a subject unless it is the current one (whose memo and caches then stay). */
  private useSubject(sType: number, sObject: number, sRelation: number): void {
    if (!this.hasSubject || sType !== this.sType || sObject !== this.sObject || sRelation !== this.sRelation) {
      this.setSubject(sType, sObject, sRelation);
    }
  }

  private evaluate(type: number, object: number, relation: number, depth: number): void {
    this.table.beginCheck();
    this.top = -FRAME;
    this.bufferTop = 0;
    if (this.open(type, object, relation, depth, depth, UNKNOWN_NODE)) this.run();
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
    this.table.nextSubject();
    this.memoInUse = false;
    const { graph, wildcardObject } = this;
    const valid = sType >= 0 && sObject >= 0 && sRelation >= 0;
    this.subjectNode = valid ? graph.findNode(sType, sObject, sRelation) : -1;
    this.indexState = INDEX_PENDING;
    this.subjectProbes = 0;
    this.subjectIsWildcard = this.schema.isWildcard(sType, sObject, sRelation, wildcardObject);
    // OpenFGA: a typed object (never a subject set) also matches a stored `T:*`.
    this.wildcardNode =
      this.schema.fga && sType > 0 && sRelation === 0 && wildcardObject >= 0 ? graph.findNode(sType, wildcardObject, 0) : -1;
    this.fast.setSubject(sType, sRelation, this.subjectNode, this.wildcardNode, this.subjectIsWildcard);
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
   * Opens the node `type:object#relation` for the frame on top (or as the root). Answers it at once into the
   * registers (cycle, no relation, memo, explored, no depth; rebased to the requester's depth) and returns
   * false, or pushes its frame and returns true. `graphNode` is the node's graph id when the caller knows it
   * (a stored subject set is that node), else UNKNOWN_NODE.
   */
  private open(
    type: number,
    object: number,
    relation: number,
    depth: number,
    requesterDepth: number,
    graphNode: number,
  ): boolean {
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
    if (table.onPath(slot)) {
      this.rv = FALSE;
      this.rn = 0;
      this.rc = 1;
      return false;
    }
    if (graphNode !== UNKNOWN_NODE) table.cells[slot + GRAPH_NODE] = graphNode;
    const memo = table.memoNeeded(slot);
    if (memo >= 0 && memo <= depth) {
      this.rv = table.memoValue(slot);
      this.rn = memo + requesterDepth - depth;
      this.rc = 0;
      return false;
    }
    if (this.unionOnly) {
      // Explored already in this check with at least this much depth: nothing new can be found.
      const seen = table.cells[slot + VISITED] as number;
      if (seen !== UNVISITED && seen >= depth) {
        this.rv = FALSE;
        this.rn = 0;
        this.rc = 1;
        return false;
      }
      table.cells[slot + VISITED] = depth;
    }
    if (depth < 1) {
      this.rv = DEPTH_EXCEEDED;
      this.rn = depth + 1 + requesterDepth - depth;
      this.rc = 0;
      return false;
    }
    const root = this.schema.defRoot[def] as number;
    if (this.ops[root] === OP_THIS) {
      // A plain `this` relation (a group's members, say): most such nodes are decided by their own tuples, so
      // decide them here without a frame, closing them as `run` would (one level needed, memoized, rebased).
      let node = table.cells[slot + GRAPH_NODE] as number;
      if (node === UNKNOWN_NODE) {
        node = this.graph.findNode(type, object, relation);
        table.cells[slot + GRAPH_NODE] = node;
      }
      const from = this.bufferTop;
      if (this.thisDecided(def, node)) {
        table.memoize(slot, this.rv, 1);
        this.rn = 1 + requesterDepth - depth;
        return false;
      }
      table.setOnPath(slot, true);
      const f = this.pushNode(def, depth, 1, type, object, relation, slot);
      this.visitBuffered(OP_THIS, root, f, depth, from);
      return true;
    }
    table.setOnPath(slot, true);
    this.pushNode(def, depth, 0, type, object, relation, slot);
    return true;
  }

  /** Pushes the NODE frame of a userset (`phase` 1: its rewrite's frame follows at once). */
  private pushNode(def: number, depth: number, phase: number, type: number, object: number, relation: number, slot: number): number {
    const f = this.push(NODE, def, depth, phase);
    const frames = this.frames;
    frames[f + TYPE] = type;
    frames[f + OBJECT] = object;
    frames[f + RELATION] = relation;
    frames[f + SLOT] = slot;
    return f;
  }

  /**
   * Starts evaluating op `at` for frame `f` (a NODE frame or a rewrite frame of one): answers it at once into
   * the registers (same depth, so nothing to rebase) or pushes what it needs.
   */
  private start(at: number, f: number): void {
    const frames = this.frames;
    const owner = frames[f + KIND] === NODE ? f : (frames[f + OWNER] as number);
    const depth = frames[f + DEPTH] as number;
    const code = this.ops[at] as number;
    if (code === OP_COMPUTED) {
      // Same object: no hop, no depth, and no frame (its answer passes through unchanged).
      const relation = this.ops[at + 1] as number;
      this.open(frames[owner + TYPE] as number, frames[owner + OBJECT] as number, relation, depth, depth, UNKNOWN_NODE);
    } else if (code === OP_THIS) {
      this.startThis(at, owner, depth);
    } else if (code === OP_TTU) {
      this.startTupleToUserset(at, owner, depth);
    } else {
      const child = this.push(code, at, depth, 0);
      this.frames[child + OWNER] = owner;
    }
  }

  /** `this`: the exact tuple, a matching wildcard, or membership in a stored subject set. */
  private startThis(at: number, owner: number, depth: number): void {
    const from = this.bufferTop;
    if (!this.thisDecided(this.frames[owner + OP] as number, this.graphNode(owner))) {
      this.visitBuffered(OP_THIS, at, owner, depth, from);
    }
  }

  /**
   * `this` of graph node `node` (def `def`): answers into the registers and returns true when its own tuples
   * decide it (no node, the exact tuple or wildcard, or no subject set to visit); else buffers the subject sets
   * to visit and returns false.
   */
  private thisDecided(def: number, node: number): boolean {
    const { graph, schema, revision } = this;
    if (node < 0) {
      this.answer(FALSE, 0, 0);
      return true;
    }
    if (
      (this.subjectNode >= 0 && this.subjectAllowed(def) && this.hasSubjectEdge(node)) ||
      (this.wildcardNode >= 0 && schema.acceptsWildcard(def, this.sType) && graph.hasEdge(node, this.wildcardNode, revision))
    ) {
      this.answer(TRUE, 0, 0);
      return true;
    }
    // The live subject sets the type list allows (storedSubjectAllowed of a set: never a wildcard).
    const from = this.bufferTop;
    const strict = !schema.ketoNonStrict;
    for (let e = graph.firstSetEdge(node); e >= 0; e = graph.nextSetEdge(e)) {
      if (!graph.edgeVisible(e, revision)) continue;
      const s = graph.edgeSubject(e);
      if (strict && !schema.listsSubject(def, graph.nodeType(s), graph.nodeRelation(s))) continue;
      this.buffer(s);
    }
    if (this.bufferTop !== from) return false;
    this.answer(FALSE, 0, 0);
    return true;
  }

  /**
   * `graph.hasEdge(node, subjectNode, revision)`. A search that misses visits many usersets and probes the pair
   * hash (a cache miss or two) at each; a typical subject has only a few tuples of its own, so after a few
   * probes its reverse list is read once into a small set in the checker, and later probes stay in L1.
   */
  private hasSubjectEdge(node: number): boolean {
    if (this.indexState === INDEX_PENDING && ++this.subjectProbes > PROBES_BEFORE_INDEX) this.indexSubject();
    if (this.indexState !== INDEX_BUILT) return this.graph.hasEdge(node, this.subjectNode, this.revision);
    const keys = this.indexKeys;
    const stamps = this.indexStamps;
    const stamp = this.indexStamp;
    for (let i = Math.imul(node, 0x9e3779b1) >>> INDEX_SHIFT; stamps[i] === stamp; i = (i + 1) & (INDEX_SLOTS - 1)) {
      if (keys[i] === node) return true;
    }
    return false;
  }

  /** Reads the subject's reverse list into the index (the usersets with a version live at the revision). */
  private indexSubject(): void {
    const { graph, revision } = this;
    const stamp = this.nextIndexStamp();
    const keys = this.indexKeys;
    const stamps = this.indexStamps;
    let count = 0;
    for (let e = graph.firstInEdge(this.subjectNode); e >= 0; e = graph.nextInEdge(e)) {
      if (++count > MAX_INDEXED_EDGES) {
        this.indexState = INDEX_TOO_LONG;
        // Leave no slot looking filled under the current stamp.
        this.nextIndexStamp();
        return;
      }
      if (!graph.edgeVisible(e, revision)) continue;
      const node = graph.edgeNode(e);
      let i = Math.imul(node, 0x9e3779b1) >>> INDEX_SHIFT;
      while (stamps[i] === stamp && keys[i] !== node) i = (i + 1) & (INDEX_SLOTS - 1);
      stamps[i] = stamp;
      keys[i] = node;
    }
    this.indexState = INDEX_BUILT;
  }

  /** A new stamp empties the index; on wrapping, old stamps are cleared so none can come back. */
  private nextIndexStamp(): number {
    if (++this.indexStamp === 0x7fffffff) {
      this.indexStamps.fill(0);
      this.indexStamp = 1;
    }
    return this.indexStamp;
  }

  /** Tuple-to-userset: membership in `T:x#computed` for every stored `T:x` of the tupleset. */
  private startTupleToUserset(at: number, owner: number, depth: number): void {
    const { graph, schema } = this;
    const type = this.frames[owner + TYPE] as number;
    const tupleset = this.ops[at + 1] as number;
    const tuplesetDef = schema.findRelation(type, tupleset);
    const node = tuplesetDef < 0 ? -1 : graph.findNode(type, this.frames[owner + OBJECT] as number, tupleset);
    if (node < 0) {
      this.answer(FALSE, 0, 0);
      return;
    }
    // `view.subjects`: typed objects then subject sets, each oldest first; buffered in reverse.
    const from = this.bufferTop;
    const computed = this.ops[at + 2] as number;
    this.bufferTupleset(graph.firstSetEdge(node), false, tuplesetDef, computed);
    this.bufferTupleset(graph.firstDirectEdge(node), true, tuplesetDef, computed);
    this.visitBuffered(OP_TTU, at, owner, depth, from);
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
      const allowed = schema.storedSubjectAllowed(tuplesetDef, sType, graph.nodeObject(s), graph.nodeRelation(s), this.wildcardObject);
      if (!allowed || schema.findRelation(sType, computed) < 0) continue;
      this.buffer(s);
    }
  }

  private buffer(subject: number): void {
    this.subjects = withRoom(this.subjects, this.bufferTop + 1);
    this.subjects[this.bufferTop++] = subject;
  }

  /** Answers FALSE when nothing was buffered from `from` on, else pushes a frame to visit the buffered subjects. */
  private visitBuffered(kind: number, at: number, owner: number, depth: number, from: number): void {
    if (this.bufferTop === from) {
      this.answer(FALSE, 0, 0);
      return;
    }
    const f = this.push(kind, at, depth, VISIT);
    const frames = this.frames;
    frames[f + OWNER] = owner;
    frames[f + BUFFER_START] = from;
    frames[f + ITER] = this.bufferTop;
    frames[f + FOLD_NEEDED] = 0;
    frames[f + FOLD_FLAGS] = 0;
  }

  /** Drives the stack until the root node is closed; its outcome is left in the registers. */
  private run(): void {
    const { graph, schema, ops } = this;
    for (;;) {
      const f = this.top;
      // Re-read after every step: pushing may have replaced the array.
      const frames = this.frames;
      switch (frames[f + KIND]) {
        case NODE: {
          if (frames[f + PHASE] === 0) {
            frames[f + PHASE] = 1;
            this.start(schema.defRoot[frames[f + OP] as number] as number, f);
            continue;
          }
          // The relation's rewrite answered: close the node.
          this.top = f - FRAME;
          const slot = frames[f + SLOT] as number;
          const depth = frames[f + DEPTH] as number;
          this.table.setOnPath(slot, false);
          if (this.rv !== DEPTH_EXCEEDED) {
            // Evaluating a node at all takes one level; a decided result holds at any depth >= the one it ran at.
            let needed = this.rn < 1 ? 1 : this.rn;
            if (needed > depth) needed = depth;
            this.rn = needed;
            if (this.rc === 0) this.table.memoize(slot, this.rv, needed);
          }
          if (f === 0) return;
          // Re-express the need in the requester's terms (a hop child ran one level lower).
          const parentDepth = frames[f - FRAME + DEPTH] as number;
          if (this.rn !== 0 && parentDepth !== depth) this.rn += parentDepth - depth;
          continue;
        }

        case OP_THIS:
        case OP_TTU: {
          if (frames[f + PHASE] === VISIT) {
            frames[f + PHASE] = 1;
          } else {
            // A stored subject set (this) or a tupleset subject's computed relation (tuple-to-userset) answered.
            if (this.rv === TRUE) {
              // Decided by this branch alone: its depth need and taint are the result.
              this.bufferTop = frames[f + BUFFER_START] as number;
              this.top = f - FRAME;
              continue;
            }
            this.fold(f);
          }
          // The next subject, oldest first as the string view lists them (the buffer holds them newest first).
          // The order matters: union-only mode's visit cuts make DEPTH_EXCEEDED vs FALSE depend on it.
          const i = (frames[f + ITER] as number) - 1;
          if (i >= (frames[f + BUFFER_START] as number)) {
            frames[f + ITER] = i;
            const s = this.subjects[i] as number;
            const depth = frames[f + DEPTH] as number;
            if (frames[f + KIND] === OP_THIS) {
              this.open(graph.nodeType(s), graph.nodeObject(s), graph.nodeRelation(s), depth - 1, depth, s);
            } else {
              const computed = ops[(frames[f + OP] as number) + 2] as number;
              this.open(graph.nodeType(s), graph.nodeObject(s), computed, depth - 1, depth, UNKNOWN_NODE);
            }
          } else {
            this.bufferTop = frames[f + BUFFER_START] as number;
            this.finishFold(f, FALSE);
          }
          continue;
        }

        case OP_UNION:
        case OP_INTERSECTION: {
          const at = frames[f + OP] as number;
          const decisive = frames[f + KIND] === OP_UNION ? TRUE : FALSE;
          let next: number;
          if (frames[f + PHASE] === 0) {
            frames[f + PHASE] = 1;
            frames[f + FOLD_NEEDED] = 0;
            frames[f + FOLD_FLAGS] = 0;
            next = 0;
          } else {
            // The deciding branch alone determines the result, so only its depth and taint matter.
            if (this.rv === decisive) {
              this.top = f - FRAME;
              continue;
            }
            this.fold(f);
            next = (frames[f + ITER] as number) + 1;
          }
          if (next < (ops[at + 2] as number)) {
            frames[f + ITER] = next;
            this.start(schema.children[(ops[at + 1] as number) + next] as number, f);
          } else {
            this.finishFold(f, decisive === TRUE ? FALSE : TRUE);
          }
          continue;
        }

        case OP_EXCLUSION: {
          const at = frames[f + OP] as number;
          const phase = frames[f + PHASE];
          if (phase === 0) {
            frames[f + PHASE] = 1;
            this.start(ops[at + 1] as number, f);
          } else if (phase === 1) {
            // The base answered.
            if (this.rv === FALSE) {
              this.top = f - FRAME;
              continue;
            }
            frames[f + PHASE] = 2;
            frames[f + FOLD_NEEDED] = this.rn;
            frames[f + FOLD_FLAGS] = (this.rv << BASE_SHIFT) | this.rc;
            this.start(ops[at + 2] as number, f);
          } else {
            // The subtraction answered. A member of it is out whatever the base says, even an undecided base.
            if (this.rv === TRUE) {
              this.finish(f, FALSE, this.rn, this.rc);
              continue;
            }
            const flags = frames[f + FOLD_FLAGS] as number;
            const base = flags >> BASE_SHIFT;
            const baseNeeded = frames[f + FOLD_NEEDED] as number;
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
          if (frames[f + PHASE] === 0) {
            frames[f + PHASE] = 1;
            this.start(ops[(frames[f + OP] as number) + 1] as number, f);
          } else {
            const value = this.rv === DEPTH_EXCEEDED ? DEPTH_EXCEEDED : this.rv === TRUE ? FALSE : TRUE;
            this.finish(f, value, this.rn, this.rc);
          }
          continue;
        }

        default:
          throw new Error(`int checker: bad frame kind ${frames[f + KIND]}`);
      }
    }
  }

  /** The graph node of NODE frame `f`, looked up once per checker. */
  private graphNode(f: number): number {
    const at = (this.frames[f + SLOT] as number) + GRAPH_NODE;
    const cells = this.table.cells;
    let node = cells[at] as number;
    if (node === UNKNOWN_NODE) {
      const frames = this.frames;
      node = this.graph.findNode(frames[f + TYPE] as number, frames[f + OBJECT] as number, frames[f + RELATION] as number);
      cells[at] = node;
    }
    return node;
  }

  /** Adds the (non-deciding) branch in the registers to frame `f`'s fold. */
  private fold(f: number): void {
    const frames = this.frames;
    let flags = frames[f + FOLD_FLAGS] as number;
    if (this.rv === DEPTH_EXCEEDED) flags |= EXCEEDED;
    frames[f + FOLD_FLAGS] = flags | this.rc;
    if (this.rn > (frames[f + FOLD_NEEDED] as number)) frames[f + FOLD_NEEDED] = this.rn;
  }

  /** Pops frame `f` with its fold's result: undecided if a branch ran out of depth, else `otherwise`. */
  private finishFold(f: number, otherwise: number): void {
    const flags = this.frames[f + FOLD_FLAGS] as number;
    this.finish(f, (flags & EXCEEDED) !== 0 ? DEPTH_EXCEEDED : otherwise, this.frames[f + FOLD_NEEDED] as number, flags & CUT);
  }

  /** Pops rewrite frame `f`, leaving its outcome in the registers for the frame below (same depth). */
  private finish(f: number, value: number, needed: number, cut: number): void {
    this.top = f - FRAME;
    this.rv = value;
    this.rn = needed;
    this.rc = cut;
  }

  private push(kind: number, op: number, depth: number, phase: number): number {
    const f = this.top + FRAME;
    this.frames = withRoom(this.frames, f + FRAME);
    const frames = this.frames;
    frames[f + KIND] = kind;
    frames[f + OP] = op;
    frames[f + DEPTH] = depth;
    frames[f + PHASE] = phase;
    this.top = f;
    return f;
  }

  /** The node table moved its records: find the path's nodes again. */
  private refreshSlots(): void {
    this.tableLayout = this.table.layout;
    const frames = this.frames;
    for (let f = 0; f <= this.top; f += FRAME) {
      if (frames[f + KIND] !== NODE) continue;
      const low = (frames[f + RELATION] as number) * MAX_NAME_ID + (frames[f + TYPE] as number);
      frames[f + SLOT] = this.table.find(frames[f + OBJECT] as number, low);
    }
  }
}
