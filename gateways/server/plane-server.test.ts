import { connect, type Socket } from "node:net";
import { readFileSync } from "node:fs";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { Metadata, status as grpcStatus, type ServiceError } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { createPlaneServer, planeService, type PlaneServer, type PlaneServerOptions } from "./plane-server.js";
import { connectHealthClient, GrpcHealthClient } from "./test-clients.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: Omit<PlaneServerOptions, "port" | "host"> = {}): Promise<{ server: PlaneServer; port: number }> {
  const server = createPlaneServer({ host: "127.0.0.1", port: 0, ...options });
  const { port } = await server.listen();
  cleanups.push(() => server.close());
  return { server, port };
}

function grpcClient(port: number): GrpcHealthClient {
  const client = new GrpcHealthClient(port);
  cleanups.push(() => client.close());
  return client;
}

async function grpcError(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error("expected the call to fail");
}

async function connectError(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

const sleep = (millis: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, millis));

/** A health implementation that fails on purpose, by the service name asked about. */
function failingHealth(seen: unknown[]): Partial<ServiceImpl<typeof Health>> {
  return {
    async check({ service }, context) {
      if (service === "invalid") throw new InvalidArgumentError("service name is invalid");
      if (service === "boom") throw new Error("secret database password in message");
      if (service === "slow") await sleep(300);
      if (service === "hang") {
        await new Promise((_, reject) => context.signal.addEventListener("abort", () => reject(context.signal.reason)));
      }
      if (service === "header") {
        context.responseHeader.set("x-seen", context.requestHeader.get("x-probe") ?? "none");
        context.responseTrailer.set("x-trailer", "t");
      }
      seen.push(service);
      return { status: ServingStatus.SERVING };
    },
    async *watch({ service }) {
      yield { status: ServingStatus.SERVING };
      if (service === "invalid") throw new InvalidArgumentError("watch name is invalid");
      throw new Error("secret stream failure");
    },
  };
}

describe("plane server, one port", () => {
  it("answers gRPC (grpc-js), Connect, Connect GET and gRPC-Web on the same port", async () => {
    const { port } = await start();
    const grpc = grpcClient(port);
    expect((await grpc.check("")).status).toBe(ServingStatus.SERVING);
    expect((await connectHealthClient(port, "connect").check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await connectHealthClient(port, "connect", true).check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await connectHealthClient(port, "grpc-web").check({ service: "" })).status).toBe(ServingStatus.SERVING);

    // Connect GET by hand, as curl would send it: Check is marked NO_SIDE_EFFECTS.
    const res = await fetch(`http://127.0.0.1:${port}/grpc.health.v1.Health/Check?connect=v1&encoding=json&message=%7B%7D`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "SERVING" });
  });

  it("answers NOT_FOUND for unknown services and reports status changes set on the server", async () => {
    const { server, port } = await start();
    const grpc = grpcClient(port);
    expect((await grpcError(grpc.check("nope"))).code).toBe(grpcStatus.NOT_FOUND);
    expect((await connectError(connectHealthClient(port, "connect").check({ service: "nope" }))).code).toBe(Code.NotFound);
    server.setHealthStatus("nope", ServingStatus.NOT_SERVING);
    expect((await grpc.check("nope")).status).toBe(ServingStatus.NOT_SERVING);
  });

  it("serves h2c through connect-node when asked, gRPC and Connect alike", async () => {
    const { port } = await start({ h2c: "connect" });
    expect((await connectHealthClient(port, "grpc-h2c").check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await grpcClient(port).check("")).status).toBe(ServingStatus.SERVING);
    expect((await connectHealthClient(port, "connect").check({ service: "" })).status).toBe(ServingStatus.SERVING);
  });

  it("streams Watch updates over grpc-js and Connect", async () => {
    const { server, port } = await start();
    const watch = grpcClient(port).watch("");
    expect((await watch.next()).status).toBe(ServingStatus.SERVING);
    server.setHealthStatus("", ServingStatus.NOT_SERVING);
    expect((await watch.next()).status).toBe(ServingStatus.NOT_SERVING);
    watch.cancel();
    expect((await watch.ended)?.code).toBe(grpcStatus.CANCELLED);

    const abort = new AbortController();
    const stream = connectHealthClient(port, "connect").watch({ service: "later" }, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.status).toBe(ServingStatus.SERVICE_UNKNOWN);
    server.setHealthStatus("later", ServingStatus.SERVING);
    expect((await iterator.next()).value?.status).toBe(ServingStatus.SERVING);
    abort.abort();
  });

  it("passes request metadata in and response header and trailer metadata out on grpc-js", async () => {
    const { port } = await start({ services: [planeService(Health, failingHealth([]))] });
    const metadata = new Metadata();
    metadata.set("x-probe", "p1");
    const { header, trailer } = await grpcClient(port).checkWithMetadata("header", metadata);
    expect([header.get("x-seen"), trailer.get("x-trailer")]).toEqual([["p1"], ["t"]]);
  });
});

