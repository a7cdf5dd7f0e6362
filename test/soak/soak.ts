/**
 * The cluster soak: several `gatehouse serve` nodes on one PostgreSQL database (and Redis), a mixed load of
 * snaptoken checks and small writes spread over them with round_robin gRPC, optionally a node SIGKILLed and
 * restarted half way, then a verification of everything the nodes answered against the truth read straight
 * from PostgreSQL:
 *
 * - lost writes: an acknowledged write at revision R whose touched tuples are not live at R, or whose
 *   deleted tuples still are;
 * - inconsistent answers: a check whose `checked_at` is older than the snaptoken it was asked with (stale),
 *   or whose answer differs from a reference evaluation of the schema over the tuples live at `checked_at`.
 *
 * It also measures replication lag: a Watch stream on every node, and for each acknowledged write the time
 * until every other node's stream has delivered its revision.
 *
 * `runSoak` is the whole run; `test/soak/main.ts` is its command line and `test/cluster/soak.test.ts` its
 * short CI version.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Client } from "@grpc/grpc-js";
import pg from "pg";
import { Prng } from "../../common/prng.js";
import { encodeSnaptoken } from "../../engine/snaptoken.js";
import {
  check,
  createRoundRobinClient,
  deleteRedisKeys,
  errorCodeName,
  resolveTestRedis,
  startCluster,
  watch,
  writeRelationships,
  type Cluster,
  type GatehouseNode,
  type UpdateSpec,
  type WatchHandle,
} from "../cluster/harness.js";
import { createTempDatabase, type TempDatabase } from "../support/postgres.js";
import { ALL_CHECKS, CHECK_INDEX, CHECKS, ReferenceEvaluator, rowKey, SOAK_SCHEMA, TruthReplay, TUPLES, liveAt, type SoakCheck, type TupleVersion } from "./model.js";

/** What to run. */
export interface SoakOptions {
  /** How long the load runs, in milliseconds. */
  readonly durationMs: number;
  /** Nodes in the cluster (default 3). */
  readonly nodes?: number;
  /** SIGKILL one node about a third in and restart it about half way (default false). */
  readonly chaos?: boolean;
  /** Calls in flight at any time (default 8). */
  readonly concurrency?: number;
  /** PRNG seed of the load (default: random, reported). */
  readonly seed?: number;
  /** Share of requests that are writes (default 0.05). */
  readonly writeRatio?: number;
  /** Redis URL for the nodes; undefined = the test Redis if it answers; null = no Redis. */
  readonly redisUrl?: string | null;
  /** The most requests that may fail outside the chaos window, as a share (default 0.05). */
  readonly maxFailureRate?: number;
  /** Extra environment for every node. */
  readonly nodeEnv?: Readonly<Record<string, string>>;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Aborting ends the load early; the run still verifies and cleans up. */
  readonly signal?: AbortSignal;
}

/**
 * Replication lag of acknowledged writes to the other nodes' Watch streams. Only writes that changed a tuple
 * count: a no-op write (touching a live tuple, deleting a missing one) has a revision without changes, which
 * Watch reports only with its next heartbeat (every 5 s), although the nodes apply it at once.
 */
export interface LagStats {
  /** (write, other node) pairs measured. */
  readonly samples: number;
  /** Pairs never delivered before the run ended (nodes that were down are not counted). */
  readonly undelivered: number;
  /** Pairs delivered before the client even had the acknowledgement (counted as 0 ms). */
  readonly beforeAck: number;
  readonly medianMs: number | undefined;
  readonly p99Ms: number | undefined;
  readonly maxMs: number | undefined;
}

