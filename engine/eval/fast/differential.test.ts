/**
 * Differential test: the int evaluator (one reused IntChecker per revision, and evaluateBatch) against the
 * string evaluator (`check`, or `Checker.resolve` where `check` rejects an unknown name) on random schemas
 * and tuple histories: OpenFGA, Keto non-strict and strict OPL, depth limits, deletions at several revisions.
 * A failure names its seed.
 */
import { describe, expect, it } from "vitest";
import { GraphSnapshot } from "../../graph/graph-snapshot.js";
import { compileSchema } from "../../schema/compile.js";
import type { Schema } from "../../schema/ir.js";
import type { TupleChange } from "../../store/tuple-store.js";
import { formatSubject, type RelationTuple } from "../../tuple.js";
import { Random, randomCase } from "../../../test/differential/random-model.js";
import type { CheckRequest } from "../check.js";
import { Checker } from "../checker.js";
import { evaluateBatch } from "./batch.js";
import { IntChecker } from "./int-checker.js";
import { fastPathStats } from "./union-fast-path.js";
import { randomHistoryCase } from "./random-case.js";
import { batchItems, intFixture, RequestIds, stringTri, type IntFixture } from "./test-support.js";

const SEEDS = Number(process.env.GATEHOUSE_FAST_DIFF_SEEDS ?? 300);
const DEPTHS = [1, 2, 3, 4, 6, 25];
/** Large seed counts run long (each check is evaluated five ways). */
const TIMEOUT = Math.max(30_000, SEEDS * 60);

interface Tally {
  checks: number;
  answers: [number, number, number];
  /** Answers of the checks of union-only relations (the ones the fast path may answer), by value. */
  unionOnly: [number, number, number];
}

function describeCheck(c: { request: CheckRequest; maxDepth: number }): string {
  const r = c.request;
  return `${r.namespace}:${r.object}#${r.relation}@${formatSubject(r.subject)} maxDepth ${c.maxDepth}`;
}

/** Compares every check at `revision`: string, a reused IntChecker in the given order, and evaluateBatch. */
function compareAt(
  label: string,
  schema: Schema,
  f: IntFixture,
  revision: number,
  checks: readonly { request: CheckRequest; maxDepth: number }[],
  tally: Tally,
  context: () => string,
): void {
  const ids = new RequestIds(f.snapshot.names);
  const graph = f.graph();
  const expected = checks.map((c) => stringTri(schema, f.snapshot, revision, c.request, c.maxDepth));
  const checker = new IntChecker(f.index, graph, revision, f.wildcard());
  const batch = evaluateBatch(f.index, graph, { revision, wildcardObject: f.wildcard(), items: batchItems(ids, checks) });
  checks.forEach((c, i) => {
    const [t, o, r, st, so, sr] = ids.request(c.request) as [number, number, number, number, number, number];
    // The fast path (decide) and the forward walk (resolve) interleaved on one checker, sharing its memo.
    const decided = checker.decide(t, o, r, st, so, sr, c.maxDepth);
    const actual = checker.resolve(t, o, r, st, so, sr, c.maxDepth);
    const want = expected[i] as number;
    if (actual !== want || decided !== want || batch[i] !== want) {
      expect.fail(
        `${label} @${revision}: ${describeCheck(c)}: string ${want}, IntChecker ${actual}, decide ${decided}, batch ${batch[i]}\n${context()}`,
      );
    }
    if (i % 4 === 0) {
      // A fresh checker makes the same decisions as a fresh Checker, down to the depth need and the cut flag.
      const fresh = new IntChecker(f.index, graph, revision, f.wildcard());
      const value = fresh.resolve(t, o, r, st, so, sr, c.maxDepth);
      const { namespace, object, relation, subject } = c.request;
      const outcome = new Checker(schema, f.snapshot.at(revision)).resolve(namespace, object, relation, subject, c.maxDepth);
      if (value !== outcome.value || fresh.needed !== outcome.needed || fresh.cut !== outcome.cut) {
        expect.fail(
          `${label} @${revision}: ${describeCheck(c)}: Checker ${JSON.stringify(outcome)}, ` +
            `fresh IntChecker ${JSON.stringify({ value, needed: fresh.needed, cut: fresh.cut })}\n${context()}`,
        );
      }
    }
    tally.checks++;
    tally.answers[want as 0 | 1 | 2]++;
    const def = f.index.findRelation(t, r);
    if (def >= 0 && f.index.defUnionOnly[def] === 1) tally.unionOnly[want as 0 | 1 | 2]++;
  });
}

