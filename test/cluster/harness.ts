/**
 * Cluster test harness: real `gatehouse serve` processes on shared PostgreSQL (and Redis), grpc-js clients
 * that spread calls over them with round_robin, typed unary helpers for the calls cluster tests make, and
 * private PostgreSQL / Redis servers that a test may stop and start at will.
 *
 * Every child process and private server started here is registered so that an exiting test process kills
 * it (SIGKILL, `pg_ctl stop -m immediate`) even when a test forgot to or failed before its cleanup ran.
 *
 * Private servers need their binaries (PostgreSQL's `initdb`/`pg_ctl`, `redis-server`) and, for PostgreSQL
 * run by root, the `postgres` account and `runuser`. `shouldRunPrivatePostgresSuite` and
 * `shouldRunPrivateRedisSuite` follow `shouldRunPostgresSuite`: outside CI a missing piece skips the suite
 * with a loud warning; with `CI=true` the suite runs and fails.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodServerStreaming, type DescMethodUnary, type MessageShape } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, status, type ChannelOptions, type ServiceError } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { decodeSnaptoken, encodeSnaptoken } from "../../engine/snaptoken.js";
import { PermissionService } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import {
  RelationshipChange_Operation,
  RelationshipService,
  type WatchResponse,
} from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import { RelationshipUpdate_Operation, SubjectSchema, type Relationship, type Subject } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { SchemaLanguage } from "../../proto/gen/gatehouse/authz/v1/schema_pb.js";
import { SchemaService } from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";

/** The repository root (where `bin/gatehouse.js` lives). */
export const repositoryRoot = fileURLToPath(new URL("../../", import.meta.url));

// ---------------------------------------------------------------------------------------------------------
// Cleanup of everything started here, even when the test process exits without running its hooks.
// ---------------------------------------------------------------------------------------------------------

const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

/** Registers a synchronous cleanup run when the process exits; returns the function that unregisters it. */
function onProcessExit(cleanup: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const fn of exitCleanups) {
        try {
          fn();
        } catch {
          // Best effort: the process is going away.
        }
      }
    });
  }
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Appends to a bounded text buffer (keeps the last `max` characters). */
class LogBuffer {
  private text = "";
  constructor(private readonly max = 256 * 1024) {}
  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.max) this.text = this.text.slice(this.text.length - this.max);
  }
  toString(): string {
    return this.text;
  }
  tail(lines = 40): string {
    return this.text.split("\n").slice(-lines).join("\n");
  }
}

// ---------------------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------------------

/** The lowest port the kernel hands out for outgoing connections (ports below it are never taken by one). */
function ephemeralLow(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const n = Number(low);
    if (Number.isInteger(n) && n > 2048) return n;
  } catch {
    // Not Linux: assume the IANA range.
  }
  return 49152;
}

function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

const handedOut = new Set<number>();

/**
 * `n` distinct free TCP ports on 127.0.0.1. They are picked below the kernel's ephemeral range, so an
 * outgoing connection cannot take one between now and the moment a server binds it (or re-binds it after a
 * restart), and never twice in this process.
 */
export async function pickFreePorts(n: number): Promise<number[]> {
  const high = ephemeralLow() - 1;
  const low = Math.max(10_000, high - 20_000);
  const ports: number[] = [];
  for (let attempt = 0; ports.length < n; attempt++) {
    if (attempt > 2_000) throw new Error(`could not find ${n} free ports in ${low}-${high}`);
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port)) continue;
    const server = await listenOn(port);
    if (server === undefined) continue;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    handedOut.add(port);
    ports.push(port);
  }
  return ports;
}

// ---------------------------------------------------------------------------------------------------------
// Gatehouse nodes
// ---------------------------------------------------------------------------------------------------------

/** The three listeners of a node. */
export interface NodePorts {
  readonly read: number;
  readonly write: number;
  readonly opl: number;
  /** The identity service's planes (every node serves them too). */
  readonly identityPublic: number;
  readonly identityAdmin: number;
  /** The OAuth2 service's planes. */
  readonly oauth2Public: number;
  readonly oauth2Admin: number;
  /** The gateway's reverse proxy and API port. */
  readonly proxy: number;
  readonly proxyApi: number;
}

/** How to start one `gatehouse serve` process. */
export interface NodeOptions {
  /** `postgres://…` (or any DSN `gatehouse serve` takes). */
  readonly dsn: string;
  /** Redis for fan-out; absent = none. */
  readonly redisUrl?: string | undefined;
  readonly redisKeyPrefix?: string | undefined;
  /** Extra `GATEHOUSE_*` (or other) variables; they win over the harness's. */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** Fixed ports; default: three free ones. */
  readonly ports?: NodePorts | undefined;
  /** A label for messages (default `node-<read port>`). */
  readonly name?: string | undefined;
  /** How long to wait for `/health/ready` (default 30 s). */
  readonly readyTimeoutMs?: number | undefined;
}

