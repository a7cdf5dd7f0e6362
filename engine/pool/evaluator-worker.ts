/**
 * The evaluator worker: answers micro-batches of checks on the shared graph. It keeps the reader of the last
 * layout generation and the decoded schema of the last version, so a steady stream of tasks costs no setup.
 */
import { SharedGraphReader } from "../graph/shared/shared-tables.js";
import { evaluateBatch } from "../eval/fast/batch.js";
import { IntSchemaIndex, type IntSchema } from "../eval/fast/int-schema.js";
import { readSharedSchema, type CheckTask } from "./protocol.js";

let reader: SharedGraphReader | undefined;
let schemaVersion = -1;
let schema: IntSchemaIndex | undefined;

/** Piscina's task handler. */
export default function evaluate(task: CheckTask): Uint8Array {
  if (reader === undefined || reader.generation !== task.layout.generation) reader = new SharedGraphReader(task.layout);
  if (schema === undefined || schemaVersion !== task.schema.version) {
    schema = new IntSchemaIndex(readSharedSchema(task.schema) as IntSchema);
    schemaVersion = task.schema.version;
  }
  return evaluateBatch(schema, reader, { revision: task.revision, wildcardObject: task.wildcardObject, items: task.items });
}
