import { afterAll, afterEach, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../../common/errors.js";
import { UpstreamServiceError } from "../errors.js";
import { contextOf, rejectionOf, requestOf, sessionOf, startServer, testDeps, thrownBy, type RecordedRequest, type TestServer } from "../authorizers/test-support.js";
import { canonicalHeaderName, hydratorMutator } from "./hydrator.js";

const deps = testDeps();
afterAll(() => deps.http.close());
const servers: TestServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function server(respond: Parameters<typeof startServer>[0]): Promise<TestServer> {
  const s = await startServer(respond);
  servers.push(s);
  return s;
}

/** A hydrator that adds `extra.plan` and an `X-Plan` header to whatever session it gets. */
function enriching(req: RecordedRequest, res: import("node:http").ServerResponse): void {
  const session = JSON.parse(req.body) as { extra: Record<string, unknown>; header: Record<string, string[]> };
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ ...session, extra: { ...session.extra, plan: "pro" }, header: { ...session.header, "X-Plan": ["pro", "ignored"] } }));
}

const ctx = contextOf("hydrator", "mutators");
const prepare = (config: Record<string, unknown>) => hydratorMutator(deps).prepare(config, ctx);

describe("hydrator", () => {
  it("POSTs the session as Oathkeeper marshals it, with the request's headers and query, and takes the answer", async () => {
    const api = await server(enriching);
    const mutator = prepare({ api: { url: `${api.url}/hydrate?source=gw` } });
    const session = sessionOf("anne", {
      groups: ["7"],
      extra: { email: "anne@example.com" },
      header: { "x-user": "anne" },
      requestHeaders: { accept: "text/html", "x-multi": ["a", "b"] },
    });
    await mutator.mutate(requestOf({ cookie: "sid=1", authorization: "Bearer t", host: "api.example.com" }), session);

    const [sent] = api.requests;
    expect(sent?.method).toBe("POST");
    expect(sent?.url).toBe("/hydrate?source=gw&page=2");
    expect(sent?.headers).toMatchObject({ "content-type": "application/json", cookie: "sid=1", authorization: "Bearer t" });
    expect(JSON.parse(sent?.body ?? "")).toEqual({
      subject: "anne",
      extra: { email: "anne@example.com" },
      header: { "X-User": ["anne"] },
      match_context: {
        regexp_capture_groups: ["7"],
        url: "https://api.example.com/docs/1?page=2",
        method: "GET",
        header: { Accept: ["text/html"], "X-Multi": ["a", "b"] },
      },
    });
    expect(session.subject).toBe("anne");
    expect(session.extra).toEqual({ email: "anne@example.com", plan: "pro" });
    // The first value of each returned list: what Oathkeeper forwards upstream.
    expect(session.header).toEqual({ "X-User": "anne", "X-Plan": "pro" });
  });

  it("sends the configured basic credentials instead of the caller's Authorization", async () => {
    const api = await server(enriching);
    await prepare({ api: { url: api.url, auth: { basic: { username: "gw", password: "s3cret" } } } }).mutate(
      requestOf({ authorization: "Bearer t" }),
      sessionOf("anne"),
    );
    expect(api.requests[0]?.headers.authorization).toBe(`Basic ${Buffer.from("gw:s3cret").toString("base64")}`);
  });

  it("keeps the session's extra and header when the answer has none", async () => {
    const api = await server((_req, res) => res.end(JSON.stringify({ subject: "anne" })));
    const session = sessionOf("anne", { extra: { a: 1 }, header: { "X-A": "1" } });
    await prepare({ api: { url: api.url } }).mutate(requestOf(), session);
    expect(session.extra).toEqual({ a: 1 });
    expect(session.header).toEqual({ "X-A": "1" });
  });

  it("refuses an answer about another subject, or that is not a session", async () => {
    const answers = [JSON.stringify({ subject: "root", extra: {} }), "not json", JSON.stringify({ subject: "anne", extra: [] }), JSON.stringify({ subject: "anne", header: { "X-A": [1] } })];
    const api = await server((_req, res, i) => res.end(answers[i]));
    const mutator = prepare({ api: { url: api.url } });
    for (const problem of ["its subject is not the session's", "not JSON", '"extra" is not an object', '"header.X-A" is not a list of strings']) {
      const session = sessionOf("anne");
      const err = await rejectionOf(mutator.mutate(requestOf(), session));
      expect(err, problem).toBeInstanceOf(UpstreamServiceError);
      expect(err.message, problem).toContain(`${api.url}/ answered with an invalid session: ${problem}`);
      expect(session.subject).toBe("anne");
    }
  });

  it("fails with an upstream error naming the URL and status on any answer but 200", async () => {
    const statuses = [500, 401, 401];
    const api = await server((_req, res, i) => {
      res.writeHead(statuses[i] ?? 500);
      res.end();
    });
    const err = await rejectionOf(prepare({ api: { url: api.url } }).mutate(requestOf(), sessionOf("anne")));
    expect(err).toBeInstanceOf(UpstreamServiceError);
    expect(err.message).toContain('rule "r1" mutators[0] (hydrator)');
    expect(err.message).toContain(`${api.url}/ answered 500, expected 200`);
    const noCredentials = await rejectionOf(prepare({ api: { url: api.url } }).mutate(requestOf(), sessionOf("anne")));
    expect(noCredentials.message).toContain("requires credentials (set config.api.auth.basic)");
    const wrong = await rejectionOf(prepare({ api: { url: api.url, auth: { basic: { username: "u", password: "p" } } } }).mutate(requestOf(), sessionOf("anne")));
    expect(wrong.message).toContain("refused the credentials of config.api.auth.basic");
    // No retry without api.retry (Oathkeeper's default).
    expect(api.requests).toHaveLength(3);
  });

  it("retries 5xx when api.retry is configured", async () => {
    const api = await server((req, res, i) => {
      if (i < 2) {
        res.writeHead(503);
        res.end();
        return;
      }
      enriching(req, res);
    });
    const session = sessionOf("anne");
    await prepare({ api: { url: api.url, retry: { give_up_after: "2s", max_delay: "10ms" } } }).mutate(requestOf(), session);
    expect(api.requests).toHaveLength(3);
    expect(session.extra).toEqual({ plan: "pro" });
  });

  it("caches answers per session sent when cache.enabled, and not otherwise", async () => {
    const api = await server(enriching);
    const cached = prepare({ api: { url: api.url }, cache: { enabled: true, ttl: "30s" } });
    const first = sessionOf("anne");
    await cached.mutate(requestOf(), first);
    const second = sessionOf("anne");
    await cached.mutate(requestOf(), second);
    expect(api.requests).toHaveLength(1);
    expect(second.extra).toEqual({ plan: "pro" });
    expect(second.header).toEqual({ "X-Plan": "pro" });
    // A different session is a different key.
    await cached.mutate(requestOf(), sessionOf("bob"));
    expect(api.requests).toHaveLength(2);

    const uncached = prepare({ api: { url: api.url } });
    await uncached.mutate(requestOf(), sessionOf("anne"));
    await uncached.mutate(requestOf(), sessionOf("anne"));
    expect(api.requests).toHaveLength(4);
  });

  it("refuses bad configuration at prepare, naming where and the key", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{}, "config.api.url is required"],
      [{ api: { url: "not a url" } }, "config.api.url must be an absolute URL"],
      [{ api: { url: "http://h/", auth: { basic: { password: "p" } } } }, "config.api.auth.basic.username is required"],
      [{ api: { url: "http://h/", retry: { max_delay: "later" } } }, "config.api.retry.max_delay must be a duration"],
      [{ api: { url: "http://h/" }, cache: { enabled: "yes" } }, "config.cache.enabled must be true or false"],
      [{ api: { url: "http://h/" }, cache: { ttl: "1 minute" } }, "config.cache.ttl must be a duration"],
    ];
    for (const [config, message] of cases) {
      const err = thrownBy(() => prepare(config));
      expect(err, message).toBeInstanceOf(InvalidArgumentError);
      expect(err.message, message).toContain('rule "r1" mutators[0] (hydrator)');
      expect(err.message, message).toContain(message);
    }
  });
});

describe("canonicalHeaderName", () => {
  it("canonicalises as Go does", () => {
    expect(canonicalHeaderName("x-user-id")).toBe("X-User-Id");
    expect(canonicalHeaderName("WWW-AUTHENTICATE")).toBe("Www-Authenticate");
    expect(canonicalHeaderName("bad header")).toBe("bad header");
  });
});
