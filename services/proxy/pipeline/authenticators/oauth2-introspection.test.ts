import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ForbiddenError, NotResponsibleError, UnauthorizedError, UpstreamServiceError } from "../errors.js";
import { configError, failsWith, makeDeps, prepare, request, run, startServer, type Recorded, type TestServer } from "./test-fixtures.js";

const t = makeDeps();
let hydra: TestServer;
/** Pre-authorization tokens the introspection endpoint's `/protected` path currently accepts. */
const validPreAuth = new Set<string>();
let issued = 0;

function tokens(nowSeconds: number): Record<string, Record<string, unknown>> {
  return {
    "at-good": {
      active: true,
      sub: "user-1",
      username: "ann",
      client_id: "app",
      scope: "read write foo.bar",
      aud: ["api", "other"],
      iss: "https://issuer.example",
      exp: nowSeconds + 3_600,
      token_use: "access_token",
      ext: { tenant: "t1" },
    },
    "at-short": { active: true, sub: "user-2", exp: nowSeconds + 3, aud: "api" },
    "at-expired": { active: true, sub: "user-3", exp: nowSeconds - 10 },
    "at-inactive": { active: false },
    "rt-refresh": { active: true, sub: "user-4", token_use: "refresh_token" },
    "at-badaud": { active: true, sub: "user-5", aud: 7 },
  };
}

function form(req: Recorded): URLSearchParams {
  return new URLSearchParams(req.body);
}

beforeAll(async () => {
  hydra = await startServer((req) => {
    const path = req.url.split("?")[0];
    if (path === "/oauth2/token") {
      if (req.headers.authorization !== `Basic ${Buffer.from("gw:gw-secret").toString("base64")}`) return { status: 401, body: { error: "invalid_client" } };
      const token = `pre-${++issued}`;
      validPreAuth.add(token);
      return { body: { access_token: token, token_type: "bearer", expires_in: 3_600 } };
    }
    if (path === "/protected" && !validPreAuth.has((req.headers.authorization ?? "").replace(/^Bearer /, ""))) return { status: 401, body: {} };
    if (path === "/broken") return { status: 500, body: "oops" };
    if (path === "/notjson") return { body: "<html>" };
    if (path === "/badrequest") return { status: 400, body: {} };
    const params = form(req);
    const answer = tokens(Math.floor(t.clock.now / 1000))[params.get("token") ?? ""] ?? { active: false };
    // As Hydra: scopes sent along must all be granted, else the token is reported inactive.
    const asked = (params.get("scope") ?? "").split(" ").filter((s) => s !== "");
    const granted = String(answer["scope"] ?? "").split(" ");
    if (asked.some((s) => !granted.includes(s))) return { body: { active: false } };
    return { body: answer };
  });
});
afterAll(async () => {
  await hydra.close();
  await t.close();
});
beforeEach(() => {
  hydra.calls.length = 0;
});

const base = (extra: Record<string, unknown> = {}) => ({ introspection_url: `${hydra.url}/oauth2/introspect`, ...extra });
const bearer = (token: string, headers: Record<string, string> = {}) => request("http://api.local/x", { authorization: `Bearer ${token}`, ...headers });

