import { afterAll, afterEach, describe, expect, it } from "vitest";
import { GatehouseError, InvalidArgumentError } from "../../../../common/errors.js";
import { ForbiddenError, UpstreamServiceError } from "../errors.js";
import { allowAuthorizer } from "./allow.js";
import { denyAuthorizer } from "./deny.js";
import { createAuthorizerFactories } from "./index.js";
import { remoteJsonAuthorizer } from "./remote-json.js";
import { closedPort, contextOf, rejectionOf, requestOf, sessionOf, startServer, testDeps, thrownBy, type TestServer } from "./test-support.js";

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

const ctx = contextOf("remote_json");
const prepare = (config: Record<string, unknown>) => remoteJsonAuthorizer(deps).prepare(config, ctx);
const payload = '{"subject":"{{ print .Subject }}","resource":"{{ printIndex .MatchContext.RegexpCaptureGroups 0 }}"}';

describe("allow and deny", () => {
  it("allows and refuses every request", async () => {
    const session = sessionOf("anne");
    await expect(allowAuthorizer().prepare({}, contextOf("allow")).authorize(requestOf(), session)).resolves.toBeUndefined();
    await expect(denyAuthorizer().prepare({}, contextOf("deny")).authorize(requestOf(), session)).rejects.toBeInstanceOf(ForbiddenError);
  });

  it("are all registered by createAuthorizerFactories", () => {
    expect(createAuthorizerFactories(deps).map((f) => f.name)).toEqual(["allow", "deny", "remote_json", "permission", "keto_engine_acp_ory"]);
  });
});

describe("remote_json", () => {
  it("POSTs the rendered payload with the caller's Authorization and the templated headers, and allows on 200", async () => {
    const remote = await server((_req, res) => {
      res.writeHead(200, { "x-decision-id": "d-1", "x-other": "no" });
      res.end("{}");
    });
    const authorizer = prepare({
      remote: `${remote.url}/check`,
      payload,
      headers: { "X-Subject": "{{ print .Subject }}", "X-Empty": "{{ if .Extra.missing }}x{{ end }}" },
      forward_response_headers_to_upstream: ["X-Decision-Id", "X-Absent"],
    });
    const session = sessionOf("anne", { groups: ["doc-7"] });
    await authorizer.authorize(requestOf({ authorization: "Bearer abc" }), session);

    const [sent] = remote.requests;
    expect(sent?.method).toBe("POST");
    expect(sent?.url).toBe("/check");
    expect(JSON.parse(sent?.body ?? "")).toEqual({ subject: "anne", resource: "doc-7" });
    expect(sent?.headers["content-type"]).toBe("application/json");
    expect(sent?.headers.authorization).toBe("Bearer abc");
    expect(sent?.headers["x-subject"]).toBe("anne");
    expect(sent?.headers).not.toHaveProperty("x-empty");
    expect(session.header).toEqual({ "X-Decision-Id": "d-1" });
  });

  it("refuses on 403 with ForbiddenError", async () => {
    const remote = await server((_req, res) => {
      res.writeHead(403);
      res.end();
    });
    const err = await rejectionOf(prepare({ remote: remote.url, payload }).authorize(requestOf(), sessionOf("anne", { groups: ["x"] })));
    expect(err).toBeInstanceOf(ForbiddenError);
  });

  it("fails with an upstream error naming the URL and status on any other answer, without retrying a 4xx", async () => {
    const remote = await server((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    const err = await rejectionOf(prepare({ remote: `${remote.url}/decide?token=secret`, payload }).authorize(requestOf(), sessionOf("anne", { groups: ["x"] })));
    expect(err).toBeInstanceOf(UpstreamServiceError);
    expect(err.message).toContain(`${remote.url}/decide answered 404`);
    expect(err.message).not.toContain("secret");
    expect(err.message).toContain('rule "r1"');
    expect(remote.requests).toHaveLength(1);
  });

  it("retries 5xx with backoff until an answer, and gives up after give_up_after", async () => {
    const flaky = await server((_req, res, i) => {
      res.writeHead(i < 2 ? 503 : 200);
      res.end();
    });
    await prepare({ remote: flaky.url, payload, retry: { give_up_after: "2s", max_delay: "20ms" } }).authorize(
      requestOf(),
      sessionOf("anne", { groups: ["x"] }),
    );
    expect(flaky.requests).toHaveLength(3);

    const broken = await server((_req, res) => {
      res.writeHead(500);
      res.end();
    });
    const started = Date.now();
    const err = await rejectionOf(
      prepare({ remote: broken.url, payload, retry: { give_up_after: "150ms", max_delay: "20ms" } }).authorize(requestOf(), sessionOf("anne", { groups: ["x"] })),
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(err).toBeInstanceOf(UpstreamServiceError);
    expect(err.message).toContain("answered 500");
    expect(broken.requests.length).toBeGreaterThan(1);
  });

  it("retries a service that cannot be reached, then reports it", async () => {
    const port = await closedPort();
    const err = await rejectionOf(
      prepare({ remote: `http://127.0.0.1:${port}/`, payload, retry: { give_up_after: "100ms", max_delay: "10ms" } }).authorize(
        requestOf(),
        sessionOf("anne", { groups: ["x"] }),
      ),
    );
    expect(err).toBeInstanceOf(UpstreamServiceError);
    expect(err.message).toContain(`could not reach http://127.0.0.1:${port}/`);
  });

  it("fails with an internal error naming the rule when the payload does not render to JSON", async () => {
    const remote = await server((_req, res) => res.end());
    const err = await rejectionOf(prepare({ remote: remote.url, payload: '{"subject": {{ .Subject }}}' }).authorize(requestOf(), sessionOf("anne")));
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe("internal");
    expect(err.message).toContain('rule "r1" authorizers[0] (remote_json): config.payload');
    expect(remote.requests).toHaveLength(0);
  });

  it("refuses bad configuration at prepare, naming where and the key", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ payload }, "config.remote is required"],
      [{ remote: "ftp://x", payload }, "config.remote must be an http(s) URL"],
      [{ remote: "http://x" }, "config.payload is required"],
      [{ remote: "http://x", payload: "{{ .Subject" }, "config.payload"],
      [{ remote: "http://x", payload, headers: { "Bad Name": "x" } }, "config.headers.Bad Name is not a valid header name"],
      [{ remote: "http://x", payload, headers: { "X-A": "{{ end }}" } }, "config.headers.X-A"],
      [{ remote: "http://x", payload, forward_response_headers_to_upstream: ["ok", "not ok"] }, "config.forward_response_headers_to_upstream[1]"],
      [{ remote: "http://x", payload, retry: { give_up_after: "soon" } }, "config.retry.give_up_after must be a duration"],
      [{ remote: "http://x", payload, retry: { max_delay: "0s" } }, "config.retry.max_delay must be at least 1ms"],
    ];
    for (const [config, message] of cases) {
      const err = thrownBy(() => prepare(config));
      expect(err, message).toBeInstanceOf(InvalidArgumentError);
      expect(err.message, message).toContain('rule "r1" authorizers[0] (remote_json)');
      expect(err.message, message).toContain(message);
    }
  });
});
