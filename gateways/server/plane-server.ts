import { setMaxListeners } from "node:events";
/**
 * One Gatehouse plane (read, write, OPL, …) on one plaintext port that speaks HTTP/1.1 (REST, Connect,
 * gRPC-Web) and HTTP/2 cleartext (gRPC), like Keto's ports. A sniffing listener routes each connection by
 * its first bytes; services are implemented once, connect-style, and registered on both stacks.
 *
 * Every RPC and REST request is counted and timed on the plane's `ServerMetrics` and gets an OpenTelemetry
 * span (see `gateways/observability/`); `serveMetrics` adds the Prometheus scrape endpoint.
 */
import type { AddressInfo } from "node:net";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { createServer as createHttp2Server, type Http2Server, type ServerHttp2Session } from "node:http2";
import type { Socket } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Server as GrpcServer, ServerCredentials } from "@grpc/grpc-js";
import { context as otelContext } from "@opentelemetry/api";
import { NotFoundError, httpStatusOf, oryErrorBodyOf, toGatehouseError } from "../../common/errors.js";
import { Health } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { createObservingInterceptor } from "../observability/connect-interceptor.js";
import { createMetricsRestHandler } from "../observability/metrics-endpoint.js";
import { createServerMetrics, type ServerMetrics } from "../observability/metrics.js";
import { createPlaneObserver, type PlaneObserver } from "../observability/request-observer.js";
import { registerOnGrpcJs, type GrpcJsRegistrationOptions } from "./grpc-js-adapter.js";
import { createHealthRestHandler, sendJson, type ReadinessCheck } from "./health-rest.js";
import { createHealthService, type ServingStatus } from "./health-service.js";
import { createProtocolSniffer } from "./protocol-sniffer.js";
import { createErrorInterceptor, reportToStderr, type UnexpectedErrorReporter } from "./rpc-errors.js";
import { packageVersion } from "./version.js";

/** connect-node's request handler type (not exported by name): it takes node:http and node:http2 requests. */
type NodeHandlerFn = ReturnType<typeof connectNodeAdapter>;

/** A service and its implementation, as `planeService` makes them. */
export interface PlaneService {
  /** The generated service descriptor. */
  readonly service: DescService;
  /** The connect-style implementation; missing methods answer UNIMPLEMENTED. */
  readonly impl: Partial<ServiceImpl<DescService>>;
}

/** Pairs a service with its implementation, checking the implementation against that service's type. */
export function planeService<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): PlaneService {
  // Implementations of different services don't share a type; the list keeps them erased, this checks them.
  return { service, impl: impl as Partial<ServiceImpl<DescService>> };
}

/**
 * A plain REST handler, consulted for every HTTP/1.1 request before the health endpoints and the RPC routes.
 * Returns true when it answered the request. Errors it throws are answered through the Gatehouse error model.
 */
