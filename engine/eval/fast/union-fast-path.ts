/**
 * A subject-driven shortcut for the top-level value of a union-only check, exact or not at all.
 *
 * Why it is exact. In union-only mode the forward walk (`IntChecker`, `../checker.ts`) is plain reachability
 * with hop counting: a node opened with depth d needs d >= 1, computed usersets keep d, stored subject sets and
 * tuple-to-userset hops pass d - 1, and every fold is a union, so a TRUE anywhere reaches the root.
 * - TRUE iff some path root -> ... -> n, where n's `this` stores the subject (or a wildcard it accepts), has at
 *   most depth - 1 hops. If: by induction along the path, each node is opened with at least the depth the
 *   path leaves it, because every way `open` declines a node (on the path, explored already with at least
 *   this depth, an uncut memo) means it is or was explored with at least that depth, and an uncut FALSE memo
 *   means the whole subtree was searched (a cut would have tainted it). Only if: a TRUE is a stored tuple found
 *   at a node opened with depth >= 1 (or a memo of one).
 * - FALSE iff no such path exists at all and no opened node can get depth < 1. Every frame path of the walk is
 *   a simple path, so a `bound` on the hops of any simple path from the root (the longest path when the
 *   reachable graph is acyclic, else a count of its nodes) with bound <= depth rules DEPTH_EXCEEDED out.
 * Anything else (a witness path too long, a search over budget, a cycle the bound cannot cover) is UNDECIDED
 * and the caller runs the forward walk.
 *
 * How it searches. Schemas like Drive have a "group" region: relations used as subject sets
 * (`group#member`) and whatever they reach, closed under forward steps. The walk from a document fans out
 * there (a group tree), while walking backwards from a user through it is narrow (its groups and their
 * ancestors). So for a subject we search backwards through that region only (`Q`, complete within a budget:
 * then a Q node reaches the subject iff it was found), and from the root we search forwards through the rest,
 * answering Q nodes from the backward search and their heights from a per-revision memo (subject-independent,
 * so a group tree's height is computed once per checker). In Keto non-strict schemas every relation may follow
 * every subject set, so Q is everything union-only and the backward search alone answers.
 */
import type { IntGraph } from "../../graph/int-graph.js";
import { IntSchemaIndex, MAX_NAME_ID, OP_COMPUTED, OP_THIS, OP_TTU, OP_UNION } from "./int-schema.js";
import { ABSENT, PairMap } from "./pair-map.js";
import { withRoom } from "./int-buffer.js";

/** The fast path has no exact answer: run the forward walk. */
export const UNDECIDED = -1;

/** Counters for tests and benchmarks: how often the fast path answered, by result. */
export const fastPathStats = { tried: 0, answeredTrue: 0, answeredFalse: 0 };

// Budgets: past them the search gives up (the forward walk then pays the same again, so keep them modest).
/** Usersets the backward search of one subject may expand. */
const REVERSE_NODES = 256;
/** Reverse-list edges it may read. */
const REVERSE_EDGES = 4096;
/** Usersets outside Q the forward search of one check may expand. */
const FORWARD_NODES = 512;
/** Edges the forward search and one height computation may read. */
const FORWARD_EDGES = 8192;
/** Usersets one height computation may expand. */
const HEIGHT_NODES = 4096;
/** The height memo starts over past this many nodes, so a long-lived checker cannot grow it forever. */
const HEIGHT_MEMO_MAX = 1 << 18;
/** Ints of kept expansions before they start over. */
const POOL_MAX = 1 << 21;
/** Reverse-list edges read to find one Q userset's predecessors; past it the userset is TOO_LONG. */
const PREDECESSOR_EDGES = 8192;
/** Backward records: a userset whose predecessors were too many to read. */
const TOO_LONG = -1;
/** Summaries: a userset whose closure is too large to summarize (it is expanded instead). */
const NO_SUMMARY = -1;
/** Usersets one summary may cover, and entries it may hold. */
const SUMMARY_NODES = 128;
const SUMMARY_ENTRIES = 48;
// Summary records: [T count, F count, height, T entries (node, def, hops)..., F entries (type, object, relation,
// hops)...].
const T_ENTRY = 3;
const F_ENTRY = 4;

/** A height that is unknown or unbounded. */
const INF = 0x3fffffff;
/** Search maps: a node whose search is still in progress (a revisit is a cycle). */
const IN_PROGRESS = -1;
/** `enter` pushed a frame. */
const PUSHED = -1;
/** A graph node not looked up yet. */
const UNKNOWN_NODE = -2;

const LOW = MAX_NAME_ID;

/** A subject with more live tuples than this is probed through the pair hash instead of a scan. */
const MAX_HOLDERS = 32;
const NOT_INDEXED = -2;
const TOO_MANY = -1;

// Child records (CHILD ints): the userset, the depth its edge costs (0 computed, 1 hop), its graph node.
const C_TYPE = 0;
const C_OBJECT = 1;
const C_RELATION = 2;
const C_COST = 3;
const C_NODE = 4;
const CHILD = 5;

// Frame records (FRAME ints).
const F_TYPE = 0;
const F_OBJECT = 1;
const F_RELATION = 2;
/** Hops from the root (forward search). */
const F_HOPS = 3;
/** Where its children start, and the next one to enter. */
const F_START = 4;
const F_NEXT = 5;
/** The largest `cost + height` of its children so far. */
const F_MAX = 6;
/** The cost of the edge that led here (to fold its height into the parent). */
const F_COST = 7;
const FRAME = 8;

/** What the fast path needs of a schema, derived once per IntSchemaIndex. */
class Plan {
  /** Defs the fast path can walk: union-only, built of this, computed, tuple-to-userset and union. */
  readonly usable: Uint8Array;
  /** Defs of the backward-searched region (forward-closed: a Q node only leads to Q nodes). */
  readonly inQ: Uint8Array;
  readonly hasThis: Uint8Array;
  /** Per def: its computed relations, entries [computedStart[d], computedStart[d + 1]). */
  readonly computedStart: Int32Array;
  readonly computedRel: Int32Array;
  /** Per def: its tuple-to-usersets as (tupleset, computed) pairs, pairs [ttuStart[d], ttuStart[d + 1]). */
  readonly ttuStart: Int32Array;
  readonly ttuOps: Int32Array;
  /** type * MAX_NAME_ID + relation -> the Q defs of that type reading it as a computed userset. */
  readonly computedUsers = new Map<number, Int32Array>();
  /** computed relation -> (def, tupleset, tupleset def) triples of the Q defs reading it through a tupleset. */
  readonly ttuUsers = new Map<number, Int32Array>();
  /** tupleset def * MAX_NAME_ID + type -> the subject relations (0 first) its type list lets through (strict). */
  readonly variants = new Map<number, Int32Array>();

