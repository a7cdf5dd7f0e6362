/**
 * Redis stopped under a running cluster: two nodes on one PostgreSQL database fan changes out through a
 * private Redis; when it stops, they say so (a log line and a metric), keep replicating through PostgreSQL
 * notifications and polling, and use Redis again once it is back.
 */
import { create } from "@bufbuild/protobuf";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";
import { decodeSnaptoken } from "../../engine/snaptoken.js";
import { RelationshipUpdate_Operation, RelationshipUpdateSchema } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { RelationshipService } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import { createTempDatabase, shouldRunPostgresSuite, type TempDatabase } from "../support/postgres.js";
import { shouldRunPrivateRedisSuite, startPrivateRedis, type PrivateRedis } from "./harness.js";

const run = (await shouldRunPostgresSuite("Redis fault tests")) && (await shouldRunPrivateRedisSuite("Redis fault tests"));

const model = `model
  schema 1.1
type user
type doc
  relations
    define viewer: [user]`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function metric(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe.runIf(run)("Redis stopped under a cluster", () => {
  let db: TempDatabase;
  let redis: PrivateRedis;
  const servers: RunningServer[] = [];
  const logs: string[][] = [[], []];
  let writer: Client<typeof RelationshipService>;

  beforeAll(async () => {
    db = await createTempDatabase("gatehouse_redis_fault");
    redis = await startPrivateRedis();
    for (let i = 0; i < 2; i++) {
      const config = loopbackConfig({ kind: "postgres", url: db.connectionString });
      config.redis.url = redis.url;
      config.redis.keyPrefix = "fault:";
      config.replication.pollIntervalMillis = 300;
      config.serve.shutdownTimeoutMillis = 1_000;
      servers.push(await startServer(config, (line) => logs[i]?.push(line)));
    }
    await (servers[0] as RunningServer).engine.writeSchema(model);
    writer = createClient(
      RelationshipService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${(servers[0] as RunningServer).planes.ports.write}`, httpVersion: "1.1" }),
    );
  }, 60_000);

  afterAll(async () => {
    for (const server of servers) await server.stop();
    await redis?.stop();
    await db?.drop();
  }, 60_000);

  /** Writes on node 0 and returns how long node 1 took to apply it (ms). */
  async function replicate(object: string): Promise<number> {
    const update = create(RelationshipUpdateSchema, {
      operation: RelationshipUpdate_Operation.TOUCH,
      relationship: { namespace: "doc", object, relation: "viewer", subject: { ref: { case: "set", value: { namespace: "user", object: "ann", relation: "" } } } },
    });
    const { writtenAt } = await writer.writeRelationships({ updates: [update] });
    const revision = decodeSnaptoken(writtenAt?.token ?? "");
    const started = Date.now();
    const other = servers[1] as RunningServer;
    while (other.engine.revision < revision) {
      if (Date.now() - started > 5_000) throw new Error(`node 1 did not apply revision ${revision} within 5 s`);
      await sleep(5);
    }
    return Date.now() - started;
  }

  async function metrics(node: number): Promise<string> {
    return (await fetch(`http://127.0.0.1:${(servers[node] as RunningServer).planes.ports.read}/metrics`)).text();
  }

  it("replicates through Redis while it runs", async () => {
    await replicate("before");
    const text = await metrics(1);
    expect(metric(text, 'gatehouse_replication_source_up{source="redis"}')).toBe(1);
    expect(metric(text, 'gatehouse_replication_notifications_total{source="redis"}')).toBeGreaterThan(0);
  });

  it("warns, counts and falls back to PostgreSQL notifications when Redis stops, losing no change", async () => {
    await redis.stop();
    const deadline = Date.now() + 5_000;
    while ((servers[1] as RunningServer) && Date.now() < deadline) {
      if (metric(await metrics(1), 'gatehouse_replication_source_up{source="redis"}') === 0) break;
      await sleep(50);
    }
    const text = await metrics(1);
    expect(metric(text, 'gatehouse_replication_source_up{source="redis"}')).toBe(0);
    expect(metric(text, 'gatehouse_replication_source_failures_total{source="redis"}')).toBeGreaterThanOrEqual(1);
    expect(logs[1]?.join("\n")).toMatch(/redis change notifications are down .*relying on postgres notifications and polling every \d+ ms/);
    // Writes keep flowing to the other node, woken by PostgreSQL's NOTIFY (well under the poll interval).
    const lags: number[] = [];
    for (let i = 0; i < 10; i++) lags.push(await replicate(`during-${i}`));
    expect(Math.max(...lags)).toBeLessThan(2_000);
    const pgNotified = metric(await metrics(1), 'gatehouse_replication_notifications_total{source="postgres"}');
    expect(pgNotified).toBeGreaterThanOrEqual(10);
  });

  it("uses Redis again once it is back", async () => {
    await redis.start();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (metric(await metrics(1), 'gatehouse_replication_source_up{source="redis"}') === 1) break;
      await sleep(100);
    }
    expect(metric(await metrics(1), 'gatehouse_replication_source_up{source="redis"}')).toBe(1);
    // Node 0's publisher reconnects too: new writes arrive on node 1 through the stream again.
    const before = metric(await metrics(1), 'gatehouse_replication_notifications_total{source="redis"}') ?? 0;
    for (let i = 0; i < 20; i++) {
      await replicate(`after-${i}`);
      const now = metric(await metrics(1), 'gatehouse_replication_notifications_total{source="redis"}') ?? 0;
      if (now > before) return;
      await sleep(100);
    }
    throw new Error("no change arrived through Redis after it came back");
  });
});
