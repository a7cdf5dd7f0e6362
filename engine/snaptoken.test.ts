import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../common/errors.js";
import { decodeSnaptoken, encodeSnaptoken } from "./snaptoken.js";

describe("snaptokens", () => {
  it("round-trip revisions", () => {
    for (const r of [0, 1, 35, 36, 1_000_000, Number.MAX_SAFE_INTEGER]) {
      expect(decodeSnaptoken(encodeSnaptoken(r))).toBe(r);
    }
  });

  it("reject altered, foreign and garbage tokens naming the field", () => {
    const good = encodeSnaptoken(12345);
    const altered = good.replace(/_(.)/, (_, c: string) => `_${c === "a" ? "b" : "a"}`);
    for (const bad of [altered, "not yet implemented", "", "gh1_", `${good}.x`, "gh1_ZZ.abcdef", good.slice(0, -1)]) {
      const err = (() => {
        try {
          decodeSnaptoken(bad, "consistency.at_least_as_fresh");
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, bad).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).details.field).toBe("consistency.at_least_as_fresh");
    }
  });
});