/** How a node's process ended. */
export interface NodeExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A running (or stopped) `gatehouse serve` child process. */
export interface GatehouseNode {
  readonly name: string;
  readonly ports: NodePorts;
  /** The pid of the current process, if one runs. */
  readonly pid: number | undefined;
  /** True while the current process has not exited. */
  readonly running: boolean;
  /** How the last process ended, if one did. */
  readonly lastExit: NodeExit | undefined;
  /** Everything the node's processes wrote to stdout and stderr (the last 256 KiB). */
  log(): string;
  /** Sends `signal` (default SIGKILL) and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<NodeExit | undefined>;
  /** Stops the node if it runs, then starts it again on the same ports and waits until it is ready. */
  restart(): Promise<void>;
  /** SIGTERM and wait (SIGKILL after the shutdown timeout plus a margin). Safe to call when stopped. */
  stop(): Promise<void>;
}

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 2_000;

function nodeEnv(options: NodeOptions, ports: NodePorts): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // The node's configuration is exactly what this harness says: no GATEHOUSE_* leaks in from the caller.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("GATEHOUSE_")) env[k] = v;
  Object.assign(env, {
    GATEHOUSE_DSN: options.dsn,
    GATEHOUSE_SERVE_READ_HOST: "127.0.0.1",
    GATEHOUSE_SERVE_READ_PORT: String(ports.read),
    GATEHOUSE_SERVE_WRITE_HOST: "127.0.0.1",
    GATEHOUSE_SERVE_WRITE_PORT: String(ports.write),
    GATEHOUSE_SERVE_OPL_HOST: "127.0.0.1",
    GATEHOUSE_SERVE_OPL_PORT: String(ports.opl),
    GATEHOUSE_SERVE_IDENTITY_PUBLIC_HOST: "127.0.0.1",
    GATEHOUSE_SERVE_IDENTITY_PUBLIC_PORT: String(ports.identityPublic),
    GATEHOUSE_SERVE_IDENTITY_ADMIN_HOST: "127.0.0.1",
    GATEHOUSE_SERVE_IDENTITY_ADMIN_PORT: String(ports.identityAdmin),
    GATEHOUSE_SERVE_OAUTH2_PUBLIC_HOST: "127.0.0.1",
    GATEHOUSE_SERVE_OAUTH2_PUBLIC_PORT: String(ports.oauth2Public),
    GATEHOUSE_SERVE_OAUTH2_ADMIN_HOST: "127.0.0.1",
    GATEHOUSE_SERVE_OAUTH2_ADMIN_PORT: String(ports.oauth2Admin),
    GATEHOUSE_SERVE_PROXY_HOST: "127.0.0.1",
    GATEHOUSE_SERVE_PROXY_PORT: String(ports.proxy),
    GATEHOUSE_SERVE_PROXY_API_HOST: "127.0.0.1",
    GATEHOUSE_SERVE_PROXY_API_PORT: String(ports.proxyApi),
    GATEHOUSE_ENGINE_EVALUATOR_THREADS: "1",
    GATEHOUSE_SERVE_SHUTDOWN_TIMEOUT_MS: String(DEFAULT_SHUTDOWN_TIMEOUT_MS),
  });
  if (options.redisUrl !== undefined) env["GATEHOUSE_REDIS_URL"] = options.redisUrl;
  if (options.redisKeyPrefix !== undefined) env["GATEHOUSE_REDIS_KEY_PREFIX"] = options.redisKeyPrefix;
  Object.assign(env, options.env ?? {});
  return env;
}

/** GET `/health/ready` on 127.0.0.1:port; the status, or undefined when nothing answered. */
export async function readiness(port: number, timeoutMs = 1_000): Promise<{ status: number; body: string } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, body: await response.text() };
  } catch {
    return undefined;
  }
}

/** The Prometheus text of GET `/metrics` on 127.0.0.1:port (scraping triggers no catch-up). */
export async function scrapeMetrics(port: number, timeoutMs = 2_000): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (response.status !== 200) throw new Error(`GET /metrics on ${port}: ${response.status}`);
  return response.text();
}

/**
 * The value of one sample in Prometheus text, e.g. `metricValue(text, "gatehouse_replication_source_up",
 * {source: "postgres"})`; undefined when absent. Labels not given are not compared.
 */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = new Map([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(match[3]);
  }
  return undefined;
}

class NodeProcess implements GatehouseNode {
  readonly name: string;
  private child: ChildProcess | undefined;
  private exited: Promise<NodeExit> | undefined;
  private readonly output = new LogBuffer();
  private unregister: (() => void) | undefined;
  lastExit: NodeExit | undefined;

