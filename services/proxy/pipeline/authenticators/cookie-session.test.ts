import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ForbiddenError, NotResponsibleError, UnauthorizedError, UpstreamServiceError } from "../errors.js";
import { configError, failsWith, makeDeps, prepare, request, run, startServer, type TestServer } from "./test-fixtures.js";

/** A Kratos-like whoami: the cookie `ory_kratos_session=good-<user>` is a session of `<user>`. */
let kratos: TestServer;
let expiresAt: () => string;
const t = makeDeps();

beforeAll(async () => {
  kratos = await startServer((req) => {
    const match = /ory_kratos_session=good-(\w+)/.exec(req.headers.cookie ?? "");
    if (match === null) return { status: 401, body: { error: { code: 401, message: "No valid session cookie found." } } };
    return {
      body: {
        id: `session-${match[1]}`,
        active: true,
        expires_at: expiresAt(),
        identity: { id: `id-${match[1]}`, traits: { email: `${match[1]}@example.com` } },
      },
    };
  });
});
afterAll(async () => {
  await kratos.close();
  await t.close();
});
beforeEach(() => {
  kratos.calls.length = 0;
  expiresAt = () => new Date(t.clock.now + 3_600_000).toISOString();
});

const whoami = () => ({ check_session_url: `${kratos.url}/sessions/whoami`, preserve_path: true, subject_from: "identity.id", extra_from: "@this" });

describe("cookie_session responsibility", () => {
  it("is not responsible without cookies", async () => {
    await failsWith(prepare(t.deps, "cookie_session", whoami()), request("http://api.local/x"), NotResponsibleError);
    await failsWith(prepare(t.deps, "cookie_session", whoami()), request("http://api.local/x", { cookie: "garbage" }), NotResponsibleError);
    expect(kratos.calls).toHaveLength(0);
  });

  it("with `only`, is responsible only when one of those cookies is present", async () => {
    const auth = prepare(t.deps, "cookie_session", { ...whoami(), only: ["ory_kratos_session"] });
    await failsWith(auth, request("http://api.local/x", { cookie: "theme=dark" }), NotResponsibleError);
    const session = await run(auth, request("http://api.local/x", { cookie: "theme=dark; ory_kratos_session=good-ann" }));
    expect(session.subject).toBe("id-ann");
  });
});

describe("cookie_session against a Kratos whoami", () => {
  it("reads subject and extra with GJSON paths and forwards only the cookies by default", async () => {
    const auth = prepare(t.deps, "cookie_session", whoami());
    const session = await run(auth, request("http://api.local/api/items?page=2", { cookie: "ory_kratos_session=good-ann", authorization: "Basic Zm9vOmJhcg==" }));
    expect(session.subject).toBe("id-ann");
    expect(session.extra).toMatchObject({ id: "session-ann", active: true, identity: { traits: { email: "ann@example.com" } } });
    expect(kratos.calls).toHaveLength(1);
    const call = kratos.calls[0]!;
    expect(call.method).toBe("GET");
    expect(call.url).toBe("/sessions/whoami");
    expect(call.headers.cookie).toBe("ory_kratos_session=good-ann");
    expect(call.headers.authorization).toBeUndefined();
    expect(call.headers["x-forwarded-host"]).toBeUndefined();
  });

  it("uses Oathkeeper's defaults: subject_from `subject`, extra_from `extra`", async () => {
    const store = await startServer(() => ({ body: { subject: "alice", extra: { role: "admin" } } }));
    try {
      const session = await run(prepare(t.deps, "cookie_session", { check_session_url: store.url, preserve_path: true }), request("http://api.local/", { cookie: "s=1" }));
      expect(session.subject).toBe("alice");
      expect(session.extra).toEqual({ role: "admin" });
    } finally {
      await store.close();
    }
  });

  it("replaces the URL's path with the request's unless preserve_path, and its query only when preserve_query is false", async () => {
    const store = await startServer(() => ({ body: { subject: "alice" } }));
    try {
      const req = request("http://api.local/api/items?page=2", { cookie: "s=1" }, "DELETE");
      await run(prepare(t.deps, "cookie_session", { check_session_url: `${store.url}/check?from=gw` }), req);
      await run(prepare(t.deps, "cookie_session", { check_session_url: `${store.url}/check?from=gw`, preserve_query: false }), req);
      await run(prepare(t.deps, "cookie_session", { check_session_url: `${store.url}/check?from=gw`, preserve_path: true, force_method: "get" }), req);
      expect(store.calls.map((c) => `${c.method} ${c.url}`)).toEqual(["DELETE /api/items?from=gw", "DELETE /api/items?page=2", "GET /check?from=gw"]);
    } finally {
      await store.close();
    }
  });

  it("forwards the configured headers, sets additional headers and X-Forwarded-Host", async () => {
    const auth = prepare(t.deps, "cookie_session", {
      ...whoami(),
      forward_http_headers: ["X-Tenant", "Authorization"],
      additional_headers: { "X-Gateway": "gatehouse" },
      preserve_host: true,
    });
    await run(auth, request("https://api.example.com:8443/x", { cookie: "ory_kratos_session=good-ann", "x-tenant": "t1", authorization: "Bearer zzz", "x-other": "no" }));
    const call = kratos.calls[0]!;
    expect(call.headers["x-tenant"]).toBe("t1");
    expect(call.headers.authorization).toBe("Bearer zzz");
    expect(call.headers.cookie).toBe("ory_kratos_session=good-ann");
    expect(call.headers["x-gateway"]).toBe("gatehouse");
    expect(call.headers["x-forwarded-host"]).toBe("api.example.com:8443");
    expect(call.headers["x-other"]).toBeUndefined();
  });
});

