import { describe, expect, it } from "vitest";
import { applyJsonPatch, escapeJsonPointerToken, jsonEqual, JsonPatchError, parseJsonPatch, parseJsonPointer } from "./json-patch.js";

const patch = (doc: unknown, ops: unknown): unknown => applyJsonPatch(doc, parseJsonPatch(ops));

function patchError(doc: unknown, ops: unknown): JsonPatchError {
  try {
    patch(doc, ops);
  } catch (err) {
    if (err instanceof JsonPatchError) return err;
    throw err;
  }
  throw new Error("the patch applied but was expected to fail");
}

describe("JSON Pointer", () => {
  it("splits and unescapes tokens (~1 before ~0)", () => {
    expect(parseJsonPointer("")).toEqual([]);
    expect(parseJsonPointer("/")).toEqual([""]);
    expect(parseJsonPointer("/a~1b/m~0n/~01")).toEqual(["a/b", "m~n", "~1"]);
    expect(escapeJsonPointerToken("a/b~c")).toBe("a~1b~0c");
  });

  it("refuses pointers without a leading slash, bad escapes and __proto__", () => {
    expect(() => parseJsonPointer("a")).toThrow(/JSON Pointer/);
    expect(() => parseJsonPointer("/a~2")).toThrow(/~/);
    expect(() => parseJsonPointer("/a~")).toThrow(/~/);
    expect(() => parseJsonPointer("/__proto__/x")).toThrow(/__proto__/);
  });
});

describe("parseJsonPatch", () => {
  it("names the operation index and member of a malformed patch", () => {
    const cases: [unknown, RegExp, number | undefined, string | undefined][] = [
      [{ op: "add" }, /must be a JSON array/, undefined, undefined],
      [[{ op: "add", path: "/a", value: 1 }, 5], /^patch\[1\]: must be an object/, 1, undefined],
      [[{ op: "merge", path: "/a" }], /^patch\[0\]\.op: must be one of/, 0, "op"],
      [[{ path: "/a" }], /^patch\[0\]\.op:/, 0, "op"],
      [[{ op: "remove" }], /^patch\[0\]\.path: must be a JSON Pointer/, 0, "path"],
      [[{ op: "remove", path: "a" }], /^patch\[0\]\.path:/, 0, "path"],
      [[{ op: "add", path: "/a" }], /^patch\[0\]\.value: is required/, 0, "value"],
      [[{ op: "test", path: "/a" }], /^patch\[0\]\.value: is required/, 0, "value"],
      [[{ op: "copy", path: "/a" }], /^patch\[0\]\.from:/, 0, "from"],
      [[{ op: "move", path: "/a", from: 3 }], /^patch\[0\]\.from:/, 0, "from"],
    ];
    for (const [ops, message, index, field] of cases) {
      let error: unknown;
      try {
        parseJsonPatch(ops);
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(ops)).toBeInstanceOf(JsonPatchError);
      expect((error as JsonPatchError).message).toMatch(message);
      expect((error as JsonPatchError).kind).toBe("malformed");
      expect((error as JsonPatchError).index).toBe(index);
      expect((error as JsonPatchError).field).toBe(field);
    }
  });

  it("accepts a null value (present but null)", () => {
    expect(parseJsonPatch([{ op: "replace", path: "/a", value: null }])).toEqual([{ op: "replace", path: "/a", value: null }]);
  });
});

