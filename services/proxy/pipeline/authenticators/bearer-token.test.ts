import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NotResponsibleError, UnauthorizedError } from "../errors.js";
import { configError, failsWith, makeDeps, prepare, request, run, startServer, type TestServer } from "./test-fixtures.js";

/** A token check: `Authorization: Bearer st_<user>` is valid until `exp`. */
let store: TestServer;
let exp: () => number;
const t = makeDeps();

beforeAll(async () => {
  store = await startServer((req) => {
    const match = /^Bearer st_(\w+)$/.exec(req.headers.authorization ?? "");
    if (match === null) return { status: 401, body: {} };
    return { body: { sub: `user-${match[1]}`, exp: exp(), extra: { plan: "pro" } } };
  });
});
afterAll(async () => {
  await store.close();
  await t.close();
});
beforeEach(() => {
  store.calls.length = 0;
  exp = () => Math.floor(t.clock.now / 1000) + 3_600;
});

const base = () => ({ check_session_url: `${store.url}/check`, preserve_path: true });

describe("bearer_token responsibility", () => {
  it("needs a bearer token (default: Authorization: Bearer) starting with the prefix", async () => {
    const auth = prepare(t.deps, "bearer_token", { ...base(), prefix: "st_" });
    await failsWith(auth, request("http://api.local/x"), NotResponsibleError);
    await failsWith(auth, request("http://api.local/x", { authorization: "Basic Zm9vOmJhcg==" }), NotResponsibleError);
    await failsWith(auth, request("http://api.local/x", { authorization: "Bearer " }), NotResponsibleError);
    await failsWith(auth, request("http://api.local/x", { authorization: "Bearer eyJhbGciOi.x.y" }), NotResponsibleError);
    expect(store.calls).toHaveLength(0);
    expect((await run(auth, request("http://api.local/x", { authorization: "bearer st_ann" }))).subject).toBe("user-ann");
  });
});

describe("bearer_token checks", () => {
  it("sends the token as Authorization: Bearer and reads `sub` and `extra`", async () => {
    const session = await run(prepare(t.deps, "bearer_token", base()), request("http://api.local/x?y=1", { authorization: "Bearer st_ann", cookie: "c=1" }));
    expect(session.subject).toBe("user-ann");
    expect(session.extra).toEqual({ plan: "pro" });
    const call = store.calls[0]!;
    expect(call.url).toBe("/check");
    expect(call.headers.authorization).toBe("Bearer st_ann");
    expect(call.headers.cookie).toBeUndefined();
  });

  it("reads the token from a header, a query parameter or a cookie", async () => {
    const fromHeader = prepare(t.deps, "bearer_token", { ...base(), token_from: { header: "X-Session-Token" } });
    const fromQuery = prepare(t.deps, "bearer_token", { ...base(), token_from: { query_parameter: "access_token" } });
    const fromCookie = prepare(t.deps, "bearer_token", { ...base(), token_from: { cookie: "session" } });
    expect((await run(fromHeader, request("http://api.local/x", { "x-session-token": "st_hdr" }))).subject).toBe("user-hdr");
    expect((await run(fromQuery, request("http://api.local/x?access_token=st_qry"))).subject).toBe("user-qry");
    expect((await run(fromCookie, request("http://api.local/x", { cookie: "a=b; session=st_ck" }))).subject).toBe("user-ck");
    await failsWith(fromHeader, request("http://api.local/x", { authorization: "Bearer st_ann" }), NotResponsibleError);
    await failsWith(fromQuery, request("http://api.local/x?other=st_qry"), NotResponsibleError);
    await failsWith(fromCookie, request("http://api.local/x", { cookie: "sessionx=st_ck" }), NotResponsibleError);
    expect(store.calls.map((c) => c.headers.authorization)).toEqual(["Bearer st_hdr", "Bearer st_qry", "Bearer st_ck"]);
  });

  it("answers 401 when the check refuses the token", async () => {
    const err = await failsWith(prepare(t.deps, "bearer_token", base()), request("http://api.local/x", { authorization: "Bearer wrong-secret" }), UnauthorizedError);
    expect(err.message).not.toContain("wrong-secret");
  });
});

describe("bearer_token cache", () => {
  const cached = (ttl = "15s") => ({ ...base(), cache: { enabled: true, ttl } });

  it("caches successes per token", async () => {
    const auth = prepare(t.deps, "bearer_token", cached());
    await run(auth, request("http://api.local/x", { authorization: "Bearer st_ann" }));
    await run(auth, request("http://api.local/y", { authorization: "Bearer st_ann" }));
    expect(store.calls).toHaveLength(1);
    expect((await run(auth, request("http://api.local/x", { authorization: "Bearer st_bob" }))).subject).toBe("user-bob");
    expect(store.calls).toHaveLength(2);
  });

  it("never keeps an answer beyond its `exp`", async () => {
    exp = () => Math.floor(t.clock.now / 1000) + 3;
    const auth = prepare(t.deps, "bearer_token", cached("1h"));
    await run(auth, request("http://api.local/x", { authorization: "Bearer st_cat" }));
    t.clock.now += 2_000;
    await run(auth, request("http://api.local/x", { authorization: "Bearer st_cat" }));
    expect(store.calls).toHaveLength(1);
    t.clock.now += 2_000;
    await run(auth, request("http://api.local/x", { authorization: "Bearer st_cat" }));
    expect(store.calls).toHaveLength(2);
  });
});

describe("bearer_token configuration", () => {
  it("refuses a token_from with zero-length or several locations", () => {
    expect(configError(t.deps, "bearer_token", { ...base(), token_from: { header: "a", cookie: "b" } })).toMatch(
      /config\.token_from must name exactly one of header, query_parameter, cookie/,
    );
    expect(configError(t.deps, "bearer_token", { ...base(), token_from: { header: "" } })).toMatch(/config\.token_from\.header is required/);
    expect(configError(t.deps, "bearer_token", { ...base(), token_from: { form: "x" } })).toMatch(/config\.token_from\.form is not a known option/);
    expect(configError(t.deps, "bearer_token", { ...base(), only: ["x"] })).toMatch(/config\.only is not a known option/);
  });
});