/** What a soak run saw and verified. */
export interface SoakReport {
  readonly seed: number;
  readonly nodes: number;
  readonly concurrency: number;
  readonly chaos: boolean;
  /** How long the load really ran. */
  readonly loadSeconds: number;
  readonly requests: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Successful requests per second. */
  readonly throughput: number;
  readonly checks: { readonly total: number; readonly succeeded: number; readonly allowed: number; readonly denied: number };
  readonly writes: {
    readonly total: number;
    readonly acknowledged: number;
    readonly failed: number;
    /** Acknowledged writes that changed nothing (their revision has no tuple change). */
    readonly noop: number;
  };
  /** Failed requests by gRPC code name. */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** Successful requests per node. */
  readonly servedBy: Readonly<Record<string, number>>;
  readonly requestsOutsideChaos: number;
  readonly failuresOutsideChaos: number;
  /** A few failure messages, for diagnosis. */
  readonly errorExamples: readonly string[];
  readonly lostWrites: number;
  readonly lostWriteExamples: readonly string[];
  /** Stale plus wrong answers. */
  readonly inconsistentAnswers: number;
  /** `checked_at` older than the requested snaptoken. */
  readonly staleAnswers: number;
  /** Answer differs from the reference evaluation at `checked_at`. */
  readonly wrongAnswers: number;
  readonly inconsistentExamples: readonly string[];
  /** Distinct checks answered both true and false during the run (answers really changed under load). */
  readonly checksWithChangedAnswers: number;
  /** Tuple versions read from PostgreSQL for the verification. */
  readonly truthVersions: number;
  readonly lag: LagStats;
  /** The slowest deliveries: which write, to which node, how late. */
  readonly lagOutliers: readonly string[];
  /** The same per receiving node. */
  readonly lagByNode: Readonly<Record<string, LagStats>>;
  readonly chaosEvents: readonly { readonly atMs: number; readonly event: string }[];
  readonly redis: { readonly url: string | undefined; readonly keyPrefix: string; readonly keysDeleted: number | undefined };
  /** Why the run failed; empty when it passed. */
  readonly failures: readonly string[];
  readonly passed: boolean;
}

/** An Int32 column that grows (compact storage for hundreds of thousands of check records). */
class Column {
  data = new Int32Array(4096);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  at(i: number): number {
    return this.data[i]!;
  }
}

interface AckedWrite {
  readonly revision: number;
  /** When the acknowledgement arrived, in ms since the load started. */
  readonly at: number;
  /** The node that served it, if known. */
  readonly node: number | undefined;
  readonly touched: readonly number[];
  readonly deleted: readonly number[];
}

/** A node's Watch stream, reopened from where it stopped after errors and restarts. */
class NodeWatcher {
  /** Each time `through` advanced: when (ms since the load started) and to which revision. */
  readonly deliveries: { at: number; revision: number }[] = [];
  /** When the node was down: [killed, watch reopened]. */
  readonly down: [number, number][] = [];
  private handle: WatchHandle | undefined;
  private paused = false;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  errors = 0;

  private client: Client;

  /** `connect` makes the stream's client; a resumed watcher makes a new one (no reconnect backoff left over). */
  constructor(
    private readonly connect: () => Client,
    public through: number,
    private readonly now: () => number,
  ) {
    this.client = connect();
  }

  open(): void {
    if (this.closed || this.paused) return;
    this.handle = watch(
      this.client,
      { start: encodeSnaptoken(this.through) },
      (message) => {
        if (message.through > this.through) {
          this.through = message.through;
          this.deliveries.push({ at: this.now(), revision: message.through });
        }
      },
      (error) => {
        this.handle = undefined;
        if (error !== undefined) this.errors++;
        if (this.closed || this.paused) return;
        this.retry = setTimeout(() => this.open(), 250);
      },
    );
  }

  pause(): void {
    this.paused = true;
    this.down.push([this.now(), Number.POSITIVE_INFINITY]);
    clearTimeout(this.retry);
    this.handle?.cancel();
  }

  resume(): void {
    const last = this.down[this.down.length - 1];
    if (last !== undefined) last[1] = this.now();
    this.paused = false;
    this.client.close();
    this.client = this.connect();
    this.open();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.handle?.cancel();
    this.client.close();
  }

