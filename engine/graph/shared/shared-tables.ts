/**
 * The snapshot's tables in SharedArrayBuffers, so worker threads read the graph the main thread writes
 * without a copy. Nodes (`type, object, relation` id triples, for usersets and subjects alike) and edges
 * (tuple versions) are interleaved records in Int32Arrays; two open-addressing hash tables find a node by
 * its triple and the newest version of a tuple by `(node, subject)`.
 *
 * Concurrency: only the main thread writes. Everything is append-only apart from an edge's `removed`
 * revision and the list heads, and every publishing store is an `Atomics.store`, so a reader at revision R
 * sees a consistent graph for R while later revisions are being applied: it skips edges whose versions are not
 * visible at R. When a table is full the writer copies it into a bigger buffer and starts a new *generation*
 * of the layout; readers holding an older layout keep reading buffers that already hold everything up to
 * the revision they were handed.
 *
 * Revisions are stored as uint32 (up to 4,294,967,294); `LIVE_BITS` marks a version not yet removed.
 */
import { LimitExceededError } from "../../../common/errors.js";
import type { IntGraph } from "../int-graph.js";

// Node record: type, object, relation, head of the subject-set list, head of the direct list, head of the
// reverse list (edges whose subject is this node).
const N_TYPE = 0;
const N_OBJECT = 1;
const N_RELATION = 2;
const N_FIRST_SET = 3;
const N_FIRST_DIRECT = 4;
const N_FIRST_IN = 5;
const NODE_STRIDE = 6;

// Edge record: userset node, subject node, previous version of the same tuple, next edge in the node's list,
// next edge in the subject's reverse list, revision added, revision removed (uint32 in int32 slots).
const E_NODE = 0;
const E_SUBJECT = 1;
const E_PREV = 2;
const E_NEXT_OUT = 3;
const E_NEXT_IN = 4;
const E_ADDED = 5;
const E_REMOVED = 6;
const EDGE_STRIDE = 7;

/** `removed` of a live version, as stored (0xFFFFFFFF). */
const LIVE_BITS = -1;
/** The newest revision the tables can hold. */
export const MAX_REVISION = 0xfffffffe;
/** Node and edge ids stay below this (records are addressed as id * stride in an Int32Array). */
const MAX_RECORDS = Math.floor(2 ** 31 / EDGE_STRIDE) - 1;

/** The buffers of one generation: what a worker needs to read the graph. Structured-cloneable. */
export interface SharedGraphLayout {
  readonly generation: number;
  readonly nodes: SharedArrayBuffer;
  readonly nodeHash: SharedArrayBuffer;
  readonly edges: SharedArrayBuffer;
  readonly pairHash: SharedArrayBuffer;
}

/**
 * Node hash slots are pairs (NODE_SLOT ints): the node id + 1 (0: empty), then the triple's fingerprint, so a
 * probe passes other nodes' slots without reading their records (each a likely cache miss).
 */
const NODE_SLOT = 2;

/**
 * The first slot of a triple: the object and type pick the place and the relation steps from it, so the
 * usersets of one object (`doc:1#viewer`, `doc:1#editor`, `doc:1#parent`, which one check looks up together)
 * sit in adjacent slots, mostly in one cache line. Their records are usually adjacent too (one tuple batch
 * created them).
 */
function nodeSlot(type: number, object: number, relation: number, mask: number): number {
  let h = Math.imul(object ^ (object >>> 16), 0x45d9f3b) ^ Math.imul(type, 0x119de1f3);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return ((h ^ (h >>> 13)) + relation) & mask;
}

/** The fingerprint stored next to a node's id (any int32; a match is confirmed against the record). */
function hashTriple(type: number, object: number, relation: number): number {
  let h = Math.imul(object ^ (object >>> 16), 0x45d9f3b) ^ Math.imul(relation * 2048 + type, 0x119de1f3);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return h ^ (h >>> 13);
}