  constructor(readonly schema: IntSchemaIndex) {
    const count = schema.defCount;
    const { ops, children } = schema;
    this.usable = new Uint8Array(count);
    this.inQ = new Uint8Array(count);
    this.hasThis = new Uint8Array(count);
    this.computedStart = new Int32Array(count + 1);
    this.ttuStart = new Int32Array(count + 1);
    const computed: number[] = [];
    const ttu: number[] = [];
    for (let d = 0; d < count; d++) {
      this.computedStart[d] = computed.length;
      this.ttuStart[d] = ttu.length / 2;
      let ok = schema.defUnionOnly[d] === 1;
      const stack = [schema.defRoot[d] as number];
      while (stack.length > 0) {
        const at = stack.pop() as number;
        const code = ops[at] as number;
        if (code === OP_THIS) this.hasThis[d] = 1;
        else if (code === OP_COMPUTED) computed.push(ops[at + 1] as number);
        else if (code === OP_TTU) ttu.push(ops[at + 1] as number, ops[at + 2] as number);
        else if (code === OP_UNION) {
          for (let k = (ops[at + 2] as number) - 1; k >= 0; k--) stack.push(children[(ops[at + 1] as number) + k] as number);
        } else ok = false;
      }
      this.usable[d] = ok ? 1 : 0;
    }
    this.computedStart[count] = computed.length;
    this.ttuStart[count] = ttu.length / 2;
    this.computedRel = Int32Array.from(computed);
    this.ttuOps = Int32Array.from(ttu);

    // Forward successors of each def at the schema level (a superset of what the walk follows).
    const all = Array.from({ length: count }, (_, d) => d);
    const successors = (d: number): number[] => {
      const out: number[] = [];
      const type = schema.defType[d] as number;
      for (let i = this.computedStart[d] as number; i < (this.computedStart[d + 1] as number); i++) {
        out.push(schema.findRelation(type, this.computedRel[i] as number));
      }
      if (this.hasThis[d] === 1) {
        if (schema.ketoNonStrict) return all;
        for (const [t, r, w] of schema.directTypesOf(d)) if (r !== 0 && w === 0) out.push(schema.findRelation(t, r));
      }
      for (let i = this.ttuStart[d] as number; i < (this.ttuStart[d + 1] as number); i++) {
        if (schema.ketoNonStrict) return all;
        const tsDef = schema.findRelation(type, this.ttuOps[i * 2] as number);
        if (tsDef < 0) continue;
        for (const [t] of schema.directTypesOf(tsDef)) out.push(schema.findRelation(t, this.ttuOps[i * 2 + 1] as number));
      }
      return out.filter((s) => s >= 0);
    };
    const closure = (seeds: readonly number[]): Set<number> => {
      const seen = new Set<number>();
      const stack = [...seeds];
      while (stack.length > 0) {
        const d = stack.pop() as number;
        if (seen.has(d)) continue;
        seen.add(d);
        for (const s of successors(d)) stack.push(s);
      }
      return seen;
    };
    // Q: relations used as subject sets and what they reach (non-strict: anything may be a subject set).
    const seeds: number[] = [];
    if (schema.ketoNonStrict) seeds.push(...all);
    else {
      for (let d = 0; d < count; d++) {
        for (const [t, r, w] of schema.directTypesOf(d)) if (r !== 0 && w === 0) seeds.push(schema.findRelation(t, r));
      }
    }
    for (const d of closure(seeds.filter((s) => s >= 0))) {
      // Keep only defs whose whole closure is usable: the kept set stays forward-closed.
      if (this.usable[d] === 1 && [...closure([d])].every((s) => this.usable[s] === 1)) this.inQ[d] = 1;
    }

    // Backward indexes over Q.
    const computedUsers = new Map<number, number[]>();
    const ttuUsers = new Map<number, number[]>();
    for (let d = 0; d < count; d++) {
      if (this.inQ[d] !== 1) continue;
      const type = schema.defType[d] as number;
      for (let i = this.computedStart[d] as number; i < (this.computedStart[d + 1] as number); i++) {
        const key = type * MAX_NAME_ID + (this.computedRel[i] as number);
        const list = computedUsers.get(key) ?? [];
        if (!list.includes(d)) list.push(d);
        computedUsers.set(key, list);
      }
      for (let i = this.ttuStart[d] as number; i < (this.ttuStart[d + 1] as number); i++) {
        const tupleset = this.ttuOps[i * 2] as number;
        const tsDef = schema.findRelation(type, tupleset);
        if (tsDef < 0) continue;
        const key = this.ttuOps[i * 2 + 1] as number;
        const list = ttuUsers.get(key) ?? [];
        list.push(d, tupleset, tsDef);
        ttuUsers.set(key, list);
        if (schema.ketoNonStrict) continue;
        for (const [t, r, w] of schema.directTypesOf(tsDef)) {
          const vkey = tsDef * MAX_NAME_ID + t;
          const rs = [...(this.variants.get(vkey) ?? [0])];
          if (w === 0 && !rs.includes(r)) rs.push(r);
          this.variants.set(vkey, Int32Array.from(rs));
        }
      }
    }
    for (const [k, v] of computedUsers) this.computedUsers.set(k, Int32Array.from(v));
    for (const [k, v] of ttuUsers) this.ttuUsers.set(k, Int32Array.from(v));
  }
}

const plans = new WeakMap<IntSchemaIndex, Plan>();

function planFor(schema: IntSchemaIndex): Plan {
  let plan = plans.get(schema);
  if (plan === undefined) {
    plan = new Plan(schema);
    plans.set(schema, plan);
  }
  return plan;
}

