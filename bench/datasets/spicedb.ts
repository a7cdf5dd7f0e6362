/**
 * The Drive model for SpiceDB: the schema in SpiceDB's schema language, equivalent to `DRIVE_SCHEMA_FGA`
 * (`+` is union, `->` is the tuple-to-userset arrow), and the Drive tuples as plain SpiceDB relationships.
 * Plain objects, so this module needs no SpiceDB package; `peers/spicedb.ts` turns them into messages.
 */
import type { RelationTuple } from "../../engine/tuple.js";
import type { Drive, DriveCheck } from "./drive.js";

export const DRIVE_SCHEMA_SPICEDB = `definition user {}

definition group {
    relation member: user | group#member
}

definition folder {
    relation parent: folder
    relation owner: user | group#member
    relation editor: user | group#member
    relation viewer: user | group#member
    permission own = owner + parent->own
    permission edit = editor + own + parent->edit
    permission view = viewer + edit + parent->view
}

definition document {
    relation parent: folder
    relation owner: user
    relation editor: user | group#member
    relation viewer: user | group#member
    permission edit = editor + owner + parent->edit
    permission view = viewer + edit + parent->view
}
`;

/** A relationship as SpiceDB names its parts; `subjectRelation` is empty for a plain object subject. */
export interface SpicedbRelationship {
  readonly resourceType: string;
  readonly resourceId: string;
  readonly relation: string;
  readonly subjectType: string;
  readonly subjectId: string;
  readonly subjectRelation: string;
}

/** A permission check as SpiceDB names its parts. */
export interface SpicedbCheck {
  readonly resourceType: string;
  readonly resourceId: string;
  readonly permission: string;
  readonly subjectType: string;
  readonly subjectId: string;
}

/** One Drive tuple as a SpiceDB relationship (Drive subjects are always typed, never bare ids). */
export function toSpicedbRelationship(tuple: RelationTuple): SpicedbRelationship {
  if (tuple.subject.kind !== "set") throw new Error("Drive tuples have typed subjects");
  return {
    resourceType: tuple.namespace,
    resourceId: tuple.object,
    relation: tuple.relation,
    subjectType: tuple.subject.namespace,
    subjectId: tuple.subject.object,
    subjectRelation: tuple.subject.relation,
  };
}

/** Every tuple of a Drive dataset as SpiceDB relationships, streamed. */
export function* spicedbRelationships(drive: Drive): Generator<SpicedbRelationship> {
  for (const tuple of drive.tuples()) yield toSpicedbRelationship(tuple);
}

/** A Drive check request as a SpiceDB check. */
export function toSpicedbCheck(check: DriveCheck): SpicedbCheck {
  return {
    resourceType: check.namespace,
    resourceId: check.object,
    permission: check.relation,
    subjectType: check.subject.namespace,
    subjectId: check.subject.object,
  };
}