describe("cookie_session failures", () => {
  it("answers 401 when the session store refuses, without the cookie in the message", async () => {
    const err = await failsWith(prepare(t.deps, "cookie_session", whoami()), request("http://api.local/x", { cookie: "ory_kratos_session=bad-secret" }), UnauthorizedError);
    expect(err.message).not.toContain("bad-secret");
  });

  it("answers 401 when a 200 answer has no subject; stringifies numbers; 403 for other types", async () => {
    const store = await startServer((req) => ({ body: req.url === "/none" ? { extra: {} } : req.url === "/num" ? { subject: 42 } : { subject: { id: 1 } } }));
    try {
      const cfg = (path: string) => ({ check_session_url: `${store.url}${path}`, preserve_path: true });
      await failsWith(prepare(t.deps, "cookie_session", cfg("/none")), request("http://api.local/", { cookie: "s=1" }), UnauthorizedError);
      expect((await run(prepare(t.deps, "cookie_session", cfg("/num")), request("http://api.local/", { cookie: "s=1" }))).subject).toBe("42");
      await failsWith(prepare(t.deps, "cookie_session", cfg("/obj")), request("http://api.local/", { cookie: "s=1" }), ForbiddenError);
      await failsWith(prepare(t.deps, "cookie_session", { ...cfg("/num"), extra_from: "subject" }), request("http://api.local/", { cookie: "s=1" }), ForbiddenError);
    } finally {
      await store.close();
    }
  });

  it("answers UpstreamServiceError on 5xx, invalid JSON and an unreachable store", async () => {
    const store = await startServer((req) => (req.url === "/500" ? { status: 503, body: "down" } : { body: "not json" }));
    try {
      const cfg = (path: string) => ({ check_session_url: `${store.url}${path}`, preserve_path: true });
      const req = request("http://api.local/", { cookie: "s=secret-cookie" });
      const e1 = await failsWith(prepare(t.deps, "cookie_session", cfg("/500")), req, UpstreamServiceError);
      expect(e1.message).toContain("503");
      await failsWith(prepare(t.deps, "cookie_session", cfg("/json")), req, UpstreamServiceError);
    } finally {
      await store.close();
    }
    const e3 = await failsWith(prepare(t.deps, "cookie_session", { check_session_url: store.url, preserve_path: true }), request("http://api.local/", { cookie: "s=secret-cookie" }), UpstreamServiceError);
    expect(e3.message).not.toContain("secret-cookie");
  });
});