/** Asserts the union-only fast path answered a fair share of checks, both TRUE and FALSE. */
function expectFastPathUsed(tally: Tally, share = 0.5): void {
  const { tried, answeredTrue, answeredFalse } = fastPathStats;
  console.log(
    `fast path: ${JSON.stringify(fastPathStats)} of 2 x ${tally.checks} checks, answers ${JSON.stringify(tally.answers)}, ` +
      `union-only ${JSON.stringify(tally.unionOnly)}`,
  );
  // Each check goes through the fast path twice (decide and evaluateBatch); it sees the union-only ones.
  const [no, yes] = tally.unionOnly;
  expect(tried, "fast path tried").toBeGreaterThan(2 * tally.checks * 0.1);
  expect(yes, "union-only TRUE checks").toBeGreaterThan(tally.checks / 500);
  expect(no, "union-only FALSE checks").toBeGreaterThan(tally.checks / 20);
  expect(answeredTrue, "fast path answered TRUE").toBeGreaterThan(2 * yes * share);
  expect(answeredFalse, "fast path answered FALSE").toBeGreaterThan(2 * no * share);
}

function resetFastPathStats(): void {
  fastPathStats.tried = 0;
  fastPathStats.answeredTrue = 0;
  fastPathStats.answeredFalse = 0;
}

function formatTuples(tuples: readonly RelationTuple[]): string {
  return tuples.map((t) => `${t.namespace}:${t.object}#${t.relation}@${formatSubject(t.subject)}`).join("\n");
}

function formatChanges(changes: readonly TupleChange[]): string {
  return changes.map((c) => `@${c.revision} ${c.op} ${formatTuples([c.tuple])}`).join("\n");
}

describe("int evaluator vs string evaluator", () => {
  it(`agrees on ${SEEDS} random schemas and histories (OpenFGA, Keto non-strict, strict OPL)`, () => {
    const tally: Tally = { checks: 0, answers: [0, 0, 0], unionOnly: [0, 0, 0] };
    resetFastPathStats();
    for (let seed = 1; seed <= SEEDS; seed++) {
      const c = randomHistoryCase(seed);
      const snapshot = GraphSnapshot.build(c.initial, 1);
      snapshot.apply(c.changes, c.lastRevision);
      const f = intFixture(c.schema, snapshot);
      const rnd = new Random(seed);
      const context = () =>
        `seed ${seed} (${c.flavor})\n${JSON.stringify(f.intSchema)}\n${formatTuples(c.initial)}\n${formatChanges(c.changes)}`;
      for (let revision = 1; revision <= c.lastRevision; revision++) {
        const stored = [...c.initial, ...c.changes.map((change) => change.tuple)];
        const checks = Array.from({ length: 250 }, () => {
          // Half of the checks ask about a stored tuple's object and subject, where members are likelier.
          const t = rnd.chance(0.5) ? rnd.pick(stored) : undefined;
          const { namespace, object } = t ?? rnd.pick(c.objects);
          const subject = t !== undefined && rnd.chance(0.7) ? t.subject : rnd.pick(c.subjects);
          return { request: { namespace, object, relation: rnd.pick(c.relations), subject }, maxDepth: rnd.pick(DEPTHS) };
        });
        compareAt(`seed ${seed}`, c.schema, f, revision, checks, tally, context);
      }
    }
    // Guard against a vacuous run: every answer occurs often.
    expect(tally.answers[1]).toBeGreaterThan(tally.checks / 20);
    expect(tally.answers[0]).toBeGreaterThan(tally.checks / 5);
    expect(tally.answers[2]).toBeGreaterThan(tally.checks / 200);
    expectFastPathUsed(tally);
  }, TIMEOUT);

  it("agrees on the compiled OpenFGA models of test/differential, before and after deleting a quarter", () => {
    const tally: Tally = { checks: 0, answers: [0, 0, 0], unionOnly: [0, 0, 0] };
    resetFastPathStats();
    for (let seed = 1; seed <= Math.ceil(SEEDS / 3); seed++) {
      const c = randomCase(seed);
      const schema = compileSchema(c.model, { language: "fga" }).schema;
      if (schema === undefined) continue;
      const snapshot = GraphSnapshot.build(c.tuples, 1);
      const deleted = c.tuples.filter((_, i) => i % 4 === 1);
      snapshot.apply(deleted.map((tuple) => ({ revision: 2, op: "delete" as const, tuple })));
      const f = intFixture(schema, snapshot);
      const checks = c.objects.flatMap(({ namespace, object }) =>
        (c.relations.get(namespace) ?? []).flatMap((relation) =>
          c.subjects.map((subject, i) => ({ request: { namespace, object, relation, subject }, maxDepth: i % 3 === 0 ? 3 : 25 })),
        ),
      );
      const context = () => `${c.model}\n${formatTuples(c.tuples)}`;
      compareAt(`fga seed ${seed}`, schema, f, 1, checks, tally, context);
      compareAt(`fga seed ${seed}`, schema, f, 2, checks, tally, context);
    }
    expect(tally.answers[1]).toBeGreaterThan(tally.checks / 30);
    expect(tally.answers[2]).toBeGreaterThan(0);
    expectFastPathUsed(tally);
  }, TIMEOUT);
});
