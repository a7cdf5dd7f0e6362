/**
 * The in-memory graph snapshot: every tuple version the store reported, kept in step with the changelog, and
 * read through MVCC views. A view at revision R sees exactly the tuples live at R (added at or before R and
 * not removed at or before R), so a check at an older snaptoken is answered from memory, not from SQL.
 */
import { InvalidArgumentError } from "../../common/errors.js";
import type { Revision, TupleChange } from "../store/tuple-store.js";
import type { RelationTuple, Subject, SubjectSet } from "../tuple.js";
import type { GraphView, ObjectRelation } from "./graph-view.js";
import { EdgeStore } from "./internal/edge-store.js";

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
}

/**
 * An MVCC tuple graph. It starts empty at revision 0 (or from `GraphSnapshot.build`), advances with
 * `apply`, and forgets history with `compact`. Free of I/O and global state.
 */
export class GraphSnapshot {
  private readonly store = new EdgeStore();
  private head: Revision = 0;
  private oldest: Revision = 0;

  /** Builds a snapshot from a full read of the store at `revision`; older revisions cannot be read from it. */
  static build(tuples: Iterable<RelationTuple>, revision: Revision): GraphSnapshot {
    checkRevision(revision, "revision");
    const snapshot = new GraphSnapshot();
    for (const tuple of tuples) snapshot.store.insert(tuple, revision);
    snapshot.head = revision;
    snapshot.oldest = revision;
    return snapshot;
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
    return { edgeVersions: this.store.edgeNode.length, nodes: this.store.nodeType.length };
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
      if (change.op === "insert") this.store.insert(change.tuple, change.revision);
      else this.store.remove(change.tuple, change.revision);
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
    this.store.compact(minRevision);
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
    return new SnapshotView(this, this.store, revision);
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
}

/** The MVCC view: a revision and the shared store; it copies nothing. */
class SnapshotView implements GraphView {
  constructor(
    private readonly snapshot: GraphSnapshot,
    private readonly store: EdgeStore,
    readonly revision: Revision,
  ) {}

  hasTuple(namespace: string, object: string, relation: string, subject: Subject): boolean {
    this.snapshot.checkHorizon(this.revision);
    const node = this.store.findNode(namespace, object, relation);
    if (node < 0) return false;
    const s = this.store.findSubject(subject);
    return s >= 0 && this.store.liveAt(node, s, this.revision);
  }

  *subjects(namespace: string, object: string, relation: string): Iterable<Subject> {
    this.snapshot.checkHorizon(this.revision);
    const node = this.store.findNode(namespace, object, relation);
    if (node < 0) return;
    for (const index of [this.store.direct, this.store.sets]) {
      const pairs = index.get(node);
      if (pairs === undefined) continue;
      for (const s of pairs.keys()) {
        if (this.store.liveAt(node, s, this.revision)) yield this.store.subjectOf(s);
      }
    }
  }

  *subjectSets(namespace: string, object: string, relation: string): Iterable<SubjectSet> {
    this.snapshot.checkHorizon(this.revision);
    const node = this.store.findNode(namespace, object, relation);
    if (node < 0) return;
    const pairs = this.store.sets.get(node);
    if (pairs === undefined) return;
    for (const s of pairs.keys()) {
      if (this.store.liveAt(node, s, this.revision)) yield this.store.subjectSetOf(s);
    }
  }

  *objectsWithSubject(subject: Subject, namespace?: string, relation?: string): Iterable<ObjectRelation> {
    this.snapshot.checkHorizon(this.revision);
    const s = this.store.findSubject(subject);
    if (s < 0) return;
    const nodes = this.store.reverse.get(s);
    if (nodes === undefined) return;
    const { store } = this;
    const type = namespace === undefined ? -1 : store.types.find(namespace);
    const rel = relation === undefined ? -1 : store.relations.find(relation);
    if ((namespace !== undefined && type < 0) || (relation !== undefined && rel < 0)) return;
    for (const node of nodes) {
      if (type >= 0 && store.nodeType.get(node) !== type) continue;
      if (rel >= 0 && store.nodeRelation.get(node) !== rel) continue;
      if (!store.liveAt(node, s, this.revision)) continue;
      yield {
        namespace: store.types.name(store.nodeType.get(node)),
        object: store.objects.name(store.nodeObject.get(node)),
        relation: store.relations.name(store.nodeRelation.get(node)),
      };
    }
  }

  *objectsOfType(namespace: string): Iterable<string> {
    this.snapshot.checkHorizon(this.revision);
    const type = this.store.types.find(namespace);
    const objects = type < 0 ? undefined : this.store.known.get(type);
    if (objects === undefined) return;
    for (const [object, since] of objects) {
      // "Known" is monotone: an id stays known after its tuples are deleted (a complement may still hold).
      if (since <= this.revision) yield this.store.objects.name(object);
    }
  }
}
