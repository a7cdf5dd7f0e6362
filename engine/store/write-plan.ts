/**
 * The store-independent half of a write: validating the batch, reducing it to the tuples that really change,
 * and checking preconditions. Every store runs the same rules, so a batch means the same thing in memory, in
 * PGlite and in PostgreSQL.
 *
 * Batch semantics: the writes apply in order, as if one after the other, but atomically under one revision.
 * - `create` fails when the tuple is live at that point of the batch (so also when an earlier write of the
 *   same batch created or touched it);
 * - only the net effect is stored and logged: a tuple deleted and touched again in one batch stays live
 *   (with its original revision) and produces no changelog entry; a tuple touched then deleted in one batch
 *   that did not exist before leaves no trace.
 */
import { AlreadyExistsError, InvalidArgumentError, PreconditionFailedError } from "../../common/errors.js";
import type { SchemaLanguage } from "../schema/ir.js";
import type { RelationTuple } from "../tuple.js";
import { formatTuple } from "../tuple.js";
import { describeFilter } from "./tuple-filter.js";
import type { TupleKey } from "./tuple-key.js";
import { tupleKeyOf, tupleKeyString } from "./tuple-key.js";
import type { TupleFilter, TupleWrite, WritePrecondition } from "./tuple-store.js";

/** A tuple together with its key and key string, computed once. */
export interface KeyedTuple {
  readonly tuple: RelationTuple;
  readonly key: TupleKey;
  readonly id: string;
}

/** The net effect of a batch: tuples to insert and live tuples to delete (disjoint sets). */
export interface WritePlan {
  readonly inserts: readonly KeyedTuple[];
  readonly deletes: readonly KeyedTuple[];
}

/** The largest batch a single write accepts; bigger batches should be split by the caller. */
export const MAX_BATCH_SIZE = 100_000;

function checkText(value: unknown, field: string): void {
  if (typeof value !== "string") {
    throw new InvalidArgumentError(`${field} must be a string`, { details: { field } });
  }
  // PostgreSQL text cannot hold NUL; rejecting it everywhere keeps the stores interchangeable.
  if (value.includes("\u0000")) {
    throw new InvalidArgumentError(`${field} must not contain the NUL character`, { details: { field } });
  }
}

/** Validates what a store needs of a tuple (not the schema's rules): strings without NUL, typed subject sets. */
export function validateStoredTuple(tuple: RelationTuple, field: string): void {
  checkText(tuple.namespace, `${field}.namespace`);
  checkText(tuple.object, `${field}.object`);
  checkText(tuple.relation, `${field}.relation`);
  const s = tuple.subject;
  if (s.kind === "id") {
    checkText(s.id, `${field}.subject.id`);
  } else if (s.kind === "set") {
    checkText(s.namespace, `${field}.subject.namespace`);
    checkText(s.object, `${field}.subject.object`);
    checkText(s.relation, `${field}.subject.relation`);
    // An empty namespace is how stores mark bare ids, so a subject set must have one.
    if (s.namespace === "") {
      throw new InvalidArgumentError(`${field}.subject.namespace must not be empty for a subject set`, {
        details: { field: `${field}.subject.namespace` },
      });
    }
  } else {
    throw new InvalidArgumentError(`${field}.subject has an unknown kind`, { details: { field: `${field}.subject` } });
  }
}

/** Validates a filter's strings (NUL is rejected as in tuples). */
export function validateFilter(filter: TupleFilter, field: string): void {
  for (const name of ["namespace", "object", "relation", "subjectNamespace", "subjectRelation"] as const) {
    const value = filter[name];
    if (value !== undefined) checkText(value, `${field}.${name}`);
  }
  if (filter.subject !== undefined) {
    const s = filter.subject;
    if (s.kind === "id") checkText(s.id, `${field}.subject.id`);
    else {
      checkText(s.namespace, `${field}.subject.namespace`);
      checkText(s.object, `${field}.subject.object`);
      checkText(s.relation, `${field}.subject.relation`);
    }
  }
}

