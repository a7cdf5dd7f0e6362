import { afterAll, describe, expect, it } from "vitest";
import { NotResponsibleError, UnauthorizedError } from "../errors.js";
import { createAuthenticatorFactories } from "./index.js";
import { configError, failsWith, makeDeps, prepare, request, run } from "./test-fixtures.js";

const t = makeDeps();
afterAll(() => t.close());

describe("authenticator registry", () => {
  it("has Oathkeeper's eight authenticators", () => {
    expect(createAuthenticatorFactories(t.deps).map((f) => f.name)).toEqual([
      "noop",
      "anonymous",
      "unauthorized",
      "cookie_session",
      "bearer_token",
      "oauth2_introspection",
      "oauth2_client_credentials",
      "jwt",
    ]);
  });
});

describe("noop", () => {
  it("accepts any request with an empty subject", async () => {
    const session = await run(prepare(t.deps, "noop", {}), request("http://api.local/x", { authorization: "Bearer abc" }));
    expect(session.subject).toBe("");
    expect(session.extra).toEqual({});
  });
});

describe("anonymous", () => {
  it("is responsible only without an Authorization header", async () => {
    const anonymous = prepare(t.deps, "anonymous", {});
    expect((await run(anonymous, request("http://api.local/x"))).subject).toBe("anonymous");
    await failsWith(anonymous, request("http://api.local/x", { authorization: "Bearer abc" }), NotResponsibleError);
  });

  it("uses the configured subject", async () => {
    expect((await run(prepare(t.deps, "anonymous", { subject: "guest" }), request("http://api.local/x"))).subject).toBe("guest");
  });

  it("refuses unknown and mistyped options, naming the key", () => {
    expect(configError(t.deps, "anonymous", { subjekt: "x" })).toMatch(/rule "test" authenticators\[0\] \(anonymous\): config\.subjekt is not a known option/);
    expect(configError(t.deps, "anonymous", { subject: 3 })).toMatch(/config\.subject must be a string/);
  });
});

describe("unauthorized", () => {
  it("always refuses with 401", async () => {
    await failsWith(prepare(t.deps, "unauthorized", {}), request("http://api.local/x"), UnauthorizedError);
  });
});
