/**
 * The in-memory graph snapshot: every tuple version the store reported, kept in step with the changelog, and
 * read through MVCC views. A view at revision R sees exactly the tuples live at R (added at or before R and
 * not removed at or before R), so a check at an older snaptoken is answered from memory, not from SQL.
 *
 * The tables live in SharedArrayBuffers (`shared/shared-tables.ts`) and speak interned ids, so worker threads
 * evaluate on them without a copy; the string interners and the "known objects" index stay on this thread.
 */
import { InvalidArgumentError } from "../../common/errors.js";
import type { Revision, TupleChange } from "../store/tuple-store.js";
import type { RelationTuple, Subject, SubjectSet } from "../tuple.js";
import type { GraphView, ObjectRelation } from "./graph-view.js";
import type { IntGraph, NameInterner } from "./int-graph.js";
import { Interner } from "./internal/interner.js";
import { SharedGraphTables, type SharedGraphLayout, type SharedGraphReader } from "./shared/shared-tables.js";

function checkRevision(revision: number, field: string): void {
  if (!Number.isSafeInteger(revision) || revision < 0) {
    throw new InvalidArgumentError(`${field}: ${revision} is not a revision (a non-negative integer)`, {
      details: { field },
    });
  }
}

/** Counts for tests and metrics. */
export interface GraphSnapshotStats {
  /** Stored edge versions, live or not yet compacted away. */
  readonly edgeVersions: number;
  /** Interned usersets and subjects. */
  readonly nodes: number;
  /** Bytes of the shared tables (allocated capacity). */
  readonly sharedBytes: number;
}

/** Name → id lookups that never create an id (-1 when the snapshot never saw the name). */
export interface SnapshotNames {
  typeId(name: string): number;
  objectId(name: string): number;
  relationId(name: string): number;
  typeName(id: number): string;
  objectName(id: number): string;
  relationName(id: number): string;
}

/** Strings and the per-type index of known objects: everything the shared tables leave to this thread. */
class Dictionary implements SnapshotNames {
  readonly types = new Interner("namespaces", 2048);
  readonly objects = new Interner("object ids", 2 ** 30);
  readonly relations = new Interner("relation names", 2048);
  /** type → object id → first revision at which the pair appeared anywhere. */
  readonly known = new Map<number, Map<number, Revision>>();

  constructor() {
    // Type 0 and relation 0 are "": bare subject ids are nodes (type "", id, relation "").
    this.types.intern("");
    this.relations.intern("");
  }

  typeId(name: string): number {
    return this.types.find(name);
  }
  objectId(name: string): number {
    return this.objects.find(name);
  }
  relationId(name: string): number {
    return this.relations.find(name);
  }
  typeName(id: number): string {
    return this.types.name(id);
  }
  objectName(id: number): string {
    return this.objects.name(id);
  }
  relationName(id: number): string {
    return this.relations.name(id);
  }

  remember(type: number, object: number, revision: Revision): void {
    let objects = this.known.get(type);
    if (objects === undefined) {
      objects = new Map();
      this.known.set(type, objects);
    }
    if (!objects.has(object)) objects.set(object, revision);
  }
}

/**
 * An MVCC tuple graph. It starts empty at revision 0 (or from `GraphSnapshot.build`), advances with
 * `apply`, and forgets history with `compact`. Free of I/O and global state.
 */
export class GraphSnapshot {
  private readonly dict = new Dictionary();
  private readonly tables: SharedGraphTables;
  private head: Revision = 0;
  private oldest: Revision = 0;

  constructor(capacity?: { tuples?: number }) {
    const tuples = capacity?.tuples;
    this.tables = new SharedGraphTables(tuples === undefined ? {} : { edges: tuples, nodes: Math.ceil(tuples / 2) });
  }

  /**
   * Builds a snapshot from a full read of the store at `revision`; older revisions cannot be read from it.
   * `expectedTuples` pre-sizes the tables (they grow past it).
   */
  static build(tuples: Iterable<RelationTuple>, revision: Revision, expectedTuples?: number): GraphSnapshot {
    checkRevision(revision, "revision");
    const snapshot = new GraphSnapshot(expectedTuples === undefined ? undefined : { tuples: expectedTuples });
    for (const tuple of tuples) snapshot.insert(tuple, revision);
    snapshot.head = revision;
    snapshot.oldest = revision;
    return snapshot;
  }

  /** Adds tuples live at the snapshot's own revision, for a build that streams pages (before any `apply`). */
  load(tuples: Iterable<RelationTuple>, revision: Revision): void {
    checkRevision(revision, "revision");
    if (this.head !== 0 && revision !== this.head) {
      throw new InvalidArgumentError(`load: revision ${revision} differs from the snapshot's ${this.head}`, {
        details: { field: "revision" },
      });
    }
    for (const tuple of tuples) this.insert(tuple, revision);
    this.head = revision;
    this.oldest = revision;
  }

  /** The newest revision applied. */
  get revision(): Revision {
    return this.head;
  }

