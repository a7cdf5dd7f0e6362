/**
 * The authorization service's three planes, as Keto splits them: read (4466: check, expand, lookups, list,
 * watch), write (4467: write, delete, schema; optional API keys) and OPL (4469: syntax check). Each plane
 * serves Gatehouse's API and Keto's, over gRPC, gRPC-Web, Connect and REST, on one port. The planes share
 * one Prometheus registry (labelled by plane), scraped at `GET /metrics` on the read and write planes.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import type { Registry } from "prom-client";
import type { PermissionEngine } from "../engine/permission-engine.js";
import type { ReplicationStats } from "../engine/replication/changelog-tailer.js";
import { encodeSnaptoken } from "../engine/snaptoken.js";
import { VersionService } from "../proto/gen/ory/keto/relation_tuples/v1alpha2/version_pb.js";
import { bearerToken, createApiKeyVerifier, type ApiKeyVerifier } from "./auth/api-keys.js";
import { createAuthzServices } from "./authz/index.js";
import { ketoPlaneServices } from "./keto/grpc-services.js";
import { createServerMetrics, type RevisionLag } from "./observability/metrics.js";
import { createKetoRestHandler } from "./keto/rest-handler.js";
import { createPlaneServer, planeService, type PlaneServer, type PlaneService, type RestHandler } from "./server/plane-server.js";

/** Where a plane listens. */
export interface PlaneAddress {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
}

/** Options of `startAuthzPlanes`. */
export interface AuthzPlanesOptions {
  engine: PermissionEngine;
  read: PlaneAddress;
  write: PlaneAddress;
  opl: PlaneAddress;
  /** Where cleartext HTTP/2 goes; default grpc-js (the fast gRPC path). */
  h2c?: "grpc-js" | "connect";
  /** Graceful shutdown budget (default 10 s). */
  shutdownTimeoutMillis?: number;
  /** SHA-256 hex hashes of the write plane's API keys; empty or absent = no key (Keto's default). */
  writeApiKeyHashes?: readonly string[];
  /** Items per BatchCheck on Gatehouse's API (default 1,000). */
  maxBatchCheckSize?: number;
  /** Items per BatchCheck on Keto's API (default Keto's 10). */
  ketoMaxBatchCheckSize?: number;
  /** Keto's global depth limit for its API (default the engine's). */
  ketoMaxReadDepth?: number;
  /** Feeds the `gatehouse_snapshot_revision_lag` gauge, asked on each scrape; without it the gauge is absent. */
  revisionLag?: RevisionLag;
  /** The Prometheus registry for the planes' metrics and the process metrics. Default: a new one. */
  metricsRegistry?: Registry;
  /** Replication counters of a cluster node (metrics); absent on a single embedded node. */
  replicationStats?: () => ReplicationStats;
  /** How long `/health/ready` waits for the node to catch up with the store before answering 503 (default 2 s). */
  readinessCatchUpMillis?: number;
  /** How long a gRPC stream (Watch) may stay blocked on a client that does not read (default 30 s). */
  streamSendTimeoutMillis?: number;
  /** Watch heartbeat interval (default 5 s). */
  watchHeartbeatMillis?: number;
}

/** The running planes. */
export interface AuthzPlanes {
  /** The ports actually bound (differs from the options when they asked for 0). */
  readonly ports: { read: number; write: number; opl: number };
  /** The registry served at `/metrics`; embedding apps may add their own metrics to it. */
  readonly metricsRegistry: Registry;
  /** Graceful shutdown of all three planes. */
  close(): Promise<void>;
}

/** Keeps only the named methods of an implementation; the others answer UNIMPLEMENTED on this plane. */
function only<S extends DescService>(impl: ServiceImpl<S>, names: readonly (keyof ServiceImpl<S>)[]): Partial<ServiceImpl<S>> {
  const picked: Partial<ServiceImpl<S>> = {};
  for (const name of names) picked[name] = impl[name];
  return picked;
}

type UnaryFn = (request: unknown, context: HandlerContext) => Promise<unknown>;

/** Wraps every method of a plane service so it first checks the caller's API key (gRPC and Connect alike). */
function guarded(entry: PlaneService, keys: ApiKeyVerifier): PlaneService {
  if (!keys.required) return entry;
  const impl: Record<string, UnaryFn> = {};
  for (const [name, fn] of Object.entries(entry.impl as Record<string, UnaryFn | undefined>)) {
    if (fn === undefined) continue;
    // The write plane's methods are all unary, so a wrapping async function keeps their shape.
    impl[name] = async (request, context) => {
      keys.verify(bearerToken(context.requestHeader.get("authorization")));
      return fn(request, context);
    };
  }
  return { service: entry.service, impl: impl as unknown as PlaneService["impl"] };
}