  /** When the stream first delivered `revision` (or later), if it did. */
  deliveredAt(revision: number): number | undefined {
    let lo = 0;
    let hi = this.deliveries.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.deliveries[mid]!.revision >= revision) hi = mid;
      else lo = mid + 1;
    }
    return this.deliveries[lo]?.at;
  }

  /** Was the node down at any moment of [from, to]? */
  downDuring(from: number, to: number): boolean {
    return this.down.some(([a, b]) => a <= to && from <= b);
  }
}

function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function pickCheck(rng: Prng): SoakCheck {
  const r = rng.next();
  const group = r < 0.6 ? CHECKS.viewer : r < 0.8 ? CHECKS.member : CHECKS.owner;
  return group[rng.int(group.length)]!;
}

/** 1 to 3 distinct tuples, each touched or deleted (touch slightly favoured, so about half stay live). */
function pickUpdates(rng: Prng): { updates: UpdateSpec[]; touched: number[]; deleted: number[] } {
  const count = 1 + rng.int(3);
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(rng.int(TUPLES.length));
  const touched: number[] = [];
  const deleted: number[] = [];
  const updates: UpdateSpec[] = [];
  for (const index of chosen) {
    const op = rng.next() < 0.55 ? "touch" : "delete";
    (op === "touch" ? touched : deleted).push(index);
    updates.push({ op, tuple: TUPLES[index]! });
  }
  return { updates, touched, deleted };
}