  /** The oldest revision a view can read (raised by `build` and `compact`). */
  get horizon(): Revision {
    return this.oldest;
  }

  /** Sizes of the internal tables. */
  stats(): GraphSnapshotStats {
    return { edgeVersions: this.tables.edgeTotal, nodes: this.tables.nodeTotal, sharedBytes: this.tables.byteLength };
  }

  /** Id lookups of names (never creating one). */
  get names(): SnapshotNames {
    return this.dict;
  }

  /** Interns schema names, so a compiled int schema uses the graph's ids. */
  nameInterner(): NameInterner {
    const { dict } = this;
    return {
      internType: (name) => dict.types.intern(name),
      internRelation: (name) => dict.relations.intern(name),
    };
  }

  /** The shared tables' current buffers: what a worker thread needs to read the graph. */
  get layout(): SharedGraphLayout {
    return this.tables.layout;
  }

  /** The graph by ids, read on this thread. Read it at revisions in [horizon, revision]. */
  intGraph(): IntGraph {
    return this.tables.reader;
  }

  /**
   * Applies changelog entries, which must come in revision order and all be newer than `revision`; then
   * advances the head to `untilRevision` (default: the last change's revision). Revisions without changes
   * (schema writes) are fine. A batch that breaks the order is rejected whole, before anything is applied.
   * Inserting a live tuple or deleting a missing one is a no-op, as in the store.
   */
  apply(changes: readonly TupleChange[], untilRevision?: Revision): void {
    let last = this.head;
    changes.forEach((change, i) => {
      checkRevision(change.revision, `changes[${i}].revision`);
      if (i === 0 ? change.revision <= this.head : change.revision < last) {
        throw new InvalidArgumentError(
          `changes[${i}]: revision ${change.revision} is out of order (the snapshot is at revision ${this.head}` +
            `${i === 0 ? "" : `, the previous change at ${last}`}); changes must be applied in revision order`,
          { reason: "revision_out_of_order", details: { field: `changes[${i}].revision` } },
        );
      }
      last = change.revision;
    });
    if (untilRevision !== undefined) {
      checkRevision(untilRevision, "untilRevision");
      if (untilRevision < last) {
        throw new InvalidArgumentError(
          `untilRevision ${untilRevision} is older than ${last === this.head ? "the snapshot's revision" : "the last change"} (${last})`,
          { reason: "revision_out_of_order", details: { field: "untilRevision" } },
        );
      }
    }
    for (const change of changes) {
      if (change.op === "insert") this.insert(change.tuple, change.revision);
      else this.remove(change.tuple, change.revision);
    }
    this.head = untilRevision ?? last;
  }

  /**
   * Forgets history: drops tuple versions removed at or before `minRevision`. Views at revisions below it
   * (new or already handed out) then fail naming the horizon.
   */
  compact(minRevision: Revision): void {
    checkRevision(minRevision, "minRevision");
    if (minRevision > this.head) {
      throw new InvalidArgumentError(`minRevision ${minRevision} is newer than the snapshot's revision ${this.head}`, {
        details: { field: "minRevision" },
      });
    }
    if (minRevision <= this.oldest) return;
    this.tables.compact(minRevision);
    this.oldest = minRevision;
  }

  /** A read-only view of the tuples live at `revision` (default: the head). */
  at(revision: Revision = this.head): GraphView {
    checkRevision(revision, "revision");
    if (revision > this.head) {
      throw new InvalidArgumentError(`revision ${revision} is newer than the snapshot's revision ${this.head}`, {
        reason: "revision_not_reached",
        details: { field: "revision" },
      });
    }
    this.checkHorizon(revision);
    return new SnapshotView(this, this.dict, revision);
  }

  /** Throws when history needed to read at `revision` has been compacted away. */
  checkHorizon(revision: Revision): void {
    if (revision < this.oldest) {
      throw new InvalidArgumentError(
        `revision ${revision} is older than the snapshot's horizon ${this.oldest}; read at ${this.oldest} or later`,
        { reason: "revision_expired", details: { field: "revision", horizon: this.oldest } },
      );
    }
  }

  /** The reader of the current tables (views read through it, so they follow growth and compaction). */
  get reader(): SharedGraphReader {
    return this.tables.reader;
  }

  private insert(tuple: RelationTuple, revision: Revision): void {
    const { dict, tables } = this;
    const type = dict.types.intern(tuple.namespace);
    const object = dict.objects.intern(tuple.object);
    const node = tables.internNode(type, object, dict.relations.intern(tuple.relation));
    const s = tuple.subject;
    let subject: number;
    if (s.kind === "id") {
      const id = dict.objects.intern(s.id);
      subject = tables.internNode(0, id, 0);
      dict.remember(0, id, revision);
    } else {
      const sType = dict.types.intern(s.namespace);
      const sObject = dict.objects.intern(s.object);
      subject = tables.internNode(sType, sObject, dict.relations.intern(s.relation));
      dict.remember(sType, sObject, revision);
    }
    dict.remember(type, object, revision);
    tables.insertEdge(node, subject, revision);
  }

