/**
 * Cross-reference checks on a parsed schema, shared by both front ends (OPL and the OpenFGA DSL): every
 * referenced type and relation exists, tuple-to-userset hops can land somewhere, and every relation has a
 * base case. Runs on the IR, so it knows nothing about syntax; it reports every problem it finds.
 */
import type { Diagnostic, RelationDef, Rewrite, Schema, SourcePosition, TypeDef } from "./ir.js";

/**
 * How deep Keto follows subject-set types when it type-checks `traverse` (`tupleToSubjectSetTypeCheckMaxDepth`
 * in ory/keto `internal/schema/limits.go`).
 */
const OPL_TRAVERSE_CHECK_DEPTH = 10;

/**
 * Validates a schema and returns every problem: `unknown_type`, `invalid_subject_set`, `unknown_relation`
 * and `no_base_case` diagnostics, each at the offending reference (or, for `no_base_case`, the relation).
 */
export function validateSchema(schema: Schema): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const error = (construct: string, message: string, start: SourcePosition): void => {
    diagnostics.push({ severity: "error", message, start, construct });
  };
  for (const type of schema.types.values()) {
    for (const relation of type.relations.values()) {
      checkDirectTypes(schema, type, relation, error);
      checkRewrite(schema, type, relation, relation.rewrite, error);
    }
  }
  checkBaseCases(schema, error);
  return diagnostics;
}

type Report = (construct: string, message: string, start: SourcePosition) => void;

/** Formats a subject type as written in the DSLs: `user`, `user:*`, `group#member`. */
function formatSubjectType(t: { type: string; relation?: string; wildcard?: boolean }): string {
  if (t.wildcard === true) return `${t.type}:*`;
  return t.relation === undefined ? t.type : `${t.type}#${t.relation}`;
}

function checkDirectTypes(schema: Schema, type: TypeDef, relation: RelationDef, report: Report): void {
  for (const direct of relation.directTypes) {
    const target = schema.types.get(direct.type);
    if (target === undefined) {
      report(
        "unknown_type",
        `relation \`${type.name}#${relation.name}\` allows subject type \`${formatSubjectType(direct)}\`, but type \`${direct.type}\` is not defined`,
        direct.pos,
      );
    } else if (direct.relation !== undefined && !target.relations.has(direct.relation)) {
      report(
        "invalid_subject_set",
        `relation \`${type.name}#${relation.name}\` allows subject set \`${direct.type}#${direct.relation}\`, but type \`${direct.type}\` has no relation or permission \`${direct.relation}\``,
        direct.pos,
      );
    }
  }
}

function checkRewrite(schema: Schema, type: TypeDef, relation: RelationDef, rewrite: Rewrite, report: Report): void {
  switch (rewrite.kind) {
    case "this":
      return;
    case "computed":
      if (!type.relations.has(rewrite.relation)) {
        report(
          "unknown_relation",
          `\`${type.name}#${relation.name}\` refers to \`${rewrite.relation}\`, which is not a relation or permission of type \`${type.name}\``,
          rewrite.pos,
        );
      }
      return;
    case "tupleToUserset":
      checkTupleToUserset(schema, type, relation, rewrite, report);
      return;
    case "union":
    case "intersection":
      for (const child of rewrite.children) checkRewrite(schema, type, relation, child, report);
      return;
    case "exclusion":
      checkRewrite(schema, type, relation, rewrite.base, report);
      checkRewrite(schema, type, relation, rewrite.subtract, report);
      return;
    case "complement":
      checkRewrite(schema, type, relation, rewrite.child, report);
      return;
  }
}

type TupleToUserset = Extract<Rewrite, { kind: "tupleToUserset" }>;

function checkTupleToUserset(schema: Schema, type: TypeDef, relation: RelationDef, ttu: TupleToUserset, report: Report): void {
  const where = `\`${type.name}#${relation.name}\``;
  const tupleset = type.relations.get(ttu.tupleset);
  if (tupleset === undefined) {
    report(
      "unknown_relation",
      `${where} follows \`${ttu.tupleset}\` (to reach \`${ttu.computed}\`), but \`${ttu.tupleset}\` is not a relation of type \`${type.name}\``,
      ttu.pos,
    );
    return;
  }
  if (schema.language === "fga") checkFgaTupleset(schema, where, tupleset, ttu, report);
  else checkOplTraverse(schema, where, tupleset, ttu, report);
}