/** An explicit DFS stack: frames and the children they still have to enter. */
class Stack {
  frames = new Int32Array(32 * FRAME);
  top = -FRAME;
  children = new Int32Array(64 * CHILD);
  childTop = 0;

  push(type: number, object: number, relation: number, hops: number, cost: number, start: number): number {
    const f = this.top + FRAME;
    this.frames = withRoom(this.frames, f + FRAME);
    const fr = this.frames;
    fr[f + F_TYPE] = type;
    fr[f + F_OBJECT] = object;
    fr[f + F_RELATION] = relation;
    fr[f + F_HOPS] = hops;
    fr[f + F_START] = start;
    fr[f + F_NEXT] = start;
    fr[f + F_MAX] = 0;
    fr[f + F_COST] = cost;
    this.top = f;
    return f;
  }

  child(type: number, object: number, relation: number, cost: number, node: number): void {
    const at = this.childTop;
    this.children = withRoom(this.children, at + CHILD);
    const c = this.children;
    c[at + C_TYPE] = type;
    c[at + C_OBJECT] = object;
    c[at + C_RELATION] = relation;
    c[at + C_COST] = cost;
    c[at + C_NODE] = node;
    this.childTop = at + CHILD;
  }

  /** Appends `count` child records from `from` at `at`. */
  copyChildren(from: Int32Array, at: number, count: number): void {
    const size = count * CHILD;
    this.children = withRoom(this.children, this.childTop + size);
    const c = this.children;
    for (let i = 0, to = this.childTop; i < size; i++) c[to + i] = from[at + i] as number;
    this.childTop += size;
  }

  reset(): void {
    this.top = -FRAME;
    this.childTop = 0;
  }
}

/** A growable run of ints (records addressed by offset), emptied as a whole. */
class IntPool {
  data = new Int32Array(4096);
  top = 0;

  /** Room for `n` more ints; returns where they start. */
  reserve(n: number): number {
    this.data = withRoom(this.data, this.top + n);
    const at = this.top;
    this.top += n;
    return at;
  }
}

/** The fast path of one checker (one schema, graph and revision); the subject is set by the checker. */
export class UnionFastPath {
  private readonly plan: Plan;

  // The subject, as the checker resolved it.
  private sType = 0;
  private sRelation = 0;
  private subjectNode = -1;
  private wildcardNode = -1;
  private subjectIsWildcard = false;
  /** The usersets storing the subject (its reverse list at the revision): `holderCount` of them. */
  private readonly holders = new Int32Array(MAX_HOLDERS);
  /** NOT_INDEXED, TOO_MANY (ask the pair hash), or how many `holders` there are. */
  private holderCount = NOT_INDEXED;
  /** Backward search of the subject through Q: node -> fewest hops to a userset storing the subject. */
  private readonly reverse = new PairMap(256);
  private reverseState = 0;
  private reverseComplete = false;
  /** The 0-1 BFS deque: a ring of CHILD-int records (type, object, relation, hops, graph node). */
  private queue = new Int32Array(256 * CHILD);
  private qHead = 0;
  private qCount = 0;

  // The forward search of one check.
  private readonly forward = new PairMap(256);
  private readonly fstack = new Stack();
  private found = false;
  private aborted = false;
  private cyclic = false;
  /** A witness path longer than the depth allows, or a Q node the backward search could not decide. */
  private inexact = false;
  private edges = 0;
  /** Usersets expanded by the forward search, and the largest bound of a userset it did not expand. */
  private nonQ = 0;
  private maxLeaf = 0;
  private maxHops = 0;
  private rootType = 0;
  private rootObject = 0;

  /**
   * Subject-independent expansions at this revision, kept across checks: forward (a shared userset's graph
   * node and children) and backward through Q (the Q usersets one step before a Q userset). Records in `pool`:
   * forward `[node, count, children...]`, backward `[count or TOO_LONG, incomplete, entries...]`.
   */
  private readonly expansions = new PairMap(4096);
  private readonly predecessors = new PairMap(4096);
  /** Shared usersets outside Q: everything their forward walk can reach, flattened (see `summarize`). */
  private readonly summaries = new PairMap(4096);
  private readonly slocal = new PairMap(256);
  private readonly sstack = new Stack();
  private squeue = new Int32Array(64 * CHILD);
  private sTop = 0;
  private readonly pool = new IntPool();

  // Heights: per node at this revision, memoized across checks (subject-independent).
  private readonly heights = new PairMap(4096);
  private readonly hlocal = new PairMap(256);
  private readonly hstack = new Stack();
  private hfresh = 0;
  private hmaxMemo = 0;
  private hcyclic = false;
  private haborted = false;
  private hedges = 0;

  constructor(
    readonly schema: IntSchemaIndex,
    readonly graph: IntGraph,
    readonly revision: number,
    readonly wildcardObject: number,
  ) {
    this.plan = planFor(schema);
  }

  setSubject(sType: number, sRelation: number, subjectNode: number, wildcardNode: number, subjectIsWildcard: boolean): void {
    this.sType = sType;
    this.sRelation = sRelation;
    this.subjectNode = subjectNode;
    this.wildcardNode = wildcardNode;
    this.subjectIsWildcard = subjectIsWildcard;
    this.holderCount = NOT_INDEXED;
    this.reverseState = 0;
  }

