/**
 * What the main thread sends an evaluator worker and gets back. Everything is ids: the main thread interns
 * names before a batch leaves it. A task costs one structured clone of a few buffer references and the item
 * array, so batches are what make the pool pay off (a round trip is tens of microseconds).
 */
import type { SharedGraphLayout } from "../graph/shared/shared-tables.js";

// The batch format is the evaluator's (`evaluateBatch`): 7 ints per check in; one result byte per check out.
export { CHECK_ITEM_INTS as ITEM_INTS, INTERNAL_ERROR as RESULT_ERROR } from "../eval/fast/batch.js";
export { DEPTH_EXCEEDED as RESULT_DEPTH_EXCEEDED, FALSE as RESULT_FALSE, TRUE as RESULT_TRUE } from "../eval/fast/int-checker.js";

/** The compiled int schema as UTF-8 JSON in shared memory, decoded by a worker only when `version` changes. */
export interface SharedSchema {
  readonly version: number;
  readonly buffer: SharedArrayBuffer;
  readonly length: number;
}

/** A micro-batch of checks at one revision. */
export interface CheckTask {
  readonly layout: SharedGraphLayout;
  readonly schema: SharedSchema;
  readonly revision: number;
  /** The object id of `*` (OpenFGA wildcards), or -1 when the graph has none. */
  readonly wildcardObject: number;
  readonly items: Int32Array;
}

/** Encodes a schema for workers. */
export function shareSchema(version: number, data: unknown): SharedSchema {
  const bytes = new TextEncoder().encode(JSON.stringify(data));
  const buffer = new SharedArrayBuffer(Math.max(1, bytes.length));
  new Uint8Array(buffer).set(bytes);
  return { version, buffer, length: bytes.length };
}

/** Decodes a shared schema (TextDecoder cannot read shared memory directly, hence the copy). */
export function readSharedSchema(schema: SharedSchema): unknown {
  return JSON.parse(new TextDecoder().decode(new Uint8Array(schema.buffer, 0, schema.length).slice()));
}
