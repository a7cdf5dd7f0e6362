/**
 * The snapshot's data: interned ids, a node table (usersets and subjects are both `type:object#relation`
 * triples, so they share one table), an edge table in typed-array columns, and integer-keyed maps for the
 * forward and reverse adjacency. Every edge is one version of one tuple with the revision that added it and
 * the one that removed it; re-adding a deleted tuple makes a new version chained to the old one.
 *
 * Nothing here knows about revisions being "current": visibility at a revision is a pure function of the
 * columns, which is what makes `GraphSnapshot.at(revision)` cheap.
 */
import type { Revision } from "../../store/tuple-store.js";
import type { RelationTuple, Subject, SubjectSet } from "../../tuple.js";
import { Float64Column, Int32Column } from "./columns.js";
import { Interner } from "./interner.js";

// A node key packs (object, relation, type) into one exact double: 31 + 11 + 11 bits < 53.
const TYPE_BITS = 2 ** 11;
const RELATION_FACTOR = TYPE_BITS;
const OBJECT_FACTOR = TYPE_BITS * TYPE_BITS;

/** `removed` of an edge that is still live. */
export const LIVE = Number.POSITIVE_INFINITY;

/** The columnar tuple graph. Fields are public to the graph package only (it is not re-exported). */
export class EdgeStore {
  readonly types = new Interner("namespaces", TYPE_BITS);
  readonly objects = new Interner("object ids", 2 ** 31);
  readonly relations = new Interner("relation names", TYPE_BITS);

  private readonly nodeIds = new Map<number, number>();
  readonly nodeType = new Int32Column();
  readonly nodeObject = new Int32Column();
  readonly nodeRelation = new Int32Column();

  edgeNode = new Int32Column();
  edgeSubject = new Int32Column();
  /** The previous version of the same tuple, or -1. */
  edgePrev = new Int32Column();
  edgeAdded = new Float64Column();
  edgeRemoved = new Float64Column();

  /** node → subject node (typed object or bare id) → newest edge version. */
  readonly direct = new Map<number, Map<number, number>>();
  /** node → subject node (subject set with a relation) → newest edge version. */
  readonly sets = new Map<number, Map<number, number>>();
  /** subject node → nodes it is (or was) stored under. */
  readonly reverse = new Map<number, Set<number>>();
  /** type → object id → first revision at which the pair appeared anywhere. */
  readonly known = new Map<number, Map<number, Revision>>();

  constructor() {
    // Type 0 and relation 0 are "": bare subject ids are nodes (type "", id, relation "").
    this.types.intern("");
    this.relations.intern("");
  }

  /** The node id of a triple, creating it. */
  internNode(type: string, object: string, relation: string): number {
    const t = this.types.intern(type);
    const o = this.objects.intern(object);
    const r = this.relations.intern(relation);
    const key = o * OBJECT_FACTOR + r * RELATION_FACTOR + t;
    let id = this.nodeIds.get(key);
    if (id === undefined) {
      id = this.nodeType.push(t);
      this.nodeObject.push(o);
      this.nodeRelation.push(r);
      this.nodeIds.set(key, id);
    }
    return id;
  }

  /** The node id of a triple, or -1 when no tuple ever mentioned it. */
  findNode(type: string, object: string, relation: string): number {
    const t = this.types.find(type);
    const o = this.objects.find(object);
    const r = this.relations.find(relation);
    if (t < 0 || o < 0 || r < 0) return -1;
    return this.nodeIds.get(o * OBJECT_FACTOR + r * RELATION_FACTOR + t) ?? -1;
  }

  /** The node of a subject, or -1. */
  findSubject(subject: Subject): number {
    return subject.kind === "id"
      ? this.findNode("", subject.id, "")
      : this.findNode(subject.namespace, subject.object, subject.relation);
  }

  /** The subject a node stands for. */
  subjectOf(node: number): Subject {
    const type = this.types.name(this.nodeType.get(node));
    const object = this.objects.name(this.nodeObject.get(node));
    if (type === "") return { kind: "id", id: object };
    return { kind: "set", namespace: type, object, relation: this.relations.name(this.nodeRelation.get(node)) };
  }

  /** The subject set a node stands for (callers know it has a type). */
  subjectSetOf(node: number): SubjectSet {
    return {
      kind: "set",
      namespace: this.types.name(this.nodeType.get(node)),
      object: this.objects.name(this.nodeObject.get(node)),
      relation: this.relations.name(this.nodeRelation.get(node)),
    };
  }

