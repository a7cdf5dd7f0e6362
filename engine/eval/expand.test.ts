import { describe, expect, it } from "vitest";
import { LimitExceededError, NotFoundError } from "../../common/errors.js";
import { formatSubject } from "../tuple.js";
import { expand } from "./expand.js";
import type { ExpandTree } from "./expand-tree.js";
import { buildSchema, viewOf } from "./test-schema.js";

/** A compact text rendering of a tree, so assertions show the whole shape. */
function render(tree: ExpandTree): string {
  const u = `${tree.userset.namespace}:${tree.userset.object}#${tree.userset.relation}`;
  const flags = `${tree.truncated === true ? "!truncated" : ""}`;
  switch (tree.kind) {
    case "leaf": {
      const subjects = tree.subjects.map(formatSubject).join(",");
      const children = tree.children.map(render).join(" ");
      return `leaf(${u}${tree.cyclic === true ? " cyclic" : ""}${flags} [${subjects}]${children === "" ? "" : ` ${children}`})`;
    }
    case "union":
    case "intersection":
      return `${tree.kind}${flags}(${tree.children.map(render).join(" ")})`;
    case "exclusion":
      return `exclusion${flags}(${render(tree.base)} - ${render(tree.subtract)})`;
    case "complement":
      return `not${flags}(${render(tree.child)})`;
    case "computed":
      return `computed(${tree.target.relation} -> ${render(tree.child)})`;
    case "tupleToUserset":
      return `ttu${flags}(${tree.computed} from ${tree.tupleset}: ${tree.children.map(render).join(" ")})`;
  }
}

const schema = buildSchema({
  user: {},
  group: { member: "[user, group#member]" },
  folder: { viewer: "[user]" },
  doc: {
    parent: "[folder]",
    owner: "[user]",
    viewer: "[user, user:*, group#member] or owner or viewer from parent",
    banned: "[user]",
    reader: "viewer but not banned",
    both: "owner and banned",
    outsider: "not banned",
  },
});
const view = viewOf(
  "doc:d#owner@user:olga",
  "doc:d#viewer@user:*",
  "doc:d#viewer@group:eng#member",
  "group:eng#member@user:anne",
  "group:eng#member@group:ops#member",
  "group:ops#member@user:otto",
  "doc:d#parent@folder:f",
  "folder:f#viewer@user:fay",
  "doc:d#banned@user:bob",
);

describe("expand", () => {
  it("expands a plain relation to a leaf", () => {
    expect(render(expand(schema, view, { namespace: "doc", object: "d", relation: "owner" }))).toBe("leaf(doc:d#owner [user:olga])");
  });

  it("follows union, computed, tuple-to-userset and nested subject sets", () => {
    expect(render(expand(schema, view, { namespace: "doc", object: "d", relation: "viewer" }))).toBe(
      "union(" +
        "leaf(doc:d#viewer [user:*,group:eng#member] leaf(group:eng#member [user:anne,group:ops#member] leaf(group:ops#member [user:otto]))) " +
        "computed(owner -> leaf(doc:d#owner [user:olga])) " +
        "ttu(viewer from parent: leaf(folder:f#viewer [user:fay])))",
    );
  });

  it("shows exclusion, intersection and complement nodes", () => {
    const reader = expand(schema, view, { namespace: "doc", object: "d", relation: "reader" });
    expect(reader.kind).toBe("exclusion");
    expect(render(reader)).toMatch(/^exclusion\(computed\(viewer -> union\(.*\)\) - computed\(banned -> leaf\(doc:d#banned \[user:bob\]\)\)\)$/);
    expect(render(expand(schema, view, { namespace: "doc", object: "d", relation: "both" }))).toBe(
      "intersection(computed(owner -> leaf(doc:d#owner [user:olga])) computed(banned -> leaf(doc:d#banned [user:bob])))",
    );
    expect(render(expand(schema, view, { namespace: "doc", object: "d", relation: "outsider" }))).toBe(
      "not(computed(banned -> leaf(doc:d#banned [user:bob])))",
    );
  });

  it("names every node's userset and is plain JSON", () => {
    const tree = expand(schema, view, { namespace: "doc", object: "d", relation: "viewer" });
    expect(JSON.parse(JSON.stringify(tree))).toEqual(tree);
    expect(tree.userset).toEqual({ namespace: "doc", object: "d", relation: "viewer" });
  });

  it("marks a cycle with a cyclic leaf", () => {
    const v = viewOf("group:a#member@group:b#member", "group:b#member@group:a#member", "group:b#member@user:bea");
    expect(render(expand(schema, v, { namespace: "group", object: "a", relation: "member" }))).toBe(
      "leaf(group:a#member [group:b#member] leaf(group:b#member [user:bea,group:a#member] leaf(group:a#member cyclic [])))",
    );
  });

  it("throws when the depth runs out", () => {
    const chain = viewOf("group:a#member@group:b#member", "group:b#member@group:c#member", "group:c#member@user:c");
    expect(() => expand(schema, chain, { namespace: "group", object: "a", relation: "member" }, { maxDepth: 2 })).toThrow(
      LimitExceededError,
    );
    expect(render(expand(schema, chain, { namespace: "group", object: "a", relation: "member" }, { maxDepth: 3 }))).toContain(
      "leaf(group:c#member [user:c])",
    );
  });

  it("caps the tree size and marks it truncated", () => {
    const members = Array.from({ length: 50 }, (_, i) => `group:big#member@user:u${i}`);
    const sets = Array.from({ length: 20 }, (_, i) => `group:big#member@group:s${i}#member`);
    const v = viewOf(...members, ...sets);
    const full = expand(schema, v, { namespace: "group", object: "big", relation: "member" });
    expect(full.truncated).toBeUndefined();
    expect(full.kind === "leaf" && full.subjects.length).toBe(70);
    const cut = expand(schema, v, { namespace: "group", object: "big", relation: "member" }, { maxNodes: 10 });
    expect(cut.truncated).toBe(true);
    expect(cut.kind === "leaf" && cut.subjects.length).toBe(9);
    expect(cut.kind === "leaf" && cut.children.length).toBe(0);
  });

  it("rejects unknown namespaces and relations", () => {
    expect(() => expand(schema, view, { namespace: "nope", object: "d", relation: "x" })).toThrow(NotFoundError);
    expect(() => expand(schema, view, { namespace: "doc", object: "d", relation: "x" })).toThrow(/"x"/);
  });
});