  constructor(
    private readonly options: NodeOptions,
    readonly ports: NodePorts,
  ) {
    this.name = options.name ?? `node-${ports.read}`;
  }

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    return this.output.toString();
  }

  async start(): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.output.append(`--- ${new Date().toISOString()} starting ${this.name} (read ${this.ports.read}, write ${this.ports.write}, opl ${this.ports.opl})\n`);
    // Extra Node.js flags for the nodes, e.g. GATEHOUSE_TEST_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a soak.
    const nodeArgs = (process.env["GATEHOUSE_TEST_NODE_ARGS"] ?? "").split(/\s+/).filter((a) => a !== "");
    const child = spawn(process.execPath, [...nodeArgs, join(repositoryRoot, "bin/gatehouse.js"), "serve"], {
      cwd: repositoryRoot,
      env: nodeEnv(this.options, this.ports),
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: a Ctrl-C meant for the soak must not reach the nodes (they are stopped by pid).
      detached: true,
    });
    this.child = child;
    child.stdout?.on("data", (chunk: Buffer) => this.output.append(chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => this.output.append(chunk.toString()));
    this.unregister = onProcessExit(() => child.kill("SIGKILL"));
    this.exited = new Promise<NodeExit>((resolve) => {
      child.once("error", (err) => {
        this.output.append(`--- spawn error: ${err.message}\n`);
      });
      child.once("exit", (code, signal) => {
        const exit = { code, signal };
        this.lastExit = exit;
        this.output.append(`--- ${new Date().toISOString()} ${this.name} exited (code ${code}, signal ${signal})\n`);
        this.unregister?.();
        resolve(exit);
      });
    });
    await this.waitReady(this.options.readyTimeoutMs ?? 30_000);
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no answer";
    while (Date.now() < deadline) {
      if (!this.running) {
        const exit = await this.exited;
        throw new Error(
          `${this.name} exited (code ${exit?.code}, signal ${exit?.signal}) before it was ready; its output:\n${this.output.tail()}`,
        );
      }
      const answer = await readiness(this.ports.read);
      if (answer?.status === 200) return;
      if (answer !== undefined) last = `${answer.status} ${answer.body}`;
      await sleep(100);
    }
    await this.kill("SIGKILL");
    throw new Error(`${this.name} was not ready within ${timeoutMs} ms (last /health/ready: ${last}); its output:\n${this.output.tail()}`);
  }

  async kill(signal: NodeJS.Signals = "SIGKILL", waitMs = 10_000): Promise<NodeExit | undefined> {
    const child = this.child;
    if (child === undefined || !this.running) return this.lastExit;
    child.kill(signal);
    const exit = await Promise.race([this.exited, sleep(waitMs).then(() => undefined)]);
    if (exit !== undefined) return exit;
    child.kill("SIGKILL");
    return this.exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const timeout = Number(this.options.env?.["GATEHOUSE_SERVE_SHUTDOWN_TIMEOUT_MS"] ?? DEFAULT_SHUTDOWN_TIMEOUT_MS);
    await this.kill("SIGTERM", timeout + 5_000);
  }
}

/** Listeners per node: read, write, OPL, identity public and admin, OAuth2 public and admin. */
const PORTS_PER_NODE = 9;

/** Starts one node and waits until `/health/ready` answers 200 on its read port. */
export async function startNode(options: NodeOptions): Promise<GatehouseNode> {
  let ports = options.ports;
  if (ports === undefined) {
    const [read, write, opl, identityPublic, identityAdmin, oauth2Public, oauth2Admin, proxy, proxyApi] = await pickFreePorts(PORTS_PER_NODE);
    ports = {
      read: read!,
      write: write!,
      opl: opl!,
      identityPublic: identityPublic!,
      identityAdmin: identityAdmin!,
      oauth2Public: oauth2Public!,
      oauth2Admin: oauth2Admin!,
      proxy: proxy!,
      proxyApi: proxyApi!,
    };
  }
  const node = new NodeProcess(options, ports);
  await node.start();
  return node;
}

/** A schema to write before the other nodes start. */
export interface ClusterSchema {
  readonly text: string;
  readonly language?: "fga" | "opl";
}

/** Options of `startCluster`: those of every node, and the schema. */
export interface ClusterOptions extends Omit<NodeOptions, "ports" | "name"> {
  /**
   * Written through the first node before the others start, so every node opens with it (nodes also pick
   * up later schema writes from the changelog, but tests should not depend on that timing).
   */
  readonly schema?: ClusterSchema;
}

/** Nodes over one database. */
export interface Cluster {
  readonly nodes: readonly GatehouseNode[];
  readonly readPorts: readonly number[];
  readonly writePorts: readonly number[];
  /** The schema write's snaptoken and revision, when a schema was given. */
  readonly schemaToken: string | undefined;
  readonly schemaRevision: number | undefined;
  /** The node whose read or write port is `port`. */
  nodeByPort(port: number): GatehouseNode | undefined;
  /** Stops every node (in parallel); never throws. */
  stop(): Promise<void>;
  /** Every node's log, for a failure message. */
  logs(): string;
}