describe("applyJsonPatch", () => {
  it("adds members and array items, with - appending", () => {
    expect(patch({ a: 1 }, [{ op: "add", path: "/b", value: { c: [1] } }])).toEqual({ a: 1, b: { c: [1] } });
    expect(patch({ a: 1 }, [{ op: "add", path: "/a", value: 2 }])).toEqual({ a: 2 });
    expect(patch({ l: [1, 3] }, [{ op: "add", path: "/l/1", value: 2 }])).toEqual({ l: [1, 2, 3] });
    expect(patch({ l: [1] }, [{ op: "add", path: "/l/-", value: 2 }])).toEqual({ l: [1, 2] });
    expect(patch({ l: [1] }, [{ op: "add", path: "/l/1", value: 2 }])).toEqual({ l: [1, 2] });
    expect(patch({ a: 1 }, [{ op: "add", path: "", value: [1] }])).toEqual([1]);
    expect(patch({}, [{ op: "add", path: "/", value: "empty key" }])).toEqual({ "": "empty key" });
  });

  it("removes, replaces, moves and copies", () => {
    expect(patch({ a: 1, b: 2 }, [{ op: "remove", path: "/a" }])).toEqual({ b: 2 });
    expect(patch({ l: [1, 2, 3] }, [{ op: "remove", path: "/l/0" }])).toEqual({ l: [2, 3] });
    expect(patch({ a: { b: 1 } }, [{ op: "replace", path: "/a/b", value: [9] }])).toEqual({ a: { b: [9] } });
    expect(patch({ l: [1, 2] }, [{ op: "replace", path: "/l/1", value: 5 }])).toEqual({ l: [1, 5] });
    expect(patch({ a: { x: 1 }, b: {} }, [{ op: "move", from: "/a/x", path: "/b/y" }])).toEqual({ a: {}, b: { y: 1 } });
    expect(patch({ l: [1, 2, 3] }, [{ op: "move", from: "/l/0", path: "/l/-" }])).toEqual({ l: [2, 3, 1] });
    expect(patch({ a: 1 }, [{ op: "move", from: "/a", path: "/a" }])).toEqual({ a: 1 });
    const copied = patch({ a: { deep: [1] } }, [
      { op: "copy", from: "/a", path: "/b" },
      { op: "add", path: "/b/deep/-", value: 2 },
    ]) as { a: { deep: number[] }; b: { deep: number[] } };
    expect(copied).toEqual({ a: { deep: [1] }, b: { deep: [1, 2] } });
  });

  it("unescapes ~0 and ~1 in member names", () => {
    expect(patch({ "a/b": 1, "m~n": 2 }, [
      { op: "replace", path: "/a~1b", value: 10 },
      { op: "remove", path: "/m~0n" },
    ])).toEqual({ "a/b": 10 });
  });

  it("tests with JSON equality (member order ignored, array order and types not)", () => {
    const doc = { o: { x: 1, y: [1, { z: null }] }, n: 1, s: "1" };
    expect(patch(doc, [{ op: "test", path: "/o", value: { y: [1, { z: null }], x: 1 } }])).toEqual(doc);
    expect(patchError(doc, [{ op: "test", path: "/o/y", value: [{ z: null }, 1] }]).kind).toBe("test_failed");
    expect(patchError(doc, [{ op: "test", path: "/n", value: "1" }]).kind).toBe("test_failed");
    expect(patchError(doc, [{ op: "test", path: "/s", value: 1 }]).kind).toBe("test_failed");
    expect(jsonEqual({ a: undefined }, { b: undefined })).toBe(false);
  });

  it("applies all or nothing: a failing operation leaves the input unchanged", () => {
    const doc = { a: 1, l: [1] };
    const before = JSON.stringify(doc);
    const error = patchError(doc, [
      { op: "replace", path: "/a", value: 2 },
      { op: "add", path: "/l/-", value: 2 },
      { op: "test", path: "/a", value: 1 },
    ]);
    expect(error.message).toMatch(/^patch\[2\]\.path: test failed/);
    expect(error.index).toBe(2);
    expect(JSON.stringify(doc)).toBe(before);
    // The result of a successful patch does not share structure with the input either.
    const out = patch(doc, [{ op: "add", path: "/l/-", value: 2 }]) as typeof doc;
    expect(doc.l).toEqual([1]);
    expect(out.l).toEqual([1, 2]);
  });

  it("refuses paths that do not fit the document, naming the operation", () => {
    const doc = { a: { b: 1 }, l: [1, 2], s: "text" };
    const cases: [unknown[], RegExp][] = [
      [[{ op: "remove", path: "/missing" }], /^patch\[0\]\.path: \/missing: "missing" does not exist/],
      [[{ op: "replace", path: "/missing", value: 1 }], /does not exist/],
      [[{ op: "add", path: "/x/y", value: 1 }], /"x" does not exist/],
      [[{ op: "add", path: "/l/3", value: 1 }], /out of bounds/],
      [[{ op: "replace", path: "/l/2", value: 1 }], /out of bounds/],
      [[{ op: "remove", path: "/l/-" }], /not an array index/],
      [[{ op: "add", path: "/l/01", value: 1 }], /not an array index/],
      [[{ op: "add", path: "/s/x", value: 1 }], /not an object or array/],
      [[{ op: "remove", path: "" }], /whole document/],
      [[{ op: "move", from: "/a", path: "/a/b/c" }], /^patch\[0\]\.from: .*own child/],
      [[{ op: "copy", from: "/nope", path: "/x" }], /^patch\[0\]\.from:/],
      [[{ op: "add", path: "/a", value: 1 }, { op: "test", path: "/zzz", value: 1 }], /^patch\[1\]\.path:/],
    ];
    for (const [ops, message] of cases) {
      const error = patchError(doc, ops);
      expect(error.message, JSON.stringify(ops)).toMatch(message);
      expect(error.kind).toBe("unprocessable");
    }
  });

  it("cannot pollute prototypes", () => {
    expect(patchError({}, [{ op: "add", path: "/__proto__/polluted", value: true }]).kind).toBe("malformed");
    expect(patchError({}, [{ op: "add", path: "/a", value: 1 }, { op: "copy", from: "/a", path: "/__proto__" }]).kind).toBe("malformed");
    // `constructor` and `prototype` are ordinary members: reading them does not reach Object's.
    expect(patchError({}, [{ op: "copy", from: "/constructor", path: "/x" }]).message).toMatch(/does not exist/);
    const out = patch({}, [
      { op: "add", path: "/constructor", value: { prototype: { polluted: true } } },
      { op: "add", path: "/constructor/prototype/more", value: 1 },
    ]) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(["constructor"]);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty("polluted");
    expect(Object.prototype).not.toHaveProperty("more");
    // A document parsed from JSON with an own "__proto__" member is copied as data, not as a prototype.
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as unknown;
    const copy = patch(parsed, [{ op: "replace", path: "/a", value: 2 }]) as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(copy["polluted"]).toBeUndefined();
    expect(Object.hasOwn(copy, "__proto__")).toBe(true);
  });
});
