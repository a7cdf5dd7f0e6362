/**
 * Engine errors name fields in the engine's vocabulary (`tuples[2].subject_id`, `contextual_tuples[0]`,
 * `subjectRelation`); clients of this API know the proto's (`updates[2].relationship.subject.id`,
 * `contextual_relationships[0]`, `subject_relation`). This module renames the field of an error on its way
 * out, keeping its kind, reason and details, so the one error model stays the only source of codes.
 */
import { GatehouseError } from "../../common/errors.js";

/** One renaming: the first rule whose `from` matches the field rewrites it (as `String.replace`). */
export interface FieldRule {
  readonly from: RegExp;
  readonly to: string;
}

// Subject paths differ in every API: the engine flattens the subject, the proto nests it in the oneof.
const subjectRules: readonly FieldRule[] = [
  { from: /\.subject_id$/, to: ".subject.id" },
  { from: /\.subject\.(namespace|object|relation)$/, to: ".subject.set.$1" },
];

/** The proto field for an engine field under `rules` (then the subject rules); `undefined` when unchanged. */
export function protoFieldOf(field: string, rules: readonly FieldRule[]): string | undefined {
  let renamed = field;
  const rule = rules.find((r) => r.from.test(renamed));
  if (rule !== undefined) renamed = renamed.replace(rule.from, rule.to);
  const subject = subjectRules.find((r) => r.from.test(renamed));
  if (subject !== undefined) renamed = renamed.replace(subject.from, subject.to);
  return renamed === field ? undefined : renamed;
}

/**
 * The error with its `details.field` (and the field named at the start of its message) renamed by `rules`.
 * Anything else, and errors whose field no rule touches, come back as they were.
 */
export function renameErrorField(error: unknown, rules: readonly FieldRule[]): unknown {
  if (!(error instanceof GatehouseError) || typeof error.details.field !== "string") return error;
  const field = error.details.field;
  const renamed = protoFieldOf(field, rules);
  if (renamed === undefined) return error;
  const message = error.message.startsWith(field) ? renamed + error.message.slice(field.length) : error.message;
  const copy = new GatehouseError(error.code, message, {
    details: { ...error.details, field: renamed },
    ...(error.reason === undefined ? {} : { reason: error.reason }),
    cause: error.cause ?? error,
  });
  copy.name = error.name;
  return copy;
}

/** Runs `call`, renaming the field of whatever it throws by `rules`. */
export async function withFieldNames<T>(rules: readonly FieldRule[], call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw renameErrorField(error, rules);
  }
}

/** The rule renaming the engine's `contextual_tuples[i]` to this API's `contextual_relationships[i]`. */
export const contextualRule: FieldRule = { from: /^contextual_tuples\[/, to: "contextual_relationships[" };

/** Rules for a read whose relationship fields sit at `prefix` (e.g. `relationship.` or `items[3].relationship.`). */
export function relationshipRules(prefix: string): FieldRule[] {
  return [contextualRule, { from: /^(namespace|object|relation|subject)\b/, to: `${prefix}$1` }];
}
