import { once } from "node:events";
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createPlaneServer, type PlaneServer } from "../../../gateways/server/plane-server.js";
import type { AccessRule } from "../rules/rule.js";
import type { AccessPipeline, Decision, PipelineRequest } from "../pipeline/types.js";
import { ForbiddenError } from "../pipeline/errors.js";
import { createApiRoutes } from "./decisions-api.js";
import { trustedProxies } from "./forwarded.js";
import { createReverseProxy, upstreamTarget, type ReverseProxy } from "./reverse-proxy.js";

function rule(id: string, upstream?: AccessRule["upstream"]): AccessRule {
  return {
    id,
    match: { url: "http://<.*>", methods: ["GET"] },
    authenticators: [{ handler: "anonymous" }],
    authorizers: [{ handler: "allow" }],
    mutators: [{ handler: "noop" }],
    errors: [],
    priority: 0,
    ...(upstream === undefined ? {} : { upstream }),
  };
}

/** Allows paths under /ok (adding X-User), denies the rest with 403; records what it was asked. */
function fakePipeline(upstream: AccessRule["upstream"], seen: PipelineRequest[]): AccessPipeline {
  const r = rule("r1", upstream);
  return {
    async decide(request): Promise<Decision> {
      seen.push(request);
      if (request.url.pathname.startsWith("/ok") || request.url.pathname.startsWith("/api/ok")) {
        const user = request.url.pathname.startsWith("/ok/snowman") ? "\u2603" : "alice";
        return { kind: "allow", rule: r, session: { subject: user, extra: {}, header: {}, matchContext: { regexpCaptureGroups: [], url: request.url, method: request.method, header: request.headers } }, headers: { "X-User": user } };
      }
      const error = new ForbiddenError();
      return { kind: "deny", rule: r, error, response: { status: 403, headers: { "content-type": "application/json" }, body: '{"error":{"code":403}}' } };
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function listen(server: Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

/** An upstream that echoes method, url, headers and body as JSON, and echoes bytes after an upgrade. */
async function echoUpstream(): Promise<{ port: number; hits: IncomingMessage[] }> {
  const hits: IncomingMessage[] = [];
  const server = createServer(async (req, res) => {
    hits.push(req);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    res.setHeader("content-type", "application/json");
    res.setHeader("x-upstream", "yes");
    res.setHeader("connection", "keep-alive, x-private-hop");
    res.setHeader("x-private-hop", "must not reach the client");
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyLength: body.length, bodyTail: body.subarray(-16).toString() }));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    hits.push(req);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\nx-user-seen: ${String(req.headers["x-user"])}\r\n\r\n`);
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  return { port: await listen(server), hits };
}

async function startProxy(upstream: AccessRule["upstream"], trusted: string[] = []): Promise<{ port: number; seen: PipelineRequest[]; proxy: ReverseProxy; logs: string[] }> {
  const seen: PipelineRequest[] = [];
  const logs: string[] = [];
  const proxy = createReverseProxy({ pipeline: fakePipeline(upstream, seen), trustedProxies: trustedProxies(trusted), log: (l) => logs.push(l) });
  const port = await listen(proxy.server);
  cleanups.push(() => proxy.closePools());
  return { port, seen, proxy, logs };
}

async function send(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}) {
  return new Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

describe("upstreamTarget", () => {
  it("removes strip_path once and joins the upstream path as Oathkeeper does", () => {
    expect(upstreamTarget({ url: "http://backend:8080" }, "/api/users?x=1")).toEqual({ origin: "http://backend:8080", path: "/api/users?x=1", host: "backend:8080" });
    expect(upstreamTarget({ url: "http://backend:8080/v2/", strip_path: "/api" }, "/api/users")).toMatchObject({ path: "/v2/users" });
    expect(upstreamTarget({ url: "http://backend:8080/base", strip_path: "api" }, "/api/api/x?y=2")).toMatchObject({ path: "/base/api/x?y=2" });
  });
});

describe("reverse proxy", () => {
  it("forwards an allowed request with the mutators' headers, X-Forwarded-* and no hop-by-hop headers", async () => {
    const upstream = await echoUpstream();
    const { port, seen } = await startProxy({ url: `http://127.0.0.1:${upstream.port}` });
    const res = await send(port, "/ok/items?q=1", {
      headers: { host: "gw.example", "x-user": "mallory", "x-forwarded-for": "203.0.113.9", connection: "x-secret-hop", "x-secret-hop": "1", te: "trailers" },
    });
    expect(res.status).toBe(200);
    expect(res.headers["x-upstream"]).toBe("yes");
    expect(res.headers["x-private-hop"]).toBeUndefined();
    const echoed = JSON.parse(res.body) as { url: string; headers: Record<string, string> };
    expect(echoed.url).toBe("/ok/items?q=1");
    expect(echoed.headers["x-user"]).toBe("alice"); // the client's own X-User never reaches the upstream
    expect(echoed.headers["x-forwarded-for"]).toBe("127.0.0.1"); // an untrusted peer's X-Forwarded-For is dropped
    expect(echoed.headers["x-forwarded-host"]).toBe("gw.example");
    expect(echoed.headers["x-forwarded-proto"]).toBe("http");
    expect(echoed.headers["host"]).toBe(`127.0.0.1:${upstream.port}`);
    expect(echoed.headers["x-secret-hop"]).toBeUndefined();
    expect(echoed.headers["te"]).toBeUndefined();
    expect(seen[0]?.url.toString()).toBe("http://gw.example/ok/items?q=1");
    expect(seen[0]?.remoteAddress).toBe("127.0.0.1");
  });

  it("believes X-Forwarded-* from a trusted proxy and keeps the Host with preserve_host", async () => {
    const upstream = await echoUpstream();
    const { port, seen } = await startProxy({ url: `http://127.0.0.1:${upstream.port}`, preserve_host: true }, ["127.0.0.1"]);
    const res = await send(port, "/ok", {
      headers: { host: "internal:4455", "x-forwarded-for": "198.51.100.7", "x-forwarded-proto": "https", "x-forwarded-host": "public.example" },
    });
    const echoed = JSON.parse(res.body) as { headers: Record<string, string> };
    expect(seen[0]?.url.toString()).toBe("https://public.example/ok");
    expect(seen[0]?.remoteAddress).toBe("198.51.100.7");
    expect(echoed.headers["x-forwarded-for"]).toBe("198.51.100.7, 127.0.0.1");
    expect(echoed.headers["host"]).toBe("public.example");
  });

  it("streams request and response bodies of several megabytes", async () => {
    const upstream = await echoUpstream();
    const { port } = await startProxy({ url: `http://127.0.0.1:${upstream.port}` });
    const body = Buffer.alloc(5 * 1024 * 1024, 7);
    body.write("the-very-end", body.length - 12);
    const res = await send(port, "/ok/upload", { method: "POST", body, headers: { "content-type": "application/octet-stream" } });
    expect(JSON.parse(res.body)).toMatchObject({ method: "POST", bodyLength: body.length, bodyTail: body.subarray(-16).toString() });
    const chunked = await send(port, "/ok/upload", { method: "POST", body: "abc", headers: { "transfer-encoding": "chunked" } });
    expect(JSON.parse(chunked.body)).toMatchObject({ bodyLength: 3 });
  });

  it("answers a refused request itself; the upstream never sees it", async () => {
    const upstream = await echoUpstream();
    const { port } = await startProxy({ url: `http://127.0.0.1:${upstream.port}` });
    const res = await send(port, "/secret", { method: "POST", body: "x".repeat(1000) });
    expect(res.status).toBe(403);
    expect(res.body).toBe('{"error":{"code":403}}');
    expect(upstream.hits).toHaveLength(0);
  });

  it("answers 502 naming the rule when the upstream is down, and 500 when the rule has no upstream", async () => {
    const dead = createServer();
    const deadPort = await listen(dead);
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const { port, logs } = await startProxy({ url: `http://127.0.0.1:${deadPort}` });
    const res = await send(port, "/ok");
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toMatchObject({
      error: { code: 502, status: "Bad Gateway", reason: "upstream_unreachable", message: 'the upstream of rule "r1" is not reachable' },
    });
    expect(logs.join("\n")).toContain("upstream");
    const noUpstream = await startProxy(undefined);
    const res2 = await send(noUpstream.port, "/ok");
    expect(res2.status).toBe(500);
    expect(res2.body).toContain("has no upstream");
  });

  it("answers 500 naming the rule when a mutated header cannot be sent over HTTP (never a misleading 502)", async () => {
    const upstream = await echoUpstream();
    const { port } = await startProxy({ url: `http://127.0.0.1:${upstream.port}` });
    const res = await send(port, "/ok/snowman");
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body)).toMatchObject({ error: { code: 500 } });
    expect(upstream.hits).toHaveLength(0);
  });

  it("decides WebSocket upgrades and splices the allowed ones to the upstream", async () => {
    const upstream = await echoUpstream();
    const { port } = await startProxy({ url: `http://127.0.0.1:${upstream.port}` });
    const upgrade = (path: string) =>
      new Promise<{ status: number; socket?: Socket; headers: IncomingMessage["headers"] }>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port, path, headers: { connection: "Upgrade", upgrade: "echo", "x-user": "mallory" } });
        req.on("upgrade", (res, socket) => resolve({ status: res.statusCode ?? 0, socket, headers: res.headers }));
        req.on("response", (res) => {
          res.resume();
          resolve({ status: res.statusCode ?? 0, headers: res.headers });
        });
        req.on("error", reject);
        req.end();
      });
    const allowed = await upgrade("/ok/ws");
    expect(allowed.status).toBe(101);
    expect(allowed.headers["x-user-seen"]).toBe("alice");
    const socket = allowed.socket as Socket;
    socket.write("ping-123");
    const [echo] = (await once(socket, "data")) as [Buffer];
    expect(echo.toString()).toBe("ping-123");
    socket.destroy();
    const refused = await upgrade("/secret/ws");
    expect(refused.status).toBe(403);
  });
});