describe("plane server, REST", () => {
  it("serves Keto's health and version endpoints", async () => {
    const { port } = await start();
    const alive = await fetch(`http://127.0.0.1:${port}/health/alive`);
    expect([alive.status, await alive.json()]).toEqual([200, { status: "ok" }]);
    const ready = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: "ok" }]);
    const version = await fetch(`http://127.0.0.1:${port}/version`);
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
    expect(await version.json()).toEqual({ version: pkg.version });
  });

  it("answers 503 with the readiness errors when not ready", async () => {
    let errors: Record<string, string> = { database: "connection refused" };
    const { port } = await start({ readiness: () => errors });
    const notReady = await fetch(`http://127.0.0.1:${port}/health/ready`);
    expect([notReady.status, await notReady.json()]).toEqual([503, { errors: { database: "connection refused" } }]);
    errors = {};
    expect((await fetch(`http://127.0.0.1:${port}/health/ready`)).status).toBe(200);
  });

  it("consults the REST handler first, and answers its errors the Ory way", async () => {
    const reported: unknown[] = [];
    const { port } = await start({
      onUnexpectedError: (error) => reported.push(error),
      http: (req, res) => {
        if (req.url === "/grpc.health.v1.Health/Check" || req.url === "/version") {
          res.writeHead(200, { "content-type": "text/plain" }).end("rest");
          return true;
        }
        if (req.url === "/bad") throw new InvalidArgumentError("bad query");
        if (req.url === "/boom") throw new Error("secret");
        return false;
      },
    });
    expect(await (await fetch(`http://127.0.0.1:${port}/version`)).text()).toBe("rest");
    const viaRest = await fetch(`http://127.0.0.1:${port}/grpc.health.v1.Health/Check`, { method: "POST", body: "{}" });
    expect(await viaRest.text()).toBe("rest");
    const bad = await fetch(`http://127.0.0.1:${port}/bad`);
    expect([bad.status, await bad.json()]).toEqual([
      400,
      { error: { code: 400, status: "Bad Request", message: "bad query" } },
    ]);
    const boom = await fetch(`http://127.0.0.1:${port}/boom`);
    expect(boom.status).toBe(500);
    expect(await boom.text()).not.toContain("secret");
    // Not handled by REST: the RPC routes still answer, and unknown paths get Ory's 404 body.
    for await (const message of connectHealthClient(port, "connect").watch({ service: "" })) {
      expect(message.status).toBe(ServingStatus.SERVING);
      break;
    }
    const missing = await fetch(`http://127.0.0.1:${port}/nowhere`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: number } }).error.code).toBe(404);
    expect(reported).toEqual([new Error("secret")]);
  });
});

describe("plane server, errors", () => {
  it("maps GatehouseErrors to their codes and hides unexpected errors, on both stacks", async () => {
    const reported: unknown[] = [];
    const { port } = await start({
      services: [planeService(Health, failingHealth([]))],
      onUnexpectedError: (error) => reported.push(error),
    });
    const grpc = grpcClient(port);
    const invalid = await grpcError(grpc.check("invalid"));
    expect([invalid.code, invalid.details]).toEqual([grpcStatus.INVALID_ARGUMENT, "service name is invalid"]);
    const boom = await grpcError(grpc.check("boom"));
    expect([boom.code, boom.details]).toEqual([grpcStatus.INTERNAL, "internal error"]);

    for (const protocol of ["connect", "grpc-web"] as const) {
      const client = connectHealthClient(port, protocol);
      const connectInvalid = await connectError(client.check({ service: "invalid" }));
      expect([connectInvalid.code, connectInvalid.rawMessage]).toEqual([Code.InvalidArgument, "service name is invalid"]);
      const connectBoom = await connectError(client.check({ service: "boom" }));
      expect([connectBoom.code, connectBoom.rawMessage]).toEqual([Code.Internal, "internal error"]);
    }
    // Connect's wire name for the code, as a curl user sees it.
    const raw = await fetch(`http://127.0.0.1:${port}/grpc.health.v1.Health/Check`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ service: "invalid" }),
    });
    expect([raw.status, await raw.json()]).toEqual([400, { code: "invalid_argument", message: "service name is invalid" }]);
    expect(reported).toHaveLength(3);
  });

  it("maps errors thrown mid-stream", async () => {
    const { port } = await start({ services: [planeService(Health, failingHealth([]))], onUnexpectedError: () => {} });
    const watch = grpcClient(port).watch("invalid");
    expect((await watch.next()).status).toBe(ServingStatus.SERVING);
    expect((await watch.ended)?.code).toBe(grpcStatus.INVALID_ARGUMENT);
    const secret = grpcClient(port).watch("boom");
    const ended = await secret.ended;
    expect([ended?.code, ended?.details]).toEqual([grpcStatus.INTERNAL, "internal error"]);

    const messages: number[] = [];
    const failure = await connectError(
      (async () => {
        for await (const m of connectHealthClient(port, "connect").watch({ service: "boom" })) messages.push(m.status);
      })(),
    );
    expect([messages, failure.code, failure.rawMessage]).toEqual([[ServingStatus.SERVING], Code.Internal, "internal error"]);
  });
});