  /**
   * The value of the union-only check of `type:object#relation` (def `def`) with `depth` (>= 1) for the current
   * subject: TRUE, FALSE, or UNDECIDED.
   */
  decide(type: number, object: number, relation: number, def: number, depth: number): number {
    fastPathStats.tried++;
    if (this.plan.usable[def] !== 1) return UNDECIDED;
    // Only here, so no offset into the pool goes stale during a check.
    this.trimPool();
    this.forward.clear();
    const s = this.fstack;
    s.reset();
    this.found = false;
    this.aborted = false;
    this.cyclic = false;
    this.inexact = false;
    this.edges = 0;
    this.nonQ = 0;
    this.maxLeaf = 0;
    this.maxHops = depth - 1;
    this.rootType = type;
    this.rootObject = object;
    let rootHeight = 0;

    const first = this.enter(type, object, relation, UNKNOWN_NODE, 0, 0);
    if (first !== PUSHED) rootHeight = first;
    while (!this.found && !this.aborted && s.top >= 0) {
      const f = s.top;
      const fr = s.frames;
      const next = fr[f + F_NEXT] as number;
      if (next < s.childTop) {
        fr[f + F_NEXT] = next + CHILD;
        const c = s.children;
        const cost = c[next + C_COST] as number;
        const h = this.enter(
          c[next + C_TYPE] as number,
          c[next + C_OBJECT] as number,
          c[next + C_RELATION] as number,
          c[next + C_NODE] as number,
          (fr[f + F_HOPS] as number) + cost,
          cost,
        );
        // `enter` may have grown the frame array: fold through the current one.
        if (h !== PUSHED && cost + h > (s.frames[f + F_MAX] as number)) s.frames[f + F_MAX] = Math.min(INF, cost + h);
        continue;
      }
      // All children entered: the node's height is final.
      const h = Math.max(1, fr[f + F_MAX] as number);
      this.forward.set(fr[f + F_OBJECT] as number, (fr[f + F_RELATION] as number) * LOW + (fr[f + F_TYPE] as number), h);
      s.childTop = fr[f + F_START] as number;
      s.top = f - FRAME;
      if (s.top < 0) {
        rootHeight = h;
        break;
      }
      const up = Math.min(INF, (fr[f + F_COST] as number) + h);
      if (up > (fr[s.top + F_MAX] as number)) fr[s.top + F_MAX] = up;
    }
    if (this.found) {
      fastPathStats.answeredTrue++;
      return 1;
    }
    if (this.aborted || this.inexact) return UNDECIDED;
    // Acyclic: the root's height. Cyclic: a simple path visits each expanded node at most once, then may
    // enter one unexpanded userset (a Q userset or a summarized one) and stay within its bound.
    const bound = this.cyclic ? (this.maxLeaf >= INF ? INF : this.nonQ + this.maxLeaf) : rootHeight;
    if (bound <= depth) {
      fastPathStats.answeredFalse++;
      return 0;
    }
    return UNDECIDED;
  }

  /** Forward search: enters a userset `hops` hops from the root; its height (0 without a relation) or PUSHED. */
  private enter(t: number, o: number, r: number, node: number, hops: number, cost: number): number {
    const d = this.schema.findRelation(t, r);
    if (d < 0) return 0;
    const low = r * LOW + t;
    const seen = this.forward.get(o, low);
    if (seen !== ABSENT) {
      if (seen !== IN_PROGRESS) return seen;
      this.cyclic = true;
      return INF;
    }
    const plan = this.plan;
    if (plan.usable[d] !== 1) {
      this.aborted = true;
      return INF;
    }
    if (plan.inQ[d] === 1) {
      if (this.reverseState === 0) this.searchBackwards();
      const dist = this.reverse.get(o, low);
      if (dist !== ABSENT) {
        if (hops + dist <= this.maxHops) {
          this.found = true;
          return 0;
        }
        this.inexact = true;
      } else if (!this.reverseComplete) this.inexact = true;
      // A FALSE is out of reach already: skip the height.
      const h = this.inexact ? INF : this.height(t, o, r, node);
      this.forward.set(o, low, h);
      if (h > this.maxLeaf) this.maxLeaf = h;
      return h;
    }
    if (++this.nonQ > FORWARD_NODES) {
      this.aborted = true;
      return INF;
    }
    // Usersets of other objects (folders, say) are shared by many checks: their children are subject-
    // independent, so they are read from the graph once per checker. The root's object rarely comes back.
    const shared = o !== this.rootObject || t !== this.rootType;
    if (shared) {
      let sum = this.summaries.get(o, low);
      if (sum === ABSENT) sum = this.summarize(d, t, o, r, node);
      if (sum !== NO_SUMMARY) {
        this.nonQ--;
        return this.enterSummary(sum, t, o, r, node, hops, low);
      }
    }
    const pool = this.pool;
    const at = shared ? this.expansions.get(o, low) : ABSENT;
    if (at !== ABSENT) node = pool.data[at] as number;
    else if (plan.hasThis[d] === 1 && node === UNKNOWN_NODE) node = this.graph.findNode(t, o, r);
    if (plan.hasThis[d] === 1 && node >= 0 && this.stores(d, node)) {
      if (hops <= this.maxHops) {
        this.found = true;
        return 0;
      }
      this.inexact = true;
    }
    const s = this.fstack;
    const start = s.childTop;
    if (at !== ABSENT) {
      s.copyChildren(pool.data, at + 2, pool.data[at + 1] as number);
    } else {
      this.expand(d, t, o, r, node, s);
      if (this.edges > FORWARD_EDGES) {
        this.aborted = true;
        return INF;
      }
      if (shared) this.remember(o, low, node, s, start);
    }
    if (s.childTop === start) {
      this.forward.set(o, low, 1);
      return 1;
    }
    this.forward.set(o, low, IN_PROGRESS);
    s.push(t, o, r, hops, cost, start);
    return PUSHED;
  }

  /** `storedSubjectAllowed` for the subject (as the checker's `subjectAllowed`). */
  private subjectAllowed(def: number): boolean {
    const s = this.schema;
    if (s.ketoNonStrict) return true;
    if (this.sType === 0) return s.bareSubjectIds;
    if (this.subjectIsWildcard) return s.acceptsWildcard(def, this.sType);
    return s.listsSubject(def, this.sType, this.sRelation);
  }

  /** Does `this` of graph node `node` (def `def`) store the subject or a wildcard matching it? (`thisDecided`) */
  private stores(def: number, node: number): boolean {
    if (this.subjectNode >= 0 && this.subjectAllowed(def) && this.holds(node)) return true;
    return this.wildcardNode >= 0 && this.schema.acceptsWildcard(def, this.sType) && this.graph.hasEdge(node, this.wildcardNode, this.revision);
  }

  /** Is `node@subject` live? From the subject's reverse list when it is short (read once per subject). */
  private holds(node: number): boolean {
    if (this.holderCount === NOT_INDEXED) this.indexHolders();
    if (this.holderCount === TOO_MANY) return this.graph.hasEdge(node, this.subjectNode, this.revision);
    const h = this.holders;
    for (let i = 0; i < this.holderCount; i++) if (h[i] === node) return true;
    return false;
  }

