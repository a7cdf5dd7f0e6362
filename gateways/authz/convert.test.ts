import { describe, expect, it } from "vitest";
import { GatehouseError } from "../../common/errors.js";
import type { ExpandTree } from "../../engine/eval/expand-tree.js";
import { decodeSnaptoken } from "../../engine/snaptoken.js";
import { SchemaDiagnostic_Severity } from "../../proto/gen/gatehouse/authz/v1/schema_pb.js";
import { consistencyFromProto, diagnosticToProto, expandTreeToProto, filterFromProto, isEmptyFilter, snaptokenOf } from "./convert.js";
import { renameErrorField } from "./field-names.js";

const u = (relation: string) => ({ namespace: "doc", object: "1", relation });

describe("convert", () => {
  it("keeps filter presence: unset matches anything, '' is a value", () => {
    expect(filterFromProto(undefined, "filter")).toEqual({});
    const f = filterFromProto({ $typeName: "gatehouse.authz.v1.RelationshipFilter", object: "", subjectRelation: "" }, "filter");
    expect(f).toEqual({ object: "", subjectRelation: "" });
    expect(isEmptyFilter(f)).toBe(false);
  });

  it("maps every consistency, naming the field of a bad token", () => {
    expect(consistencyFromProto(undefined)).toEqual({ kind: "minimize_latency" });
    const token = snaptokenOf(7);
    expect(decodeSnaptoken(token.token)).toBe(7);
    expect(
      consistencyFromProto({ $typeName: "gatehouse.authz.v1.Consistency", requirement: { case: "atExactSnapshot", value: token } }),
    ).toEqual({ kind: "at_exact_snapshot", revision: 7 });
    expect(() =>
      consistencyFromProto({
        $typeName: "gatehouse.authz.v1.Consistency",
        requirement: { case: "atLeastAsFresh", value: { $typeName: "gatehouse.authz.v1.Snaptoken", token: "" } },
      }),
    ).toThrow(expect.objectContaining({ details: expect.objectContaining({ field: "consistency.at_least_as_fresh" }) }));
  });

  it("converts every kind of expand node", () => {
    const leaf: ExpandTree = { kind: "leaf", userset: u("viewer"), subjects: [{ kind: "id", id: "x" }], children: [], cyclic: true };
    const tree: ExpandTree = {
      kind: "union",
      userset: u("p"),
      truncated: true,
      children: [
        { kind: "computed", userset: u("p"), target: u("viewer"), child: leaf },
        { kind: "tupleToUserset", userset: u("p"), tupleset: "parent", computed: "viewer", children: [leaf] },
        { kind: "complement", userset: u("p"), child: leaf },
        { kind: "intersection", userset: u("p"), children: [leaf] },
        { kind: "exclusion", userset: u("p"), base: leaf, subtract: leaf },
      ],
    };
    const proto = expandTreeToProto(tree);
    expect(proto.truncated).toBe(true);
    expect(proto.kind.case === "union" && proto.kind.value.children.map((c) => c.kind.case)).toEqual([
      "computed",
      "tupleToUserset",
      "complement",
      "intersection",
      "exclusion",
    ]);
    const ttu = proto.kind.case === "union" ? proto.kind.value.children[1]?.kind : undefined;
    expect(ttu?.case === "tupleToUserset" && ttu.value).toMatchObject({ tuplesetRelation: "parent", computedRelation: "viewer" });
    const computed = proto.kind.case === "union" ? proto.kind.value.children[0]?.kind : undefined;
    expect(computed?.case === "computed" && computed.value.child?.kind).toMatchObject({ case: "leaf", value: { cyclic: true } });
  });

  it("converts diagnostics with and without an end", () => {
    const d = diagnosticToProto({ severity: "warning", message: "m", start: { line: 1, column: 2 }, construct: "precedence" });
    expect(d).toMatchObject({ severity: SchemaDiagnostic_Severity.WARNING, start: { line: 1, column: 2 }, construct: "precedence" });
    expect(d.end).toBeUndefined();
  });

  it("renames engine fields to the API's, keeping kind and reason", () => {
    const err = new GatehouseError("invalid_argument", "tuples[2].subject_id: bad", { details: { field: "tuples[2].subject_id" }, reason: "r" });
    const renamed = renameErrorField(err, [{ from: /^tuples\[(\d+)\]/, to: "updates[$1].relationship" }]) as GatehouseError;
    expect(renamed).toMatchObject({ code: "invalid_argument", reason: "r", message: "updates[2].relationship.subject.id: bad" });
    expect(renamed.details.field).toBe("updates[2].relationship.subject.id");
    expect(renameErrorField(new Error("x"), [])).toBeInstanceOf(Error);
  });
});
