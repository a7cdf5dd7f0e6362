/**
 * The load generator of the network figure, run as its own process so that its CPU is not the server's
 * (on a 2-core machine it still competes for the cores; the bench reports both processes' CPU use).
 *
 * It reads JSON commands from stdin, one per line (see `messages.ts`), and answers each on stdout: a setup
 * (target, checks, channels) and then runs of one RPC over one protocol, either closed loop (`concurrency`
 * calls always in flight) or open loop (calls started on a fixed schedule of `rate` per second, for the
 * latency at a given load). Latencies go into an HDR histogram, sent back encoded so the bench can merge
 * several generator processes exactly.
 *
 * - gRPC: `@grpc/grpc-js` clients, one connection each (a local subchannel pool, otherwise grpc-js shares a
 *   single connection between clients of the same target), requests serialized once up front and responses
 *   left undecoded, so the client spends as little CPU per call as grpc-js allows.
 * - Connect: connect-node's Connect transport over HTTP/1.1 with binary protobuf. HTTP/1.1 because that is
 *   where the plane serves Connect by default: cleartext HTTP/2 goes to grpc-js, which only speaks gRPC
 *   (Connect over h2c needs `serve.h2c: connect`, which slows gRPC down). HTTP/1.1 has no multiplexing, so
 *   each call in flight holds its own keep-alive connection.
 */
import { Agent } from "node:http";
import { createInterface } from "node:readline";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Client, credentials, type ServiceError } from "@grpc/grpc-js";
import * as hdr from "hdr-histogram-js";
import {
  BatchCheckRequestSchema,
  CheckRequestSchema,
  PermissionService,
} from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import { Health, HealthCheckRequestSchema } from "../../proto/gen/grpc/health/v1/health_pb.js";
import {
  batchRequestsOf,
  checkRequestOf,
  histogramSettings,
  type LoadgenCommand,
  type LoadgenReply,
  type Protocol,
  type Rpc,
  type RunCommand,
  type RunResult,
  type SetupCommand,
} from "./messages.js";

/** Starts call number `seq` on connection slot `slot`; `done` gets undefined on success, else the error text. */
type Caller = (slot: number, seq: number, done: (error: string | undefined) => void) => void;

interface Counts {
  calls: number;
  errors: number;
  firstError: string | undefined;
}

interface Target {
  callers: Record<Protocol, Record<Rpc, Caller>>;
  close(): void;
}

function reply(message: LoadgenReply): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function describeGrpcError(error: ServiceError): string {
  return `gRPC ${error.code}: ${error.details}`;
}

function setUp(setup: SetupCommand): Target {
  const checks = setup.checks.map(checkRequestOf);
  const batches = batchRequestsOf(setup.checks, setup.batchSize);
  if (checks.length === 0) throw new Error("the dataset has no checks");

  // gRPC: bytes prepared once; the identity (de)serializers keep protobuf work out of the client's loop.
  const grpcClients = Array.from(
    { length: Math.max(1, setup.channels) },
    () => new Client(`${setup.host}:${setup.port}`, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 }),
  );
  const identity = (b: Buffer): Buffer => b;
  const grpcCaller = (path: string, payloads: readonly Buffer[]): Caller => {
    return (slot, seq, done) => {
      const client = grpcClients[slot % grpcClients.length] as Client;
      client.makeUnaryRequest(path, identity, identity, payloads[seq % payloads.length] as Buffer, (error) => {
        done(error === null ? undefined : describeGrpcError(error));
      });
    };
  };
  const healthBytes = Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: "" })));
  const checkBytes = checks.map((c) => Buffer.from(toBinary(CheckRequestSchema, c)));
  const batchBytes = batches.map((b) => Buffer.from(toBinary(BatchCheckRequestSchema, b)));
  const permissionPath = (name: string): string => `/${PermissionService.typeName}/${name}`;

  // Connect over HTTP/1.1: keep-alive connections, as many as calls in flight; no compression asked for,
  // like the gRPC side (the responses are small anyway).
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const transport = createConnectTransport({
    baseUrl: `http://${setup.host}:${setup.port}`,
    httpVersion: "1.1",
    useBinaryFormat: true,
    acceptCompression: [],
    nodeOptions: { agent },
  });
  const health = createClient(Health, transport);
  const permissions = createClient(PermissionService, transport);
  const connectCaller = (call: (seq: number) => Promise<unknown>): Caller => {
    return (_slot, seq, done) => {
      call(seq).then(
        () => done(undefined),
        (error: unknown) => done(error instanceof Error ? error.message : String(error)),
      );
    };
  };
  const healthRequest = create(HealthCheckRequestSchema, { service: "" });

  return {
    callers: {
      grpc: {
        noop: grpcCaller(`/${Health.typeName}/${Health.method.check.name}`, [healthBytes]),
        check: grpcCaller(permissionPath(PermissionService.method.check.name), checkBytes),
        batch: grpcCaller(permissionPath(PermissionService.method.batchCheck.name), batchBytes),
      },
      connect: {
        noop: connectCaller(() => health.check(healthRequest)),
        check: connectCaller((seq) => permissions.check(checks[seq % checks.length] as (typeof checks)[number])),
        batch: connectCaller((seq) => permissions.batchCheck(batches[seq % batches.length] as (typeof batches)[number])),
      },
    },
    close() {
      for (const client of grpcClients) client.close();
      agent.destroy();
    },
  };
}

