import { describe, expect, it } from "vitest";
import { compileGjsonPath } from "./gjson-path.js";

const whoami = {
  id: "s1",
  active: true,
  "a.b": "dotted",
  identity: { id: "u1", traits: { email: "a@example.com", emails: ["x@example.com", "y@example.com"] }, n: 42 },
};

describe("gjson path subset", () => {
  it("reads dotted keys, indices, @this and #", () => {
    expect(compileGjsonPath("identity.id").get(whoami)).toBe("u1");
    expect(compileGjsonPath("identity.traits.emails.1").get(whoami)).toBe("y@example.com");
    expect(compileGjsonPath("identity.traits.emails.#").get(whoami)).toBe(2);
    expect(compileGjsonPath("@this").get(whoami)).toBe(whoami);
    expect(compileGjsonPath("identity.@this.id").get(whoami)).toBe("u1");
    expect(compileGjsonPath("a\\.b").get(whoami)).toBe("dotted");
    expect(compileGjsonPath("identity.n").get(whoami)).toBe(42);
  });

  it("answers undefined for paths that do not resolve", () => {
    expect(compileGjsonPath("identity.missing.deeper").get(whoami)).toBeUndefined();
    expect(compileGjsonPath("identity.traits.emails.5").get(whoami)).toBeUndefined();
    expect(compileGjsonPath("identity.traits.emails.first").get(whoami)).toBeUndefined();
    expect(compileGjsonPath("identity.#").get(whoami)).toBeUndefined();
    expect(compileGjsonPath("id.x").get(whoami)).toBeUndefined();
    expect(compileGjsonPath("constructor").get(whoami)).toBeUndefined();
  });

  it("refuses syntax outside the subset", () => {
    for (const path of ["", "a..b", "friends.#.first", "a.*", "a?", "@reverse", "#(last==x)", "a|b", "a\\"]) {
      expect(() => compileGjsonPath(path), path).toThrow();
    }
  });
});