export type RestHandler = (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;

/**
 * Where HTTP/2 cleartext connections go.
 * - "grpc-js": the `@grpc/grpc-js` server. Much faster for gRPC (about 35k vs 4.6k unary calls/s on one
 *   core, measured here), but it only speaks gRPC, so Connect and gRPC-Web over h2c are refused.
 * - "connect": a node:http2 server running the connect-node adapter, which speaks gRPC, Connect and gRPC-Web
 *   over h2c and runs the Connect interceptors, at a fraction of the gRPC throughput.
 * HTTP/1.1 (REST, Connect, gRPC-Web) always goes to connect-node.
 */
export type H2cTarget = "grpc-js" | "connect";

/** Options for `createPlaneServer`. */
export interface PlaneServerOptions {
  /** The interface to bind. Default "0.0.0.0" (all IPv4 interfaces, as Keto binds); tests use "127.0.0.1". */
  host?: string;
  /** The TCP port; 0 picks a free one (tests). */
  port: number;
  /**
   * The RPC services of this plane. The built-in `grpc.health.v1.Health` is added unless this list has its
   * own implementation of it (then `setHealthStatus` and the Watch shutdown don't apply).
   */
  services?: readonly PlaneService[];
  /** The plane's REST API (HTTP/1.1 only), consulted before anything else. */
  http?: RestHandler;
  /** Which server takes HTTP/2 cleartext connections. Default "grpc-js". */
  h2c?: H2cTarget;
  /**
   * How long `close` waits for in-flight calls before aborting their signals and dropping their
   * connections. Default 10 000.
   */
  shutdownTimeoutMillis?: number;
  /** What `/health/ready` checks; it answers 503 while this reports errors. Default: always ready. */
  readiness?: ReadinessCheck;
  /** How long a gRPC server stream may stay blocked on a client that does not read (default 30 s). */
  streamSendTimeoutMillis?: number;
  /** Facts `/health/ready` adds to its body (the applied revision). */
  readinessDetails?: () => Record<string, unknown>;
  /** The version `/version` reports. Default: the version in package.json. */
  version?: string;
  /** How long a new connection may stay silent before it is dropped. Default 10 000. */
  firstBytesTimeoutMillis?: number;
  /** Receives errors hidden from clients as INTERNAL. Default: written to stderr. */
  onUnexpectedError?: UnexpectedErrorReporter;
  /** The `plane` label of this server's metrics (read, write, opl, …). Default "default". */
  plane?: string;
  /**
   * Where requests are counted and timed; planes of one Gatehouse server share one, told apart by `plane`.
   * Default: metrics on a registry of this server's own, without the process metrics.
   */
  metrics?: ServerMetrics;
  /** Serves the metrics registry at `GET /metrics` (and Keto's `/metrics/prometheus`) over HTTP/1.1. Default false. */
  serveMetrics?: boolean;
}

/** A running (or ready to run) plane server. */
export interface PlaneServer {
  /** Starts listening; resolves with the bound port. Call at most once. */
  listen(): Promise<{ port: number }>;
  /**
   * Stops gracefully: stops accepting, marks health NOT_SERVING (ending Watch streams), lets in-flight calls
   * finish, closes idle connections; after `shutdownTimeoutMillis` it aborts the remaining calls' signals
   * and drops their connections. Resolves when every connection is gone. Idempotent.
   */
  close(): Promise<void>;
  /** The bound address once listening, else undefined. */
  readonly address: AddressInfo | undefined;
  /** Sets the gRPC health status of a service name ("" for the whole plane). */
  setHealthStatus(service: string, status: ServingStatus): void;
  /** The metrics this plane records to. */
  readonly metrics: ServerMetrics;
}

/** How long after aborting the calls left at the shutdown timeout their connections are dropped. */
const abortGraceMillis = 100;

/** Creates a plane server; nothing is bound until `listen`. */
export function createPlaneServer(options: PlaneServerOptions): PlaneServer {
  const services = options.services ?? [];
  const report = options.onUnexpectedError ?? reportToStderr;
  const health = createHealthService({ services: services.map((s) => s.service.typeName) });
  // A plane may bring its own health implementation (tests do); the built-in one only fills the gap.
  const ownsHealth = services.some((s) => s.service.typeName === Health.typeName);
  const allServices: readonly PlaneService[] = ownsHealth ? services : [...services, planeService(Health, health.impl)];
  // Aborted only when a graceful close runs out of time: it aborts the signal of every call still running.
  const forceShutdown = new AbortController();
  // connect-node links every request's signal to this one: with many requests in flight the default limit of
  // ten listeners would print MaxListenersExceededWarning for a normal load.
  setMaxListeners(0, forceShutdown.signal);
  const metrics = options.metrics ?? createServerMetrics({ processMetrics: false });
  const observer = createPlaneObserver({ plane: options.plane ?? "default", metrics });
  const sockets = new Set<Socket>();
  let closing: Promise<void> | undefined;

  const connectHandler = connectNodeAdapter({
    routes(router) {
      for (const { service, impl } of allServices) router.service(service, impl);
    },
    // The observer goes first (outermost), so it records the codes the error interceptor maps to.
    interceptors: [createObservingInterceptor(observer), createErrorInterceptor(report)],
    shutdownSignal: forceShutdown.signal,
    fallback: sendNotFound,
  });

  const http1 = createHttp1Stack({
    handler: connectHandler,
    rest: options.http,
    builtins: [
      createHealthRestHandler({
        version: options.version ?? packageVersion,
        readiness: async () => {
          if (closing !== undefined) return { shutdown: "the server is shutting down" };
          return options.readiness === undefined ? {} : options.readiness();
        },
        ...(options.readinessDetails === undefined ? {} : { readinessDetails: options.readinessDetails }),
      }),
      ...(options.serveMetrics === true ? [createMetricsRestHandler(metrics.registry)] : []),
    ],
    rpcPaths: new Set(allServices.flatMap(({ service }) => service.methods.map((m) => `/${service.typeName}/${m.name}`))),
    observer,
    report,
  });
  const h2c = (options.h2c ?? "grpc-js") === "grpc-js"
    ? createGrpcJsStack(allServices, {
        shutdownSignal: forceShutdown.signal,
        onUnexpectedError: report,
        observer,
        ...(options.streamSendTimeoutMillis === undefined ? {} : { streamSendTimeoutMillis: options.streamSendTimeoutMillis }),
      })
    : createConnectH2cStack(connectHandler);

  const sniffer = createProtocolSniffer({
    onHttp1: (socket) => (closing === undefined ? http1.accept(socket) : socket.destroy()),
    onH2c: (socket) => (closing === undefined ? h2c.accept(socket) : socket.destroy()),
    ...(options.firstBytesTimeoutMillis === undefined ? {} : { firstBytesTimeoutMillis: options.firstBytesTimeoutMillis }),
  });
  sniffer.server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  async function shutDown(): Promise<void> {
    const allClosed = new Promise<void>((resolve) => sniffer.server.close(() => resolve()));
    health.shutdown();
    sniffer.destroyPending();
    http1.drain();
    h2c.drain();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), options.shutdownTimeoutMillis ?? 10_000);
    });
    const outcome = await Promise.race([allClosed, timedOut]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      forceShutdown.abort(new ConnectError("the server is shutting down", Code.Unavailable));
      // Handlers that honour their signal answer UNAVAILABLE now; give those answers a moment to go out
      // before the connections drop, so clients see why instead of a bare reset.
      await new Promise((resolve) => setTimeout(resolve, abortGraceMillis));
      h2c.destroy();
      for (const socket of sockets) socket.destroy();
      await allClosed;
    }
    http1.close();
  }

  return {
    listen() {
      return new Promise((resolve, reject) => {
        sniffer.server.once("error", reject);
        sniffer.server.listen(options.port, options.host ?? "0.0.0.0", () => {
          sniffer.server.off("error", reject);
          // Later errors (e.g. accept failing with EMFILE) must not crash the process.
          sniffer.server.on("error", (error) => report(error, "listener"));
          resolve({ port: (sniffer.server.address() as AddressInfo).port });
        });
      });
    },
    close() {
      closing ??= sniffer.server.listening ? shutDown() : Promise.resolve();
      return closing;
    },
    get address() {
      const address = sniffer.server.address();
      return address !== null && typeof address === "object" ? address : undefined;
    },
    setHealthStatus: (service, status) => health.setStatus(service, status),
    metrics,
  };
}

