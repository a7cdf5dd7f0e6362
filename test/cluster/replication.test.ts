/**
 * Two nodes (two `startServer` instances in this process) on one real PostgreSQL database and the real
 * Redis: a write on one node reaches the other through the Redis stream or PostgreSQL LISTEN, not through
 * polling (set to a minute here); Watch on the other node streams it; schema changes fan out; readiness
 * reports the applied revision.
 */
import { randomBytes } from "node:crypto";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig, type GatehouseConfig } from "../../cli/config/config.js";
import { decodeSnaptoken } from "../../engine/snaptoken.js";
import { PermissionService } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import { RelationshipUpdate_Operation } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { RelationshipService } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import { SchemaService } from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";
import { createTempDatabase, shouldRunPostgresSuite, type TempDatabase } from "../support/postgres.js";

const REDIS_URL = process.env["GATEHOUSE_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6379";
const runPostgres = await shouldRunPostgresSuite("cluster replication tests");

async function redisReachable(): Promise<boolean> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
const runRedis = (await redisReachable()) || process.env["CI"] === "true";
if (!runRedis) console.warn(`\n!!! SKIPPING the Redis half of the cluster replication tests: no Redis at ${REDIS_URL}; under CI=true they fail instead.\n`);

const model = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type doc
  relations
    define viewer: [user, group#member]`;

interface Node {
  server: RunningServer;
  permissions: Client<typeof PermissionService>;
  relationships: Client<typeof RelationshipService>;
  relationshipWrites: Client<typeof RelationshipService>;
  schemas: Client<typeof SchemaService>;
}

function nodeClients(server: RunningServer): Node {
  const transport = (port: number) => createConnectTransport({ baseUrl: `http://127.0.0.1:${port}`, httpVersion: "1.1" });
  const { read, write } = server.planes.ports;
  return {
    server,
    permissions: createClient(PermissionService, transport(read)),
    relationships: createClient(RelationshipService, transport(read)),
    relationshipWrites: createClient(RelationshipService, transport(write)),
    schemas: createClient(SchemaService, transport(write)),
  };
}

const touch = (object: string, user: string) => ({
  operation: RelationshipUpdate_Operation.TOUCH,
  relationship: { namespace: "doc", object, relation: "viewer", subject: userSubject(user) },
});
function userSubject(user: string) {
  return { ref: { case: "set" as const, value: { namespace: "user", object: user, relation: "" } } };
}

describe.runIf(runPostgres)("cluster replication on PostgreSQL", () => {
  let db: TempDatabase;
  const prefix = `gatehouse-test-${randomBytes(4).toString("hex")}:`;
  const nodes: Node[] = [];

  function nodeConfig(withRedis: boolean): GatehouseConfig {
    const config = loopbackConfig({ kind: "postgres", url: db.connectionString });
    // Polling only once a minute: anything faster must have come from a notification.
    config.replication.pollIntervalMillis = 60_000;
    config.serve.shutdownTimeoutMillis = 1_000;
    if (withRedis) {
      config.redis.url = REDIS_URL;
      config.redis.keyPrefix = prefix;
    }
    return config;
  }

  beforeAll(async () => {
    db = await createTempDatabase("gatehouse_cluster");
    for (let i = 0; i < 2; i++) nodes.push(nodeClients(await startServer(nodeConfig(runRedis), () => {})));
    await nodes[0]?.schemas.writeSchema({ text: model });
  }, 60_000);

  afterAll(async () => {
    for (const node of nodes) await node.server.stop();
    await db?.drop();
    if (runRedis) {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  }, 60_000);

  it("applies another node's write without being asked, and streams it on Watch", async () => {
    const [a, b] = nodes as [Node, Node];
    await b.server.engine.catchUp();
    const watch = b.relationships.watch({})[Symbol.asyncIterator]();
    // The first message proves the stream is open (a heartbeat or the schema); wait for it to register.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    const { writtenAt } = await a.relationshipWrites.writeRelationships({ updates: [touch("1", "ann")] });
    const revision = decodeSnaptoken(writtenAt?.token ?? "");
    // Node B applies the revision on its own (a notification woke it; polling is once a minute).
    for (let i = 0; i < 100 && b.server.engine.revision < revision; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(b.server.engine.revision).toBeGreaterThanOrEqual(revision);
    expect(Date.now() - started).toBeLessThan(2_000);
    for (;;) {
      const next = await watch.next();
      expect(next.done).toBe(false);
      const change = next.value?.changes.find((c: { relationship?: { object: string } }) => c.relationship?.object === "1");
      if (change !== undefined) {
        expect(decodeSnaptoken(change.revision?.token ?? "")).toBe(revision);
        break;
      }
    }
    await watch.return?.();
    const answer = await b.permissions.check({
      relationship: { namespace: "doc", object: "1", relation: "viewer", subject: userSubject("ann") },
      consistency: { requirement: { case: "atLeastAsFresh", value: { token: writtenAt?.token ?? "" } } },
    });
    expect(answer.allowed).toBe(true);
  });

  it("reports which notification source carried the change", async () => {
    const [, b] = nodes as [Node, Node];
    const metrics = await (await fetch(`http://127.0.0.1:${b.server.planes.ports.read}/metrics`)).text();
    expect(metrics).toMatch(/gatehouse_replication_source_up\{source="postgres"\} 1/);
    if (runRedis) {
      expect(metrics).toMatch(/gatehouse_replication_source_up\{source="redis"\} 1/);
      expect(metrics).toMatch(/gatehouse_replication_notifications_total\{source="redis"\} [1-9]/);
    }
    expect(metrics).toMatch(/gatehouse_replication_polling_fallback 0/);
    expect(metrics).toMatch(/gatehouse_replication_applied_revision [1-9]/);
  });

  it("fans a schema change out to the other node", async () => {
    const [a, b] = nodes as [Node, Node];
    await a.schemas.writeSchema({ text: `${model}\ntype folder\n  relations\n    define owner: [user]` });
    for (let i = 0; i < 100 && b.server.engine.schema?.types.has("folder") !== true; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(b.server.engine.schema?.types.has("folder")).toBe(true);
  });

  it("says on /health/ready which revision the node has applied", async () => {
    const [a, b] = nodes as [Node, Node];
    const { writtenAt } = await a.relationshipWrites.writeRelationships({ updates: [touch("2", "bob")] });
    const response = await fetch(`http://127.0.0.1:${b.server.planes.ports.read}/health/ready`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; revision: number; snaptoken: string };
    expect(body.status).toBe("ok");
    expect(body.revision).toBeGreaterThanOrEqual(decodeSnaptoken(writtenAt?.token ?? ""));
    expect(decodeSnaptoken(body.snaptoken)).toBe(body.revision);
  });
});