  private indexHolders(): void {
    const { graph, revision } = this;
    let n = 0;
    for (let e = graph.firstInEdge(this.subjectNode); e >= 0; e = graph.nextInEdge(e)) {
      if (!graph.edgeVisible(e, revision)) continue;
      if (n === MAX_HOLDERS) {
        this.holderCount = TOO_MANY;
        return;
      }
      this.holders[n++] = graph.edgeNode(e);
    }
    this.holderCount = n;
  }

  /**
   * Enters shared userset `t:o#r` through its summary (pool offset `sum`): a stored tuple of the subject at
   * one of its `this` usersets or a Q userset found backwards is a witness, `hops` plus its hops away; its
   * height is memoized. Returns the height.
   */
  private enterSummary(sum: number, t: number, o: number, r: number, node: number, hops: number, low: number): number {
    const tCount = this.pool.data[sum] as number;
    const fCount = this.pool.data[sum + 1] as number;
    const height = this.pool.data[sum + 2] as number;
    // Before reading entries: the backward search may grow the pool.
    if (fCount > 0 && this.reverseState === 0) this.searchBackwards();
    const data = this.pool.data;
    let at = sum + 3;
    for (let i = 0; i < tCount; i++, at += T_ENTRY) {
      if (!this.stores(data[at + 1] as number, data[at] as number)) continue;
      if (hops + (data[at + 2] as number) <= this.maxHops) {
        this.found = true;
        return 0;
      }
      this.inexact = true;
    }
    for (let i = 0; i < fCount; i++, at += F_ENTRY) {
      const dist = this.reverse.get(data[at + 1] as number, (data[at + 2] as number) * LOW + (data[at] as number));
      if (dist !== ABSENT) {
        if (hops + (data[at + 3] as number) + dist <= this.maxHops) {
          this.found = true;
          return 0;
        }
        this.inexact = true;
      } else if (!this.reverseComplete) this.inexact = true;
    }
    const h = this.inexact ? INF : height;
    this.forward.set(o, low, h);
    if (h > this.maxLeaf) this.maxLeaf = h;
    return h;
  }

  /**
   * Summarizes shared userset `t:o#r` (def `d`, outside Q): every userset outside Q its forward walk can reach
   * (breadth first, each with the fewest hops found), kept as the `this` usersets among them that exist in the
   * graph and the Q usersets they lead to. Subject-independent, so a folder chain is read once per checker,
   * and a summary merges the summaries it runs into. Returns the pool offset, or NO_SUMMARY when too large.
   */
  private summarize(d: number, t: number, o: number, r: number, node: number): number {
    const { plan, schema } = this;
    const local = this.slocal;
    local.clear();
    // Entries accumulate in the scratch stack's children buffer: T entries from 0 up, F entries kept apart.
    const tBuf = this.sstack;
    tBuf.reset();
    const fBuf = this.hstack;
    fBuf.reset();
    let tCount = 0;
    let fCount = 0;
    this.sTop = 0;
    let head = 0;
    let visited = 0;
    const savedEdges = this.edges;
    this.edges = 0;
    let ok = true;
    this.sPush(t, o, r, node, 0);
    local.set(o, r * LOW + t, 0);
    while (head < this.sTop) {
      // A FIFO, requeueing a userset reached with fewer hops later: not always the fewest hops, but every
      // recorded count is the length of a real path, which is all a witness needs.
      const q = this.squeue;
      const ct = q[head + C_TYPE] as number;
      const co = q[head + C_OBJECT] as number;
      const cr = q[head + C_RELATION] as number;
      const cn = q[head + C_NODE] as number;
      const dist = q[head + C_COST] as number;
      head += CHILD;
      const clow = cr * LOW + ct;
      if ((local.get(co, clow) as number) < dist) continue;
      if (++visited > SUMMARY_NODES) {
        ok = false;
        break;
      }
      const cd = schema.findRelation(ct, cr);
      const merged = visited > 1 ? this.summaries.get(co, clow) : ABSENT;
      if (merged !== ABSENT && merged !== NO_SUMMARY) {
        const data = this.pool.data;
        const nt = data[merged] as number;
        const nf = data[merged + 1] as number;
        let at = merged + 3;
        for (let i = 0; i < nt; i++, at += T_ENTRY) {
          tCount = addEntry(tBuf, tCount, data[at] as number, data[at + 1] as number, 0, dist + (data[at + 2] as number), T_ENTRY);
        }
        for (let i = 0; i < nf; i++, at += F_ENTRY) {
          fCount = addEntry(fBuf, fCount, data[at] as number, data[at + 1] as number, data[at + 2] as number, dist + (data[at + 3] as number), F_ENTRY);
        }
      } else {
        const at = this.expansionOf(cd, ct, co, cr, cn);
        if (at < 0) {
          ok = false;
          break;
        }
        const data = this.pool.data;
        const gnode = data[at] as number;
        if (plan.hasThis[cd] === 1 && gnode >= 0) tCount = addEntry(tBuf, tCount, gnode, cd, 0, dist, T_ENTRY);
        const n = data[at + 1] as number;
        for (let i = 0, c = at + 2; i < n; i++, c += CHILD) {
          const kt = data[c + C_TYPE] as number;
          const ko = data[c + C_OBJECT] as number;
          const kr = data[c + C_RELATION] as number;
          const kd = schema.findRelation(kt, kr);
          if (kd < 0) continue;
          if (plan.usable[kd] !== 1) {
            ok = false;
            break;
          }
          const kdist = dist + (data[c + C_COST] as number);
          if (plan.inQ[kd] === 1) {
            fCount = addEntry(fBuf, fCount, kt, ko, kr, kdist, F_ENTRY);
            continue;
          }
          const klow = kr * LOW + kt;
          const known = local.get(ko, klow);
          if (known !== ABSENT && known <= kdist) continue;
          local.set(ko, klow, kdist);
          this.sPush(kt, ko, kr, data[c + C_NODE] as number, kdist);
        }
        if (!ok) break;
      }
      if (tCount + fCount > SUMMARY_ENTRIES) {
        ok = false;
        break;
      }
    }
    this.edges = savedEdges;
    const low = r * LOW + t;
    if (!ok) {
      this.summaries.set(o, low, NO_SUMMARY);
      return NO_SUMMARY;
    }
    const at = this.pool.reserve(3 + tCount * T_ENTRY + fCount * F_ENTRY);
    const data = this.pool.data;
    data[at] = tCount;
    data[at + 1] = fCount;
    let to = at + 3;
    for (let i = 0; i < tCount * T_ENTRY; i++) data[to++] = tBuf.children[i] as number;
    for (let i = 0; i < fCount * F_ENTRY; i++) data[to++] = fBuf.children[i] as number;
    tBuf.reset();
    fBuf.reset();
    // The height last: its search reuses the scratch stacks (and may grow the pool, so write through it).
    this.pool.data[at + 2] = this.height(t, o, r, node);
    this.summaries.set(o, low, at);
    return at;
  }

