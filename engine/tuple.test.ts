import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../common/errors.js";
import { formatTuple, parseSubject, parseTuple, subjectId, subjectSet, subjectsEqual, tuplesEqual } from "./tuple.js";

describe("tuple text form", () => {
  it("parses the three subject kinds as Keto does", () => {
    expect(parseSubject("john")).toEqual(subjectId("john"));
    expect(parseSubject("User:john")).toEqual(subjectSet("User", "john", ""));
    expect(parseSubject("Group:eng#member")).toEqual(subjectSet("Group", "eng", "member"));
    expect(parseSubject("(Group:eng#member)")).toEqual(subjectSet("Group", "eng", "member"));
    expect(parseSubject("user:*")).toEqual(subjectSet("user", "*", ""));
  });

  it("round-trips tuples", () => {
    for (const text of ["doc:1#viewer@john", "doc:1#viewer@user:anne", "files:/photos/a.jpg#owner@group:x#member", "doc:#viewer@"]) {
      expect(formatTuple(parseTuple(text))).toBe(text);
    }
  });

  it("keeps colons in object ids after the first", () => {
    const t = parseTuple("videos:/cats/1.mp4:v2#view@user:anne");
    expect(t.namespace).toBe("videos");
    expect(t.object).toBe("/cats/1.mp4:v2");
  });

  it("rejects malformed text naming the field", () => {
    expect(() => parseTuple("doc:1#viewer", "tuples[0]")).toThrow(/tuples\[0\]/);
    expect(() => parseTuple("doc1#viewer@x")).toThrow(InvalidArgumentError);
    expect(() => parseSubject("eng#member")).toThrow(/no namespace/);
    expect(() => parseSubject(":eng")).toThrow(/empty namespace/);
  });

  it("compares subjects and tuples by value", () => {
    expect(subjectsEqual(subjectId("a"), subjectSet("a", "", ""))).toBe(false);
    expect(subjectsEqual(subjectSet("g", "1", "m"), subjectSet("g", "1", "m"))).toBe(true);
    expect(tuplesEqual(parseTuple("d:1#v@u:a"), parseTuple("d:1#v@u:a"))).toBe(true);
    expect(tuplesEqual(parseTuple("d:1#v@u:a"), parseTuple("d:1#v@u:b"))).toBe(false);
  });
});
