/**
 * The server under test: the real `gatehouse serve` (bin/gatehouse.js) in a child process, on free loopback
 * ports with the in-memory store, configured only through its documented `GATEHOUSE_*` variables and flags.
 * The schema and the tuples go in through the write plane's public gRPC API, as a deployment's would.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { PermissionService } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import { ConsistencySchema, RelationshipUpdate_Operation } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { RelationshipService } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import { SchemaLanguage } from "../../proto/gen/gatehouse/authz/v1/schema_pb.js";
import { SchemaService } from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";
import type { NetworkDataset } from "./dataset.js";
import { batchRequestsOf, relationshipToProto } from "./messages.js";

/** Options of `startServerProcess`. */
export interface ServerProcessOptions {
  /** Where cleartext HTTP/2 goes (`serve.h2c`); default grpc-js, the default of `gatehouse serve`. */
  h2c?: "grpc-js" | "connect";
  /** Writes a V8 CPU profile of the server into this folder when it stops (`node --cpu-prof`). */
  cpuProfileDir?: string;
}

/** A running server process. */
export interface ServerProcess {
  readonly pid: number;
  readonly readPort: number;
  readonly writePort: number;
  /** CPU seconds (user + system) the server process has used so far; undefined where /proc is missing. */
  cpuSeconds(): number | undefined;
  /** SIGINT, then waits for the graceful shutdown (and the profile, when asked for). */
  stop(): Promise<void>;
}

const gatehouseBin = new URL("../../bin/gatehouse.js", import.meta.url).pathname;

/** Linux's per-process CPU counters, in clock ticks: fields 14 and 15 of /proc/<pid>/stat. */
function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces; the fields after its closing parenthesis don't.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    // The kernel reports in USER_HZ, which is 100 on every Linux platform Node runs on.
    return (utime + stime) / 100;
  } catch {
    return undefined;
  }
}

/** Starts `gatehouse serve --dsn memory` on 127.0.0.1 with free ports; resolves once every plane listens. */
export async function startServerProcess(options: ServerProcessOptions = {}): Promise<ServerProcess> {
  // Only our settings: a GATEHOUSE_* variable of the caller's shell must not reconfigure the server.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("GATEHOUSE_")));
  // Every plane on a free port, so a second server (another bench group, a test) never collides with this one.
  for (const plane of ["READ", "WRITE", "OPL", "IDENTITY_PUBLIC", "IDENTITY_ADMIN", "OAUTH2_PUBLIC", "OAUTH2_ADMIN", "PROXY", "PROXY_API"]) {
    env[`GATEHOUSE_SERVE_${plane}_HOST`] = "127.0.0.1";
    env[`GATEHOUSE_SERVE_${plane}_PORT`] = "0";
  }
  env.GATEHOUSE_SERVE_H2C = options.h2c ?? "grpc-js";
  const nodeArgs = options.cpuProfileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", options.cpuProfileDir];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, gatehouseBin, "serve", "--dsn", "memory"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  // The server doesn't notice when the bench dies (it reads no stdin): never leave it running behind us.
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  void exited.then(() => process.off("exit", killOnExit));

  const ports = await new Promise<{ read: number; write: number }>((resolve, reject) => {
    let log = "";
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      const read = /read plane listening on [^\s]+:(\d+)/.exec(log);
      const write = /write plane listening on [^\s]+:(\d+)/.exec(log);
      // The OPL plane is announced last: once it is, every plane listens.
      if (read !== null && write !== null && /opl plane listening/.test(log)) {
        child.stderr?.off("data", onData);
        // Keep draining stderr so the server can never block on a full pipe; unexpected errors still show.
        child.stderr?.on("data", (more: Buffer) => process.stderr.write(more));
        resolve({ read: Number(read[1]), write: Number(write[1]) });
      }
    };
    child.stderr?.on("data", onData);
    void exited.then((code) => reject(new Error(`gatehouse serve exited with ${code} before listening:\n${log}`)));
  });

  const pid = child.pid as number;
  return {
    pid,
    readPort: ports.read,
    writePort: ports.write,
    cpuSeconds: () => procCpuSeconds(pid),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGINT");
      await exited;
    },
  };
}

/** What `loadDataset` found out about the dataset, for the figures' params. */
export interface LoadedDataset {
  readonly tuples: number;
  readonly checks: number;
  /** The share of the dataset's checks that are allowed. */
  readonly allowedFraction: number;
}

/**
 * Writes the schema and the tuples through the write plane (WriteSchema, then WriteRelationships in
 * batches of 1,000, each one atomic write), then asks every check once through BatchCheck on the read plane:
 * that proves the data is there and that no check fails, and tells how many are allowed.
 */
export async function loadDataset(server: ServerProcess, dataset: NetworkDataset): Promise<LoadedDataset> {
  const write = createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.writePort}` });
  const read = createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.readPort}` });
  const schema = createClient(SchemaService, write);
  const relationships = createClient(RelationshipService, write);
  const permissions = createClient(PermissionService, read);

  await schema.writeSchema({
    text: dataset.schema.text,
    language: dataset.schema.language === "opl" ? SchemaLanguage.OPL : SchemaLanguage.FGA,
  });
  const chunk = 1000;
  let writtenAt: string | undefined;
  let tuples = 0;
  let updates: { operation: RelationshipUpdate_Operation; relationship: ReturnType<typeof relationshipToProto> }[] = [];
  const flush = async (): Promise<void> => {
    if (updates.length === 0) return;
    writtenAt = (await relationships.writeRelationships({ updates })).writtenAt?.token;
    tuples += updates.length;
    updates = [];
  };
  for (const t of dataset.tuples) {
    updates.push({ operation: RelationshipUpdate_Operation.TOUCH, relationship: relationshipToProto(t) });
    if (updates.length === chunk) await flush();
  }
  await flush();

  let allowed = 0;
  const size = 100;
  // Each check exactly once: consecutive slices of the list, the last one possibly shorter.
  const batches = [];
  for (let i = 0; i < dataset.checks.length; i += size) {
    const slice = dataset.checks.slice(i, i + size);
    batches.push(...batchRequestsOf(slice, slice.length));
  }
  let asked = 0;
  for (const batch of batches) {
    // Read at least as fresh as the last write, so the verification can't race the snapshot's catch-up.
    if (writtenAt !== undefined) batch.consistency = create(ConsistencySchema, { requirement: { case: "atLeastAsFresh", value: { token: writtenAt } } });
    const response = await permissions.batchCheck(batch);
    for (const [i, result] of response.results.entries()) {
      if (result.result.case === "error") {
        throw new Error(`check ${JSON.stringify(batch.items[i]?.relationship)} failed: ${result.result.value.message}`);
      }
      if (result.result.value === true) allowed++;
      asked++;
    }
  }
  return { tuples, checks: dataset.checks.length, allowedFraction: asked === 0 ? 0 : allowed / asked };
}
