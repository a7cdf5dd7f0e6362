/**
 * The server end to end on real sockets: push a schema, write and check through Keto's REST API, through
 * Gatehouse's Connect API and through native gRPC (a grpc-js client over h2c) on the same ports; API keys on
 * the write plane; snaptoken read-your-writes; the `gatehouse serve` command itself.
 */
import { spawn } from "node:child_process";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig, type GatehouseConfig } from "../../cli/config/config.js";
import { openPermissionEngine } from "../../engine/permission-engine.js";
import { createMemoryStore } from "../../engine/store/index.js";
import { hashApiKey } from "../../gateways/auth/api-keys.js";
import { startAuthzPlanes } from "../../gateways/authz-planes.js";
import { PermissionService } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import { RelationshipService } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import { RelationshipUpdate_Operation } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { SchemaService } from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";
import { CheckService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/check_service_pb.js";

const root = new URL("../../", import.meta.url).pathname;
const KEY = "gh-test-key-1";

const opl = `class User implements Namespace {}
class Doc implements Namespace {
  related: { owners: User[]; viewers: User[] }
  permits = {
    view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject) || this.related.owners.includes(ctx.subject),
  }
}`;

function config(): GatehouseConfig {
  const c = loopbackConfig();
  c.serve.writeApiKeyHashes = [hashApiKey(KEY)];
  c.serve.shutdownTimeoutMillis = 2_000;
  return c;
}

/** One unary call with a grpc-js client over h2c, using the generated messages' binary codec. */
function grpcUnary<I extends DescMessage, O extends DescMessage>(
  port: number,
  method: DescMethodUnary<I, O>,
  request: MessageShape<I>,
  metadata = new Metadata(),
): Promise<MessageShape<O>> {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise<MessageShape<O>>((resolve, reject) => {
    client.makeUnaryRequest(
      `/${method.parent.typeName}/${method.name}`,
      (m: MessageShape<I>) => Buffer.from(toBinary(method.input, m)),
      (b: Buffer) => fromBinary(method.output, b),
      request,
      metadata,
      (error: ServiceError | null, response?: MessageShape<O>) => {
        if (error !== null) reject(error);
        else resolve(response as MessageShape<O>);
      },
    );
  }).finally(() => client.close());
}

describe("gatehouse serve", () => {
  let server: RunningServer;
  let read: number;
  let write: number;
  const auth = { Authorization: `Bearer ${KEY}` };

  beforeAll(async () => {
    server = await startServer(config(), () => {});
    ({ read, write } = server.planes.ports);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("takes a schema over Connect on the write plane, with the API key", async () => {
    const schema = createClient(SchemaService, createConnectTransport({ baseUrl: `http://127.0.0.1:${write}`, httpVersion: "1.1" }));
    const denied = await schema.writeSchema({ text: opl }).catch((e: unknown) => e);
    expect(ConnectError.from(denied).code).toBe(Code.Unauthenticated);
    const written = await schema.writeSchema({ text: opl }, { headers: auth });
    expect(written.writtenAt?.token).toMatch(/^gh1_/);
  });

  it("writes with Keto's REST API only with the key, and nothing is written without it", async () => {
    const tuple = { namespace: "Doc", object: "readme", relation: "viewers", subject_id: "anne" };
    const denied = await fetch(`http://127.0.0.1:${write}/admin/relation-tuples`, { method: "PUT", body: JSON.stringify(tuple) });
    expect(denied.status).toBe(401);
    expect((await denied.json()) as unknown).toMatchObject({ error: { code: 401 } });
    const check = `http://127.0.0.1:${read}/relation-tuples/check?namespace=Doc&object=readme&relation=view&subject_id=anne`;
    expect((await fetch(check)).status).toBe(403);

    const created = await fetch(`http://127.0.0.1:${write}/admin/relation-tuples`, { method: "PUT", body: JSON.stringify(tuple), headers: auth });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toMatch(/^\/relation-tuples\?/);
    const allowed = await fetch(check);
    expect(allowed.status).toBe(200);
    expect(await allowed.json()).toEqual({ allowed: true });
  });

  it("answers Keto's gRPC Check over native h2c gRPC on the read port, with a real snaptoken", async () => {
    const request = create(CheckService.method.check.input, {
      tuple: { namespace: "Doc", object: "readme", relation: "view", subject: { ref: { case: "id", value: "anne" } } },
    });
    const response = await grpcUnary(read, CheckService.method.check, request);
    expect(response.allowed).toBe(true);
    expect(response.snaptoken).toMatch(/^gh1_/);
  });

  it("refuses native gRPC writes without the key with UNAUTHENTICATED", async () => {
    const request = create(RelationshipService.method.writeRelationships.input, {
      updates: [
        {
          operation: RelationshipUpdate_Operation.TOUCH,
          relationship: { namespace: "Doc", object: "x", relation: "owners", subject: { ref: { case: "id", value: "eve" } } },
        },
      ],
    });
    const err = await grpcUnary(write, RelationshipService.method.writeRelationships, request).catch((e: ServiceError) => e);
    expect((err as ServiceError).code).toBe(16);
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${KEY}`);
    const ok = await grpcUnary(write, RelationshipService.method.writeRelationships, request, metadata);
    expect(ok.writtenAt?.token).toMatch(/^gh1_/);
  });

  it("reads its own writes by snaptoken through Gatehouse's API", async () => {
    const writes = createClient(RelationshipService, createConnectTransport({ baseUrl: `http://127.0.0.1:${write}`, httpVersion: "1.1" }));
    const checks = createClient(PermissionService, createConnectTransport({ baseUrl: `http://127.0.0.1:${read}`, httpVersion: "1.1" }));
    const { writtenAt } = await writes.writeRelationships(
      {
        updates: [
          {
            operation: RelationshipUpdate_Operation.TOUCH,
            relationship: { namespace: "Doc", object: "spec", relation: "owners", subject: { ref: { case: "id", value: "olga" } } },
          },
        ],
      },
      { headers: auth },
    );
    const result = await checks.check({
      relationship: { namespace: "Doc", object: "spec", relation: "view", subject: { ref: { case: "id", value: "olga" } } },
      consistency: { requirement: { case: "atLeastAsFresh", value: { token: writtenAt?.token ?? "" } } },
    });
    expect(result.allowed).toBe(true);
    expect(result.checkedAt?.token).toBe(writtenAt?.token);
  });

  it("answers side-effect-free methods over Connect GET", async () => {
    const message = JSON.stringify({
      relationship: { namespace: "Doc", object: "readme", relation: "view", subject: { id: "anne" } },
    });
    const url = `http://127.0.0.1:${read}/gatehouse.authz.v1.PermissionService/Check?connect=v1&encoding=json&message=${encodeURIComponent(message)}`;
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ allowed: true });
  });

  it("keeps write methods off the read plane", async () => {
    const writes = createClient(RelationshipService, createConnectTransport({ baseUrl: `http://127.0.0.1:${read}`, httpVersion: "1.1" }));
    const err = await writes.writeRelationships({ updates: [] }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.Unimplemented);
  });
});

describe("readiness", () => {
  it("is ready while the store answers and 503 with the reason once it does not", async () => {
    const store = createMemoryStore();
    const engine = await openPermissionEngine({ store });
    const at = { host: "127.0.0.1", port: 0 };
    const planes = await startAuthzPlanes({ engine, read: at, write: at, opl: at, shutdownTimeoutMillis: 500 });
    try {
      const ready = await fetch(`http://127.0.0.1:${planes.ports.read}/health/ready`);
      expect(ready.status).toBe(200);
      await store.close();
      const notReady = await fetch(`http://127.0.0.1:${planes.ports.read}/health/ready`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toMatchObject({ errors: { store: expect.stringMatching(/closed/) as unknown } });
    } finally {
      await planes.close();
    }
  });
});

describe("the gatehouse serve command", () => {
  it("starts on the configured ports, reports them, and stops cleanly on SIGTERM", async () => {
    const child = spawn(process.execPath, [`${root}bin/gatehouse.js`, "serve", "--dsn", "memory"], {
      env: {
        ...process.env,
        GATEHOUSE_SERVE_READ_HOST: "127.0.0.1",
        GATEHOUSE_SERVE_READ_PORT: "0",
        GATEHOUSE_SERVE_WRITE_HOST: "127.0.0.1",
        GATEHOUSE_SERVE_WRITE_PORT: "0",
        GATEHOUSE_SERVE_OPL_HOST: "127.0.0.1",
        GATEHOUSE_SERVE_OPL_PORT: "0",
        GATEHOUSE_SERVE_IDENTITY_PUBLIC_PORT: "0",
        GATEHOUSE_SERVE_IDENTITY_ADMIN_PORT: "0",
        GATEHOUSE_SERVE_OAUTH2_PUBLIC_PORT: "0",
        GATEHOUSE_SERVE_OAUTH2_ADMIN_PORT: "0",
        GATEHOUSE_SERVE_PROXY_PORT: "0",
        GATEHOUSE_SERVE_PROXY_API_PORT: "0",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    const readPort = await new Promise<number>((resolve, reject) => {
      child.stderr.on("data", (chunk: Buffer) => {
        log += chunk.toString();
        const match = /read plane listening on 127\.0\.0\.1:(\d+)/.exec(log);
        if (match !== null) resolve(Number(match[1]));
      });
      child.on("exit", (code) => reject(new Error(`exited early with ${code}: ${log}`)));
    });
    const alive = await fetch(`http://127.0.0.1:${readPort}/health/alive`);
    expect(await alive.json()).toEqual({ status: "ok" });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(log).toContain("stopped");
  });

  it("refuses a bad configuration naming the key", async () => {
    const child = spawn(process.execPath, [`${root}bin/gatehouse.js`, "serve", "--dsn", "mysql://x"], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    child.stderr.on("data", (chunk: Buffer) => (log += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(1);
    expect(log).toMatch(/--dsn: expected memory, pglite:PATH or postgres/);
  });
});
