/**
 * Three nodes on one PostgreSQL database under load through a round_robin gRPC client; one node is
 * SIGKILLed mid-load. Calls keep succeeding on the two survivors (a few UNAVAILABLE right at the kill are
 * tolerated), and every write acknowledged before or after the kill is visible through its snaptoken on
 * each survivor.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Client } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTempDatabase, shouldRunPostgresSuite, type TempDatabase } from "../support/postgres.js";
import { SOAK_SCHEMA } from "../soak/model.js";
import {
  check,
  createRoundRobinClient,
  deleteRedisKeys,
  errorCodeName,
  resolveTestRedis,
  startCluster,
  writeRelationships,
  type Cluster,
} from "./harness.js";

const run = await shouldRunPostgresSuite("test/cluster/node-kill.test.ts");

interface Outcome {
  /** When the call completed, in ms since the load started. */
  readonly at: number;
  readonly kind: "check" | "write";
  readonly code: string; // "OK" or the gRPC code name
  readonly port: number | undefined;
  readonly detail?: string;
}

describe.skipIf(!run)("a node SIGKILLed under load", () => {
  let db: TempDatabase | undefined;
  let cluster: Cluster | undefined;
  let redisUrl: string | undefined;
  const redisKeyPrefix = `gatehouse-test-kill-${randomBytes(4).toString("hex")}:`;
  const clients: Client[] = [];

  beforeAll(async () => {
    db = await createTempDatabase("gatehouse_cluster");
    redisUrl = await resolveTestRedis("test/cluster/node-kill.test.ts");
    cluster = await startCluster(3, { dsn: db.connectionString, redisUrl, redisKeyPrefix, schema: { text: SOAK_SCHEMA, language: "fga" } });
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
    await db?.drop().catch(() => undefined);
    if (redisUrl !== undefined) await deleteRedisKeys(redisUrl, redisKeyPrefix).catch(() => undefined);
  }, 60_000);

  it("keeps serving on the two survivors and loses no acknowledged write", async () => {
    const c = cluster!;
    const reads = createRoundRobinClient(c.readPorts);
    const writes = createRoundRobinClient(c.writePorts);
    clients.push(reads, writes);
    const victim = c.nodes[2]!;
    const survivors = c.nodes.slice(0, 2);
    const survivorPorts = new Set(survivors.flatMap((n) => [n.ports.read, n.ports.write]));

    const outcomes: Outcome[] = [];
    const acked: { tuple: string; token: string; revision: number; at: number }[] = [];
    const wrongAnswers: string[] = [];
    const start = performance.now();
    const now = (): number => performance.now() - start;
    let killedAt = Number.POSITIVE_INFINITY;
    let stopAt = Number.POSITIVE_INFINITY;
    let sequence = 0;

    // Each write adds a new tuple; checks ask for an acknowledged one with its own snaptoken (must be true).
    const worker = async (): Promise<void> => {
      while (now() < stopAt) {
        const write = acked.length === 0 || sequence % 4 === 0;
        if (write) {
          const n = sequence++;
          const tuple = `doc:k${n}#viewer@user:u${n % 6}`;
          try {
            const ack = await writeRelationships(writes, [{ op: "touch", tuple }]);
            acked.push({ tuple, token: ack.token, revision: ack.revision, at: now() });
            outcomes.push({ at: now(), kind: "write", code: "OK", port: ack.port });
          } catch (err) {
            outcomes.push({ at: now(), kind: "write", code: errorCodeName(err), port: undefined, detail: (err as Error).message });
          }
        } else {
          sequence++;
          const target = acked[Math.floor(Math.random() * acked.length)]!;
          try {
            const answer = await check(reads, target.tuple, { atLeastAsFresh: target.token });
            if (!answer.allowed) wrongAnswers.push(`${target.tuple} denied at ${answer.checkedAt} (written at ${target.revision})`);
            outcomes.push({ at: now(), kind: "check", code: "OK", port: answer.port });
          } catch (err) {
            outcomes.push({ at: now(), kind: "check", code: errorCodeName(err), port: undefined, detail: (err as Error).message });
          }
        }
      }
    };

    const load = Promise.all(Array.from({ length: 4 }, () => worker()));
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    killedAt = now();
    const exit = await victim.kill("SIGKILL");
    expect(exit?.signal).toBe("SIGKILL");
    stopAt = killedAt + 5_000;
    await load;

    const grace = 2_000;
    const failures = outcomes.filter((o) => o.code !== "OK");
    const show = (list: readonly Outcome[]): string =>
      list.slice(0, 10).map((o) => `${o.kind} at ${o.at.toFixed(0)} ms: ${o.code} ${o.detail ?? ""}`).join("\n");
    // Nothing fails before the kill; around it only UNAVAILABLE; after the grace period nothing at all.
    expect(failures.filter((o) => o.at < killedAt), show(failures)).toEqual([]);
    expect(failures.filter((o) => o.code !== "UNAVAILABLE"), show(failures)).toEqual([]);
    expect(failures.filter((o) => o.at > killedAt + grace), show(failures)).toEqual([]);
    expect(wrongAnswers).toEqual([]);

    // After the grace period the two survivors share the load, and the dead node gets nothing.
    const after = outcomes.filter((o) => o.at > killedAt + grace);
    expect(after.length).toBeGreaterThan(50);
    expect(after.every((o) => o.port !== undefined && survivorPorts.has(o.port))).toBe(true);
    for (const node of survivors) {
      const served = after.filter((o) => o.port === node.ports.read || o.port === node.ports.write).length;
      expect(served, `${node.name} served ${served} of ${after.length} calls after the kill`).toBeGreaterThan(after.length * 0.2);
    }

    // Writes were acknowledged both before and after the kill, and each is visible on every survivor.
    expect(acked.some((w) => w.at < killedAt)).toBe(true);
    expect(acked.some((w) => w.at > killedAt + grace)).toBe(true);
    for (const node of survivors) {
      const direct = createRoundRobinClient([node.ports.read]);
      clients.push(direct);
      const missing: string[] = [];
      for (let i = 0; i < acked.length; i += 8) {
        const batch = acked.slice(i, i + 8);
        const answers = await Promise.all(batch.map((w) => check(direct, w.tuple, { atLeastAsFresh: w.token })));
        answers.forEach((a, j) => {
          const w = batch[j]!;
          if (!a.allowed || a.checkedAt < w.revision) missing.push(`${w.tuple} (revision ${w.revision}): allowed ${a.allowed} at ${a.checkedAt}`);
        });
      }
      expect(missing, `${node.name} does not see acknowledged writes`).toEqual([]);
    }
  }, 60_000);
});