/**
 * OpenFGA's rule (openfga/language `pkg/js/validator/validate-dsl.ts`, `childDefDefined`, case
 * TupleToUserset): the relation after `from` must be directly assignable only (`define parent: [folder]`, no
 * rewrite), its type restrictions must be plain types (no `t#r`, no `t:*`), and the computed relation must
 * exist on at least one of those types.
 */
function checkFgaTupleset(schema: Schema, where: string, tupleset: RelationDef, ttu: TupleToUserset, report: Report): void {
  const label = `\`${ttu.computed} from ${ttu.tupleset}\``;
  if (tupleset.rewrite.kind !== "this" || tupleset.directTypes.length === 0) {
    report(
      "unknown_relation",
      `${where}: ${label} needs \`${ttu.tupleset}\` to be a directly assignable relation with only a type list (like \`define ${ttu.tupleset}: [folder]\`), not a computed one`,
      ttu.pos,
    );
    return;
  }
  let plainTypes = 0;
  let found = false;
  for (const t of tupleset.directTypes) {
    if (t.wildcard === true || t.relation !== undefined) {
      report(
        "unknown_relation",
        `${where}: ${label} needs \`${ttu.tupleset}\` to allow only plain types, but it allows \`${formatSubjectType(t)}\``,
        ttu.pos,
      );
      continue;
    }
    plainTypes++;
    if (schema.types.get(t.type)?.relations.has(ttu.computed) === true) found = true;
  }
  if (plainTypes > 0 && !found) {
    const names = tupleset.directTypes.filter((t) => t.wildcard !== true && t.relation === undefined).map((t) => `\`${t.type}\``);
    report(
      "unknown_relation",
      `${where}: ${label} needs \`${ttu.computed}\` on a type that \`${ttu.tupleset}\` can hold, but none of ${names.join(", ")} defines it`,
      ttu.pos,
    );
  }
}

/**
 * Keto's rule (ory/keto `internal/schema/typechecks.go`, `checkAllRelationsTypesHaveRelation`): the computed
 * relation must exist on *every* type the traversed relation allows; for a `SubjectSet<T, "r">` type the check
 * continues with the types of `T#r`, up to a fixed depth.
 */
function checkOplTraverse(schema: Schema, where: string, tupleset: RelationDef, ttu: TupleToUserset, report: Report): void {
  const missing = new Set<string>();
  const visited = new Set<string>();
  const walk = (relation: RelationDef, depth: number): void => {
    if (depth < 0) return;
    for (const t of relation.directTypes) {
      const target = schema.types.get(t.type);
      if (target === undefined) continue; // already an unknown_type diagnostic
      if (t.relation === undefined) {
        if (!target.relations.has(ttu.computed)) missing.add(t.type);
        continue;
      }
      const key = `${t.type}#${t.relation}`;
      const next = target.relations.get(t.relation);
      if (next === undefined || visited.has(key)) continue;
      visited.add(key);
      walk(next, depth - 1);
    }
  };
  walk(tupleset, OPL_TRAVERSE_CHECK_DEPTH);
  for (const name of missing) {
    report(
      "unknown_relation",
      `${where} traverses \`${ttu.tupleset}\` to \`${ttu.computed}\`, but type \`${name}\` (allowed in \`${ttu.tupleset}\`) has no relation or permission \`${ttu.computed}\``,
      ttu.pos,
    );
  }
}

/**
 * Finds relations that can never contain a subject, by a least fixpoint of "grounded": a type list is
 * grounded when it admits a subject that needs no further lookup (a plain type, a wildcard, a bare id when the
 * language allows them) or a subject set whose relation is grounded; a union needs one grounded child, an
 * intersection all, an exclusion its base; a complement is always grounded (it is decidable for any subject);
 * a computed reference follows its target; a tuple-to-userset needs its computed relation grounded on at least
 * one type the tupleset can hold. References that do not resolve count as grounded: they already have their
 * own diagnostic. Legitimate recursion (`[user] or viewer from parent`, `[user, group#member]`) is grounded
 * through its base case.
 */