  private remove(tuple: RelationTuple, revision: Revision): void {
    const { dict } = this;
    const reader = this.tables.reader;
    const node = reader.findNode(dict.typeId(tuple.namespace), dict.objectId(tuple.object), dict.relationId(tuple.relation));
    const subject = subjectNode(reader, dict, tuple.subject);
    if (node >= 0 && subject >= 0) this.tables.removeEdge(node, subject, revision);
  }
}

function subjectNode(reader: IntGraph, names: SnapshotNames, subject: Subject): number {
  return subject.kind === "id"
    ? reader.findNode(0, names.objectId(subject.id), 0)
    : reader.findNode(names.typeId(subject.namespace), names.objectId(subject.object), names.relationId(subject.relation));
}

/** The MVCC view: a revision over the shared tables; it copies nothing. */
class SnapshotView implements GraphView {
  constructor(
    private readonly snapshot: GraphSnapshot,
    private readonly dict: Dictionary,
    readonly revision: Revision,
  ) {}

  private node(namespace: string, object: string, relation: string): number {
    const { dict } = this;
    return this.snapshot.reader.findNode(dict.typeId(namespace), dict.objectId(object), dict.relationId(relation));
  }

  private subjectOf(node: number): Subject {
    const reader = this.snapshot.reader;
    const { dict } = this;
    const type = reader.nodeType(node);
    const object = dict.objectName(reader.nodeObject(node));
    if (type === 0) return { kind: "id", id: object };
    return { kind: "set", namespace: dict.typeName(type), object, relation: dict.relationName(reader.nodeRelation(node)) };
  }

  /** Visible subjects of one list, oldest first (lists are newest first). */
  private listed(first: number, next: (edge: number) => number): number[] {
    const reader = this.snapshot.reader;
    const out: number[] = [];
    for (let e = first; e >= 0; e = next(e)) if (reader.edgeVisible(e, this.revision)) out.push(reader.edgeSubject(e));
    return out.reverse();
  }

  hasTuple(namespace: string, object: string, relation: string, subject: Subject): boolean {
    this.snapshot.checkHorizon(this.revision);
    const reader = this.snapshot.reader;
    const node = this.node(namespace, object, relation);
    if (node < 0) return false;
    return reader.hasEdge(node, subjectNode(reader, this.dict, subject), this.revision);
  }

  *subjects(namespace: string, object: string, relation: string): Iterable<Subject> {
    this.snapshot.checkHorizon(this.revision);
    const node = this.node(namespace, object, relation);
    if (node < 0) return;
    const reader = this.snapshot.reader;
    for (const s of this.listed(reader.firstDirectEdge(node), (e) => reader.nextDirectEdge(e))) yield this.subjectOf(s);
    for (const s of this.listed(reader.firstSetEdge(node), (e) => reader.nextSetEdge(e))) yield this.subjectOf(s);
  }

  *subjectSets(namespace: string, object: string, relation: string): Iterable<SubjectSet> {
    this.snapshot.checkHorizon(this.revision);
    const node = this.node(namespace, object, relation);
    if (node < 0) return;
    const reader = this.snapshot.reader;
    for (const s of this.listed(reader.firstSetEdge(node), (e) => reader.nextSetEdge(e))) yield this.subjectOf(s) as SubjectSet;
  }

  *objectsWithSubject(subject: Subject, namespace?: string, relation?: string): Iterable<ObjectRelation> {
    this.snapshot.checkHorizon(this.revision);
    const reader = this.snapshot.reader;
    const { dict } = this;
    const s = subjectNode(reader, dict, subject);
    if (s < 0) return;
    const type = namespace === undefined ? -1 : dict.typeId(namespace);
    const rel = relation === undefined ? -1 : dict.relationId(relation);
    if ((namespace !== undefined && type < 0) || (relation !== undefined && rel < 0)) return;
    const nodes: number[] = [];
    for (let e = reader.firstInEdge(s); e >= 0; e = reader.nextInEdge(e)) {
      if (!reader.edgeVisible(e, this.revision)) continue;
      const node = reader.edgeNode(e);
      if (type >= 0 && reader.nodeType(node) !== type) continue;
      if (rel >= 0 && reader.nodeRelation(node) !== rel) continue;
      nodes.push(node);
    }
    for (let i = nodes.length - 1; i >= 0; i--) {
      const node = nodes[i] as number;
      yield {
        namespace: dict.typeName(reader.nodeType(node)),
        object: dict.objectName(reader.nodeObject(node)),
        relation: dict.relationName(reader.nodeRelation(node)),
      };
    }
  }

  *objectsOfType(namespace: string): Iterable<string> {
    this.snapshot.checkHorizon(this.revision);
    const type = this.dict.typeId(namespace);
    const objects = type < 0 ? undefined : this.dict.known.get(type);
    if (objects === undefined) return;
    for (const [object, since] of objects) {
      // "Known" is monotone: an id stays known after its tuples are deleted (a complement may still hold).
      if (since <= this.revision) yield this.dict.objectName(object);
    }
  }
}