describe("plane server, connections and shutdown", () => {
  function rawSocket(port: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolve(socket));
      socket.on("error", reject);
    });
  }

  it("survives sockets that close without sending, or mid-preface, and slow first bytes", async () => {
    const { port } = await start();
    (await rawSocket(port)).end();
    const partial = await rawSocket(port);
    partial.end("PRI * HTTP");
    (await rawSocket(port)).destroy();

    const slow = await rawSocket(port);
    let answer = "";
    slow.on("data", (chunk: Buffer) => (answer += chunk.toString()));
    slow.write("GE");
    await sleep(30);
    slow.write("T /health/alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await new Promise((resolve) => slow.on("close", resolve));
    expect(answer).toMatch(/^HTTP\/1.1 200 OK/);
    expect(answer).toContain('{"status":"ok"}');
    expect((await grpcClient(port).check("")).status).toBe(ServingStatus.SERVING);
  });

  it("drops connections that send nothing in time", async () => {
    const { port } = await start({ firstBytesTimeoutMillis: 50 });
    const silent = await rawSocket(port);
    const started = Date.now();
    await new Promise((resolve) => silent.on("close", resolve));
    expect(Date.now() - started).toBeLessThan(1000);
  });

  for (const h2c of ["grpc-js", "connect"] as const) {
    it(`closes gracefully: in-flight calls finish, new connections are refused (h2c ${h2c})`, async () => {
      const seen: string[] = [];
      const { server, port } = await start({ h2c, services: [planeService(Health, failingHealth(seen))] });
      const grpc = grpcClient(port);
      await grpc.check(""); // connect first, so the slow call is already on an open connection
      const connectClient = connectHealthClient(port, "connect");
      await connectClient.check({ service: "" }); // leaves an idle keep-alive connection behind
      await (await fetch(`http://127.0.0.1:${port}/health/alive`)).text(); // and so does fetch
      const slowGrpc = grpc.check("slow");
      const slowConnect = connectClient.check({ service: "slow" });
      await sleep(50);
      const started = Date.now();
      await server.close();
      expect(Date.now() - started).toBeLessThan(2000);
      expect((await slowGrpc).status).toBe(ServingStatus.SERVING);
      expect((await slowConnect).status).toBe(ServingStatus.SERVING);
      expect(seen.filter((s) => s === "slow")).toHaveLength(2);
      await expect(rawSocket(port)).rejects.toThrow(/ECONNREFUSED/);
    });
  }

  it("ends Watch streams on close instead of waiting for the timeout", async () => {
    const { server, port } = await start({ shutdownTimeoutMillis: 5000 });
    const watch = grpcClient(port).watch("");
    expect((await watch.next()).status).toBe(ServingStatus.SERVING);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await watch.next()).status).toBe(ServingStatus.NOT_SERVING);
    expect(await watch.ended).toBeUndefined();
  });

  it("aborts calls still running when the shutdown timeout passes", async () => {
    const { server, port } = await start({
      shutdownTimeoutMillis: 100,
      services: [planeService(Health, failingHealth([]))],
    });
    const grpc = grpcClient(port);
    await grpc.check("");
    const hanging = grpcError(grpc.check("hang"));
    const hangingConnect = connectError(connectHealthClient(port, "connect").check({ service: "hang" }));
    await sleep(30);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1000);
    const failure = await hanging;
    expect([failure.code, failure.details]).toEqual([grpcStatus.UNAVAILABLE, "the server is shutting down"]);
    const connectFailure = await hangingConnect;
    expect([connectFailure.code, connectFailure.rawMessage]).toEqual([Code.Unavailable, "the server is shutting down"]);
  });
});