  /** The pair map (direct or sets) of a node that a subject node belongs in. */
  private pairMap(node: number, subject: number, create: true): Map<number, number>;
  private pairMap(node: number, subject: number, create: false): Map<number, number> | undefined;
  private pairMap(node: number, subject: number, create: boolean): Map<number, number> | undefined {
    const index = this.nodeRelation.get(subject) === 0 ? this.direct : this.sets;
    let map = index.get(node);
    if (map === undefined && create) {
      map = new Map();
      index.set(node, map);
    }
    return map;
  }

  /** The newest edge version of (node, subject), or -1. */
  newestEdge(node: number, subject: number): number {
    return this.pairMap(node, subject, false)?.get(subject) ?? -1;
  }

  /** True when edge version `edge` is live at `revision`. */
  visible(edge: number, revision: Revision): boolean {
    return this.edgeAdded.get(edge) <= revision && this.edgeRemoved.get(edge) > revision;
  }

  /** True when some version of (node, subject) is live at `revision`. */
  liveAt(node: number, subject: number, revision: Revision): boolean {
    for (let e = this.newestEdge(node, subject); e >= 0; e = this.edgePrev.get(e)) {
      if (this.visible(e, revision)) return true;
      // Versions are chained newest first and never overlap: once one ended before `revision`, older ones did too.
      if (this.edgeRemoved.get(e) <= revision) return false;
    }
    return false;
  }

  /** Records a tuple as live from `revision` on; a no-op when it is already live. */
  insert(tuple: RelationTuple, revision: Revision): void {
    const node = this.internNode(tuple.namespace, tuple.object, tuple.relation);
    const s = tuple.subject;
    const subject = s.kind === "id" ? this.internNode("", s.id, "") : this.internNode(s.namespace, s.object, s.relation);
    const newest = this.newestEdge(node, subject);
    if (newest >= 0 && this.edgeRemoved.get(newest) === LIVE) return;
    const edge = this.edgeNode.push(node);
    this.edgeSubject.push(subject);
    this.edgePrev.push(newest);
    this.edgeAdded.push(revision);
    this.edgeRemoved.push(LIVE);
    this.pairMap(node, subject, true).set(subject, edge);
    let back = this.reverse.get(subject);
    if (back === undefined) {
      back = new Set();
      this.reverse.set(subject, back);
    }
    back.add(node);
    this.remember(this.nodeType.get(node), this.nodeObject.get(node), revision);
    this.remember(this.nodeType.get(subject), this.nodeObject.get(subject), revision);
  }

  /** Records a tuple as removed at `revision`; a no-op when it is not live. */
  remove(tuple: RelationTuple, revision: Revision): void {
    const node = this.findNode(tuple.namespace, tuple.object, tuple.relation);
    const subject = this.findSubject(tuple.subject);
    if (node < 0 || subject < 0) return;
    const newest = this.newestEdge(node, subject);
    if (newest >= 0 && this.edgeRemoved.get(newest) === LIVE) this.edgeRemoved.set(newest, revision);
  }

  private remember(type: number, object: number, revision: Revision): void {
    let objects = this.known.get(type);
    if (objects === undefined) {
      objects = new Map();
      this.known.set(type, objects);
    }
    if (!objects.has(object)) objects.set(object, revision);
  }

  /**
   * Drops every edge version removed at or before `horizon` and re-packs the columns. Pairs left without a
   * version disappear from the adjacency maps.
   */
  compact(horizon: Revision): void {
    const node = new Int32Column();
    const subject = new Int32Column();
    const prev = new Int32Column();
    const added = new Float64Column();
    const removed = new Float64Column();
    for (const index of [this.direct, this.sets]) {
      for (const [n, pairs] of index) {
        for (const [s, newest] of pairs) {
          // Keep the surviving versions oldest first so the re-packed chain keeps its order.
          const keep: number[] = [];
          for (let e = newest; e >= 0; e = this.edgePrev.get(e)) {
            if (this.edgeRemoved.get(e) > horizon) keep.push(e);
          }
          if (keep.length === 0) {
            pairs.delete(s);
            const back = this.reverse.get(s);
            back?.delete(n);
            if (back !== undefined && back.size === 0) this.reverse.delete(s);
            continue;
          }
          let last = -1;
          for (let i = keep.length - 1; i >= 0; i--) {
            const e = keep[i] as number;
            last = node.push(n);
            subject.push(s);
            prev.push(i === keep.length - 1 ? -1 : last - 1);
            added.push(this.edgeAdded.get(e));
            removed.push(this.edgeRemoved.get(e));
          }
          pairs.set(s, last);
        }
        if (pairs.size === 0) index.delete(n);
      }
    }
    this.edgeNode = node;
    this.edgeSubject = subject;
    this.edgePrev = prev;
    this.edgeAdded = added;
    this.edgeRemoved = removed;
  }
}