/** One of the servers connections are handed to. */
interface Stack {
  /** Takes over a sniffed connection. */
  accept(socket: Socket): void;
  /** Begins a graceful close: finish in-flight work, then close the connections. */
  drain(): void;
  /** Drops whatever is left. */
  destroy(): void;
}

interface Http1StackOptions {
  handler: NodeHandlerFn;
  rest: RestHandler | undefined;
  /** The server's own endpoints (health, version, metrics), consulted after `rest`. */
  builtins: readonly RestHandler[];
  /** The paths of the RPC methods; requests to them are observed by connect-node's interceptor instead. */
  rpcPaths: ReadonlySet<string>;
  observer: PlaneObserver;
  report: UnexpectedErrorReporter;
}

/**
 * The HTTP/1.1 side: REST first, then the built-in endpoints, then connect-node (Connect, gRPC-Web).
 * Requests that aren't RPCs are observed here as REST, labelled with the path that answered them; paths
 * nothing answers are counted as "other", so unknown URLs can't blow up the metrics' cardinality.
 */
function createHttp1Stack(options: Http1StackOptions): Stack & { close(): void } {
  // Responses in progress per connection, so a drain can close each connection as soon as it is idle.
  const active = new Map<Socket, Set<ServerResponse>>();
  let draining = false;

  const server: HttpServer = createHttpServer(async (req, res) => {
    const socket = req.socket;
    const responses = active.get(socket) ?? new Set<ServerResponse>();
    active.set(socket, responses);
    responses.add(res);
    res.once("close", () => {
      responses.delete(res);
      if (draining && responses.size === 0) socket.end();
    });
    if (draining) res.setHeader("connection", "close");
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const observation = options.rpcPaths.has(path) ? undefined : options.observer.startHttp(req);
    // "close" comes once the response is sent or the connection is gone. Whatever answered gets the path as
    // its route, except Connect's fallback: that is the 404 for paths nothing serves.
    if (observation !== undefined) {
      res.once("close", () => observation.end(unrouted.has(res) ? undefined : (routeTemplates.get(res) ?? path), res.statusCode));
    }
    try {
      const answer = async (): Promise<boolean> => {
        for (const handler of options.rest === undefined ? options.builtins : [options.rest, ...options.builtins]) {
          if (await handler(req, res)) return true;
        }
        return false;
      };
      // Without a tracer provider the span is a no-op with nothing to propagate: entering its context would
      // cost every request an async-context switch for nothing.
      if (await (observation === undefined || !observation.traced ? answer() : otelContext.with(observation.context, answer))) return;
      options.handler(req, res);
    } catch (error) {
      const failure = toGatehouseError(error);
      if (failure !== error || failure.code === "internal") options.report(error, `${req.method} ${req.url}`);
      if (res.headersSent) res.destroy();
      else sendJson(res, httpStatusOf(failure), oryErrorBodyOf(failure));
    }
  });
  // This server never listens itself; connections are emitted into it. Node only starts tracking them (for
  // headersTimeout/requestTimeout, the slowloris guards, and for closeIdleConnections) on "listening".
  server.emit("listening");

  return {
    accept(socket) {
      socket.once("close", () => active.delete(socket));
      server.emit("connection", socket);
    },
    drain() {
      draining = true;
      for (const [socket, responses] of active) {
        if (responses.size === 0) socket.end();
        for (const res of responses) {
          if (!res.headersSent) res.setHeader("connection", "close");
        }
      }
      // Connections that haven't sent a request yet aren't in `active`; Node knows which of them are idle.
      server.closeIdleConnections();
    },
    destroy() {
      server.closeAllConnections();
    },
    close() {
      server.close();
    },
  };
}