type Recorder = ((millis: number) => void) | undefined;

/**
 * `concurrency` loops, each starting its next call when the previous one is answered, until `seconds` are
 * over. Only calls answered inside the window count; the ones still in flight at its end are awaited.
 */
function closedLoop(call: Caller, concurrency: number, seconds: number, record: Recorder): Promise<Counts> {
  return new Promise((resolve) => {
    const counts: Counts = { calls: 0, errors: 0, firstError: undefined };
    const end = performance.now() + seconds * 1000;
    let running = concurrency;
    let seq = 0;
    const loop = (slot: number): void => {
      const started = performance.now();
      call(slot, seq++, (error) => {
        const now = performance.now();
        if (now <= end) {
          if (error === undefined) {
            counts.calls++;
            record?.(now - started);
          } else {
            counts.errors++;
            counts.firstError ??= error;
          }
        }
        if (now < end) loop(slot);
        else if (--running === 0) resolve(counts);
      });
    };
    for (let slot = 0; slot < concurrency; slot++) loop(slot);
  });
}

/**
 * Starts calls on a fixed schedule, `rate` per second, for `seconds`, whatever the answers' pace (at most
 * `cap` in flight). Node's timers fire about once a millisecond, so calls go out in small bursts: each call's
 * latency is measured from when it was actually sent, and how far sending fell behind the schedule is
 * recorded separately (`lag`), so a generator that could not keep up is visible rather than hidden.
 */
function openLoop(call: Caller, rate: number, seconds: number, cap: number, record: Recorder, lag: Recorder): Promise<Counts> {
  return new Promise((resolve) => {
    const counts: Counts = { calls: 0, errors: 0, firstError: undefined };
    const start = performance.now();
    const end = start + seconds * 1000;
    let issued = 0;
    let inFlight = 0;
    let stopped = false;
    const tick = (): void => {
      const now = performance.now();
      if (now >= end) {
        stopped = true;
        if (inFlight === 0) resolve(counts);
        return;
      }
      const due = Math.floor(((now - start) * rate) / 1000);
      while (issued < due && inFlight < cap) {
        lag?.(now - (start + (issued * 1000) / rate));
        const seq = issued++;
        inFlight++;
        const sent = performance.now();
        call(seq, seq, (error) => {
          inFlight--;
          if (error === undefined) {
            counts.calls++;
            record?.(performance.now() - sent);
          } else {
            counts.errors++;
            counts.firstError ??= error;
          }
          if (stopped && inFlight === 0) resolve(counts);
        });
      }
      setTimeout(tick, 1);
    };
    tick();
  });
}

function newHistogram(): hdr.Histogram {
  return hdr.build(histogramSettings);
}

const micros = (histogram: hdr.Histogram) => (millis: number) => histogram.recordValue(Math.max(1, Math.round(millis * 1000)));

async function run(target: Target, command: RunCommand): Promise<RunResult> {
  const call = target.callers[command.protocol][command.rpc];
  const cap = Math.max(command.concurrency, 1);
  const drive = (seconds: number, record: Recorder, lag: Recorder): Promise<Counts> =>
    command.rate === undefined
      ? closedLoop(call, command.concurrency, seconds, record)
      : openLoop(call, command.rate, seconds, cap, record, lag);
  // Warm-up: connections open, JIT settles on both sides; nothing recorded.
  if (command.warmupSeconds > 0) await drive(command.warmupSeconds, undefined, undefined);
  const latencies = newHistogram();
  const lags = newHistogram();
  const cpuBefore = process.cpuUsage();
  const counts = await drive(command.seconds, micros(latencies), command.rate === undefined ? undefined : micros(lags));
  const cpu = process.cpuUsage(cpuBefore);
  const result: RunResult = {
    type: "result",
    id: command.id,
    calls: counts.calls,
    errors: counts.errors,
    ...(counts.firstError === undefined ? {} : { firstError: counts.firstError }),
    seconds: command.seconds,
    histogram: hdr.encodeIntoCompressedBase64(latencies),
    ...(command.rate === undefined ? {} : { scheduleLagP99Micros: lags.getValueAtPercentile(99) }),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
  latencies.destroy();
  lags.destroy();
  return result;
}

async function main(): Promise<void> {
  let target: Target | undefined;
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    const command = JSON.parse(line) as LoadgenCommand;
    try {
      switch (command.type) {
        case "setup":
          target?.close();
          target = setUp(command);
          reply({ type: "ready" });
          break;
        case "run":
          if (target === undefined) throw new Error("run before setup");
          reply(await run(target, command));
          break;
        case "exit":
          target?.close();
          process.exit(0);
      }
    } catch (error) {
      reply({ type: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  }
  // stdin closed: the bench is gone, so are we.
  target?.close();
  process.exit(0);
}

void main();
