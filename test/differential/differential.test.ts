/**
 * Randomized differential test: random OpenFGA models and tuple sets, the engine against the naive reference
 * evaluator, for check, lookupResources and lookupSubjects — and the engine against itself across APIs
 * (check == membership in the lookups), as SpiceDB's consistency suite does. A failure names its seed.
 */
import { afterAll, describe, expect, it } from "vitest";
import { compileSchema } from "../../engine/schema/compile.js";
import { openPermissionEngine } from "../../engine/permission-engine.js";
import { EvaluatorPool } from "../../engine/pool/evaluator-pool.js";
import { createMemoryStore } from "../../engine/store/index.js";
import type { ExpandTree } from "../../engine/eval/index.js";
import { formatSubject, type Subject } from "../../engine/tuple.js";
import { randomCase } from "./random-model.js";
import { ReferenceEvaluator } from "./reference-evaluator.js";

const SEEDS = Number(process.env.GATEHOUSE_DIFF_SEEDS ?? 300);
const pool = new EvaluatorPool({ threads: 2 });
afterAll(() => pool.close());
// Large enough that the random graphs never hit it: the reference has no depth limit.
const MAX_DEPTH = 10_000;

/** Whether the userset tree holds `subject`: its leaves, combined by the tree's set operations. */
function treeContains(tree: ExpandTree, subject: Subject): boolean {
  switch (tree.kind) {
    case "leaf":
      if (tree.cyclic === true) return false;
      return (
        tree.subjects.some(
          (s) =>
            (s.kind === subject.kind && formatSubject(s) === formatSubject(subject)) ||
            (s.kind === "set" && s.object === "*" && s.relation === "" && subject.kind === "set" && subject.namespace === s.namespace && subject.relation === ""),
        ) || tree.children.some((c) => treeContains(c, subject))
      );
    case "union":
    case "tupleToUserset":
      return tree.children.some((c) => treeContains(c, subject));
    case "intersection":
      return tree.children.every((c) => treeContains(c, subject));
    case "exclusion":
      return treeContains(tree.base, subject) && !treeContains(tree.subtract, subject);
    case "complement":
      return !treeContains(tree.child, subject);
    case "computed":
      return treeContains(tree.child, subject);
  }
}