describe("cookie_session cache", () => {
  const cached = () => ({ ...whoami(), cache: { enabled: true } });
  const req = (user: string) => request("http://api.local/x", { cookie: `ory_kratos_session=good-${user}` });

  it("is off by default", async () => {
    const auth = prepare(t.deps, "cookie_session", whoami());
    await run(auth, req("ann"));
    await run(auth, req("ann"));
    expect(kratos.calls).toHaveLength(2);
  });

  it("answers repeated sessions from the cache, per credential, for the default 15s", async () => {
    const auth = prepare(t.deps, "cookie_session", cached());
    expect((await run(auth, req("bob"))).subject).toBe("id-bob");
    const again = await run(auth, req("bob"));
    expect(again.subject).toBe("id-bob");
    expect(again.extra).toMatchObject({ identity: { traits: { email: "bob@example.com" } } });
    expect(kratos.calls).toHaveLength(1);
    expect((await run(auth, req("cid"))).subject).toBe("id-cid");
    expect(kratos.calls).toHaveLength(2);
    t.clock.now += 16_000;
    await run(auth, req("bob"));
    expect(kratos.calls).toHaveLength(3);
  });

  it("hands out copies: a handler changing session.extra does not change the cached session", async () => {
    const auth = prepare(t.deps, "cookie_session", cached());
    const first = await run(auth, req("dan"));
    (first.extra as { id: string }).id = "tampered";
    expect((await run(auth, req("dan"))).extra).toMatchObject({ id: "session-dan" });
  });

  it("never keeps a session beyond its expires_at", async () => {
    expiresAt = () => new Date(t.clock.now + 5_000).toISOString();
    const auth = prepare(t.deps, "cookie_session", { ...cached(), cache: { enabled: true, ttl: "1m" } });
    await run(auth, req("eve"));
    t.clock.now += 4_000;
    await run(auth, req("eve"));
    expect(kratos.calls).toHaveLength(1);
    t.clock.now += 2_000;
    await run(auth, req("eve"));
    expect(kratos.calls).toHaveLength(2);
  });

  it("does not cache refusals", async () => {
    const auth = prepare(t.deps, "cookie_session", cached());
    const bad = request("http://api.local/x", { cookie: "ory_kratos_session=nope" });
    await failsWith(auth, bad, UnauthorizedError);
    await failsWith(auth, bad, UnauthorizedError);
    expect(kratos.calls).toHaveLength(2);
  });

  it("keys on everything that shapes the answer (path sent, forwarded headers)", async () => {
    const auth = prepare(t.deps, "cookie_session", { ...cached(), forward_http_headers: ["X-Tenant"] });
    await run(auth, request("http://api.local/x", { cookie: "ory_kratos_session=good-fay", "x-tenant": "a" }));
    await run(auth, request("http://api.local/x", { cookie: "ory_kratos_session=good-fay", "x-tenant": "b" }));
    expect(kratos.calls).toHaveLength(2);
    const byPath = prepare(t.deps, "cookie_session", { check_session_url: kratos.url, subject_from: "identity.id", cache: { enabled: true } });
    await run(byPath, request("http://api.local/one", { cookie: "ory_kratos_session=good-fay" }));
    await run(byPath, request("http://api.local/two", { cookie: "ory_kratos_session=good-fay" }));
    await run(byPath, request("http://api.local/one", { cookie: "ory_kratos_session=good-fay" }));
    expect(kratos.calls).toHaveLength(4);
  });
});

describe("cookie_session configuration", () => {
  it("refuses bad configuration naming where and the key", () => {
    expect(configError(t.deps, "cookie_session", {})).toBe('rule "test" authenticators[0] (cookie_session): config.check_session_url is required');
    expect(configError(t.deps, "cookie_session", { check_session_url: "kratos/whoami" })).toMatch(/config\.check_session_url must be an absolute URL/);
    expect(configError(t.deps, "cookie_session", { ...whoami(), subject_from: "identity.*" })).toMatch(/config\.subject_from is not a supported GJSON path/);
    expect(configError(t.deps, "cookie_session", { ...whoami(), cache: { enabled: true, ttl: "soon" } })).toMatch(/config\.cache\.ttl must be a duration/);
    expect(configError(t.deps, "cookie_session", { ...whoami(), cache: { enabled: true, max_tokens: 3 } })).toMatch(/config\.cache\.max_tokens is not a known option/);
    expect(configError(t.deps, "cookie_session", { ...whoami(), preserve_query: "yes" })).toMatch(/config\.preserve_query must be true or false/);
    expect(configError(t.deps, "cookie_session", { ...whoami(), force_method: "GET /" })).toMatch(/config\.force_method must be an HTTP method/);
    expect(configError(t.deps, "cookie_session", { ...whoami(), token_from: { header: "x" } })).toMatch(/config\.token_from is not a known option/);
    expect(configError(t.deps, "cookie_session", { ...whoami(), forward_http_headers: ["Cookie", "Content-Length"] })).toMatch(/config\.forward_http_headers cannot carry "Content-Length"/);
    expect(configError(t.deps, "cookie_session", { ...whoami(), forward_http_headers: ["Host"] })).toMatch(/config\.forward_http_headers cannot forward "Host"/);
    expect(configError(t.deps, "cookie_session", { ...whoami(), additional_headers: { "Bad Name": "x" } })).toMatch(/config\.additional_headers has an invalid header name "Bad Name"/);
  });
});