/** Starts `n` nodes; with a schema, the first one starts and takes the schema, then the rest start together. */
export async function startCluster(n: number, options: ClusterOptions): Promise<Cluster> {
  const flat = await pickFreePorts(PORTS_PER_NODE * n);
  const portsOf = (i: number): NodePorts => ({
    read: flat[PORTS_PER_NODE * i]!,
    write: flat[PORTS_PER_NODE * i + 1]!,
    opl: flat[PORTS_PER_NODE * i + 2]!,
    identityPublic: flat[PORTS_PER_NODE * i + 3]!,
    identityAdmin: flat[PORTS_PER_NODE * i + 4]!,
    oauth2Public: flat[PORTS_PER_NODE * i + 5]!,
    oauth2Admin: flat[PORTS_PER_NODE * i + 6]!,
    proxy: flat[PORTS_PER_NODE * i + 7]!,
    proxyApi: flat[PORTS_PER_NODE * i + 8]!,
  });
  const nodes = Array.from({ length: n }, (_, i) => new NodeProcess({ ...options, name: `node${i}` }, portsOf(i)));
  const stopAll = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop().catch(() => undefined)));
  };
  let schemaToken: string | undefined;
  let schemaRevision: number | undefined;
  try {
    await nodes[0]!.start();
    if (options.schema !== undefined) {
      const client = createRoundRobinClient([nodes[0]!.ports.write]);
      try {
        const written = await writeSchema(client, options.schema.text, options.schema.language);
        schemaToken = written.token;
        schemaRevision = written.revision;
      } finally {
        client.close();
      }
    }
    await Promise.all(nodes.slice(1).map((node) => node.start()));
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    nodes,
    readPorts: nodes.map((node) => node.ports.read),
    writePorts: nodes.map((node) => node.ports.write),
    schemaToken,
    schemaRevision,
    nodeByPort: (port) => nodes.find((node) => node.ports.read === port || node.ports.write === port || node.ports.opl === port),
    stop: stopAll,
    logs: () => nodes.map((node) => `===== ${node.name}\n${node.log()}`).join("\n"),
  };
}

// ---------------------------------------------------------------------------------------------------------
// gRPC clients
// ---------------------------------------------------------------------------------------------------------

/**
 * A grpc-js client over the given 127.0.0.1 ports with the round_robin policy: one subchannel per port,
 * calls spread over the ready ones, a dead one skipped until it reconnects (reconnect backoff kept short, so
 * a restarted node gets traffic again within about a second).
 */
export function createRoundRobinClient(ports: readonly number[], options: ChannelOptions = {}): Client {
  if (ports.length === 0) throw new Error("createRoundRobinClient needs at least one port");
  const target = `ipv4:${ports.map((p) => `127.0.0.1:${p}`).join(",")}`;
  return new Client(target, credentials.createInsecure(), {
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
    "grpc.initial_reconnect_backoff_ms": 200,
    "grpc.max_reconnect_backoff_ms": 1_000,
    // Its own subchannels: clients of the same target must not share (and skew) connections.
    "grpc.use_local_subchannel_pool": 1,
    ...options,
  });
}

/** A failed call: grpc-js's ServiceError plus the peer that answered, when known. */
export type CallError = ServiceError & { peer?: string };

/** True for a grpc-js call error. */
export function isServiceError(err: unknown): err is CallError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number" && "details" in err;
}

/** The name of a gRPC status code, e.g. `UNAVAILABLE`. */
export function codeName(code: number): string {
  return (status as unknown as Record<number, string>)[code] ?? `CODE_${code}`;
}

/** The name of an error's gRPC code, or `CLIENT_ERROR` for something that is not a gRPC error. */
export function errorCodeName(err: unknown): string {
  return isServiceError(err) ? codeName(err.code) : "CLIENT_ERROR";
}

/** The port in a grpc-js peer string (`127.0.0.1:4466`, `ipv4:…`, `[::1]:4466`), if any. */
export function peerPort(peer: string | undefined): number | undefined {
  const match = /:(\d+)$/.exec(peer ?? "");
  return match === null ? undefined : Number(match[1]);
}

/** The result of a unary call and the peer that answered it. */
export interface CallResult<T> {
  readonly response: T;
  readonly peer: string;
  readonly port: number | undefined;
}

/** Per-call options. */
export interface CallOptions {
  /** Default 10 s. */
  readonly deadlineMs?: number;
  readonly metadata?: Metadata;
}