async function readTruth(connectionString: string): Promise<Map<string, TupleVersion[]>> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 10_000 });
  client.on("error", () => {});
  await client.connect();
  try {
    const result = await client.query<{
      namespace: string;
      object: string;
      relation: string;
      subject_type: string;
      subject_id: string;
      subject_relation: string;
      created_rev: string;
      deleted_rev: string | null;
    }>(
      `SELECT namespace, object, relation, subject_type, subject_id, subject_relation, created_rev, deleted_rev FROM gatehouse_tuples`,
    );
    const byKey = new Map<string, TupleVersion[]>();
    for (const row of result.rows) {
      const key = rowKey(row);
      const version: TupleVersion = {
        key,
        createdRev: Number(row.created_rev),
        deletedRev: row.deleted_rev === null ? undefined : Number(row.deleted_rev),
      };
      const list = byKey.get(key);
      if (list === undefined) byKey.set(key, [version]);
      else list.push(version);
    }
    return byKey;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs the soak and verifies it; resolves with the report (`passed` false on any failure). */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const nodeCount = options.nodes ?? 3;
  const concurrency = options.concurrency ?? 8;
  const seed = options.seed ?? randomBytes(4).readUInt32LE(0);
  const writeRatio = options.writeRatio ?? 0.05;
  const chaos = options.chaos ?? false;
  const maxFailureRate = options.maxFailureRate ?? 0.05;
  const log = options.log ?? ((): void => {});
  const rng = new Prng(seed);
  const failures: string[] = [];

  const redisUrl = options.redisUrl === null ? undefined : (options.redisUrl ?? (await resolveTestRedis("soak")));
  const keyPrefix = `gatehouse-soak-${randomBytes(6).toString("hex")}:`;
  let keysDeleted: number | undefined;

  let db: TempDatabase | undefined;
  let cluster: Cluster | undefined;
  const clients: Client[] = [];
  const watchers: NodeWatcher[] = [];

  // Everything the load records.
  let requests = 0;
  let succeeded = 0;
  let checksTotal = 0;
  let writesTotal = 0;
  let writesFailed = 0;
  const errorsByCode: Record<string, number> = {};
  const errorExamples: string[] = [];
  const failureTimes: number[] = [];
  const completionTimes = new Column();
  const servedByPort = new Map<number, number>();
  const checkIndex = new Column();
  const checkAllowed = new Column();
  const checkAt = new Column();
  const checkWanted = new Column();
  const acked: AckedWrite[] = [];
  const chaosEvents: { atMs: number; event: string }[] = [];
  let chaosWindow: [number, number] | undefined;
  let loadSeconds = 0;
  let truth: Map<string, TupleVersion[]> | undefined;
  let victim: GatehouseNode | undefined;

  try {
    db = await createTempDatabase("gatehouse_soak");
    log(`database ${db.name}; redis ${redisUrl ?? "(none)"} prefix ${keyPrefix}; seed ${seed}`);
    cluster = await startCluster(nodeCount, {
      dsn: db.connectionString,
      redisUrl,
      redisKeyPrefix: keyPrefix,
      env: { ...options.nodeEnv },
      schema: { text: SOAK_SCHEMA, language: "fga" },
    });
    const nodes = cluster.nodes;
    log(`${nodeCount} nodes ready: ${nodes.map((n) => `${n.name} read ${n.ports.read} write ${n.ports.write}`).join(", ")}`);

    const reads = createRoundRobinClient(cluster.readPorts);
    const writes = createRoundRobinClient(cluster.writePorts);
    clients.push(reads, writes);

    const loadStart = performance.now();
    const now = (): number => performance.now() - loadStart;
    const schemaRevision = cluster.schemaRevision!;
    const schemaToken = cluster.schemaToken!;
    for (const node of nodes) {
      const watcher = new NodeWatcher(() => createRoundRobinClient([node.ports.read]), schemaRevision, now);
      watcher.open();
      watchers.push(watcher);
    }

    // Snaptokens of recent acknowledged writes; checks mostly use the newest, sometimes an older one.
    const recent: { revision: number; token: string }[] = [];
    let newest = { revision: schemaRevision, token: schemaToken };
    const pickToken = (): { revision: number; token: string } => {
      if (recent.length === 0 || rng.next() < 0.8) return newest;
      return recent[rng.int(recent.length)]!;
    };
    const nodeIndexOfPort = (port: number | undefined): number | undefined => {
      if (port === undefined) return undefined;
      const index = nodes.findIndex((n) => n.ports.read === port || n.ports.write === port);
      return index < 0 ? undefined : index;
    };
    const recordFailure = (err: unknown, what: string): void => {
      const code = errorCodeName(err);
      errorsByCode[code] = (errorsByCode[code] ?? 0) + 1;
      failureTimes.push(now());
      if (errorExamples.length < 10) errorExamples.push(`${what} at ${Math.round(now())} ms: ${code} ${(err as Error).message}`);
    };
    const recordSuccess = (port: number | undefined): void => {
      succeeded++;
      if (port !== undefined) servedByPort.set(port, (servedByPort.get(port) ?? 0) + 1);
    };

    const durationMs = options.durationMs;
    const deadline = loadStart + durationMs;
    const stopLoad = new AbortController();
    const onAbort = (): void => stopLoad.abort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const loadOver = (): boolean => stopLoad.signal.aborted || performance.now() >= deadline;

    const worker = async (): Promise<void> => {
      while (!loadOver()) {
        requests++;
        if (rng.next() < writeRatio) {
          writesTotal++;
          const { updates, touched, deleted } = pickUpdates(rng);
          try {
            const ack = await writeRelationships(writes, updates);
            const at = now();
            completionTimes.push(Math.round(at));
            recordSuccess(ack.port);
            acked.push({ revision: ack.revision, at, node: nodeIndexOfPort(ack.port), touched, deleted });
            recent.push({ revision: ack.revision, token: ack.token });
            if (recent.length > 256) recent.shift();
            if (ack.revision > newest.revision) newest = { revision: ack.revision, token: ack.token };
          } catch (err) {
            writesFailed++;
            completionTimes.push(Math.round(now()));
            recordFailure(err, `write ${updates.map((u) => `${u.op} ${String(u.tuple)}`).join(", ")}`);
          }
        } else {
          checksTotal++;
          const c = pickCheck(rng);
          const wanted = pickToken();
          try {
            const answer = await check(reads, c.text, { atLeastAsFresh: wanted.token });
            completionTimes.push(Math.round(now()));
            recordSuccess(answer.port);
            checkIndex.push(CHECK_INDEX.get(c.text)!);
            checkAllowed.push(answer.allowed ? 1 : 0);
            checkAt.push(answer.checkedAt);
            checkWanted.push(wanted.revision);
          } catch (err) {
            completionTimes.push(Math.round(now()));
            recordFailure(err, `check ${c.text} at least as fresh as ${wanted.revision}`);
          }
        }
      }
    };

    const chaosRun = async (): Promise<void> => {
      if (!chaos) return;
      await sleep(deadline - durationMs * (2 / 3) - performance.now(), stopLoad.signal);
      if (loadOver()) return;
      const index = rng.int(nodes.length);
      victim = nodes[index]!;
      const killedAt = now();
      chaosEvents.push({ atMs: Math.round(killedAt), event: `SIGKILL ${victim.name} (pid ${victim.pid})` });
      log(`chaos: SIGKILL ${victim.name} at ${Math.round(killedAt)} ms`);
      watchers[index]!.pause();
      await victim.kill("SIGKILL");
      chaosWindow = [killedAt, Number.POSITIVE_INFINITY];
      // Restart half way even when the load was cut short, so the cluster is whole for the verification.
      await sleep(deadline - durationMs / 2 - performance.now(), stopLoad.signal);
      chaosEvents.push({ atMs: Math.round(now()), event: `restarting ${victim.name}` });
      try {
        await victim.restart();
        const readyAt = now();
        chaosEvents.push({ atMs: Math.round(readyAt), event: `${victim.name} ready again` });
        log(`chaos: ${victim.name} ready again at ${Math.round(readyAt)} ms`);
        watchers[index]!.resume();
        // Clients reconnect within about a second (backoff capped at 1 s); allow three.
        chaosWindow = [killedAt, readyAt + 3_000];
      } catch (err) {
        chaosEvents.push({ atMs: Math.round(now()), event: `restart of ${victim.name} FAILED` });
        failures.push(`the chaos restart of ${victim.name} failed: ${(err as Error).message}`);
      }
    };

    const progress = setInterval(() => {
      log(`t=${(now() / 1000).toFixed(0)}s requests=${requests} ok=${succeeded} failed=${failureTimes.length} acked writes=${acked.length}`);
    }, 10_000);
    try {
      const chaosDone = chaosRun();
      await Promise.all(Array.from({ length: Math.max(1, concurrency) }, () => worker()));
      loadSeconds = now() / 1000;
      stopLoad.abort(); // a chaos step still waiting goes on to its restart now
      await chaosDone;
    } finally {
      clearInterval(progress);
      options.signal?.removeEventListener("abort", onAbort);
    }
    log(`load done after ${loadSeconds.toFixed(1)} s: ${requests} requests, ${acked.length} acknowledged writes`);

    // Let every Watch deliver the newest acknowledged revision (a heartbeat comes at the latest every 5 s).
    const lastRevision = newest.revision;
    const settleUntil = performance.now() + 7_000;
    while (performance.now() < settleUntil && watchers.some((w) => w.through < lastRevision)) await sleep(50);

    for (const node of nodes) {
      if (!node.running) failures.push(`${node.name} is not running at the end of the run; its output:\n${node.log().split("\n").slice(-30).join("\n")}`);
      else if (node.lastExit !== undefined && node !== victim) failures.push(`${node.name} exited during the run (${JSON.stringify(node.lastExit)})`);
    }
    truth = await readTruth(db.connectionString);
  } finally {
    for (const w of watchers) w.close();
    for (const c of clients) c.close();
    if (cluster !== undefined) await cluster.stop();
    if (db !== undefined) await db.drop().catch((err: Error) => log(`could not drop ${db?.name}: ${err.message}`));
    if (redisUrl !== undefined) {
      keysDeleted = await deleteRedisKeys(redisUrl, keyPrefix).catch((err: Error) => {
        log(`could not delete Redis keys ${keyPrefix}*: ${err.message}`);
        return undefined;
      });
    }
  }

  // ----- verification (the cluster is gone; everything below works on what was recorded and read) -----
  const versionsOf = (key: string): readonly TupleVersion[] => truth?.get(key) ?? [];
  let lostWrites = 0;
  const lostWriteExamples: string[] = [];
  for (const write of acked) {
    const problems: string[] = [];
    for (const t of write.touched) {
      if (!versionsOf(TUPLES[t]!).some((v) => liveAt(v, write.revision))) problems.push(`touched ${TUPLES[t]} is not live`);
    }
    for (const t of write.deleted) {
      if (versionsOf(TUPLES[t]!).some((v) => liveAt(v, write.revision))) problems.push(`deleted ${TUPLES[t]} is still live`);
    }
    if (problems.length > 0) {
      lostWrites++;
      if (lostWriteExamples.length < 10) lostWriteExamples.push(`write acknowledged at revision ${write.revision}: ${problems.join("; ")}`);
    }
  }

  const checkCount = checkIndex.length;
  const order = Array.from({ length: checkCount }, (_, i) => i).sort((a, b) => checkAt.at(a) - checkAt.at(b));
  const replay = new TruthReplay([...(truth?.values() ?? [])].flat());
  let staleAnswers = 0;
  let wrongAnswers = 0;
  const inconsistentExamples: string[] = [];
  const seenTrue = new Uint8Array(ALL_CHECKS.length);
  const seenFalse = new Uint8Array(ALL_CHECKS.length);
  let evaluator: ReferenceEvaluator | undefined;
  let evaluatorRevision = -1;
  let allowed = 0;
  for (const i of order) {
    const c = ALL_CHECKS[checkIndex.at(i)]!;
    const at = checkAt.at(i);
    const wanted = checkWanted.at(i);
    const answer = checkAllowed.at(i) === 1;
    if (answer) {
      allowed++;
      seenTrue[checkIndex.at(i)] = 1;
    } else seenFalse[checkIndex.at(i)] = 1;
    if (at < wanted) {
      staleAnswers++;
      if (inconsistentExamples.length < 10) inconsistentExamples.push(`${c.text}: checked_at ${at} is older than the requested snaptoken's revision ${wanted}`);
      continue;
    }
    if (at !== evaluatorRevision) {
      replay.advanceTo(at);
      evaluator = new ReferenceEvaluator(replay.live);
      evaluatorRevision = at;
    }
    const expected = evaluator!.check(c);
    if (expected !== answer) {
      wrongAnswers++;
      if (inconsistentExamples.length < 10) inconsistentExamples.push(`${c.text} at revision ${at}: answered ${answer}, the truth is ${expected}`);
    }
  }
  let checksWithChangedAnswers = 0;
  for (let k = 0; k < ALL_CHECKS.length; k++) if (seenTrue[k] === 1 && seenFalse[k] === 1) checksWithChangedAnswers++;

  // Replication lag: each acknowledged write that changed something, to each other node's Watch.
  const changedRevisions = new Set<number>();
  for (const list of truth?.values() ?? []) {
    for (const v of list) {
      changedRevisions.add(v.createdRev);
      if (v.deletedRev !== undefined) changedRevisions.add(v.deletedRev);
    }
  }
  let noopWrites = 0;
  const lagsOf = watchers.map(() => [] as number[]);
  const slowest: { lag: number; text: string }[] = [];
  const undeliveredOf = watchers.map(() => 0);
  const beforeAckOf = watchers.map(() => 0);
  for (const write of acked) {
    if (!changedRevisions.has(write.revision)) {
      noopWrites++;
      continue;
    }
    watchers.forEach((w, j) => {
      if (j === write.node) return;
      const delivered = w.deliveredAt(write.revision);
      if (delivered === undefined) {
        if (!w.downDuring(write.at, Number.POSITIVE_INFINITY)) undeliveredOf[j]!++;
        return;
      }
      if (w.downDuring(write.at, delivered)) return;
      if (delivered <= write.at) beforeAckOf[j]!++;
      const lag = Math.max(0, delivered - write.at);
      lagsOf[j]!.push(lag);
      if (lag > 1_000) {
        slowest.push({
          lag,
          text: `revision ${write.revision} (acknowledged by node${write.node ?? "?"} at ${(write.at / 1000).toFixed(2)} s) reached node${j}'s Watch after ${lag.toFixed(0)} ms`,
        });
      }
    });
  }
  const lagStats = (lags: number[], undelivered: number, beforeAck: number): LagStats => {
    lags.sort((a, b) => a - b);
    return {
      samples: lags.length,
      undelivered,
      beforeAck,
      medianMs: percentile(lags, 50),
      p99Ms: percentile(lags, 99),
      maxMs: lags[lags.length - 1],
    };
  };
  const lagByNode: Record<string, LagStats> = {};
  lagsOf.forEach((lags, j) => (lagByNode[cluster?.nodes[j]?.name ?? `node${j}`] = lagStats([...lags], undeliveredOf[j]!, beforeAckOf[j]!)));

  // Failures inside the chaos window are expected (calls in flight on the killed node, reconnects).
  const inChaos = (t: number): boolean => chaosWindow !== undefined && t >= chaosWindow[0] && t <= chaosWindow[1];
  let failuresOutsideChaos = 0;
  for (const t of failureTimes) if (!inChaos(t)) failuresOutsideChaos++;
  let requestsOutsideChaos = 0;
  for (let i = 0; i < completionTimes.length; i++) if (!inChaos(completionTimes.at(i))) requestsOutsideChaos++;

  const failed = requests - succeeded;
  if (lostWrites > 0) failures.push(`${lostWrites} acknowledged writes were lost`);
  if (staleAnswers + wrongAnswers > 0) failures.push(`${staleAnswers + wrongAnswers} inconsistent answers (${staleAnswers} stale, ${wrongAnswers} wrong)`);
  if (succeeded === 0) failures.push("no request succeeded");
  if (requestsOutsideChaos > 0 && failuresOutsideChaos / requestsOutsideChaos > maxFailureRate) {
    failures.push(`${failuresOutsideChaos} of ${requestsOutsideChaos} requests outside the chaos window failed (more than ${maxFailureRate * 100}%)`);
  }

  const servedBy: Record<string, number> = {};
  for (const [port, count] of servedByPort) {
    const name = cluster?.nodeByPort(port)?.name ?? `port ${port}`;
    servedBy[name] = (servedBy[name] ?? 0) + count;
  }

  return {
    seed,
    nodes: nodeCount,
    concurrency,
    chaos,
    loadSeconds,
    requests,
    succeeded,
    failed,
    throughput: loadSeconds > 0 ? succeeded / loadSeconds : 0,
    checks: { total: checksTotal, succeeded: checkCount, allowed, denied: checkCount - allowed },
    writes: { total: writesTotal, acknowledged: acked.length, failed: writesFailed, noop: noopWrites },
    errorsByCode,
    servedBy,
    requestsOutsideChaos,
    failuresOutsideChaos,
    errorExamples,
    lostWrites,
    lostWriteExamples,
    inconsistentAnswers: staleAnswers + wrongAnswers,
    staleAnswers,
    wrongAnswers,
    inconsistentExamples,
    checksWithChangedAnswers,
    truthVersions: [...(truth?.values() ?? [])].reduce((n, list) => n + list.length, 0),
    lag: lagStats(
      lagsOf.flat(),
      undeliveredOf.reduce((a, b) => a + b, 0),
      beforeAckOf.reduce((a, b) => a + b, 0),
    ),
    lagByNode,
    lagOutliers: slowest
      .sort((a, b) => b.lag - a.lag)
      .slice(0, 5)
      .map((x) => x.text),
    chaosEvents,
    redis: { url: redisUrl, keyPrefix, keysDeleted },
    failures,
    passed: failures.length === 0,
  };
}