  private sPush(t: number, o: number, r: number, node: number, hops: number): void {
    this.squeue = withRoom(this.squeue, this.sTop + CHILD);
    const q = this.squeue;
    const at = this.sTop;
    q[at + C_TYPE] = t;
    q[at + C_OBJECT] = o;
    q[at + C_RELATION] = r;
    q[at + C_COST] = hops;
    q[at + C_NODE] = node;
    this.sTop = at + CHILD;
  }

  /** The kept expansion record of a userset (read from the graph the first time), or -1 over the edge budget. */
  private expansionOf(d: number, t: number, o: number, r: number, node: number): number {
    const low = r * LOW + t;
    const at = this.expansions.get(o, low);
    if (at !== ABSENT) return at;
    if (this.plan.hasThis[d] === 1 && node === UNKNOWN_NODE) node = this.graph.findNode(t, o, r);
    const s = this.fstack;
    const start = s.childTop;
    this.expand(d, t, o, r, node, s);
    const over = this.edges > FORWARD_EDGES;
    const kept = over ? -1 : this.remember(o, low, node, s, start);
    s.childTop = start;
    return kept;
  }

  /** Keeps the children `s` buffered from `start` on as the expansion of a shared userset. */
  private remember(o: number, low: number, node: number, s: Stack, start: number): number {
    const count = (s.childTop - start) / CHILD;
    const at = this.pool.reserve(2 + count * CHILD);
    const data = this.pool.data;
    data[at] = node;
    data[at + 1] = count;
    const c = s.children;
    for (let i = start, to = at + 2; i < s.childTop; i++, to++) data[to] = c[i] as number;
    this.expansions.set(o, low, at);
    return at;
  }

  /** Forgets every kept expansion once the pool is large, so a long-lived checker stays bounded. */
  private trimPool(): void {
    if (this.pool.top < POOL_MAX) return;
    this.pool.top = 0;
    this.expansions.clear();
    this.predecessors.clear();
    this.summaries.clear();
  }

  /** Buffers the children the forward walk would open from `t:o#r` (def `d`, graph node `node` or unknown). */
  private expand(d: number, t: number, o: number, r: number, node: number, s: Stack): void {
    const { graph, schema, revision, plan } = this;
    if (plan.hasThis[d] === 1) {
      if (node === UNKNOWN_NODE) node = graph.findNode(t, o, r);
      const strict = !schema.ketoNonStrict;
      for (let e = graph.firstSetEdge(node); e >= 0; e = graph.nextSetEdge(e)) {
        this.edges++;
        if (!graph.edgeVisible(e, revision)) continue;
        const sub = graph.edgeSubject(e);
        const st = graph.nodeType(sub);
        const sr = graph.nodeRelation(sub);
        if (strict && !schema.listsSubject(d, st, sr)) continue;
        s.child(st, graph.nodeObject(sub), sr, 1, sub);
      }
    }
    for (let i = plan.computedStart[d] as number, end = plan.computedStart[d + 1] as number; i < end; i++) {
      s.child(t, o, plan.computedRel[i] as number, 0, UNKNOWN_NODE);
    }
    for (let i = plan.ttuStart[d] as number, end = plan.ttuStart[d + 1] as number; i < end; i++) {
      const tupleset = plan.ttuOps[i * 2] as number;
      const computed = plan.ttuOps[i * 2 + 1] as number;
      const tsDef = schema.findRelation(t, tupleset);
      if (tsDef < 0) continue;
      const ts = graph.findNode(t, o, tupleset);
      if (ts < 0) continue;
      for (let pass = 0; pass < 2; pass++) {
        const direct = pass === 1;
        for (let e = direct ? graph.firstDirectEdge(ts) : graph.firstSetEdge(ts); e >= 0; e = direct ? graph.nextDirectEdge(e) : graph.nextSetEdge(e)) {
          this.edges++;
          if (!graph.edgeVisible(e, revision)) continue;
          const sub = graph.edgeSubject(e);
          const st = graph.nodeType(sub);
          // Bare ids are not objects; types without the computed relation are skipped (as the walk does).
          if (st === 0) continue;
          const so = graph.nodeObject(sub);
          if (!schema.storedSubjectAllowed(tsDef, st, so, graph.nodeRelation(sub), this.wildcardObject)) continue;
          if (schema.findRelation(st, computed) < 0) continue;
          s.child(st, so, computed, 1, UNKNOWN_NODE);
        }
      }
    }
  }