/** Validates a batch and keys its tuples; returns the distinct tuples it touches (first occurrence wins). */
export function keyBatch(writes: readonly TupleWrite[]): { keyed: KeyedTuple[]; distinct: Map<string, KeyedTuple> } {
  if (writes.length > MAX_BATCH_SIZE) {
    throw new InvalidArgumentError(`writes: a batch holds at most ${MAX_BATCH_SIZE} changes, got ${writes.length}`, {
      details: { field: "writes" },
    });
  }
  const keyed: KeyedTuple[] = [];
  const distinct = new Map<string, KeyedTuple>();
  writes.forEach((w, i) => {
    if (w.op !== "touch" && w.op !== "create" && w.op !== "delete") {
      throw new InvalidArgumentError(`writes[${i}].op must be touch, create or delete`, {
        details: { field: `writes[${i}].op` },
      });
    }
    validateStoredTuple(w.tuple, `writes[${i}].tuple`);
    const key = tupleKeyOf(w.tuple);
    const id = tupleKeyString(key);
    const k: KeyedTuple = { tuple: w.tuple, key, id };
    keyed.push(k);
    if (!distinct.has(id)) distinct.set(id, k);
  });
  return { keyed, distinct };
}

/**
 * Runs the batch against the liveness of its tuples before the write (`live` holds the key strings of the
 * distinct tuples that are live) and returns its net effect. Throws `AlreadyExistsError` for a `create` of a
 * tuple live at that point.
 */
export function planBatch(writes: readonly TupleWrite[], keyed: readonly KeyedTuple[], live: ReadonlySet<string>): WritePlan {
  const state = new Map<string, boolean>();
  writes.forEach((w, i) => {
    const k = keyed[i] as KeyedTuple;
    const isLive = state.get(k.id) ?? live.has(k.id);
    if (w.op === "create" && isLive) {
      const text = formatTuple(w.tuple);
      throw new AlreadyExistsError(`writes[${i}]: relation tuple ${text} already exists`, {
        details: { field: `writes[${i}].tuple`, tuple: text },
      });
    }
    state.set(k.id, w.op !== "delete");
  });
  const inserts: KeyedTuple[] = [];
  const deletes: KeyedTuple[] = [];
  const seen = new Set<string>();
  for (const k of keyed) {
    if (seen.has(k.id)) continue;
    seen.add(k.id);
    const before = live.has(k.id);
    const after = state.get(k.id) as boolean;
    if (!before && after) inserts.push(k);
    else if (before && !after) deletes.push(k);
  }
  return { inserts, deletes };
}

/** Validates preconditions before any store work. */
export function validatePreconditions(preconditions: readonly WritePrecondition[]): void {
  preconditions.forEach((p, i) => {
    if (p.kind !== "must_match" && p.kind !== "must_not_match") {
      throw new InvalidArgumentError(`preconditions[${i}].kind must be must_match or must_not_match`, {
        details: { field: `preconditions[${i}].kind` },
      });
    }
    validateFilter(p.filter, `preconditions[${i}].filter`);
  });
}

/** Throws `PreconditionFailedError` when a precondition does not hold given whether any live tuple matched. */
export function checkPrecondition(precondition: WritePrecondition, index: number, anyMatch: boolean): void {
  if (precondition.kind === "must_match" && !anyMatch) {
    throw new PreconditionFailedError(
      `preconditions[${index}]: no relation tuple matches ${describeFilter(precondition.filter)}`,
      { details: { field: `preconditions[${index}]` } },
    );
  }
  if (precondition.kind === "must_not_match" && anyMatch) {
    throw new PreconditionFailedError(
      `preconditions[${index}]: a relation tuple matches ${describeFilter(precondition.filter)}`,
      { details: { field: `preconditions[${index}]` } },
    );
  }
}

/** Validates a schema write: the text must be storable, the language known. */
export function validateSchemaWrite(text: string, language: SchemaLanguage): void {
  checkText(text, "text");
  if (language !== "opl" && language !== "fga") {
    throw new InvalidArgumentError(`language must be opl or fga, got ${String(language)}`, { details: { field: "language" } });
  }
}