function hashPair(node: number, subject: number): number {
  let h = Math.imul(node, 0x9e3779b1) ^ Math.imul(subject ^ (subject >>> 15), 0x85ebca77);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

function int32(buffer: SharedArrayBuffer): Int32Array {
  return new Int32Array(buffer);
}

/** Reads one generation of the tables. Cheap to construct; safe in any thread. */
export class SharedGraphReader implements IntGraph {
  private readonly nodes: Int32Array;
  private readonly nodeHash: Int32Array;
  private readonly edges: Int32Array;
  private readonly pairHash: Int32Array;
  readonly generation: number;

  constructor(layout: SharedGraphLayout) {
    this.generation = layout.generation;
    this.nodes = int32(layout.nodes);
    this.nodeHash = int32(layout.nodeHash);
    this.edges = int32(layout.edges);
    this.pairHash = int32(layout.pairHash);
  }

  findNode(type: number, object: number, relation: number): number {
    if (object < 0 || type < 0 || relation < 0) return -1;
    const { nodeHash, nodes } = this;
    const mask = nodeHash.length / NODE_SLOT - 1;
    const fingerprint = hashTriple(type, object, relation);
    for (let slot = nodeSlot(type, object, relation, mask); ; slot = (slot + 1) & mask) {
      const at = slot * NODE_SLOT;
      const entry = nodeHash[at] as number;
      if (entry === 0) return -1;
      if (nodeHash[at + 1] !== fingerprint) continue;
      const base = (entry - 1) * NODE_STRIDE;
      if (nodes[base + N_OBJECT] === object && nodes[base + N_RELATION] === relation && nodes[base + N_TYPE] === type) {
        return entry - 1;
      }
    }
  }

  /** The newest version of the tuple `node@subject`, or -1. */
  newestEdge(node: number, subject: number): number {
    const { pairHash, edges } = this;
    const mask = pairHash.length - 1;
    for (let slot = hashPair(node, subject) & mask; ; slot = (slot + 1) & mask) {
      const entry = pairHash[slot] as number;
      if (entry === 0) return -1;
      const base = (entry - 1) * EDGE_STRIDE;
      if (edges[base + E_NODE] === node && edges[base + E_SUBJECT] === subject) return entry - 1;
    }
  }

  hasEdge(node: number, subject: number, revision: number): boolean {
    if (node < 0 || subject < 0) return false;
    const { edges } = this;
    for (let e = this.newestEdge(node, subject); e >= 0; e = edges[e * EDGE_STRIDE + E_PREV] as number) {
      const removed = (edges[e * EDGE_STRIDE + E_REMOVED] as number) >>> 0;
      // Versions are chained newest first and never overlap: once one ended at or before R, older ones did too.
      if (removed <= revision) return false;
      if ((edges[e * EDGE_STRIDE + E_ADDED] as number) >>> 0 <= revision) return true;
    }
    return false;
  }

  firstSetEdge(node: number): number {
    return node < 0 ? -1 : (this.nodes[node * NODE_STRIDE + N_FIRST_SET] as number);
  }

  nextSetEdge(edge: number): number {
    return this.edges[edge * EDGE_STRIDE + E_NEXT_OUT] as number;
  }

  firstDirectEdge(node: number): number {
    return node < 0 ? -1 : (this.nodes[node * NODE_STRIDE + N_FIRST_DIRECT] as number);
  }

  nextDirectEdge(edge: number): number {
    return this.edges[edge * EDGE_STRIDE + E_NEXT_OUT] as number;
  }

  firstInEdge(subject: number): number {
    return subject < 0 ? -1 : (this.nodes[subject * NODE_STRIDE + N_FIRST_IN] as number);
  }

  nextInEdge(edge: number): number {
    return this.edges[edge * EDGE_STRIDE + E_NEXT_IN] as number;
  }

  edgeVisible(edge: number, revision: number): boolean {
    const base = edge * EDGE_STRIDE;
    return (
      (this.edges[base + E_ADDED] as number) >>> 0 <= revision && ((this.edges[base + E_REMOVED] as number) >>> 0) > revision
    );
  }

  edgeNode(edge: number): number {
    return this.edges[edge * EDGE_STRIDE + E_NODE] as number;
  }

  edgeSubject(edge: number): number {
    return this.edges[edge * EDGE_STRIDE + E_SUBJECT] as number;
  }

  /** The revision that added an edge version. */
  edgeAdded(edge: number): number {
    return (this.edges[edge * EDGE_STRIDE + E_ADDED] as number) >>> 0;
  }

  /** The revision that removed an edge version, or `Infinity` while it is live. */
  edgeRemoved(edge: number): number {
    const removed = this.edges[edge * EDGE_STRIDE + E_REMOVED] as number;
    return removed === LIVE_BITS ? Number.POSITIVE_INFINITY : removed >>> 0;
  }

  nodeType(node: number): number {
    return this.nodes[node * NODE_STRIDE + N_TYPE] as number;
  }

  nodeObject(node: number): number {
    return this.nodes[node * NODE_STRIDE + N_OBJECT] as number;
  }

  nodeRelation(node: number): number {
    return this.nodes[node * NODE_STRIDE + N_RELATION] as number;
  }
}

// Generations are unique in the process, so a worker can tell any two layouts apart (even of two snapshots).
let lastGeneration = 0;

function powerOfTwoAtLeast(n: number): number {
  let size = 16;
  while (size < n) size *= 2;
  return size;
}

/** Sizes to pre-allocate, e.g. from a known tuple count; the tables grow past them by doubling. */
export interface TableCapacity {
  nodes?: number;
  edges?: number;
}

/** The writing side: owned by one thread, which also reads through `reader`. */
export class SharedGraphTables {
  private nodes: Int32Array;
  private nodeHash: Int32Array;
  private edges: Int32Array;
  private pairHash: Int32Array;
  private nodeCount = 0;
  private edgeCount = 0;
  private pairCount = 0;
  private layoutValue: SharedGraphLayout;
  private readerValue: SharedGraphReader;

  constructor(capacity: TableCapacity = {}) {
    const nodes = Math.max(16, capacity.nodes ?? 1024);
    const edges = Math.max(16, capacity.edges ?? 1024);
    this.nodes = new Int32Array(new SharedArrayBuffer(nodes * NODE_STRIDE * 4));
    this.edges = new Int32Array(new SharedArrayBuffer(edges * EDGE_STRIDE * 4));
    this.nodeHash = new Int32Array(new SharedArrayBuffer(powerOfTwoAtLeast(nodes * 2) * NODE_SLOT * 4));
    this.pairHash = new Int32Array(new SharedArrayBuffer(powerOfTwoAtLeast(edges * 2) * 4));
    this.layoutValue = this.makeLayout();
    this.readerValue = new SharedGraphReader(this.layoutValue);
  }

  /** The current generation's buffers (send these to workers with each task). */
  get layout(): SharedGraphLayout {
    return this.layoutValue;
  }

  /** A reader of the current generation, on this thread. */
  get reader(): SharedGraphReader {
    return this.readerValue;
  }

  get nodeTotal(): number {
    return this.nodeCount;
  }

  get edgeTotal(): number {
    return this.edgeCount;
  }

  /** Bytes held by the shared buffers (capacity, not only what is used). */
  get byteLength(): number {
    return this.nodes.byteLength + this.nodeHash.byteLength + this.edges.byteLength + this.pairHash.byteLength;
  }

  /** The node of a triple, creating it. */
  internNode(type: number, object: number, relation: number): number {
    const found = this.readerValue.findNode(type, object, relation);
    if (found >= 0) return found;
    if (this.nodeCount >= MAX_RECORDS) throw tooLarge("nodes");
    if ((this.nodeCount + 1) * NODE_STRIDE > this.nodes.length) this.growNodes();
    const nodeSlots = this.nodeHash.length / NODE_SLOT;
    if ((this.nodeCount + 1) * 2 > nodeSlots) this.rehashNodes(nodeSlots * 2);
    const node = this.nodeCount++;
    const base = node * NODE_STRIDE;
    const { nodes } = this;
    nodes[base + N_TYPE] = type;
    nodes[base + N_OBJECT] = object;
    nodes[base + N_RELATION] = relation;
    nodes[base + N_FIRST_SET] = -1;
    nodes[base + N_FIRST_DIRECT] = -1;
    nodes[base + N_FIRST_IN] = -1;
    this.placeNode(this.nodeHash, node);
    return node;
  }

  /**
   * Records the tuple `node@subject` as live from `revision`; false (and nothing written) when a version is
   * already live. `subjectIsSet` says whether the subject node has a relation (it goes to the set list).
   */
  insertEdge(node: number, subject: number, revision: number): boolean {
    checkRevision(revision);
    const newest = this.readerValue.newestEdge(node, subject);
    if (newest >= 0 && this.edges[newest * EDGE_STRIDE + E_REMOVED] === LIVE_BITS) return false;
    this.appendEdge(node, subject, newest, revision, LIVE_BITS);
    return true;
  }

  /** Records the tuple `node@subject` as removed at `revision`; false when no version is live. */
  removeEdge(node: number, subject: number, revision: number): boolean {
    checkRevision(revision);
    if (node < 0 || subject < 0) return false;
    const newest = this.readerValue.newestEdge(node, subject);
    if (newest < 0 || this.edges[newest * EDGE_STRIDE + E_REMOVED] !== LIVE_BITS) return false;
    Atomics.store(this.edges, newest * EDGE_STRIDE + E_REMOVED, revision | 0);
    return true;
  }

  /** Versions removed at or before `horizon` that compaction would drop. */
  countRemovedBy(horizon: number): number {
    let dead = 0;
    const { edges } = this;
    for (let e = 0; e < this.edgeCount; e++) {
      const removed = edges[e * EDGE_STRIDE + E_REMOVED] as number;
      if (removed !== LIVE_BITS && removed >>> 0 <= horizon) dead++;
    }
    return dead;
  }

  /**
   * Drops every edge version removed at or before `horizon` into a new generation of buffers (nodes keep
   * their ids). Readers of older generations are unaffected.
   */
  compact(horizon: number): void {
    const old = this.edges;
    const oldCount = this.edgeCount;
    let keep = 0;
    for (let e = 0; e < oldCount; e++) {
      const removed = old[e * EDGE_STRIDE + E_REMOVED] as number;
      if (removed === LIVE_BITS || removed >>> 0 > horizon) keep++;
    }
    const nodes = new Int32Array(new SharedArrayBuffer(this.nodes.byteLength));
    nodes.set(this.nodes.subarray(0, this.nodeCount * NODE_STRIDE));
    for (let n = 0; n < this.nodeCount; n++) {
      nodes[n * NODE_STRIDE + N_FIRST_SET] = -1;
      nodes[n * NODE_STRIDE + N_FIRST_DIRECT] = -1;
      nodes[n * NODE_STRIDE + N_FIRST_IN] = -1;
    }
    this.nodes = nodes;
    this.edges = new Int32Array(new SharedArrayBuffer(Math.max(16, keep) * EDGE_STRIDE * 4));
    this.pairHash = new Int32Array(new SharedArrayBuffer(powerOfTwoAtLeast(Math.max(16, keep) * 2) * 4));
    this.edgeCount = 0;
    this.pairCount = 0;
    this.publish();
    // Versions were appended in revision order, so replaying the survivors in id order rebuilds the chains.
    for (let e = 0; e < oldCount; e++) {
      const base = e * EDGE_STRIDE;
      const removed = old[base + E_REMOVED] as number;
      if (removed !== LIVE_BITS && removed >>> 0 <= horizon) continue;
      const node = old[base + E_NODE] as number;
      const subject = old[base + E_SUBJECT] as number;
      this.appendEdge(node, subject, this.readerValue.newestEdge(node, subject), old[base + E_ADDED] as number, removed);
    }
  }

  private appendEdge(node: number, subject: number, prev: number, added: number, removed: number): void {
    if (this.edgeCount >= MAX_RECORDS) throw tooLarge("tuple versions");
    if ((this.edgeCount + 1) * EDGE_STRIDE > this.edges.length) this.growEdges();
    if (prev < 0 && (this.pairCount + 1) * 2 > this.pairHash.length) this.rehashPairs(this.pairHash.length * 2);
    const edge = this.edgeCount++;
    const { edges, nodes } = this;
    const base = edge * EDGE_STRIDE;
    const listField = nodes[subject * NODE_STRIDE + N_RELATION] === 0 ? N_FIRST_DIRECT : N_FIRST_SET;
    edges[base + E_NODE] = node;
    edges[base + E_SUBJECT] = subject;
    edges[base + E_PREV] = prev;
    edges[base + E_NEXT_OUT] = nodes[node * NODE_STRIDE + listField] as number;
    edges[base + E_NEXT_IN] = nodes[subject * NODE_STRIDE + N_FIRST_IN] as number;
    edges[base + E_ADDED] = added | 0;
    edges[base + E_REMOVED] = removed;
    // Publish only after the record is complete, so a concurrent reader never follows a half-written edge.
    Atomics.store(nodes, node * NODE_STRIDE + listField, edge);
    Atomics.store(nodes, subject * NODE_STRIDE + N_FIRST_IN, edge);
    if (prev < 0) {
      this.pairCount++;
      this.placePair(this.pairHash, edge, -1);
    } else {
      this.placePair(this.pairHash, edge, prev);
    }
  }

  /** Puts `node` into a node hash table (which has room). */
  private placeNode(table: Int32Array, node: number): void {
    const base = node * NODE_STRIDE;
    const { nodes } = this;
    const type = nodes[base + N_TYPE] as number;
    const object = nodes[base + N_OBJECT] as number;
    const relation = nodes[base + N_RELATION] as number;
    const mask = table.length / NODE_SLOT - 1;
    let slot = nodeSlot(type, object, relation, mask);
    while (table[slot * NODE_SLOT] !== 0) slot = (slot + 1) & mask;
    // The fingerprint first: the id's store publishes the slot whole.
    Atomics.store(table, slot * NODE_SLOT + 1, hashTriple(type, object, relation));
    Atomics.store(table, slot * NODE_SLOT, node + 1);
  }

  /** Points the pair slot of `edge`'s tuple at `edge`: replaces `previous` in place, or takes a free slot. */
  private placePair(table: Int32Array, edge: number, previous: number): void {
    const { edges } = this;
    const node = edges[edge * EDGE_STRIDE + E_NODE] as number;
    const subject = edges[edge * EDGE_STRIDE + E_SUBJECT] as number;
    const mask = table.length - 1;
    let slot = hashPair(node, subject) & mask;
    for (;;) {
      const entry = table[slot] as number;
      if (entry === 0 || entry === previous + 1) break;
      slot = (slot + 1) & mask;
    }
    Atomics.store(table, slot, edge + 1);
  }

  private growNodes(): void {
    const next = new Int32Array(new SharedArrayBuffer(this.nodes.byteLength * 2));
    next.set(this.nodes);
    this.nodes = next;
    this.publish();
  }

  private growEdges(): void {
    const next = new Int32Array(new SharedArrayBuffer(this.edges.byteLength * 2));
    next.set(this.edges);
    this.edges = next;
    // The list heads move on too: edges appended from now on exist only in the new buffer, so heads pointing
    // at them must not land in the node records an older generation's readers follow into the old buffer.
    const nodes = new Int32Array(new SharedArrayBuffer(this.nodes.byteLength));
    nodes.set(this.nodes);
    this.nodes = nodes;
    this.publish();
  }

  private rehashNodes(size: number): void {
    this.nodeHash = new Int32Array(new SharedArrayBuffer(size * NODE_SLOT * 4));
    for (let n = 0; n < this.nodeCount; n++) this.placeNode(this.nodeHash, n);
    this.publish();
  }

  private rehashPairs(size: number): void {
    const table = new Int32Array(new SharedArrayBuffer(size * 4));
    const { edges } = this;
    for (let e = 0; e < this.edgeCount; e++) {
      // Every version's slot ends up holding the newest one, since versions are visited oldest first.
      const prev = edges[e * EDGE_STRIDE + E_PREV] as number;
      this.placePair(table, e, prev);
    }
    this.pairHash = table;
    this.publish();
  }

  private publish(): void {
    this.layoutValue = this.makeLayout();
    this.readerValue = new SharedGraphReader(this.layoutValue);
  }

  private makeLayout(): SharedGraphLayout {
    return {
      generation: ++lastGeneration,
      nodes: this.nodes.buffer as SharedArrayBuffer,
      nodeHash: this.nodeHash.buffer as SharedArrayBuffer,
      edges: this.edges.buffer as SharedArrayBuffer,
      pairHash: this.pairHash.buffer as SharedArrayBuffer,
    };
  }
}

function checkRevision(revision: number): void {
  if (revision > MAX_REVISION) throw tooLarge(`revisions (${revision} > ${MAX_REVISION})`);
}

function tooLarge(what: string): LimitExceededError {
  return new LimitExceededError(`graph snapshot: too many ${what}`, { reason: "graph_too_large" });
}
