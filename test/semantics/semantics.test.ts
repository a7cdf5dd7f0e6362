/**
 * The semantics suite: store files (OpenFGA's `.fga.yaml` format) covering direct relations, computed
 * usersets, tuple-to-userset, union, intersection, exclusion, wildcards, subject sets with empty relation, bare
 * subject ids, cycles and Keto's operator folding, run through `gatehouse validate`'s runner, plus the checks
 * that need the API directly (the depth limit, OPL vs OpenFGA agreement on every question).
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LimitExceededError } from "../../common/errors.js";
import { loadStoreFile } from "../../cli/store-file/load-store-file.js";
import { runStoreFile } from "../../cli/store-file/run-store-file.js";
import { openPermissionEngine, type PermissionEngine, type PermissionEngineOptions } from "../../engine/permission-engine.js";
import { EvaluatorPool } from "../../engine/pool/evaluator-pool.js";
import { createMemoryStore } from "../../engine/store/index.js";
import { parseSubject, parseTuple } from "../../engine/tuple.js";

const here = new URL(".", import.meta.url).pathname;
const drive = join(here, "../../examples/drive");
const storeFiles = [
  ...readdirSync(here).filter((f) => f.endsWith(".fga.yaml")).map((f) => join(here, f)),
  ...readdirSync(drive).filter((f) => f.endsWith(".fga.yaml")).map((f) => join(drive, f)),
];

// Every assertion runs twice: evaluated on the calling thread, and in the worker pool over the shared snapshot.
const pool = new EvaluatorPool({ threads: 2 });
afterAll(() => pool.close());
type EngineOptions = Omit<PermissionEngineOptions, "store">;
const evaluators: [string, EngineOptions][] = [
  ["on the calling thread", {}],
  ["in the worker pool", { evaluator: { pool } }],
];
let engineOptions: EngineOptions = {};

async function engineWith(model: string, tuples: string[], maxDepth?: number): Promise<PermissionEngine> {
  const engine = await openPermissionEngine({
    ...engineOptions,
    store: createMemoryStore(),
    quantizationMs: 0,
    ...(maxDepth === undefined ? {} : { maxDepth }),
  });
  await engine.writeSchema(model);
  await engine.write(tuples.map((t) => ({ op: "touch" as const, tuple: parseTuple(t) })));
  return engine;
}

describe.each(evaluators)("evaluated %s", (_name, options) => {
  // The suites below read `engineOptions`; each mode sets it before its tests run.
  beforeAll(() => {
    engineOptions = options;
  });

  describe("semantics store files", () => {
    let total = 0;
    for (const path of storeFiles) {
      it(`${path.slice(path.lastIndexOf("/") + 1)} passes every assertion`, async () => {
        const report = await runStoreFile(loadStoreFile(path), engineOptions);
        expect(report.failures).toEqual([]);
        expect(report.passed).toBeGreaterThan(10);
        total += report.passed;
      });
    }
    it("covers at least 150 assertions", () => {
      expect(total).toBeGreaterThanOrEqual(150);
    });
  });

  describe("the depth limit", () => {
    const model = `model
    schema 1.1
  type user
  type group
    relations
      define member: [user, group#member]`;
    // g0 <- g1 <- ... <- g6: user:deep is a member of g6, so of g0 through 6 nested subject sets.
    const chain = Array.from({ length: 6 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`);
    const tuples = [...chain, "group:g6#member@user:deep", "group:g0#member@user:top"];

    it("answers when the depth is enough", async () => {
      const engine = await engineWith(model, tuples);
      const q = { namespace: "group", object: "g0", relation: "member", subject: parseSubject("user:deep") };
      expect((await engine.check(q)).allowed).toBe(true);
      expect((await engine.check(q, { maxDepth: 7 })).allowed).toBe(true);
    });

    it("is an error, not a deny, when the depth runs out", async () => {
      const engine = await engineWith(model, tuples);
      const q = { namespace: "group", object: "g0", relation: "member", subject: parseSubject("user:deep") };
      await expect(engine.check(q, { maxDepth: 3 })).rejects.toBeInstanceOf(LimitExceededError);
      await expect(engine.check(q, { maxDepth: 3 })).rejects.toMatchObject({ reason: "max_depth_exceeded" });
    });

    it("still answers true when another branch decides before the limit", async () => {
      const engine = await engineWith(model, tuples);
      const q = { namespace: "group", object: "g0", relation: "member", subject: parseSubject("user:top") };
      expect((await engine.check(q, { maxDepth: 1 })).allowed).toBe(true);
    });

    it("clamps a request depth above the engine's limit to the limit", async () => {
      const engine = await engineWith(model, tuples, 3);
      const q = { namespace: "group", object: "g0", relation: "member", subject: parseSubject("user:deep") };
      await expect(engine.check(q, { maxDepth: 100 })).rejects.toBeInstanceOf(LimitExceededError);
    });
  });

  describe("the same model in OPL and in the OpenFGA DSL", () => {
    it("gives the same answer to every check over the drive dataset", async () => {
      const fga = loadStoreFile(join(drive, "drive.fga.yaml"));
      const opl = loadStoreFile(join(drive, "drive.opl.fga.yaml"));
      const tuples = fga.tuples.map((t) => `${t.object}#${t.relation}@${t.user}`);
      const a = await engineWith(fga.model, tuples);
      const b = await engineWith(opl.model, tuples);
      const users = [...new Set(fga.tuples.map((t) => t.user))].concat(["user:zed"]);
      const objects = [...new Set(fga.tuples.flatMap((t) => [t.object, t.user.split("#")[0] ?? ""]))].filter((o) => o.includes(":"));
      let compared = 0;
      let allowed = 0;
      for (const objectText of objects) {
        const [namespace = "", object = ""] = objectText.split(":");
        const relations = [...(a.schema?.types.get(namespace)?.relations.keys() ?? [])];
        for (const relation of relations) {
          for (const user of users) {
            const subject = parseSubject(user);
            const q = { namespace, object, relation, subject };
            const ra = (await a.check(q)).allowed;
            const rb = (await b.check(q)).allowed;
            expect({ q: `${objectText}#${relation}@${user}`, allowed: rb }).toEqual({ q: `${objectText}#${relation}@${user}`, allowed: ra });
            compared++;
            if (ra) allowed++;
          }
        }
      }
      // Guard against a vacuous comparison: both answers must be exercised.
      expect(compared).toBeGreaterThan(500);
      expect(allowed).toBeGreaterThan(50);
      expect(compared - allowed).toBeGreaterThan(50);
    });

    it("agrees on lookups too", async () => {
      const fga = loadStoreFile(join(drive, "drive.fga.yaml"));
      const opl = loadStoreFile(join(drive, "drive.opl.fga.yaml"));
      const tuples = fga.tuples.map((t) => `${t.object}#${t.relation}@${t.user}`);
      const a = await engineWith(fga.model, tuples);
      const b = await engineWith(opl.model, tuples);
      for (const permission of ["own", "edit", "view", "comment"]) {
        for (const user of ["user:anne", "user:bob", "user:olivia", "user:gina"]) {
          const q = { namespace: "document", relation: permission, subject: parseSubject(user) };
          expect((await b.lookupResources(q)).objects).toEqual((await a.lookupResources(q)).objects);
        }
        const s = { namespace: "document", object: "roadmap", relation: permission, subjectNamespace: "user" };
        expect((await b.lookupSubjects(s)).subjects).toEqual((await a.lookupSubjects(s)).subjects);
      }
    });
  });
});
