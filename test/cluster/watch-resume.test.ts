/**
 * Watch across a node restart: a client watches node1 while node0 takes writes; node1 is SIGKILLed and
 * restarted in the middle; the client resumes from the last `changes_through` it received. Everything it
 * received, joined, is exactly the changelog of the acknowledged writes: every change once, in revision
 * order, none missing across the restart.
 */
import type { Client } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SOAK_SCHEMA } from "../soak/model.js";
import { createTempDatabase, shouldRunPostgresSuite, type TempDatabase } from "../support/postgres.js";
import { createRoundRobinClient, startCluster, watch, writeRelationships, type Cluster, type WatchHandle } from "./harness.js";

const run = await shouldRunPostgresSuite("test/cluster/watch-resume.test.ts");

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!run)("Watch resumed from a snaptoken across a node restart", () => {
  let db: TempDatabase | undefined;
  let cluster: Cluster | undefined;
  const clients: Client[] = [];

  beforeAll(async () => {
    db = await createTempDatabase("gatehouse_watch_resume");
    cluster = await startCluster(2, { dsn: db.connectionString, schema: { text: SOAK_SCHEMA, language: "fga" } });
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    await db?.drop();
  }, 60_000);

  it("delivers every change exactly once, in revision order", async () => {
    const [node0, node1] = cluster!.nodes as [NonNullable<Cluster["nodes"][0]>, NonNullable<Cluster["nodes"][0]>];
    const writer = createRoundRobinClient([node0.ports.write]);
    clients.push(writer);
    const received: string[] = [];
    let through = cluster!.schemaRevision ?? 0;
    let handle: WatchHandle | undefined;
    let ended: Promise<void> = Promise.resolve();
    const open = (): void => {
      const client = createRoundRobinClient([node1.ports.read]);
      clients.push(client);
      ended = new Promise((resolve) => {
        handle = watch(
          client,
          { start: through },
          (message) => {
            for (const c of message.changes) received.push(`${c.revision} ${c.op} ${c.tuple}`);
            if (message.through > through) through = message.through;
          },
          () => resolve(),
        );
      });
    };

    const expected: string[] = [];
    let n = 0;
    async function writeSome(count: number): Promise<number> {
      let last = 0;
      for (let i = 0; i < count; i++, n++) {
        const tuple = `doc:w${n}#viewer@user:u${n % 5}`;
        const ack = await writeRelationships(writer, [{ op: "touch", tuple }]);
        expected.push(`${ack.revision} insert ${tuple}`);
        last = ack.revision;
        if (n % 4 === 3) {
          // Delete an earlier one, so the stream carries deletes too.
          const gone = `doc:w${n - 2}#viewer@user:u${(n - 2) % 5}`;
          const del = await writeRelationships(writer, [{ op: "delete", tuple: gone }]);
          expected.push(`${del.revision} delete ${gone}`);
          last = del.revision;
        }
      }
      return last;
    }

    open();
    await writeSome(20);
    await node1.kill("SIGKILL");
    await ended;
    await writeSome(10); // while node1 is down
    await node1.restart();
    open();
    const last = await writeSome(10);
    for (let i = 0; i < 200 && through < last; i++) await sleep(50);
    handle?.cancel();
    expect(through).toBeGreaterThanOrEqual(last);
    // Received in revision order, each change once, and exactly the acknowledged changes.
    const revisions = received.map((line) => Number(line.split(" ")[0]));
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(new Set(received).size).toBe(received.length);
    expect(received).toEqual(expected);
  }, 60_000);
});
