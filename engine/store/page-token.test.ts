import { describe, expect, it } from "vitest";
import { GatehouseError } from "../../common/errors.js";
import { createPageTokenCodec } from "./page-token.js";
import type { TupleKey } from "./tuple-key.js";

const key: TupleKey = ["doc", "1", "viewer", "", "anne", ""];

function expectInvalid(fn: () => unknown): GatehouseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe("invalid_argument");
    expect((err as GatehouseError).details.field).toBe("page_token");
    return err as GatehouseError;
  }
  throw new Error("expected invalid_argument");
}

describe("page-token codec", () => {
  it("round-trips a cursor for the same filter, whatever the filter's property order", () => {
    const codec = createPageTokenCodec({ secret: "k" });
    const token = codec.encode({ revision: 7, after: key }, { namespace: "doc", relation: "viewer" });
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(codec.decode(token, { relation: "viewer", namespace: "doc" })).toEqual({ revision: 7, after: key });
  });

  it("refuses tokens signed with another secret", () => {
    const token = createPageTokenCodec({ secret: "a" }).encode({ revision: 1, after: key }, {});
    expect(expectInvalid(() => createPageTokenCodec({ secret: "b" }).decode(token, {})).message).toContain("altered");
    expectInvalid(() => createPageTokenCodec().decode(token, {}));
  });

  it("refuses a token for a different filter, including subject vs subjectNamespace", () => {
    const codec = createPageTokenCodec({ secret: "k" });
    const token = codec.encode({ revision: 1, after: key }, { subject: { kind: "id", id: "anne" } });
    expectInvalid(() => codec.decode(token, { subject: { kind: "set", namespace: "anne", object: "", relation: "" } }));
    expectInvalid(() => codec.decode(token, { subjectNamespace: "anne" }));
    expectInvalid(() => codec.decode(token, {}));
  });

  it("refuses well-signed payloads of the wrong shape", async () => {
    const { createHmac } = await import("node:crypto");
    const codec = createPageTokenCodec({ secret: "k" });
    const sign = (payload: object): string => {
      const p = Buffer.from(JSON.stringify(payload)).toString("base64url");
      return `${p}.${createHmac("sha256", "k").update(p).digest("base64url")}`;
    };
    const good = codec.encode({ revision: 3, after: key }, {});
    const fp = (JSON.parse(Buffer.from(good.split(".")[0] as string, "base64url").toString()) as { f: string }).f;
    expect(codec.decode(sign({ v: 1, r: 3, k: key, f: fp }), {})).toEqual({ revision: 3, after: key });
    expectInvalid(() => codec.decode(sign({ v: 2, r: 3, k: key, f: fp }), {}));
    expectInvalid(() => codec.decode(sign({ v: 1, r: -1, k: key, f: fp }), {}));
    expectInvalid(() => codec.decode(sign({ v: 1, r: 3, k: ["a"], f: fp }), {}));
    expectInvalid(() => codec.decode(sign([1, 2]), {}));
  });

  it("refuses an empty secret", () => {
    expect(() => createPageTokenCodec({ secret: "" })).toThrow(/paginationSecret/);
  });
});