/** Parses `120`, `20s`, `2m`, `1h`, `500ms` into milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) throw new Error(`--duration: expected e.g. 120, 20s, 2m or 1h, got "${text}"`);
  const value = Number(match[1]);
  const unit = match[2] ?? "s";
  const factor = unit === "ms" ? 1 : unit === "s" ? 1_000 : unit === "m" ? 60_000 : 3_600_000;
  return Math.round(value * factor);
}

function ms(value: number | undefined): string {
  return value === undefined ? "n/a" : `${value.toFixed(1)} ms`;
}

/** The report as text for a terminal. */
export function formatSoakReport(r: SoakReport): string {
  const codes = Object.entries(r.errorsByCode)
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => `${code} ${n}`)
    .join(", ");
  const lines = [
    `Gatehouse cluster soak: ${r.nodes} nodes, concurrency ${r.concurrency}, chaos ${r.chaos ? "on" : "off"}, seed ${r.seed}`,
    `  load                ${r.loadSeconds.toFixed(1)} s`,
    `  requests            ${r.requests} (${r.succeeded} ok, ${r.failed} failed)`,
    `  throughput          ${r.throughput.toFixed(0)} req/s`,
    `  checks              ${r.checks.total} (${r.checks.succeeded} answered: ${r.checks.allowed} allowed, ${r.checks.denied} denied)`,
    `  writes              ${r.writes.total} (${r.writes.acknowledged} acknowledged, ${r.writes.noop} of them no-ops; ${r.writes.failed} failed)`,
    `  errors by code      ${codes === "" ? "none" : codes}`,
    `  outside chaos       ${r.failuresOutsideChaos} failed of ${r.requestsOutsideChaos}`,
    `  served by           ${Object.entries(r.servedBy).sort().map(([n, c]) => `${n} ${c}`).join(", ")}`,
    `  lost writes         ${r.lostWrites}`,
    `  inconsistent        ${r.inconsistentAnswers} (${r.staleAnswers} stale, ${r.wrongAnswers} wrong)`,
    `  changed answers     ${r.checksWithChangedAnswers} distinct checks answered both ways`,
    `  truth               ${r.truthVersions} tuple versions in PostgreSQL`,
    `  replication lag     (to other nodes' Watch, writes that changed something) median ${ms(r.lag.medianMs)}, p99 ${ms(r.lag.p99Ms)}, max ${ms(r.lag.maxMs)} (${r.lag.samples} samples, ${r.lag.beforeAck} before the ack, ${r.lag.undelivered} undelivered)`,
    ...Object.entries(r.lagByNode).map(
      ([name, l]) => `    to ${name.padEnd(15)} median ${ms(l.medianMs)}, p99 ${ms(l.p99Ms)}, max ${ms(l.maxMs)} (${l.samples} samples, ${l.beforeAck} before the ack, ${l.undelivered} undelivered)`,
    ),
    `  chaos events        ${r.chaosEvents.length === 0 ? "none" : r.chaosEvents.map((e) => `${(e.atMs / 1000).toFixed(1)}s ${e.event}`).join("; ")}`,
    `  redis               ${r.redis.url ?? "none"} prefix ${r.redis.keyPrefix} (${r.redis.keysDeleted ?? 0} keys deleted)`,
  ];
  for (const e of r.lagOutliers) lines.push(`  slow replication    ${e}`);
  for (const e of r.errorExamples.slice(0, 5)) lines.push(`  error example       ${e}`);
  for (const e of r.lostWriteExamples) lines.push(`  LOST                ${e}`);
  for (const e of r.inconsistentExamples) lines.push(`  INCONSISTENT        ${e}`);
  lines.push(r.passed ? "PASSED" : `FAILED:\n${r.failures.map((f) => `  - ${f}`).join("\n")}`);
  return lines.join("\n");
}