/** h2c to grpc-js: fast gRPC, nothing else. */
function createGrpcJsStack(services: readonly PlaneService[], options: GrpcJsRegistrationOptions): Stack {
  const server = new GrpcServer();
  for (const { service, impl } of services) registerOnGrpcJs(server, service, impl, options);
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  return {
    accept: (socket) => injector.injectConnection(socket),
    // tryShutdown sends GOAWAY on every session and lets running calls finish.
    drain: () => server.tryShutdown(() => {}),
    destroy: () => server.forceShutdown(),
  };
}

/** h2c to connect-node over node:http2: gRPC, Connect and gRPC-Web, slower for gRPC. */
function createConnectH2cStack(handler: NodeHandlerFn): Stack {
  const server: Http2Server = createHttp2Server(handler);
  const sessions = new Set<ServerHttp2Session>();
  server.on("session", (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  return {
    accept: (socket) => server.emit("connection", socket),
    // Session.close sends GOAWAY, refuses new streams and closes once the open ones are done.
    drain: () => {
      for (const session of sessions) session.close();
    },
    destroy: () => {
      for (const session of sessions) session.destroy();
    },
  };
}

/** Responses Connect's fallback answered, so the metrics count them as "other" rather than by path. */
const unrouted = new WeakSet<object>();

/** Route templates REST handlers gave their responses (`/rules/{id}`), used as the metrics label. */
const routeTemplates = new WeakMap<object, string>();

/**
 * Labels a REST response's metrics with a route template instead of its path, for routes whose paths carry
 * ids or arbitrary text (each distinct path would otherwise take one of the plane's route labels).
 */
export function setRouteTemplate(res: ServerResponse, template: string): void {
  routeTemplates.set(res, template);
}

/** Connect's fallback: unknown paths get Ory's 404 body. */
const sendNotFound: NodeHandlerFn = (req, res) => {
  unrouted.add(res);
  const body = JSON.stringify(oryErrorBodyOf(new NotFoundError(`no route for ${req.method ?? "?"} ${req.url ?? "?"}`)));
  res.writeHead(404, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
  res.end(body);
};