/** One unary call over a grpc-js client with the generated messages' binary codec. */
export function unaryCall<I extends DescMessage, O extends DescMessage>(
  client: Client,
  method: DescMethodUnary<I, O>,
  request: MessageShape<I>,
  options: CallOptions = {},
): Promise<CallResult<MessageShape<O>>> {
  return new Promise((resolve, reject) => {
    const call = client.makeUnaryRequest(
      `/${method.parent.typeName}/${method.name}`,
      (m: MessageShape<I>) => Buffer.from(toBinary(method.input, m)),
      (b: Buffer) => fromBinary(method.output, b),
      request,
      options.metadata ?? new Metadata(),
      { deadline: Date.now() + (options.deadlineMs ?? 10_000) },
      (error: ServiceError | null, response?: MessageShape<O>) => {
        const peer = call.getPeer();
        if (error !== null) {
          (error as CallError).peer = peer;
          reject(error);
        } else {
          resolve({ response: response as MessageShape<O>, peer, port: peerPort(peer) });
        }
      },
    );
  });
}

/** A tuple in plain form. The subject is a typed object (`relation` "" or absent), a subject set or a bare id. */
export interface TupleSpec {
  readonly namespace: string;
  readonly object: string;
  readonly relation: string;
  readonly subject: { readonly namespace: string; readonly object: string; readonly relation?: string } | { readonly id: string };
}

