import type { ServiceImpl } from "@connectrpc/connect";
import { Metadata } from "@grpc/grpc-js";
import { propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { openPermissionEngine } from "../../engine/permission-engine.js";
import { createMemoryStore } from "../../engine/store/index.js";
import { parseSubject, parseTuple } from "../../engine/tuple.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { startAuthzPlanes } from "../authz-planes.js";
import { createPlaneServer, planeService, type PlaneServerOptions } from "../server/plane-server.js";
import { connectHealthClient, GrpcHealthClient } from "../server/test-clients.js";
import { createServerMetrics } from "./metrics.js";
import { parseSamples, RecordingTracerProvider, sampleValue, traceparentPropagator, type Sample } from "./test-telemetry.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const checkPath = "/grpc.health.v1.Health/Check";

/** Health that fails on purpose by the service name asked about. */
const failingHealth: Partial<ServiceImpl<typeof Health>> = {
  async check({ service }) {
    if (service === "invalid") throw new InvalidArgumentError("service name is invalid");
    if (service === "boom") throw new Error("secret");
    return { status: ServingStatus.SERVING };
  },
  async *watch() {
    yield { status: ServingStatus.SERVING };
    yield { status: ServingStatus.NOT_SERVING };
  },
};

async function start(options: Omit<PlaneServerOptions, "port" | "host"> = {}): Promise<number> {
  const server = createPlaneServer({
    host: "127.0.0.1",
    port: 0,
    services: [planeService(Health, failingHealth)],
    onUnexpectedError: () => {},
    ...options,
  });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return port;
}

function grpcClient(port: number): GrpcHealthClient {
  const client = new GrpcHealthClient(port);
  cleanups.push(() => client.close());
  return client;
}

async function scrape(port: number, path = "/metrics"): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseSamples(await res.text());
}

const settle = <T>(promise: Promise<T>): Promise<unknown> => promise.catch((error: unknown) => error);

