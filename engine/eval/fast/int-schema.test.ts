import { describe, expect, it } from "vitest";
import { GraphSnapshot } from "../../graph/graph-snapshot.js";
import type { Schema } from "../../schema/ir.js";
import type { Subject } from "../../tuple.js";
import { acceptsWildcard, findRelation, isWildcard, storedSubjectAllowed } from "../schema-access.js";
import { closureSome } from "../schema-index.js";
import { buildSchema } from "../test-schema.js";
import { compileIntSchema, IntSchemaIndex } from "./int-schema.js";

const types = {
  user: {},
  group: { member: "[user, user:*, group#member]", banned: "[user]", ok: "member but not banned" },
  doc: {
    parent: "[group, doc]",
    owner: "[user]",
    viewer: "[user, user:*, group#member] or owner or member from parent",
    both: "owner and viewer",
    not_owner: "not owner",
  },
};

const variants: [string, Schema][] = [
  ["fga", buildSchema(types)],
  ["opl strict", buildSchema(types, { language: "opl" })],
  ["opl non-strict", { ...buildSchema(types, { language: "opl" }), ketoNonStrict: true }],
];

const relationNames = ["", "member", "banned", "ok", "parent", "owner", "viewer", "both", "not_owner", "undeclared"];
const typeNames = ["user", "group", "doc", "ghost"];

describe("compileIntSchema", () => {
  it("is plain data that survives JSON and structuredClone unchanged", () => {
    for (const [, schema] of variants) {
      const intSchema = compileIntSchema(schema, GraphSnapshot.build([], 1).nameInterner());
      expect(JSON.parse(JSON.stringify(intSchema))).toEqual(intSchema);
      expect(structuredClone(intSchema)).toEqual(intSchema);
    }
  });

  it("widens non-strict permits to union(this, rewrite) and precomputes unionOnly with closureSome", () => {
    const snapshot = GraphSnapshot.build([], 1);
    const nonStrict = (variants[2] as [string, Schema])[1];
    const intSchema = compileIntSchema(nonStrict, snapshot.nameInterner());
    const both = intSchema.relations.find((r) => r.relation === snapshot.names.relationId("both"));
    expect(both?.permission).toBe(true);
    expect(both?.rewrite).toEqual({ kind: "union", children: [{ kind: "this" }, expect.objectContaining({ kind: "intersection" })] });
    const negative = (kind: string) => kind === "intersection" || kind === "exclusion" || kind === "complement";
    for (const [, schema] of variants) {
      const s = compileIntSchema(schema, snapshot.nameInterner());
      for (const r of s.relations) {
        const type = snapshot.names.typeName(r.type);
        const relation = snapshot.names.relationName(r.relation);
        expect(r.unionOnly, `${type}#${relation}`).toBe(!closureSome(schema, type, relation, (rw) => negative(rw.kind)));
      }
    }
    expect(intSchema.undeclaredUnionOnly).toBe(false);
  });
});

describe("IntSchemaIndex", () => {
  it("answers findRelation, storedSubjectAllowed, acceptsWildcard and isWildcard as schema-access does", () => {
    for (const [label, schema] of variants) {
      const snapshot = GraphSnapshot.build([], 1);
      const names = snapshot.nameInterner();
      const index = new IntSchemaIndex(compileIntSchema(schema, names));
      // Every name gets an id, as the graph would give them once tuples mention them.
      for (const t of typeNames) names.internType(t);
      for (const r of relationNames) names.internRelation(r);
      const star = 7;
      const objectId = (o: string) => (o === "*" ? star : 3);
      const typeId = (t: string) => snapshot.names.typeId(t);
      const relationId = (r: string) => snapshot.names.relationId(r);

      const subjects: Subject[] = [{ kind: "id", id: "x" }, { kind: "id", id: "*" }];
      for (const t of typeNames) {
        for (const o of ["x", "*"]) for (const r of relationNames) subjects.push({ kind: "set", namespace: t, object: o, relation: r });
      }
      for (const t of typeNames) {
        for (const r of relationNames) {
          const def = findRelation(schema, t, r);
          const d = index.findRelation(typeId(t), relationId(r));
          expect(d >= 0, `${label}: findRelation ${t}#${r}`).toBe(def !== undefined);
          if (def === undefined) continue;
          for (const s of subjects) {
            const [st, so, sr] = s.kind === "id" ? [0, objectId(s.id), 0] : [typeId(s.namespace), objectId(s.object), relationId(s.relation)];
            expect(index.storedSubjectAllowed(d, st, so, sr, star), `${label}: ${t}#${r} allows ${JSON.stringify(s)}`).toBe(
              storedSubjectAllowed(schema, def, s),
            );
            expect(index.isWildcard(st, so, sr, star), `${label}: isWildcard ${JSON.stringify(s)}`).toBe(isWildcard(schema, s));
            if (s.kind === "set") expect(index.acceptsWildcard(d, st)).toBe(acceptsWildcard(def, s.namespace));
          }
        }
      }
      // Out-of-range ids (names a request made up) are simply not found.
      expect(index.findRelation(-1, relationId("member"))).toBe(-1);
      expect(index.findRelation(5000, relationId("member"))).toBe(-1);
      expect(index.findRelation(typeId("group"), -1)).toBe(label === "opl non-strict" ? index.plainDef : -1);
    }
  });
});
