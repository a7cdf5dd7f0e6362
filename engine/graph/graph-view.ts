/**
 * The read-only graph the evaluator walks. The snapshot's MVCC views implement it, and so can a later overlay
 * (contextual tuples for one request) that wraps another view, which is why it speaks in strings and
 * `Subject`s rather than in the snapshot's interned ids.
 */
import type { Revision } from "../store/tuple-store.js";
import type { Subject, SubjectSet } from "../tuple.js";

/** A userset `namespace:object#relation`: the object side of a tuple. */
export interface ObjectRelation {
  readonly namespace: string;
  readonly object: string;
  readonly relation: string;
}

/** The tuples live at one revision, indexed both ways. Every method sees exactly the same tuple set. */
export interface GraphView {
  /** The revision this view reads at. */
  readonly revision: Revision;

  /** True when the tuple `namespace:object#relation@subject` is live (O(1)). */
  hasTuple(namespace: string, object: string, relation: string, subject: Subject): boolean;

  /** Every live subject of `namespace:object#relation`: bare ids, typed objects (incl. `T:*`) and subject sets. */
  subjects(namespace: string, object: string, relation: string): Iterable<Subject>;

  /**
   * Only the subject sets with a non-empty relation (`group:eng#member`) of `namespace:object#relation`. A
   * check follows exactly these, so a group with 10,000 direct members costs nothing to walk.
   */
  subjectSets(namespace: string, object: string, relation: string): Iterable<SubjectSet>;

  /**
   * Reverse lookup: every userset in which `subject` is stored exactly (no rewrites, no nesting), optionally
   * restricted to one namespace and relation.
   */
  objectsWithSubject(subject: Subject, namespace?: string, relation?: string): Iterable<ObjectRelation>;

  /**
   * Every id of `namespace` the view knows: ids that appeared in a tuple at or before the view's revision, as
   * the tuple's object or inside its subject (typed object or subject set), in no particular order; an id
   * stays known after its tuples are deleted. `namespace` `""` lists the bare subject ids. Lookups use it as
   * the universe when a complement or a wildcard makes the answer unbounded.
   */
  objectsOfType(namespace: string): Iterable<string>;
}
