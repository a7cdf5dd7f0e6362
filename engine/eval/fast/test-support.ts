/**
 * Test support (not used by production code): runs the int evaluator and the string evaluator on the same
 * snapshot, translating string requests to ids the way the main thread will.
 */
import { LimitExceededError, NotFoundError } from "../../../common/errors.js";
import { GraphSnapshot, type SnapshotNames } from "../../graph/graph-snapshot.js";
import type { IntGraph } from "../../graph/int-graph.js";
import type { Schema } from "../../schema/ir.js";
import { parseTuple, type RelationTuple, type Subject } from "../../tuple.js";
import { check, type CheckRequest } from "../check.js";
import { Checker } from "../checker.js";
import { CHECK_ITEM_INTS } from "./batch.js";
import { IntChecker, type IntTri } from "./int-checker.js";
import { compileIntSchema, IntSchemaIndex, type IntSchema } from "./int-schema.js";

/** A schema compiled against a snapshot's interners, and the snapshot's int graph. */
export interface IntFixture {
  readonly snapshot: GraphSnapshot;
  readonly intSchema: IntSchema;
  readonly index: IntSchemaIndex;
  /** Read after every `apply`: a reader sees the table generation current when it was taken. */
  graph(): IntGraph;
  /** The graph's id of `*`, or -1. */
  wildcard(): number;
}

export function intFixture(schema: Schema, snapshot: GraphSnapshot): IntFixture {
  const intSchema = compileIntSchema(schema, snapshot.nameInterner());
  return {
    snapshot,
    intSchema,
    index: new IntSchemaIndex(intSchema),
    graph: () => snapshot.intGraph(),
    wildcard: () => snapshot.names.objectId("*"),
  };
}

/** A fixture over tuple texts at revision 1. */
export function fixtureOf(schema: Schema, ...tuples: string[]): IntFixture {
  return intFixture(schema, GraphSnapshot.build(tuples.map((t) => parseTuple(t)), 1));
}

/** Maps request names to ids; object names the graph never saw get negative ids, one per name. */
export class RequestIds {
  private readonly unknown = new Map<string, number>();

  constructor(private readonly names: SnapshotNames) {}

  object(name: string): number {
    const id = this.names.objectId(name);
    if (id >= 0) return id;
    let local = this.unknown.get(name);
    if (local === undefined) {
      local = -1 - this.unknown.size;
      this.unknown.set(name, local);
    }
    return local;
  }

  subject(subject: Subject): [number, number, number] {
    if (subject.kind === "id") return [0, this.object(subject.id), 0];
    return [this.names.typeId(subject.namespace), this.object(subject.object), this.names.relationId(subject.relation)];
  }

  /** The 6 ids of a check (type, object, relation, subject type, object, relation). */
  request(r: CheckRequest): number[] {
    return [this.names.typeId(r.namespace), this.object(r.object), this.names.relationId(r.relation), ...this.subject(r.subject)];
  }
}

/** The string evaluator's answer as a tri: `check()` where it answers, else `Checker.resolve` (unknown relation). */
export function stringTri(schema: Schema, snapshot: GraphSnapshot, revision: number, r: CheckRequest, maxDepth: number): IntTri {
  const view = snapshot.at(revision);
  try {
    return check(schema, view, r, { maxDepth }) ? 1 : 0;
  } catch (e) {
    if (e instanceof LimitExceededError) return 2;
    if (!(e instanceof NotFoundError)) throw e;
  }
  return new Checker(schema, view).resolve(r.namespace, r.object, r.relation, r.subject, maxDepth).value;
}

/** The int evaluator's answer with a fresh checker. */
export function intTri(f: IntFixture, revision: number, r: CheckRequest, maxDepth: number): IntTri {
  const ids = new RequestIds(f.snapshot.names).request(r);
  const checker = new IntChecker(f.index, f.graph(), revision, f.wildcard());
  return checker.resolve(ids[0] as number, ids[1] as number, ids[2] as number, ids[3] as number, ids[4] as number, ids[5] as number, maxDepth);
}

/** Parses `ns:obj#rel@subject` into a check request. */
export function request(text: string): CheckRequest {
  const t: RelationTuple = parseTuple(text);
  return { namespace: t.namespace, object: t.object, relation: t.relation, subject: t.subject };
}

/** Packs checks into batch items (ids through one RequestIds, as one request would). */
export function batchItems(ids: RequestIds, checks: readonly { request: CheckRequest; maxDepth: number }[]): Int32Array {
  const items = new Int32Array(checks.length * CHECK_ITEM_INTS);
  checks.forEach((c, i) => {
    items.set([...ids.request(c.request), c.maxDepth], i * CHECK_ITEM_INTS);
  });
  return items;
}