/** Keto's REST write routes behind the API-key check; health and version stay open. */
function guardedRest(handler: RestHandler, keys: ApiKeyVerifier): RestHandler {
  if (!keys.required) return handler;
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (path.startsWith("/admin/") || path.startsWith("/relation-tuples")) {
      keys.verify(bearerToken(req.headers.authorization));
    }
    return handler(req, res);
  };
}

/** Starts the read, write and OPL planes over one engine. */
export async function startAuthzPlanes(options: AuthzPlanesOptions): Promise<AuthzPlanes> {
  const { engine } = options;
  const authz = createAuthzServices(engine, {
    ...(options.watchHeartbeatMillis === undefined ? {} : { watchHeartbeatMillis: options.watchHeartbeatMillis }),
    ...(options.maxBatchCheckSize === undefined ? {} : { maxBatchCheckItems: options.maxBatchCheckSize }),
  });
  const keto = {
    engine,
    ...(options.ketoMaxBatchCheckSize === undefined ? {} : { maxBatchCheckSize: options.ketoMaxBatchCheckSize }),
    ...(options.ketoMaxReadDepth === undefined ? {} : { maxReadDepth: options.ketoMaxReadDepth }),
  };
  const keys = createApiKeyVerifier(options.writeApiKeyHashes ?? []);
  const metrics = createServerMetrics({
    ...(options.metricsRegistry === undefined ? {} : { registry: options.metricsRegistry }),
    ...(options.revisionLag === undefined ? {} : { revisionLag: options.revisionLag }),
    ...(options.replicationStats === undefined ? {} : { replicationStats: options.replicationStats }),
    engineStats: () => engine.stats(),
  });
  const catchUpMillis = options.readinessCatchUpMillis ?? 2_000;
  // Ready means the store answers and the snapshot has caught up with it (Keto: 503 with the reasons); a
  // node rebuilding its snapshot, or still catching up after `catchUpMillis`, is not ready.
  const readiness = async (): Promise<Record<string, string>> => {
    if (engine.stats().rebuilding) return { replication: "rebuilding the snapshot from the store" };
    let timer: NodeJS.Timeout | undefined;
    try {
      const caughtUp = await Promise.race([
        engine.catchUp().then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), catchUpMillis))),
      ]);
      if (!caughtUp) return { replication: `still catching up with the store after ${catchUpMillis} ms (applied revision ${engine.revision})` };
      return {};
    } catch (err) {
      return { store: err instanceof Error ? err.message : "unreachable" };
    } finally {
      clearTimeout(timer);
    }
  };
  const common = {
    readiness,
    // The applied revision, for operators and load balancers comparing nodes.
    readinessDetails: () => ({ revision: engine.revision, snaptoken: encodeSnaptoken(engine.revision) }),
    ...(options.streamSendTimeoutMillis === undefined ? {} : { streamSendTimeoutMillis: options.streamSendTimeoutMillis }),
    metrics,
    ...(options.h2c === undefined ? {} : { h2c: options.h2c }),
    ...(options.shutdownTimeoutMillis === undefined ? {} : { shutdownTimeoutMillis: options.shutdownTimeoutMillis }),
  };

  const read = createPlaneServer({
    ...common,
    ...options.read,
    plane: "read",
    serveMetrics: true,
    services: [
      planeService(authz.permission.service, authz.permission.impl),
      planeService(authz.relationship.service, only(authz.relationship.impl, ["readRelationships", "watch"])),
      planeService(authz.schema.service, only(authz.schema.impl, ["readSchema", "validateSchema"])),
      ...ketoPlaneServices(keto, "read"),
    ],
    http: createKetoRestHandler({ ...keto, plane: "read" }),
  });
  const write = createPlaneServer({
    ...common,
    ...options.write,
    plane: "write",
    serveMetrics: true,
    services: [
      planeService(authz.relationship.service, only(authz.relationship.impl, ["writeRelationships", "deleteRelationships"])),
      planeService(authz.schema.service, only(authz.schema.impl, ["writeSchema", "readSchema", "validateSchema"])),
      ...ketoPlaneServices(keto, "write"),
    ].map((entry) => (entry.service === VersionService ? entry : guarded(entry, keys))),
    http: guardedRest(createKetoRestHandler({ ...keto, plane: "write" }), keys),
  });
  const opl = createPlaneServer({
    ...common,
    ...options.opl,
    plane: "opl",
    services: [planeService(authz.schema.service, only(authz.schema.impl, ["validateSchema"])), ...ketoPlaneServices(keto, "opl")],
    http: createKetoRestHandler({ ...keto, plane: "opl" }),
  });

  const servers: PlaneServer[] = [];
  try {
    const ports = { read: 0, write: 0, opl: 0 };
    for (const [name, server] of [["read", read], ["write", write], ["opl", opl]] as const) {
      ports[name] = (await server.listen()).port;
      servers.push(server);
    }
    return {
      ports,
      metricsRegistry: metrics.registry,
      async close() {
        await Promise.all(servers.map((s) => s.close()));
      },
    };
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
}