describe("oauth2_introspection", () => {
  it("is responsible only for a bearer token with the prefix", async () => {
    const auth = prepare(t.deps, "oauth2_introspection", base({ prefix: "at-" }));
    await failsWith(auth, request("http://api.local/x"), NotResponsibleError);
    await failsWith(auth, bearer("rt-refresh"), NotResponsibleError);
    expect(hydra.calls).toHaveLength(0);
  });

  it("posts the token as a form and builds the session as Oathkeeper", async () => {
    const session = await run(prepare(t.deps, "oauth2_introspection", base()), bearer("at-good"));
    expect(session.subject).toBe("user-1");
    expect(session.extra).toEqual({ tenant: "t1", username: "ann", client_id: "app", scope: "read write foo.bar", aud: ["api", "other"] });
    const call = hydra.calls[0]!;
    expect(call.method).toBe("POST");
    expect(call.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(form(call))).toEqual({ token: "at-good" });
  });

  it("fills extra's introspection fields even when absent", async () => {
    const session = await run(prepare(t.deps, "oauth2_introspection", base()), bearer("at-short"));
    expect(session.extra).toEqual({ username: "", client_id: "", scope: "", aud: ["api"] });
  });

  it("answers 401 for inactive and expired tokens, 403 for a token that is not an access token", async () => {
    const auth = prepare(t.deps, "oauth2_introspection", base());
    await failsWith(auth, bearer("at-inactive"), UnauthorizedError);
    await failsWith(auth, bearer("at-expired"), UnauthorizedError);
    await failsWith(auth, bearer("unknown-token"), UnauthorizedError);
    await failsWith(auth, bearer("rt-refresh"), ForbiddenError);
  });

  it("requires every target audience and a trusted issuer (else 403)", async () => {
    await run(prepare(t.deps, "oauth2_introspection", base({ target_audience: ["api", "other"], trusted_issuers: ["https://issuer.example"] })), bearer("at-good"));
    await run(prepare(t.deps, "oauth2_introspection", base({ target_audience: ["api"] })), bearer("at-short"));
    await failsWith(prepare(t.deps, "oauth2_introspection", base({ target_audience: ["api", "billing"] })), bearer("at-good"), ForbiddenError);
    await failsWith(prepare(t.deps, "oauth2_introspection", base({ trusted_issuers: ["https://elsewhere"] })), bearer("at-good"), ForbiddenError);
  });

  it("checks required scopes locally under hierarchic, exact and wildcard (else 403)", async () => {
    const with_ = (scope_strategy: string, required_scope: string[]) => prepare(t.deps, "oauth2_introspection", base({ scope_strategy, required_scope }));
    await run(with_("hierarchic", ["foo.bar.baz", "read"]), bearer("at-good"));
    await failsWith(with_("hierarchic", ["foo"]), bearer("at-good"), ForbiddenError);
    await run(with_("exact", ["read", "write"]), bearer("at-good"));
    await failsWith(with_("exact", ["foo.bar.baz"]), bearer("at-good"), ForbiddenError);
    await run(with_("wildcard", ["foo.bar"]), bearer("at-good"));
    await failsWith(with_("wildcard", ["admin"]), bearer("at-good"), ForbiddenError);
    expect(hydra.calls.every((c) => !form(c).has("scope"))).toBe(true);
  });

  it("with scope_strategy none, sends the required scopes to the endpoint", async () => {
    await run(prepare(t.deps, "oauth2_introspection", base({ required_scope: ["read", "write"] })), bearer("at-good"));
    expect(form(hydra.calls[0]!).get("scope")).toBe("read write");
    await failsWith(prepare(t.deps, "oauth2_introspection", base({ required_scope: ["admin"] })), bearer("at-good"), UnauthorizedError);
  });

  it("sends introspection_request_headers and X-Forwarded-Host", async () => {
    const auth = prepare(t.deps, "oauth2_introspection", base({ introspection_request_headers: { "X-Api-Key": "k1", "Content-Type": "text/plain" }, preserve_host: true }));
    await run(auth, request("https://shop.example/x", { authorization: "Bearer at-good" }));
    const call = hydra.calls[0]!;
    expect(call.headers["x-api-key"]).toBe("k1");
    expect(call.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(call.headers["x-forwarded-host"]).toBe("shop.example");
  });

  it("reports endpoint failures as UpstreamServiceError, without the token", async () => {
    const noRetry = { retry: { give_up_after: "0s" } };
    const at = (path: string) => prepare(t.deps, "oauth2_introspection", { introspection_url: `${hydra.url}${path}`, ...noRetry });
    const e = await failsWith(at("/broken"), bearer("at-good"), UpstreamServiceError);
    expect(e.message).toContain("500");
    expect(e.message).not.toContain("at-good");
    await failsWith(at("/badrequest"), bearer("at-good"), UpstreamServiceError);
    await failsWith(at("/notjson"), bearer("at-good"), UpstreamServiceError);
    await failsWith(at("/oauth2/introspect"), bearer("at-badaud"), UpstreamServiceError);
  });

  it("retries a failing endpoint within retry.give_up_after", async () => {
    let failures = 2;
    const flaky = await startServer(() => (failures-- > 0 ? { status: 503, body: {} } : { body: { active: true, sub: "flaky" } }));
    try {
      const auth = prepare(t.deps, "oauth2_introspection", { introspection_url: flaky.url, retry: { give_up_after: "2s", max_delay: "10ms" } });
      expect((await run(auth, bearer("x"))).subject).toBe("flaky");
      expect(flaky.calls).toHaveLength(3);
    } finally {
      await flaky.close();
    }
  });
});

describe("oauth2_introspection cache", () => {
  it("caches active answers per token and re-runs the rule's checks on hits", async () => {
    const cache = { enabled: true, ttl: "30s" };
    const auth = prepare(t.deps, "oauth2_introspection", base({ cache }));
    await run(auth, bearer("at-good"));
    const hit = await run(auth, bearer("at-good"));
    expect(hit.subject).toBe("user-1");
    expect(hit.extra["tenant"]).toBe("t1");
    expect(hydra.calls).toHaveLength(1);
    // Another rule on the same endpoint shares the entry but applies its own audience.
    await failsWith(prepare(t.deps, "oauth2_introspection", base({ cache, target_audience: ["billing"] })), bearer("at-good"), ForbiddenError);
    expect(hydra.calls).toHaveLength(1);
    t.clock.now += 31_000;
    await run(auth, bearer("at-good"));
    expect(hydra.calls).toHaveLength(2);
  });

  it("never caches beyond the token's exp, and never refusals", async () => {
    const auth = prepare(t.deps, "oauth2_introspection", base({ cache: { enabled: true, ttl: "1h" } }));
    await run(auth, bearer("at-short"));
    t.clock.now += 2_000;
    await run(auth, bearer("at-short"));
    expect(hydra.calls).toHaveLength(1);
    t.clock.now += 2_000;
    // at-short (re-issued by the stand-in relative to the moved clock) is fetched again.
    await run(auth, bearer("at-short"));
    expect(hydra.calls).toHaveLength(2);
    await failsWith(auth, bearer("at-inactive"), UnauthorizedError);
    await failsWith(auth, bearer("at-inactive"), UnauthorizedError);
    expect(hydra.calls).toHaveLength(4);
  });

  it("with scope_strategy none, keys on the scopes sent", async () => {
    const cache = { enabled: true, ttl: "30s" };
    await run(prepare(t.deps, "oauth2_introspection", base({ cache, required_scope: ["write"] })), bearer("at-good"));
    await failsWith(prepare(t.deps, "oauth2_introspection", base({ cache, required_scope: ["admin"] })), bearer("at-good"), UnauthorizedError);
    await run(prepare(t.deps, "oauth2_introspection", base({ cache, required_scope: ["write"] })), bearer("at-good"));
    expect(hydra.calls).toHaveLength(2);
  });
});

describe("oauth2_introspection pre_authorization", () => {
  const preAuth = (extra: Record<string, unknown> = {}) => ({
    introspection_url: `${hydra.url}/protected`,
    pre_authorization: { enabled: true, client_id: "gw", client_secret: "gw-secret", token_url: `${hydra.url}/oauth2/token`, scope: ["introspect"], audience: "hydra", ...extra },
  });

  it("gets a client-credentials token once and uses it as the introspection call's bearer", async () => {
    const auth = prepare(t.deps, "oauth2_introspection", preAuth());
    expect((await run(auth, bearer("at-good"))).subject).toBe("user-1");
    await run(auth, bearer("at-short"));
    const tokenCalls = hydra.calls.filter((c) => c.url === "/oauth2/token");
    expect(tokenCalls).toHaveLength(1);
    expect(Object.fromEntries(form(tokenCalls[0]!))).toEqual({ grant_type: "client_credentials", scope: "introspect", audience: "hydra" });
    const introspections = hydra.calls.filter((c) => c.url === "/protected");
    expect(introspections.map((c) => c.headers.authorization)).toEqual([`Bearer pre-${issued}`, `Bearer pre-${issued}`]);
  });

  it("renews the token once when the endpoint refuses it", async () => {
    const auth = prepare(t.deps, "oauth2_introspection", preAuth());
    await run(auth, bearer("at-good"));
    validPreAuth.clear();
    hydra.calls.length = 0;
    expect((await run(auth, bearer("at-good"))).subject).toBe("user-1");
    expect(hydra.calls.map((c) => `${c.url} ${c.headers.authorization?.startsWith("Bearer") ? "bearer" : "basic"}`)).toEqual([
      "/protected bearer",
      "/oauth2/token basic",
      "/protected bearer",
    ]);
  });

  it("reports a refused pre-authorization as UpstreamServiceError without the secret", async () => {
    const auth = prepare(t.deps, "oauth2_introspection", preAuth({ client_secret: "wrong-secret" }));
    const e = await failsWith(auth, bearer("at-good"), UpstreamServiceError);
    expect(e.message).toContain("pre-authorization");
    expect(e.message).not.toContain("wrong-secret");
  });
});

describe("oauth2_introspection configuration", () => {
  it("refuses bad configuration naming the key", () => {
    expect(configError(t.deps, "oauth2_introspection", {})).toMatch(/\(oauth2_introspection\): config\.introspection_url is required/);
    expect(configError(t.deps, "oauth2_introspection", base({ scope_strategy: "regex" }))).toMatch(/config\.scope_strategy must be one of "none", "hierarchic", "exact", "wildcard"/);
    expect(configError(t.deps, "oauth2_introspection", base({ pre_authorization: { enabled: true, token_url: hydra.url, client_secret: "s" } }))).toMatch(
      /config\.pre_authorization\.client_id is required/,
    );
    expect(configError(t.deps, "oauth2_introspection", base({ required_scope: [1] }))).toMatch(/config\.required_scope must be a list of strings/);
    expect(configError(t.deps, "oauth2_introspection", base({ cache: { enabled: true, ttl: "5 minutes" } }))).toMatch(/config\.cache\.ttl must be a duration/);
    expect(configError(t.deps, "oauth2_introspection", base({ retry: { give_up_after: "1s", max_wait: "1s" } }))).toMatch(/config\.retry\.max_wait is not a known option/);
    expect(configError(t.deps, "oauth2_introspection", base({ introspection_request_headers: { "X-A": 1 } }))).toMatch(/config\.introspection_request_headers\.X-A must be a string/);
  });
});