/** Parses `ns:obj#rel@type:id`, `ns:obj#rel@type:id#rel` or `ns:obj#rel@id`. */
export function parseTuple(text: string): TupleSpec {
  const match = /^([^:#@]+):([^#@]*)#([^@]+)@(.+)$/.exec(text);
  if (match === null) throw new Error(`not a tuple: ${text}`);
  const [, namespace, object, relation, subject] = match as unknown as [string, string, string, string, string];
  const set = /^([^:#]+):([^#]*)(?:#(.*))?$/.exec(subject);
  if (set === null) return { namespace, object, relation, subject: { id: subject } };
  return { namespace, object, relation, subject: { namespace: set[1]!, object: set[2]!, relation: set[3] ?? "" } };
}

/** The text form of a tuple (the inverse of `parseTuple`). */
export function formatTuple(tuple: TupleSpec): string {
  const s = tuple.subject;
  const subject = "id" in s ? s.id : `${s.namespace}:${s.object}${s.relation ? `#${s.relation}` : ""}`;
  return `${tuple.namespace}:${tuple.object}#${tuple.relation}@${subject}`;
}

function subjectMessage(spec: TupleSpec["subject"]): Subject {
  return create(SubjectSchema, {
    ref: "id" in spec
      ? { case: "id", value: spec.id }
      : { case: "set", value: { namespace: spec.namespace, object: spec.object, relation: spec.relation ?? "" } },
  });
}

function relationshipInit(tuple: TupleSpec | string): Pick<Relationship, "namespace" | "object" | "relation" | "subject"> {
  const t = typeof tuple === "string" ? parseTuple(tuple) : tuple;
  return { namespace: t.namespace, object: t.object, relation: t.relation, subject: subjectMessage(t.subject) };
}

/** A Check's answer. */
export interface CheckAnswer {
  readonly allowed: boolean;
  /** The revision it was evaluated at (`checked_at`). */
  readonly checkedAt: number;
  readonly token: string;
  readonly peer: string;
  readonly port: number | undefined;
}

/** PermissionService.Check of `ns:obj#rel@subject`; with `atLeastAsFresh`, at least as fresh as that snaptoken. */
export async function check(
  client: Client,
  tuple: TupleSpec | string,
  options: CallOptions & { atLeastAsFresh?: string | undefined; fullyConsistent?: boolean } = {},
): Promise<CheckAnswer> {
  const method = PermissionService.method.check;
  const consistency =
    options.atLeastAsFresh !== undefined
      ? { requirement: { case: "atLeastAsFresh" as const, value: { token: options.atLeastAsFresh } } }
      : options.fullyConsistent === true
        ? { requirement: { case: "fullyConsistent" as const, value: true } }
        : undefined;
  const request = create(method.input, { relationship: relationshipInit(tuple), ...(consistency === undefined ? {} : { consistency }) });
  const { response, peer, port } = await unaryCall(client, method, request, options);
  const token = response.checkedAt?.token ?? "";
  return { allowed: response.allowed, checkedAt: decodeSnaptoken(token, "checked_at"), token, peer, port };
}

/** One update of `writeRelationships`. */
export interface UpdateSpec {
  readonly op: "touch" | "create" | "delete";
  readonly tuple: TupleSpec | string;
}

/** A write's acknowledgement. */
export interface WriteAck {
  readonly revision: number;
  readonly token: string;
  readonly peer: string;
  readonly port: number | undefined;
}

const OPERATIONS = {
  touch: RelationshipUpdate_Operation.TOUCH,
  create: RelationshipUpdate_Operation.CREATE,
  delete: RelationshipUpdate_Operation.DELETE,
} as const;

/** RelationshipService.WriteRelationships (write plane); resolves with the revision of `written_at`. */
export async function writeRelationships(client: Client, updates: readonly UpdateSpec[], options: CallOptions = {}): Promise<WriteAck> {
  const method = RelationshipService.method.writeRelationships;
  const request = create(method.input, {
    updates: updates.map((u) => ({ operation: OPERATIONS[u.op], relationship: relationshipInit(u.tuple) })),
  });
  const { response, peer, port } = await unaryCall(client, method, request, options);
  const token = response.writtenAt?.token ?? "";
  return { revision: decodeSnaptoken(token, "written_at"), token, peer, port };
}

/** SchemaService.WriteSchema (write plane). */
export async function writeSchema(
  client: Client,
  text: string,
  language?: "fga" | "opl",
  options: CallOptions = {},
): Promise<WriteAck> {
  const method = SchemaService.method.writeSchema;
  const request = create(method.input, {
    text,
    language: language === "fga" ? SchemaLanguage.FGA : language === "opl" ? SchemaLanguage.OPL : SchemaLanguage.UNSPECIFIED,
  });
  const { response, peer, port } = await unaryCall(client, method, request, options);
  const token = response.writtenAt?.token ?? "";
  return { revision: decodeSnaptoken(token, "written_at"), token, peer, port };
}

/** One message of a Watch stream, decoded. */
export interface WatchMessage {
  /** `changes_through`, or the newest change's revision if that is later. */
  readonly through: number;
  readonly changes: readonly { readonly op: "insert" | "delete"; readonly tuple: string; readonly revision: number }[];
  readonly raw: WatchResponse;
}

/** An open Watch stream. */
export interface WatchHandle {
  cancel(): void;
}

function tupleText(r: Relationship | undefined): string {
  if (r === undefined) return "?";
  const s = r.subject?.ref;
  const subject = s?.case === "id" ? s.value : s?.case === "set" ? `${s.value.namespace}:${s.value.object}${s.value.relation ? `#${s.value.relation}` : ""}` : "?";
  return `${r.namespace}:${r.object}#${r.relation}@${subject}`;
}

/**
 * Opens RelationshipService.Watch (read plane), from after `start` (a snaptoken or revision) or from now.
 * `onEnd` runs once: with the error, or undefined when the server ended the stream or it was cancelled.
 */
export function watch(
  client: Client,
  options: { start?: string | number | undefined; namespaces?: readonly string[] },
  onMessage: (message: WatchMessage) => void,
  onEnd: (error: CallError | undefined) => void,
): WatchHandle {
  const method: DescMethodServerStreaming<DescMessage, DescMessage> = RelationshipService.method.watch as never;
  const start = typeof options.start === "number" ? encodeSnaptoken(options.start) : options.start;
  const request = create(RelationshipService.method.watch.input, {
    ...(start === undefined ? {} : { start: { token: start } }),
    namespaces: [...(options.namespaces ?? [])],
  });
  let cancelled = false;
  let ended = false;
  const end = (error: CallError | undefined): void => {
    if (ended) return;
    ended = true;
    onEnd(error);
  };
  const stream = client.makeServerStreamRequest(
    `/${method.parent.typeName}/${method.name}`,
    (m: unknown) => Buffer.from(toBinary(RelationshipService.method.watch.input, m as never)),
    (b: Buffer) => fromBinary(RelationshipService.method.watch.output, b),
    request,
    new Metadata(),
    {},
  );
  stream.on("data", (response: WatchResponse) => {
    let through = response.changesThrough?.token ? decodeSnaptoken(response.changesThrough.token) : 0;
    const changes = response.changes.map((c) => {
      const revision = c.revision?.token ? decodeSnaptoken(c.revision.token) : 0;
      if (revision > through) through = revision;
      return {
        op: c.operation === RelationshipChange_Operation.DELETE ? ("delete" as const) : ("insert" as const),
        tuple: tupleText(c.relationship),
        revision,
      };
    });
    onMessage({ through, changes, raw: response });
  });
  stream.on("error", (err: ServiceError) => {
    if (cancelled && err.code === status.CANCELLED) end(undefined);
    else {
      (err as CallError).peer = stream.getPeer();
      end(err);
    }
  });
  stream.on("end", () => end(undefined));
  return {
    cancel() {
      cancelled = true;
      stream.cancel();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Shared Redis (fan-out for soak and cluster tests)
// ---------------------------------------------------------------------------------------------------------

/** The Redis URL tests use (`GATEHOUSE_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`). */
export function testRedisUrl(): string {
  return process.env["GATEHOUSE_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";
}

/** Answers PING within `timeoutMs`? */
export async function isRedisReachable(url = testRedisUrl(), timeoutMs = 2_000): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * The Redis URL nodes should use: the test server when it answers; otherwise undefined with a loud warning
 * (nodes then run without Redis), or an error under `CI=true`.
 */
export async function resolveTestRedis(suite: string): Promise<string | undefined> {
  const url = testRedisUrl();
  if (await isRedisReachable(url)) return url;
  if (process.env["CI"] === "true") throw new Error(`${suite}: Redis is not reachable at ${url} (required under CI=true)`);
  console.warn(`\n!!! ${suite}: Redis is not reachable at ${url}; the nodes run WITHOUT Redis fan-out.\n`);
  return undefined;
}

/** Deletes every key starting with `prefix` (SCAN + UNLINK); returns how many were deleted. */
export async function deleteRedisKeys(url: string, prefix: string): Promise<number> {
  if (prefix === "" || prefix === "*") throw new Error("refusing to delete every key");
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on("error", () => {});
  let deleted = 0;
  try {
    await redis.connect();
    const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== "0");
    return deleted;
  } finally {
    redis.disconnect();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Private PostgreSQL
// ---------------------------------------------------------------------------------------------------------

/** What running a private PostgreSQL needs, or why it cannot run here. */
export type Support = { ok: true; reason?: undefined } | { ok: false; reason: string };

interface PostgresTools {
  readonly bin: string;
  /** Run as this account through runuser (when we are root), else as ourselves. */
  readonly runAs: { user: string; uid: number; gid: number } | undefined;
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir !== "" && existsSync(join(dir, name))) return dir;
  }
  return undefined;
}

function findPostgresBin(): string | undefined {
  const configured = process.env["GATEHOUSE_TEST_PG_BIN"];
  if (configured !== undefined) return existsSync(join(configured, "initdb")) ? configured : undefined;
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(join(base, v, "bin", "initdb")) && existsSync(join(base, v, "bin", "pg_ctl")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(base, versions[0], "bin");
  }
  const onPath = findOnPath("initdb");
  return onPath !== undefined && existsSync(join(onPath, "pg_ctl")) ? onPath : undefined;
}

function postgresTools(): PostgresTools | string {
  const bin = findPostgresBin();
  if (bin === undefined) return "PostgreSQL's initdb/pg_ctl were not found (set GATEHOUSE_TEST_PG_BIN to their folder)";
  if (process.getuid?.() !== 0) return { bin, runAs: undefined };
  // PostgreSQL refuses to run as root: run it as the postgres account.
  if (findOnPath("runuser") === undefined && !existsSync("/usr/sbin/runuser") && !existsSync("/sbin/runuser")) {
    return "running as root, but runuser (needed to start PostgreSQL as the postgres account) was not found";
  }
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) return "running as root, but there is no postgres account to run PostgreSQL as";
  return { bin, runAs: { user: "postgres", uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) } };
}

/** Whether `startPrivatePostgres` can work on this machine. */
export function privatePostgresSupport(): Support {
  const tools = postgresTools();
  return typeof tools === "string" ? { ok: false, reason: tools } : { ok: true };
}

async function shouldRunSuite(suite: string, what: string, support: Support): Promise<boolean> {
  if (support.ok) return true;
  if (process.env["CI"] === "true") return true; // run and fail loudly
  console.warn(`\n!!! SKIPPING ${suite}: cannot start ${what}: ${support.reason}.\n!!! Under CI=true this suite fails instead.\n`);
  return false;
}

/** Like `shouldRunPostgresSuite`, for suites that start their own PostgreSQL. */
export function shouldRunPrivatePostgresSuite(suite: string): Promise<boolean> {
  return shouldRunSuite(suite, "a private PostgreSQL", privatePostgresSupport());
}

/** A PostgreSQL server of our own, in a temporary folder. */
export interface PrivatePostgres {
  readonly port: number;
  readonly dataDir: string;
  readonly running: boolean;
  /** `postgres://postgres@127.0.0.1:<port>/<database>` (default database `postgres`). */
  url(database?: string): string;
  /** Starts it again (after `stop`), waiting until it accepts connections. */
  start(): Promise<void>;
  /** `pg_ctl stop -m <mode>`: fast (disconnect clients, clean shutdown) or immediate (like a crash). */
  stop(options?: { mode?: "smart" | "fast" | "immediate" }): Promise<void>;
  /** Stops it (immediately) if it runs and removes its folder. */
  destroy(): Promise<void>;
  /** The server's log file. */
  log(): string;
}

function execTool(tools: PostgresTools, tool: string, args: readonly string[], cwd: string): Promise<string> {
  const path = join(tools.bin, tool);
  const [file, argv] = tools.runAs === undefined ? [path, [...args]] : ["runuser", ["-u", tools.runAs.user, "--", path, ...args]];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { cwd, encoding: "utf8", timeout: 120_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${tool} ${args.join(" ")} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(`${stdout}${stderr}`);
    });
  });
}

function execToolSync(tools: PostgresTools, tool: string, args: readonly string[], cwd: string): void {
  const path = join(tools.bin, tool);
  const [file, argv] = tools.runAs === undefined ? [path, [...args]] : ["runuser", ["-u", tools.runAs.user, "--", path, ...args]];
  spawnSync(file, argv, { cwd, stdio: "ignore", timeout: 30_000 });
}

/**
 * initdb into a fresh temporary folder (owned by the postgres account when we are root), then start the
 * server on a free port on 127.0.0.1 (its socket in that folder too), trust authentication, user
 * `postgres`. fsync is off: the tests crash PostgreSQL, never the machine, so what a commit wrote to the
 * kernel survives (synchronous_commit stays on, so an acknowledged commit is never lost by a crash).
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const tools = postgresTools();
  if (typeof tools === "string") throw new Error(`cannot start a private PostgreSQL: ${tools}`);
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-pg-"));
  let running = false;
  const dataDir = join(dir, "data");
  const logFile = join(dir, "postgres.log");
  const [port] = await pickFreePorts(1);
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const unregister = onProcessExit(() => {
    if (running) execToolSync(tools, "pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"], dir);
    remove();
  });
  try {
    if (tools.runAs !== undefined) chownSync(dir, tools.runAs.uid, tools.runAs.gid);
    await execTool(tools, "initdb", ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"], dir);
  } catch (err) {
    unregister();
    remove();
    throw err;
  }
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=100`;
  const instance: PrivatePostgres = {
    port: port!,
    dataDir,
    get running() {
      return running;
    },
    url: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async start() {
      if (running) return;
      await execTool(tools, "pg_ctl", ["-D", dataDir, "-l", logFile, "-o", options, "-w", "-t", "60", "start"], dir);
      running = true;
    },
    async stop({ mode = "fast" } = {}) {
      if (!running) return;
      await execTool(tools, "pg_ctl", ["-D", dataDir, "-m", mode, "-w", "-t", "60", "stop"], dir);
      running = false;
    },
    async destroy() {
      try {
        if (running) await instance.stop({ mode: "immediate" });
      } finally {
        unregister();
        remove();
      }
    },
    log() {
      try {
        return readFileSync(logFile, "utf8");
      } catch {
        return "";
      }
    },
  };
  try {
    await instance.start();
  } catch (err) {
    await instance.destroy().catch(() => undefined);
    throw err;
  }
  return instance;
}

// ---------------------------------------------------------------------------------------------------------
// Private Redis
// ---------------------------------------------------------------------------------------------------------

function findRedisServer(): string | undefined {
  const configured = process.env["GATEHOUSE_TEST_REDIS_SERVER"];
  if (configured !== undefined) return existsSync(configured) ? configured : undefined;
  const dir = findOnPath("redis-server");
  if (dir !== undefined) return join(dir, "redis-server");
  return existsSync("/usr/bin/redis-server") ? "/usr/bin/redis-server" : undefined;
}

/** Whether `startPrivateRedis` can work on this machine. */
export function privateRedisSupport(): Support {
  return findRedisServer() === undefined
    ? { ok: false, reason: "redis-server was not found (set GATEHOUSE_TEST_REDIS_SERVER to its path)" }
    : { ok: true };
}

/** Like `shouldRunPostgresSuite`, for suites that start their own Redis. */
export function shouldRunPrivateRedisSuite(suite: string): Promise<boolean> {
  return shouldRunSuite(suite, "a private Redis", privateRedisSupport());
}

/** A redis-server child process without persistence. */
export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  start(): Promise<void>;
  /** SIGTERM (SIGKILL after 5 s) and wait for the exit. */
  stop(): Promise<void>;
  log(): string;
}

function redisPing(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let answer = "";
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      answer += chunk.toString();
      if (answer.includes("\r\n")) done(answer.startsWith("+PONG"));
    });
  });
}