describe("engine vs naive reference on random models", () => {
  it(`agrees on check, lookupResources, lookupSubjects and expand for ${SEEDS} random models`, async () => {
    let compiled = 0;
    let expanded = 0;
    let checks = 0;
    let allowed = 0;
    let lookups = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const c = randomCase(seed);
      const result = compileSchema(c.model, { language: "fga" });
      if (result.schema === undefined) continue;
      compiled++;
      const schema = result.schema;
      const engine = await openPermissionEngine({ store: createMemoryStore(), maxDepth: MAX_DEPTH, quantizationMs: 0 });
      await engine.writeSchema(c.model, "fga");
      await engine.write(c.tuples.map((tuple) => ({ op: "touch" as const, tuple })));
      const reference = new ReferenceEvaluator(schema, c.tuples);

      for (const { namespace, object } of c.objects) {
        for (const relation of c.relations.get(namespace) ?? []) {
          for (const subject of c.subjects) {
            const expected = reference.check(namespace, object, relation, subject);
            const actual = (await engine.check({ namespace, object, relation, subject })).allowed;
            if (actual !== expected) {
              expect.fail(
                `seed ${seed}: check ${namespace}:${object}#${relation}@${formatSubject(subject)} = ${actual}, reference says ${expected}\n${c.model}\n${c.tuples.map((t) => `${t.namespace}:${t.object}#${t.relation}@${formatSubject(t.subject)}`).join("\n")}`,
              );
            }
            checks++;
            if (expected) allowed++;
          }
        }
      }

      // Contextual tuples behave as if written: store three quarters, pass the rest with each request.
      const split = Math.floor((c.tuples.length * 3) / 4);
      // The same checks in the worker pool, as one batch (the BatchCheck path), must agree too.
      const pooled = await openPermissionEngine({ store: createMemoryStore(), maxDepth: MAX_DEPTH, quantizationMs: 0, evaluator: { pool } });
      await pooled.writeSchema(c.model, "fga");
      await pooled.write(c.tuples.map((tuple) => ({ op: "touch" as const, tuple })));
      const questions = c.objects.flatMap(({ namespace, object }) =>
        (c.relations.get(namespace) ?? []).flatMap((relation) => c.subjects.map((subject) => ({ namespace, object, relation, subject }))),
      );
      const { results } = await pooled.checkMany(questions);
      questions.forEach((q, i) => {
        expect(results[i], `seed ${seed}: pooled check ${q.namespace}:${q.object}#${q.relation}@${formatSubject(q.subject)}`).toBe(
          reference.check(q.namespace, q.object, q.relation, q.subject),
        );
      });

      const partial = await openPermissionEngine({ store: createMemoryStore(), maxDepth: MAX_DEPTH, quantizationMs: 0 });
      await partial.writeSchema(c.model, "fga");
      await partial.write(c.tuples.slice(0, split).map((tuple) => ({ op: "touch" as const, tuple })));
      const contextualTuples = c.tuples.slice(split);
      for (const { namespace, object } of c.objects) {
        for (const relation of c.relations.get(namespace) ?? []) {
          for (const subject of c.subjects) {
            const withContext = (await partial.check({ namespace, object, relation, subject }, { contextualTuples })).allowed;
            expect(withContext, `seed ${seed}: contextual check ${namespace}:${object}#${relation}@${formatSubject(subject)}`).toBe(
              reference.check(namespace, object, relation, subject),
            );
          }
        }
      }

      // check == membership in the leaves of expand, combined by the tree's set operations.
      for (const { namespace, object } of c.objects) {
        for (const relation of c.relations.get(namespace) ?? []) {
          const { tree } = await engine.expand({ namespace, object, relation }, { maxNodes: 100_000 });
          if (tree.truncated === true) continue;
          expanded++;
          for (const subject of c.subjects) {
            expect(
              treeContains(tree, subject),
              `seed ${seed}: expand ${namespace}:${object}#${relation} vs check for ${formatSubject(subject)}`,
            ).toBe(reference.check(namespace, object, relation, subject));
          }
        }
      }

      // lookupResources == the objects the reference allows (over the universe, which holds every object).
      for (const namespace of c.relations.keys()) {
        for (const relation of c.relations.get(namespace) ?? []) {
          for (const subject of c.subjects) {
            const expected = c.objects
              .filter((o) => o.namespace === namespace && reference.check(namespace, o.object, relation, subject))
              .map((o) => o.object)
              .sort();
            const actual = await allResources(engine, namespace, relation, subject);
            expect(actual, `seed ${seed}: lookupResources ${namespace}#${relation} for ${formatSubject(subject)}`).toEqual(expected);
            lookups++;
          }
        }
      }

      // lookupSubjects: every listed subject is allowed; every allowed subject is listed or covered by a listed
      // wildcard (OpenFGA's ListUsers reports `user:*` rather than every user it covers).
      for (const { namespace, object } of c.objects) {
        for (const relation of c.relations.get(namespace) ?? []) {
          for (const subjectNamespace of ["user", "t0", "t1", "t2"]) {
            const listed = await allSubjects(engine, { namespace, object, relation, subjectNamespace });
            const listedKeys = new Set(listed.map(formatSubject));
            for (const s of listed) {
              expect(reference.check(namespace, object, relation, s), `seed ${seed}: ${formatSubject(s)} listed for ${namespace}:${object}#${relation}`).toBe(true);
            }
            const wildcard = listedKeys.has(`${subjectNamespace}:*`);
            for (const s of c.subjects) {
              if (s.kind !== "set" || s.namespace !== subjectNamespace || s.relation !== "") continue;
              if (!reference.check(namespace, object, relation, s)) continue;
              expect(
                listedKeys.has(formatSubject(s)) || wildcard,
                `seed ${seed}: ${formatSubject(s)} allowed on ${namespace}:${object}#${relation} but not listed`,
              ).toBe(true);
            }
            lookups++;
          }
        }
      }
    }
    // Guard against a vacuous run: many models compile (random rewrites often lack a base case, which the
    // validator rightly rejects) and both answers occur often.
    expect(compiled).toBeGreaterThan(SEEDS / 3);
    expect(allowed).toBeGreaterThan(checks / 20);
    expect(checks - allowed).toBeGreaterThan(checks / 20);
    expect(lookups).toBeGreaterThan(0);
    expect(expanded).toBeGreaterThan(compiled * 5);
  });
});

type Engine = Awaited<ReturnType<typeof openPermissionEngine>>;

async function allResources(engine: Engine, namespace: string, relation: string, subject: Subject): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    // A small page size exercises the cursors too.
    const page = await engine.lookupResources({ namespace, relation, subject }, cursor === undefined ? { pageSize: 2 } : { pageSize: 2, cursor });
    out.push(...page.objects);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}

async function allSubjects(
  engine: Engine,
  request: { namespace: string; object: string; relation: string; subjectNamespace: string },
): Promise<Subject[]> {
  const out: Subject[] = [];
  let cursor: string | undefined;
  do {
    const page = await engine.lookupSubjects(request, cursor === undefined ? { pageSize: 3 } : { pageSize: 3, cursor });
    out.push(...page.subjects);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}