  /**
   * A bound on the depth the forward walk from `t:o#r` can consume (>= 1, INF when unknown), memoized per node:
   * the longest path when what it reaches is acyclic, else (for the search's root) the nodes it newly reached
   * plus the largest memoized bound it ran into. Subject-independent.
   */
  private height(t: number, o: number, r: number, node: number): number {
    const low = r * LOW + t;
    const known = this.heights.get(o, low);
    if (known !== ABSENT) return known;
    if (this.heights.size > HEIGHT_MEMO_MAX) this.heights.clear();
    const local = this.hlocal;
    local.clear();
    const s = this.hstack;
    s.reset();
    this.hfresh = 0;
    this.hmaxMemo = 0;
    this.hcyclic = false;
    this.haborted = false;
    this.hedges = 0;

    let result = this.enterHeight(t, o, r, node, 0);
    if (result === PUSHED) {
      result = INF;
      while (!this.haborted && s.top >= 0) {
        const f = s.top;
        const fr = s.frames;
        const next = fr[f + F_NEXT] as number;
        if (next < s.childTop) {
          fr[f + F_NEXT] = next + CHILD;
          const c = s.children;
          const cost = c[next + C_COST] as number;
          const h = this.enterHeight(c[next + C_TYPE] as number, c[next + C_OBJECT] as number, c[next + C_RELATION] as number, c[next + C_NODE] as number, cost);
          if (h !== PUSHED && cost + h > (s.frames[f + F_MAX] as number)) s.frames[f + F_MAX] = Math.min(INF, cost + h);
          continue;
        }
        const h = Math.max(1, fr[f + F_MAX] as number);
        const fo = fr[f + F_OBJECT] as number;
        const flow = (fr[f + F_RELATION] as number) * LOW + (fr[f + F_TYPE] as number);
        local.set(fo, flow, h);
        // A finite height is exact (nothing it reaches is on a cycle); INF ones are left for later searches.
        if (h < INF) this.heights.set(fo, flow, h);
        s.childTop = fr[f + F_START] as number;
        s.top = f - FRAME;
        if (s.top < 0) {
          result = h;
          break;
        }
        const up = Math.min(INF, (fr[f + F_COST] as number) + h);
        if (up > (fr[s.top + F_MAX] as number)) fr[s.top + F_MAX] = up;
      }
      if (this.haborted) return INF;
      if (result >= INF && this.hcyclic && this.hmaxMemo < INF) {
        // Every simple path from here visits each newly reached node at most once, then may enter a memoized one.
        result = this.hfresh + this.hmaxMemo;
        this.heights.set(o, low, result);
      }
    }
    return this.haborted ? INF : result;
  }

  /** Height search: enters a userset; its bound (0 without a relation) or PUSHED. */
  private enterHeight(ct: number, co: number, cr: number, cnode: number, cost: number): number {
    const d = this.schema.findRelation(ct, cr);
    if (d < 0) return 0;
    const clow = cr * LOW + ct;
    const memo = this.heights.get(co, clow);
    if (memo !== ABSENT) {
      if (memo > this.hmaxMemo) this.hmaxMemo = memo;
      return memo;
    }
    const local = this.hlocal;
    const seen = local.get(co, clow);
    if (seen !== ABSENT) {
      if (seen !== IN_PROGRESS) return seen;
      this.hcyclic = true;
      return INF;
    }
    if (this.plan.usable[d] !== 1 || ++this.hfresh > HEIGHT_NODES) {
      this.haborted = true;
      return INF;
    }
    const s = this.hstack;
    const start = s.childTop;
    const before = this.edges;
    const at = this.expansionOf(d, ct, co, cr, cnode);
    this.hedges += this.edges - before;
    this.edges = before;
    if (at < 0 || this.hedges > FORWARD_EDGES) {
      this.haborted = true;
      return INF;
    }
    const count = this.pool.data[at + 1] as number;
    if (count === 0) {
      this.heights.set(co, clow, 1);
      return 1;
    }
    s.copyChildren(this.pool.data, at + 2, count);
    local.set(co, clow, IN_PROGRESS);
    s.push(ct, co, cr, 0, cost, start);
    return PUSHED;
  }

  /**
   * The backward search through Q from the usersets storing the subject: 0-1 BFS by hops (computed usersets
   * are free), so each found node gets the fewest hops from it to a userset storing the subject. Complete
   * when it ran out of nodes within budget (then a Q node not found cannot reach the subject).
   */
  private searchBackwards(): void {
    this.reverseState = 1;
    const rev = this.reverse;
    rev.clear();
    this.reverseComplete = true;
    const { graph, schema, revision, plan } = this;
    this.qHead = 0;
    this.qCount = 0;
    let edges = 0;
    // Seeds: usersets in Q whose `this` stores the subject, or a wildcard that matches it.
    for (let pass = 0; pass < 2; pass++) {
      const from = pass === 0 ? this.subjectNode : this.wildcardNode;
      if (from < 0) continue;
      for (let e = graph.firstInEdge(from); e >= 0; e = graph.nextInEdge(e)) {
        if (++edges > REVERSE_EDGES) {
          this.reverseComplete = false;
          return;
        }
        if (!graph.edgeVisible(e, revision)) continue;
        const u = graph.edgeNode(e);
        const ut = graph.nodeType(u);
        const ur = graph.nodeRelation(u);
        const d = schema.findRelation(ut, ur);
        if (d < 0 || plan.inQ[d] !== 1 || plan.hasThis[d] !== 1) continue;
        if (pass === 0 ? !this.subjectAllowed(d) : !schema.acceptsWildcard(d, this.sType)) continue;
        this.relax(ut, graph.nodeObject(u), ur, 0, u, false);
      }
    }
    let expanded = 0;
    while (this.qCount > 0) {
      const q = this.queue;
      const size = q.length / CHILD;
      const head = this.qHead;
      const from = head * CHILD;
      const t = q[from + C_TYPE] as number;
      const o = q[from + C_OBJECT] as number;
      const r = q[from + C_RELATION] as number;
      const hops = q[from + C_COST] as number;
      const node = q[from + C_NODE] as number;
      this.qHead = head + 1 === size ? 0 : head + 1;
      this.qCount--;
      // A stale entry: the node was reached with fewer hops since.
      if (rev.get(o, r * LOW + t) < hops) continue;
      if (++expanded > REVERSE_NODES) {
        this.reverseComplete = false;
        return;
      }
      let at = this.predecessors.get(o, r * LOW + t);
      if (at === ABSENT) at = this.findPredecessors(t, o, r, node);
      const data = this.pool.data;
      const n = data[at] as number;
      if (n === TOO_LONG) {
        this.reverseComplete = false;
        return;
      }
      if (data[at + 1] === 1) this.reverseComplete = false;
      for (let k = 0, e = at + 2; k < n; k++, e += CHILD) {
        const cost = data[e + C_COST] as number;
        this.relax(data[e + C_TYPE] as number, data[e + C_OBJECT] as number, data[e + C_RELATION] as number, hops + cost, data[e + C_NODE] as number, cost === 0);
      }
    }
  }