function checkBaseCases(schema: Schema, report: Report): void {
  const grounded = new Set<string>();
  const key = (type: string, relation: string): string => `${type}#${relation}`;

  const isGrounded = (type: TypeDef, relation: RelationDef, rewrite: Rewrite): boolean => {
    switch (rewrite.kind) {
      case "this":
        return relation.directTypes.some((t) => {
          if (t.relation === undefined || schema.bareSubjectIds) return true;
          const target = schema.types.get(t.type);
          if (target === undefined || !target.relations.has(t.relation)) return true;
          return grounded.has(key(t.type, t.relation));
        });
      case "computed":
        return !type.relations.has(rewrite.relation) || grounded.has(key(type.name, rewrite.relation));
      case "tupleToUserset": {
        const tupleset = type.relations.get(rewrite.tupleset);
        if (tupleset === undefined) return true;
        const candidates = tupleset.directTypes.filter((t) => schema.types.get(t.type)?.relations.has(rewrite.computed) === true);
        if (candidates.length === 0) return true;
        return candidates.some((t) => grounded.has(key(t.type, rewrite.computed)));
      }
      case "union":
        return rewrite.children.some((c) => isGrounded(type, relation, c));
      case "intersection":
        return rewrite.children.every((c) => isGrounded(type, relation, c));
      case "exclusion":
        return isGrounded(type, relation, rewrite.base);
      case "complement":
        return true;
    }
  };

  for (let changed = true; changed; ) {
    changed = false;
    for (const type of schema.types.values()) {
      for (const relation of type.relations.values()) {
        const k = key(type.name, relation.name);
        if (!grounded.has(k) && isGrounded(type, relation, relation.rewrite)) {
          grounded.add(k);
          changed = true;
        }
      }
    }
  }

  for (const type of schema.types.values()) {
    for (const relation of type.relations.values()) {
      if (grounded.has(key(type.name, relation.name))) continue;
      const name = `\`${type.name}#${relation.name}\``;
      const message = reachesItself(schema, type.name, relation.name)
        ? `${name} has no base case: it refers to itself (directly or through other relations) and no alternative can ever contain a subject`
        : `${name} has no base case: it depends only on relations that can never contain a subject`;
      report("no_base_case", message, relation.pos);
    }
  }
}

/** The relations a rewrite depends on, as `[type, relation]` pairs (for cycle detection in messages). */
function dependencies(schema: Schema, type: TypeDef, relation: RelationDef, rewrite: Rewrite): Array<[string, string]> {
  switch (rewrite.kind) {
    case "this":
      return relation.directTypes.filter((t) => t.relation !== undefined).map((t) => [t.type, t.relation as string]);
    case "computed":
      return [[type.name, rewrite.relation]];
    case "tupleToUserset": {
      const tupleset = type.relations.get(rewrite.tupleset);
      return (tupleset?.directTypes ?? []).map((t) => [t.type, rewrite.computed]);
    }
    case "union":
    case "intersection":
      return rewrite.children.flatMap((c) => dependencies(schema, type, relation, c));
    case "exclusion":
      return [...dependencies(schema, type, relation, rewrite.base), ...dependencies(schema, type, relation, rewrite.subtract)];
    case "complement":
      return dependencies(schema, type, relation, rewrite.child);
  }
}

/** True when `type#relation` depends on itself through any chain of references. */
function reachesItself(schema: Schema, typeName: string, relationName: string): boolean {
  const start = `${typeName}#${relationName}`;
  const seen = new Set<string>();
  const stack: Array<[string, string]> = [[typeName, relationName]];
  while (stack.length > 0) {
    const [t, r] = stack.pop() as [string, string];
    const type = schema.types.get(t);
    const relation = type?.relations.get(r);
    if (type === undefined || relation === undefined) continue;
    for (const [dt, dr] of dependencies(schema, type, relation, relation.rewrite)) {
      const k = `${dt}#${dr}`;
      if (k === start) return true;
      if (!seen.has(k)) {
        seen.add(k);
        stack.push([dt, dr]);
      }
    }
  }
  return false;
}