describe("decisions API", () => {
  async function startApi(trusted: string[]): Promise<{ port: number; seen: PipelineRequest[]; plane: PlaneServer }> {
    const seen: PipelineRequest[] = [];
    const rules = [rule("a", { url: "http://up" }), { ...rule("b"), authorizers: [{ handler: "allow" }, { handler: "deny" }] }];
    const plane: PlaneServer = createPlaneServer({
      host: "127.0.0.1",
      port: 0,
      http: createApiRoutes({ pipeline: fakePipeline(undefined, seen), trustedProxies: trustedProxies(trusted), rules: () => rules, rule: (id) => rules.find((r) => r.id === id) }),
    });
    const { port } = await plane.listen();
    cleanups.push(() => plane.close());
    return { port, seen, plane };
  }

  it("answers 200 with the mutated headers, or the error handler's response", async () => {
    const { port, seen } = await startApi([]);
    const allowed = await send(port, "/decisions/ok/1?x=2", { method: "DELETE", headers: { host: "api.example" } });
    expect(allowed.status).toBe(200);
    expect(allowed.headers["x-user"]).toBe("alice");
    expect(seen[0]).toMatchObject({ method: "DELETE" });
    expect(seen[0]?.url.toString()).toBe("http://api.example/ok/1?x=2");
    const denied = await send(port, "/decisions/admin");
    expect(denied.status).toBe(403);
  });

  it("labels metrics by route template, not by the decided path", async () => {
    const { port, plane } = await startApi([]);
    await send(port, "/decisions/ok/1");
    await send(port, "/decisions/ok/2");
    await send(port, "/rules/a");
    const text = await plane.metrics.registry.metrics();
    expect(text).toContain('method="GET /decisions/*"');
    expect(text).toContain('method="GET /rules/{id}"');
    expect(text).not.toContain("/decisions/ok");
  });

  it("rebuilds the request from X-Forwarded-* only for trusted peers", async () => {
    const trusted = await startApi(["127.0.0.0/8"]);
    const forwarded = { "x-forwarded-method": "PUT", "x-forwarded-proto": "https", "x-forwarded-host": "app.example", "x-forwarded-uri": "/ok/doc?id=9", "x-forwarded-for": "198.51.100.1" };
    await send(trusted.port, "/decisions", { headers: forwarded });
    expect(trusted.seen[0]).toMatchObject({ method: "PUT", remoteAddress: "198.51.100.1" });
    expect(trusted.seen[0]?.url.toString()).toBe("https://app.example/ok/doc?id=9");
    const untrusted = await startApi([]);
    await send(untrusted.port, "/decisions/plain", { headers: { ...forwarded, host: "gw" } });
    expect(untrusted.seen[0]).toMatchObject({ method: "GET", remoteAddress: "127.0.0.1" });
    expect(untrusted.seen[0]?.url.toString()).toBe("http://gw/plain");
  });

  it("lists rules in Oathkeeper's shape and finds one by id", async () => {
    const { port } = await startApi([]);
    const list = await send(port, "/rules");
    const rules = JSON.parse(list.body) as Record<string, unknown>[];
    expect(rules.map((r) => r["id"])).toEqual(["a", "b"]);
    expect(rules[0]).toMatchObject({ authorizer: { handler: "allow", config: {} }, upstream: { url: "http://up", preserve_host: false, strip_path: "" } });
    expect(rules[1]).toMatchObject({ authorizers: [{ handler: "allow" }, { handler: "deny" }] });
    expect(JSON.parse((await send(port, "/rules?limit=1&offset=1")).body)).toHaveLength(1);
    expect((await send(port, "/rules/b")).status).toBe(200);
    const missing = await send(port, "/rules/nope");
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ error: { code: 404, message: 'no rule with id "nope"' } });
    expect((await send(port, "/rules?limit=-1")).status).toBe(400);
  });
});
