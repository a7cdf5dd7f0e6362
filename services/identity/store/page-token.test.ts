import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createPageTokenCodec } from "../../../engine/store/page-token.js";
import { createKeysetTokenCodec } from "./page-token.js";

function expectInvalid(fn: () => unknown): void {
  expect(fn).toThrow(expect.objectContaining({ code: "invalid_argument", details: { field: "page_token" } }));
}

describe("identity keyset page tokens", () => {
  it("round-trips a key for its listing and filter only", () => {
    const codec = createKeysetTokenCodec("k");
    const token = codec.encode("sessions", ["2024-01-01T00:00:00.000Z", "id-1"], { identityId: "x" });
    expect(codec.decode("sessions", token, 2, { identityId: "x" })).toEqual(["2024-01-01T00:00:00.000Z", "id-1"]);
    expectInvalid(() => codec.decode("identities", token, 2, { identityId: "x" }));
    expectInvalid(() => codec.decode("sessions", token, 2, { identityId: "y" }));
    expectInvalid(() => codec.decode("sessions", token, 1, { identityId: "x" }));
    expectInvalid(() => createKeysetTokenCodec("other").decode("sessions", token, 2, { identityId: "x" }));
  });

  it("refuses well-signed payloads of the wrong shape and tuple-store tokens signed with the same secret", () => {
    const codec = createKeysetTokenCodec("k");
    const fingerprint = JSON.parse(Buffer.from(codec.encode("identities", ["a"], {}).split(".")[0] as string, "base64url").toString())["f"];
    const sign = (payload: unknown): string => {
      const p = Buffer.from(JSON.stringify(payload)).toString("base64url");
      return `${p}.${createHmac("sha256", "k").update(p).digest("base64url")}`;
    };
    expect(codec.decode("identities", sign({ v: 1, t: "identities", k: ["a"], f: fingerprint }), 1, {})).toEqual(["a"]);
    expectInvalid(() => codec.decode("identities", sign({ v: 2, t: "identities", k: ["a"], f: fingerprint }), 1, {}));
    expectInvalid(() => codec.decode("identities", sign({ v: 1, t: "identities", k: [1], f: fingerprint }), 1, {}));
    expectInvalid(() => codec.decode("identities", sign({ v: 1, t: "identities", k: "a", f: fingerprint }), 1, {}));
    expectInvalid(() => codec.decode("identities", sign([1]), 1, {}));
    expectInvalid(() => codec.decode("identities", sign("x"), 1, {}));
    const tupleToken = createPageTokenCodec({ secret: "k" }).encode({ revision: 1, after: ["a", "b", "c", "", "d", ""] }, {});
    expectInvalid(() => codec.decode("identities", tupleToken, 1, {}));
    expectInvalid(() => codec.decode("identities", "", 1, {}));
    expectInvalid(() => codec.decode("identities", "x".repeat(20_000), 1, {}));
  });

  it("refuses an empty secret", () => {
    expect(() => createKeysetTokenCodec("")).toThrow(expect.objectContaining({ code: "invalid_argument" }));
  });
});
