/**
 * Cross-API consistency on random small graphs (SpiceDB's consistency-suite idea): for one fixed schema with
 * every rewrite kind, wildcards and a complement, `check` must agree with membership in `lookupResources`
 * (all pages) and in `lookupSubjects`, for every object and subject the view knows.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GraphSnapshot } from "../graph/graph-snapshot.js";
import { formatSubject, parseSubject, parseTuple, type Subject } from "../tuple.js";
import { check } from "./check.js";
import { lookupResources } from "./lookup-resources.js";
import { lookupSubjects } from "./lookup-subjects.js";
import { buildSchema } from "./test-schema.js";

const schema = buildSchema({
  user: {},
  group: { member: "[user, user:*, group#member]" },
  folder: { parent: "[folder]", viewer: "[user, group#member] or viewer from parent" },
  doc: {
    parent: "[folder]",
    owner: "[user, group#member]",
    blocked: "[user, user:*, group#member]",
    viewer: "[user, user:*] or owner or viewer from parent",
    reader: "viewer but not blocked",
    both: "owner and viewer",
    open: "not blocked",
  },
});

const ids = ["a", "b", "c"];
const users = ["user:u0", "user:u1", "user:u2", "user:*"];
const groupSets = ids.map((g) => `group:${g}#member`);
// Every tuple the generator may pick, including some the schema does not allow (they must be ignored).
const pool: string[] = [];
for (const o of ids) {
  for (const s of [...users, ...groupSets]) pool.push(`group:${o}#member@${s}`);
  for (const p of ids) pool.push(`folder:${o}#parent@folder:${p}`, `doc:${o}#parent@folder:${p}`);
  for (const s of [...users, ...groupSets]) {
    pool.push(`folder:${o}#viewer@${s}`, `doc:${o}#owner@${s}`, `doc:${o}#blocked@${s}`, `doc:${o}#viewer@${s}`);
  }
}
const relations: Record<string, string[]> = {
  group: ["member"],
  folder: ["viewer"],
  doc: ["owner", "blocked", "viewer", "reader", "both", "open"],
};
const subjects: Subject[] = [...users, "user:u9", ...groupSets].map((s) => parseSubject(s));

function allResources(view: ReturnType<GraphSnapshot["at"]>, namespace: string, relation: string, subject: Subject, pageSize: number): Set<string> {
  const out = new Set<string>();
  let cursor: string | undefined;
  do {
    const page = lookupResources(schema, view, { namespace, relation, subject }, cursor === undefined ? { pageSize } : { pageSize, cursor });
    for (const o of page.objects) out.add(o);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}

function allSubjects(
  view: ReturnType<GraphSnapshot["at"]>,
  request: { namespace: string; object: string; relation: string; subjectNamespace: string; subjectRelation?: string },
  pageSize: number,
  listWildcardMembers: boolean,
): Set<string> {
  const out = new Set<string>();
  let cursor: string | undefined;
  do {
    const options = { pageSize, listWildcardMembers, ...(cursor === undefined ? {} : { cursor }) };
    const page = lookupSubjects(schema, view, request, options);
    for (const s of page.subjects) out.add(formatSubject(s));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}

describe("check, lookupResources and lookupSubjects agree", () => {
  it("on random small graphs", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: 24 }),
        fc.integer({ min: 1, max: 4 }),
        (picks, pageSize) => {
          const view = GraphSnapshot.build(
            picks.map((i) => parseTuple(pool[i] as string)),
            1,
          ).at();
          const knownUsers = new Set(view.objectsOfType("user"));
          const knownGroups = new Set(view.objectsOfType("group"));
          for (const [namespace, rels] of Object.entries(relations)) {
            const known = new Set(view.objectsOfType(namespace));
            for (const relation of rels) {
              const resources = new Map(subjects.map((s) => [formatSubject(s), allResources(view, namespace, relation, s, pageSize)]));
              for (const object of ids) {
                const strict = allSubjects(view, { namespace, object, relation, subjectNamespace: "user" }, pageSize, true);
                const loose = allSubjects(view, { namespace, object, relation, subjectNamespace: "user" }, pageSize, false);
                const sets = allSubjects(
                  view,
                  { namespace, object, relation, subjectNamespace: "group", subjectRelation: "member" },
                  pageSize,
                  false,
                );
                for (const subject of subjects) {
                  const key = formatSubject(subject);
                  const allowed = check(schema, view, { namespace, object, relation, subject });
                  const where = `${namespace}:${object}#${relation}@${key}`;
                  // lookupResources is complete for the objects the view knows and never invents others.
                  expect(resources.get(key)?.has(object), `lookupResources ${where}`).toBe(allowed && known.has(object));
                  if (subject.kind !== "set") continue;
                  if (subject.relation === "") {
                    const isKnown = knownUsers.has(subject.object) || subject.object === "*";
                    if (isKnown) expect(strict.has(key), `lookupSubjects(strict) ${where}`).toBe(allowed);
                    else expect(strict.has(key)).toBe(false);
                    // Default: listed implies allowed; allowed implies listed or covered by a listed wildcard.
                    if (loose.has(key)) expect(allowed, `lookupSubjects ${where}`).toBe(true);
                    if (allowed && isKnown) expect(loose.has(key) || loose.has("user:*"), `lookupSubjects ${where}`).toBe(true);
                  } else if (knownGroups.has(subject.object)) {
                    expect(sets.has(key), `lookupSubjects(sets) ${where}`).toBe(allowed);
                  }
                }
              }
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