/** Starts redis-server on a free port on 127.0.0.1 with `--save "" --appendonly no`. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const binary = findRedisServer();
  if (binary === undefined) throw new Error("cannot start a private Redis: redis-server was not found");
  const [port] = await pickFreePorts(1);
  const output = new LogBuffer(64 * 1024);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const isRunning = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
  const instance: PrivateRedis = {
    port: port!,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return isRunning();
    },
    async start() {
      if (isRunning()) return;
      const proc = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], {
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      child = proc;
      const unregister = onProcessExit(() => proc.kill("SIGKILL"));
      proc.stdout?.on("data", (c: Buffer) => output.append(c.toString()));
      proc.stderr?.on("data", (c: Buffer) => output.append(c.toString()));
      exited = new Promise((resolve) => proc.once("exit", () => (unregister(), resolve())));
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        if (!isRunning()) throw new Error(`redis-server exited before it was ready:\n${output.tail()}`);
        if (await redisPing(port!)) return;
        await sleep(50);
      }
      proc.kill("SIGKILL");
      throw new Error(`redis-server was not ready within 15 s:\n${output.tail()}`);
    },
    async stop() {
      if (!isRunning()) return;
      child!.kill("SIGTERM");
      const timer = setTimeout(() => child?.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
    log: () => output.toString(),
  };
  await instance.start();
  return instance;
}