describe("metrics", () => {
  it("counts and times gRPC, Connect, gRPC-Web and REST requests with their codes, and reports the lag", async () => {
    let lag = 3;
    const metrics = createServerMetrics({ revisionLag: () => lag, processMetrics: false });
    const port = await start({ plane: "read", metrics, serveMetrics: true });
    const grpc = grpcClient(port);
    await grpc.check("");
    await grpc.check("");
    await settle(grpc.check("invalid"));
    const watch = grpc.watch("");
    await watch.ended;
    const connect = connectHealthClient(port, "connect");
    await connect.check({ service: "" });
    await settle(connect.check({ service: "boom" }));
    await connectHealthClient(port, "grpc-web").check({ service: "" });
    await (await fetch(`http://127.0.0.1:${port}/health/alive`)).text();
    await (await fetch(`http://127.0.0.1:${port}/nowhere`)).text();
    await (await fetch(`http://127.0.0.1:${port}/nowhere/else?x=1`)).text();

    const samples = await scrape(port);
    const count = (protocol: string, method: string, code: string): number | undefined =>
      sampleValue(samples, "gatehouse_rpc_requests_total", { plane: "read", protocol, method, code });
    expect(count("grpc", checkPath, "OK")).toBe(2);
    expect(count("grpc", checkPath, "INVALID_ARGUMENT")).toBe(1);
    expect(count("grpc", "/grpc.health.v1.Health/Watch", "OK")).toBe(1);
    expect(count("connect", checkPath, "OK")).toBe(1);
    expect(count("connect", checkPath, "INTERNAL")).toBe(1);
    expect(count("grpc-web", checkPath, "OK")).toBe(1);
    expect(count("rest", "GET /health/alive", "200")).toBe(1);
    expect(count("rest", "other", "404")).toBe(2);
    // Unknown paths never become labels of their own.
    expect(samples.some((s) => s.labels.method?.includes("nowhere") === true)).toBe(false);

    const histogramCount = (protocol: string, method: string): number | undefined =>
      sampleValue(samples, "gatehouse_rpc_duration_seconds_count", { plane: "read", protocol, method });
    expect(histogramCount("grpc", checkPath)).toBe(3);
    expect(histogramCount("connect", checkPath)).toBe(2);
    expect(histogramCount("rest", "other")).toBe(2);
    const infBucket = sampleValue(samples, "gatehouse_rpc_duration_seconds_bucket", {
      plane: "read",
      protocol: "grpc",
      method: checkPath,
      le: "+Inf",
    });
    expect(infBucket).toBe(3);
    const buckets = samples.filter((s) => s.name === "gatehouse_rpc_duration_seconds_bucket" && s.labels.method === checkPath);
    expect(buckets.map((s) => s.labels.le)).toContain("0.0001");
    expect(buckets.map((s) => s.labels.le)).toContain("10");

    expect(sampleValue(samples, "gatehouse_snapshot_revision_lag")).toBe(3);
    lag = 0;
    const later = await scrape(port, "/metrics/prometheus");
    expect(sampleValue(later, "gatehouse_snapshot_revision_lag")).toBe(0);
    // The first scrape was a REST request too.
    expect(sampleValue(later, "gatehouse_rpc_requests_total", { protocol: "rest", method: "GET /metrics", code: "200" })).toBe(1);
  });

  it("counts streams the client abandons as CANCELLED, on grpc-js and Connect", async () => {
    const metrics = createServerMetrics({ processMetrics: false });
    const port = await start({
      metrics,
      services: [
        planeService(Health, {
          // Returns normally once the client has gone, as well-behaved implementations do.
          async *watch(_request, context) {
            yield { status: ServingStatus.SERVING };
            await new Promise((resolve) => context.signal.addEventListener("abort", resolve));
          },
        }),
      ],
    });
    const abort = new AbortController();
    for await (const _ of connectHealthClient(port, "connect").watch({ service: "" }, { signal: abort.signal })) break;
    abort.abort();
    const watch = grpcClient(port).watch("");
    await watch.next();
    watch.cancel();
    for (let i = 0; i < 50; i++) {
      const samples = parseSamples(await metrics.registry.metrics());
      const cancelled = (protocol: string): number | undefined =>
        sampleValue(samples, "gatehouse_rpc_requests_total", { protocol, code: "CANCELLED" });
      if (cancelled("connect") === 1 && cancelled("grpc") === 1) {
        expect(samples.filter((s) => s.name === "gatehouse_rpc_requests_total")).toHaveLength(2);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error("the abandoned streams were not counted");
  });

  it("leaves out the lag gauge without a callback, and serves no metrics unless asked", async () => {
    const port = await start();
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    const metrics = createServerMetrics({ processMetrics: false });
    expect(await metrics.registry.metrics()).not.toContain("gatehouse_snapshot_revision_lag");
  });

  it("caps the distinct REST route labels", async () => {
    const metrics = createServerMetrics({ processMetrics: false });
    const port = await start({
      metrics,
      http: (req, res) => {
        res.writeHead(204).end();
        return req.url !== undefined;
      },
    });
    for (let i = 0; i < 105; i++) await (await fetch(`http://127.0.0.1:${port}/things/${i}`)).text();
    const samples = parseSamples(await metrics.registry.metrics()).filter((s) => s.name === "gatehouse_rpc_requests_total");
    expect(samples).toHaveLength(101);
    expect(sampleValue(samples, "gatehouse_rpc_requests_total", { method: "other" })).toBe(5);
  });

  it("serves one registry for the authorization planes on the read and write planes, with process metrics", async () => {
    const store = createMemoryStore();
    const engine = await openPermissionEngine({ store });
    const local = { host: "127.0.0.1", port: 0 };
    const planes = await startAuthzPlanes({ engine, read: local, write: local, opl: local, revisionLag: () => 0 });
    cleanups.push(() => store.close());
    cleanups.push(() => planes.close());
    await (await fetch(`http://127.0.0.1:${planes.ports.opl}/health/alive`)).text();
    for (const port of [planes.ports.read, planes.ports.write]) {
      const samples = await scrape(port);
      expect(sampleValue(samples, "gatehouse_rpc_requests_total", { plane: "opl", method: "GET /health/alive" })).toBe(1);
      expect(sampleValue(samples, "gatehouse_snapshot_revision_lag")).toBe(0);
      expect(samples.some((s) => s.name === "process_cpu_user_seconds_total")).toBe(true);
    }
    expect((await fetch(`http://127.0.0.1:${planes.ports.opl}/metrics`)).status).toBe(404);
    expect(await planes.metricsRegistry.metrics()).toContain('plane="write"');
  });

  it("exports the check cache, batching and snapshot counters of the engine", async () => {
    const store = createMemoryStore();
    const engine = await openPermissionEngine({ store, quantizationMs: 0, evaluator: { threads: 1 } });
    cleanups.push(() => store.close());
    cleanups.push(() => engine.close());
    await engine.writeSchema("model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define viewer: [user]");
    await engine.write([{ op: "touch", tuple: parseTuple("doc:1#viewer@user:anne") }]);
    const ask = { namespace: "doc", object: "1", relation: "viewer", subject: parseSubject("user:anne") };
    await Promise.all([engine.check(ask), engine.check(ask), engine.check({ ...ask, object: "2" })]);
    await engine.check(ask);
    const metrics = createServerMetrics({ engineStats: () => engine.stats(), processMetrics: false });
    const samples = parseSamples(await metrics.registry.metrics());
    expect(sampleValue(samples, "gatehouse_check_cache_hits_total")).toBe(1);
    expect(sampleValue(samples, "gatehouse_check_cache_misses_total")).toBe(3);
    expect(sampleValue(samples, "gatehouse_evaluator_coalesced_checks_total")).toBe(1);
    expect(sampleValue(samples, "gatehouse_evaluator_batched_checks_total")).toBe(2);
    expect(sampleValue(samples, "gatehouse_evaluator_batches_total")).toBe(1);
    expect(sampleValue(samples, "gatehouse_evaluator_queue_depth")).toBe(0);
    expect(sampleValue(samples, "gatehouse_snapshot_tuple_versions")).toBe(1);
    // Counters only move forward by what happened since the last scrape.
    await engine.check(ask);
    expect(sampleValue(parseSamples(await metrics.registry.metrics()), "gatehouse_check_cache_hits_total")).toBe(2);
  });
});

describe("traces", () => {
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const parentId = "00f067aa0ba902b7";
  const traceparent = `00-${traceId}-${parentId}-01`;

  function record(): RecordingTracerProvider {
    const provider = new RecordingTracerProvider();
    trace.setGlobalTracerProvider(provider);
    propagation.setGlobalPropagator(traceparentPropagator);
    cleanups.push(() => {
      trace.disable();
      propagation.disable();
    });
    return provider;
  }

  it("makes one SERVER span per RPC on both stacks, continuing the caller's trace", async () => {
    const { spans } = record();
    const port = await start();
    const metadata = new Metadata();
    metadata.set("traceparent", traceparent);
    await grpcClient(port).check("", metadata);
    const failed = await settle(grpcClient(port).check("invalid", metadata));
    expect(failed).toMatchObject({ code: 3 });
    await settle(connectHealthClient(port, "connect").check({ service: "boom" }, { headers: { traceparent } }));
    await connectHealthClient(port, "grpc-web").check({ service: "" });

    expect(spans.map((s) => [s.name, s.attributes["rpc.system"], s.attributes["rpc.grpc.status_code"]])).toEqual([
      ["grpc.health.v1.Health/Check", "grpc", 0],
      ["grpc.health.v1.Health/Check", "grpc", 3],
      ["grpc.health.v1.Health/Check", "connect_rpc", 13],
      ["grpc.health.v1.Health/Check", "grpc", 0],
    ]);
    for (const span of spans) {
      expect(span.kind).toBe(SpanKind.SERVER);
      expect(span.ended).toBe(true);
      expect(span.attributes).toMatchObject({ "rpc.service": "grpc.health.v1.Health", "rpc.method": "Check" });
    }
    const [ok, invalid, boom, noParent] = spans;
    expect(ok?.status).toBeUndefined();
    expect(invalid?.status).toEqual({ code: SpanStatusCode.ERROR, message: "INVALID_ARGUMENT: service name is invalid" });
    // Unexpected errors stay hidden in spans too.
    expect(boom?.status).toEqual({ code: SpanStatusCode.ERROR, message: "INTERNAL: internal error" });
    for (const span of [ok, invalid, boom]) {
      expect(span?.parent).toMatchObject({ traceId, spanId: parentId, isRemote: true });
      expect(span?.context.traceId).toBe(traceId);
    }
    expect(noParent?.parent).toBeUndefined();
  });

  it("makes SERVER spans for REST requests, named by the route that answered", async () => {
    const { spans } = record();
    const port = await start({
      http: (req) => {
        if (req.url === "/bad") throw new InvalidArgumentError("bad query");
        return false;
      },
    });
    await (await fetch(`http://127.0.0.1:${port}/health/alive?verbose`, { headers: { traceparent } })).text();
    await (await fetch(`http://127.0.0.1:${port}/bad`)).text();
    await (await fetch(`http://127.0.0.1:${port}/nowhere`)).text();
    // Let the servers' "close" events run.
    await new Promise((resolve) => setImmediate(resolve));

    expect(spans.map((s) => [s.name, s.attributes["http.route"], s.attributes["http.response.status_code"], s.status?.code])).toEqual([
      ["GET /health/alive", "/health/alive", 200, undefined],
      ["GET /bad", "/bad", 400, SpanStatusCode.ERROR],
      ["GET", undefined, 404, SpanStatusCode.ERROR],
    ]);
    expect(spans.every((s) => s.kind === SpanKind.SERVER && s.ended)).toBe(true);
    expect(spans[0]?.parent).toMatchObject({ traceId, spanId: parentId });
    expect(spans[0]?.attributes["url.path"]).toBe("/health/alive");
  });
});
