/**
 * What the network figure loads into the server and asks it, and its default: the suite's Drive dataset
 * (`bench/datasets/drive.ts`) with that dataset's own check workload.
 *
 * The shapes here are plain JSON on purpose: the dataset is built in the bench's process, written to the
 * server through its public write API, and the check list is shipped to the load generator processes over a
 * pipe, so nothing here may depend on live objects.
 */
import { DRIVE_SCHEMA_FGA, Drive } from "../datasets/drive.js";

/** A subject: a bare id, or `namespace:object` (relation "" or absent) / `namespace:object#relation`. */
export type PlainSubject = { readonly id: string } | { readonly namespace: string; readonly object: string; readonly relation?: string };

/** One relationship `namespace:object#relation@subject`, as a tuple to write or as a check to ask. */
export interface PlainRelationship {
  readonly namespace: string;
  readonly object: string;
  readonly relation: string;
  readonly subject: PlainSubject;
}

/** A schema, the tuples to write under it, and the checks the load generators cycle through. */
export interface NetworkDataset {
  /** Shown in the figures' params. */
  readonly name: string;
  readonly schema: { readonly text: string; readonly language: "opl" | "fga" };
  /** Iterated once, while loading; may be a generator. */
  readonly tuples: Iterable<PlainRelationship>;
  /** Asked round-robin by every load loop; a mix of allowed and denied answers is the realistic case. */
  readonly checks: readonly PlainRelationship[];
}

/** The engine's tuple shape (`engine/tuple.ts`), which the suite's datasets produce. */
interface EngineTupleLike {
  readonly namespace: string;
  readonly object: string;
  readonly relation: string;
  readonly subject: { readonly kind: "id"; readonly id: string } | { readonly kind: "set"; readonly namespace: string; readonly object: string; readonly relation: string };
}

/** The engine's tuple shape as a plain relationship. */
export function plainOf(t: EngineTupleLike): PlainRelationship {
  const subject: PlainSubject =
    t.subject.kind === "id" ? { id: t.subject.id } : { namespace: t.subject.namespace, object: t.subject.object, relation: t.subject.relation };
  return { namespace: t.namespace, object: t.object, relation: t.relation, subject };
}

function* plainTuples(tuples: Iterable<EngineTupleLike>): Generator<PlainRelationship> {
  for (const t of tuples) yield plainOf(t);
}

/**
 * The suite's Drive dataset of `tuples` tuples (at least 10,000) and `checks` requests of its workload
 * (owner, deep nested-group, and random mostly-denied checks): the same data and questions as the in-process
 * figures, so network and in-process numbers compare.
 */
export function driveNetworkDataset(tuples = 10_000, checks = 1000, seed = 1): NetworkDataset {
  const drive = new Drive(tuples, seed);
  return {
    name: `drive-${tuples}`,
    schema: { text: DRIVE_SCHEMA_FGA, language: "fga" },
    tuples: { [Symbol.iterator]: () => plainTuples(drive.tuples()) },
    checks: drive.workload(checks).requests.map(plainOf),
  };
}