  /** Records `hops` for a userset of the backward search unless it has as few already, and queues it. */
  private relax(t: number, o: number, r: number, hops: number, node: number, front: boolean): void {
    const low = r * LOW + t;
    const known = this.reverse.get(o, low);
    if (known !== ABSENT && known <= hops) return;
    this.reverse.set(o, low, hops);
    let q = this.queue;
    let size = q.length / CHILD;
    if (this.qCount === size) {
      // Full: unroll the ring into one twice as large.
      const next = new Int32Array(q.length * 2);
      for (let i = 0; i < this.qCount; i++) {
        const from = ((this.qHead + i) % size) * CHILD;
        for (let k = 0; k < CHILD; k++) next[i * CHILD + k] = q[from + k] as number;
      }
      this.queue = q = next;
      size *= 2;
      this.qHead = 0;
    }
    // 0-1 BFS: a free step goes to the front, a hop to the back.
    let slot: number;
    if (front) {
      this.qHead = this.qHead === 0 ? size - 1 : this.qHead - 1;
      slot = this.qHead;
    } else {
      slot = (this.qHead + this.qCount) % size;
    }
    const at = slot * CHILD;
    q[at + C_TYPE] = t;
    q[at + C_OBJECT] = o;
    q[at + C_RELATION] = r;
    q[at + C_COST] = hops;
    q[at + C_NODE] = node;
    this.qCount++;
  }

  /**
   * Reads the Q usersets one step before Q userset `t:o#r` (computed usersets of the same object, usersets
   * storing it as a subject set, tuple-to-usersets through a tupleset holding `t:o`) into a kept record.
   */
  private findPredecessors(t: number, o: number, r: number, node: number): number {
    const { graph, schema, revision, plan } = this;
    const s = this.hstack;
    s.reset();
    let incomplete = 0;
    let edges = 0;
    let tooLong = false;
    // Relations of the same object that read this one as a computed userset.
    const users = plan.computedUsers.get(t * MAX_NAME_ID + r);
    if (users !== undefined) {
      for (let i = 0; i < users.length; i++) s.child(t, o, schema.defRelation[users[i] as number] as number, 0, UNKNOWN_NODE);
    }
    // Usersets storing this one as a subject set (`this` follows subject sets only, never relation 0).
    if (r !== 0) {
      if (node === UNKNOWN_NODE) node = graph.findNode(t, o, r);
      for (let e = graph.firstInEdge(node); e >= 0 && !tooLong; e = graph.nextInEdge(e)) {
        tooLong = ++edges > PREDECESSOR_EDGES;
        if (!graph.edgeVisible(e, revision)) continue;
        const u = graph.edgeNode(e);
        const ut = graph.nodeType(u);
        const ur = graph.nodeRelation(u);
        const d = schema.findRelation(ut, ur);
        if (d < 0 || plan.inQ[d] !== 1 || plan.hasThis[d] !== 1) continue;
        if (!schema.ketoNonStrict && !schema.listsSubject(d, t, r)) continue;
        s.child(ut, graph.nodeObject(u), ur, 1, u);
      }
    }
    // Tuple-to-usersets reading relation r of this object through a tupleset holding `t:o` (any relation).
    const ttu = t === 0 ? undefined : plan.ttuUsers.get(r);
    for (let i = 0; ttu !== undefined && i < ttu.length && !tooLong; i += 3) {
      const d = ttu[i] as number;
      const tupleset = ttu[i + 1] as number;
      const tsDef = ttu[i + 2] as number;
      const userType = schema.defType[d] as number;
      const userRelation = schema.defRelation[d] as number;
      let variants = plan.variants.get(tsDef * MAX_NAME_ID + t);
      if (schema.ketoNonStrict) {
        // Any subject relation counts there, and the graph cannot list a (type, object)'s relations.
        incomplete = 1;
        variants = ZERO;
      }
      if (variants === undefined) continue;
      for (let v = 0; v < variants.length && !tooLong; v++) {
        const sr = variants[v] as number;
        if (!schema.storedSubjectAllowed(tsDef, t, o, sr, this.wildcardObject)) continue;
        const holder = graph.findNode(t, o, sr);
        for (let e = graph.firstInEdge(holder); e >= 0 && !tooLong; e = graph.nextInEdge(e)) {
          tooLong = ++edges > PREDECESSOR_EDGES;
          if (!graph.edgeVisible(e, revision)) continue;
          const u = graph.edgeNode(e);
          if (graph.nodeRelation(u) !== tupleset || graph.nodeType(u) !== userType) continue;
          s.child(userType, graph.nodeObject(u), userRelation, 1, UNKNOWN_NODE);
        }
      }
    }
    const count = tooLong ? 0 : s.childTop / CHILD;
    const at = this.pool.reserve(2 + count * CHILD);
    const data = this.pool.data;
    data[at] = tooLong ? TOO_LONG : count;
    data[at + 1] = incomplete;
    const c = s.children;
    for (let i = 0; i < count * CHILD; i++) data[at + 2 + i] = c[i] as number;
    s.reset();
    this.predecessors.set(o, r * LOW + t, at);
    return at;
  }
}

const ZERO = Int32Array.of(0);

/**
 * Adds a summary entry (`size` ints: a, b[, c], hops) to `buf`'s children unless one for the same userset is
 * there; keeps the fewer hops. Returns the new count. Summaries are small, so a scan is enough.
 */
function addEntry(buf: Stack, count: number, a: number, b: number, c: number, hops: number, size: number): number {
  const data = buf.children;
  const last = size - 1;
  for (let i = 0, at = 0; i < count; i++, at += size) {
    if (data[at] !== a || data[at + 1] !== b || (size === F_ENTRY && data[at + 2] !== c)) continue;
    if (hops < (data[at + last] as number)) data[at + last] = hops;
    return count;
  }
  const at = count * size;
  buf.children = withRoom(buf.children, at + size);
  const out = buf.children;
  out[at] = a;
  out[at + 1] = b;
  if (size === F_ENTRY) out[at + 2] = c;
  out[at + last] = hops;
  return count + 1;
}
