import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NotResponsibleError, UnauthorizedError, UpstreamServiceError } from "../errors.js";
import { basicCredentialsOf } from "./oauth2-client-credentials.js";
import { configError, failsWith, makeDeps, prepare, request, run, startServer, type TestServer } from "./test-fixtures.js";

const t = makeDeps();
let hydra: TestServer;
const SECRET = "s3cret:with+plus &";
let expiresIn: number | undefined;

/** Form-decodes one value of a Basic header, as an RFC 6749 2.3.1 server does. */
const formDecode = (v: string) => decodeURIComponent(v.replace(/\+/g, " "));

beforeAll(async () => {
  hydra = await startServer((req) => {
    const path = req.url.split("?")[0];
    if (path === "/broken") return { status: 503, body: {} };
    if (path === "/missing") return { status: 404, body: {} };
    if (path === "/notoken") return { body: { token_type: "bearer" } };
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
    if (basic === null) return { status: 400, body: { error: "invalid_request" } };
    const [id, secret] = Buffer.from(basic[1]!, "base64").toString("utf8").split(":").map(formDecode);
    if (id !== "svc" || secret !== SECRET) return { status: 401, body: { error: "invalid_client" } };
    return { body: { access_token: "issued-token", token_type: "bearer", ...(expiresIn === undefined ? {} : { expires_in: expiresIn }) } };
  });
});
afterAll(async () => {
  await hydra.close();
  await t.close();
});
beforeEach(() => {
  hydra.calls.length = 0;
  expiresIn = 3_600;
});

/** The Basic header a client sends: id and secret form-encoded, then base64. */
function basic(id: string, secret: string): Record<string, string> {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, "+");
  return { authorization: `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString("base64")}` };
}

const base = (extra: Record<string, unknown> = {}) => ({ token_url: `${hydra.url}/oauth2/token`, retry: { give_up_after: "0s" }, ...extra });

describe("oauth2_client_credentials", () => {
  it("parses Basic credentials as Go's BasicAuth", () => {
    expect(basicCredentialsOf(`basic ${Buffer.from("a:b:c").toString("base64")}`)).toEqual({ user: "a", password: "b:c" });
    expect(basicCredentialsOf(`Basic ${Buffer.from("nocolon").toString("base64")}`)).toBeUndefined();
    expect(basicCredentialsOf("Basic !!!")).toBeUndefined();
    expect(basicCredentialsOf("Bearer abc")).toBeUndefined();
  });

  it("is responsible only for HTTP Basic requests", async () => {
    const auth = prepare(t.deps, "oauth2_client_credentials", base());
    await failsWith(auth, request("http://api.local/x"), NotResponsibleError);
    await failsWith(auth, request("http://api.local/x", { authorization: "Bearer abc" }), NotResponsibleError);
    await failsWith(auth, request("http://api.local/x", { authorization: "Basic not-base64!" }), NotResponsibleError);
    expect(hydra.calls).toHaveLength(0);
  });

  it("performs a client credentials grant with the required scopes; the subject is the client id", async () => {
    const auth = prepare(t.deps, "oauth2_client_credentials", base({ required_scope: ["orders:read", "orders:write"] }));
    const session = await run(auth, request("http://api.local/x", basic("svc", SECRET)));
    expect(session.subject).toBe("svc");
    const call = hydra.calls[0]!;
    expect(call.method).toBe("POST");
    expect(call.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(new URLSearchParams(call.body))).toEqual({ grant_type: "client_credentials", scope: "orders:read orders:write" });
  });

  it("answers 401 for refused or malformed credentials, without the secret in the message", async () => {
    const auth = prepare(t.deps, "oauth2_client_credentials", base());
    const e = await failsWith(auth, request("http://api.local/x", basic("svc", "wrong-secret")), UnauthorizedError);
    expect(e.message).not.toContain("wrong-secret");
    await failsWith(auth, request("http://api.local/x", { authorization: `Basic ${Buffer.from("svc:%zz").toString("base64")}` }), UnauthorizedError);
    await failsWith(prepare(t.deps, "oauth2_client_credentials", base({ token_url: `${hydra.url}/notoken` })), request("http://api.local/x", basic("svc", SECRET)), UnauthorizedError);
  });

  it("reports a failing or missing token endpoint as UpstreamServiceError", async () => {
    await failsWith(prepare(t.deps, "oauth2_client_credentials", base({ token_url: `${hydra.url}/broken` })), request("http://api.local/x", basic("svc", SECRET)), UpstreamServiceError);
    await failsWith(prepare(t.deps, "oauth2_client_credentials", base({ token_url: `${hydra.url}/missing` })), request("http://api.local/x", basic("svc", SECRET)), UpstreamServiceError);
  });
});

describe("oauth2_client_credentials cache", () => {
  const req = (secret = SECRET) => request("http://api.local/x", basic("svc", secret));

  it("remembers a good client until the token's expires_in", async () => {
    expiresIn = 3;
    const auth = prepare(t.deps, "oauth2_client_credentials", base({ cache: { enabled: true, max_tokens: 100 } }));
    await run(auth, req());
    t.clock.now += 2_000;
    expect((await run(auth, req())).subject).toBe("svc");
    expect(hydra.calls).toHaveLength(1);
    t.clock.now += 2_000;
    await run(auth, req());
    expect(hydra.calls).toHaveLength(2);
  });

  it("keys on the secret, and does not cache refusals", async () => {
    const auth = prepare(t.deps, "oauth2_client_credentials", base({ required_scope: ["k"], cache: { enabled: true, ttl: "1m" } }));
    await run(auth, req());
    await failsWith(auth, req("guess-1"), UnauthorizedError);
    await failsWith(auth, req("guess-1"), UnauthorizedError);
    await run(auth, req());
    expect(hydra.calls).toHaveLength(3);
  });

  it("uses cache.ttl when shorter than expires_in, and does not cache without either bound", async () => {
    const auth = prepare(t.deps, "oauth2_client_credentials", base({ required_scope: ["a"], cache: { enabled: true, ttl: "5s" } }));
    await run(auth, req());
    t.clock.now += 6_000;
    await run(auth, req());
    expect(hydra.calls).toHaveLength(2);
    expiresIn = undefined;
    const unbounded = prepare(t.deps, "oauth2_client_credentials", base({ required_scope: ["b"], cache: { enabled: true } }));
    await run(unbounded, req());
    await run(unbounded, req());
    expect(hydra.calls).toHaveLength(4);
  });
});

describe("oauth2_client_credentials configuration", () => {
  it("refuses bad configuration naming the key", () => {
    expect(configError(t.deps, "oauth2_client_credentials", {})).toMatch(/\(oauth2_client_credentials\): config\.token_url is required/);
    expect(configError(t.deps, "oauth2_client_credentials", base({ cache: { max_tokens: -1 } }))).toMatch(/config\.cache\.max_tokens must be a non-negative integer/);
    expect(configError(t.deps, "oauth2_client_credentials", base({ cache: { max_cost: 1 } }))).toMatch(/config\.cache\.max_cost is not a known option/);
    expect(configError(t.deps, "oauth2_client_credentials", base({ scope: ["a"] }))).toMatch(/config\.scope is not a known option/);
  });
});
