import { describe, expect, it } from "vitest";
import { checkKey } from "./check-cache.js";

describe("check cache keys", () => {
  it("never lets two different checks share a key, whatever characters the ids hold", () => {
    const set = (namespace: string, object: string, relation = "") => ({ kind: "set" as const, namespace, object, relation });
    const keys = [
      checkKey(1, 5, 25, "doc", "a", "viewer", set("user", "x")),
      checkKey(1, 5, 25, "doc", "a", "viewer", { kind: "id", id: "x" }),
      checkKey(1, 5, 25, "doc", "a\u001fviewer", "viewer", set("user", "x")),
      checkKey(1, 5, 25, "doc", "a", "viewer", set("user", "x", "member")),
      checkKey(1, 5, 25, "doc", "a", "viewer", set("user", "x0:")),
      checkKey(1, 5, 25, "doc", "a", "viewer", set("user0:", "x")),
      checkKey(1, 5, 25, "doc", "a1:b", "viewer", set("user", "x")),
      checkKey(1, 5, 25, "doc", "a", "viewer", { kind: "id", id: "s4:user0:x" }),
      checkKey(1, 5, 24, "doc", "a", "viewer", set("user", "x")),
      checkKey(1, 6, 25, "doc", "a", "viewer", set("user", "x")),
      checkKey(2, 5, 25, "doc", "a", "viewer", set("user", "x")),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });
});
