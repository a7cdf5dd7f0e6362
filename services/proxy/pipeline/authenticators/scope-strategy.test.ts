import { describe, expect, it } from "vitest";
import { exactScope, hierarchicScope, missingScope, scopeMatcher, wildcardScope } from "./scope-strategy.js";

describe("scope strategies (Fosite semantics)", () => {
  it("hierarchic: a scope grants its sub-scopes", () => {
    expect(hierarchicScope(["foo"], "foo")).toBe(true);
    expect(hierarchicScope(["foo"], "foo.bar")).toBe(true);
    expect(hierarchicScope(["foo"], "foo.bar.baz")).toBe(true);
    expect(hierarchicScope(["foo.bar"], "foo")).toBe(false);
    expect(hierarchicScope(["foo"], "foobar")).toBe(false);
    expect(hierarchicScope([], "foo")).toBe(false);
  });

  it("exact: equality only", () => {
    expect(exactScope(["foo", "bar"], "bar")).toBe(true);
    expect(exactScope(["foo"], "foo.bar")).toBe(false);
  });

  it("wildcard: * is one non-empty part, a trailing * also covers deeper parts", () => {
    expect(wildcardScope(["foo.*"], "foo.bar")).toBe(true);
    expect(wildcardScope(["foo.*"], "foo.bar.baz")).toBe(true);
    expect(wildcardScope(["foo.*"], "foo")).toBe(false);
    expect(wildcardScope(["foo.*.baz"], "foo.bar.baz")).toBe(true);
    expect(wildcardScope(["foo.*.baz"], "foo.bar.qux")).toBe(false);
    expect(wildcardScope(["*"], "anything")).toBe(true);
    expect(wildcardScope(["foo"], "foo")).toBe(true);
    expect(wildcardScope(["foo"], "foo.bar")).toBe(false);
    expect(wildcardScope(["foo.*"], "foo.")).toBe(false);
  });

  it("none has no local matcher; missingScope names the first missing scope", () => {
    expect(scopeMatcher("none")).toBeUndefined();
    expect(missingScope(exactScope, ["a", "b"], ["a", "c", "d"])).toBe("c");
    expect(missingScope(exactScope, ["a"], [])).toBeUndefined();
  });
});
