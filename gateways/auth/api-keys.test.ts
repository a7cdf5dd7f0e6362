import { describe, expect, it } from "vitest";
import { httpStatusOf, grpcCodeOf } from "../../common/errors.js";
import { bearerToken, createApiKeyVerifier, hashApiKey, UnauthenticatedError } from "./api-keys.js";

describe("API keys", () => {
  it("are off when no hashes are configured", () => {
    const v = createApiKeyVerifier([]);
    expect(v.required).toBe(false);
    expect(() => v.verify(undefined)).not.toThrow();
  });

  it("accept any configured key and reject missing or wrong ones as 401 / UNAUTHENTICATED", () => {
    const v = createApiKeyVerifier([hashApiKey("alpha"), hashApiKey("beta").toUpperCase()]);
    expect(v.required).toBe(true);
    expect(() => v.verify("alpha")).not.toThrow();
    expect(() => v.verify("beta")).not.toThrow();
    for (const bad of [undefined, "", "alph", "alpha ", hashApiKey("alpha")]) {
      let err: unknown;
      try {
        v.verify(bad);
      } catch (e) {
        err = e;
      }
      expect(err, String(bad)).toBeInstanceOf(UnauthenticatedError);
      expect(httpStatusOf(err as UnauthenticatedError)).toBe(401);
      expect(grpcCodeOf(err as UnauthenticatedError)).toBe(16);
    }
  });

  it("reads bearer tokens", () => {
    expect(bearerToken("Bearer abc")).toBe("abc");
    expect(bearerToken("bearer  abc ")).toBe("abc");
    expect(bearerToken("Basic abc")).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
