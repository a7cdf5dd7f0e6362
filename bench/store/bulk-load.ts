/**
 * Figure 3, bulk load and snapshot build from a durable store:
 * - bulk load: the Drive dataset written into an empty database through `engine.write` in batches of
 *   10,000 (each batch one transaction, validated and applied to the engine's snapshot), in seconds;
 * - snapshot from the store: a fresh engine opened on that database (schema, full scan, snapshot build)
 *   until it answers checks, in seconds. The goal: 1M tuples from PostgreSQL in at most 10 s.
 * Each run uses a new database.
 */
import type { TupleWrite } from "../../engine/store/index.js";
import { Drive, DRIVE_SCHEMA_FGA, DRIVE_SIZES, driveCheck, type DriveSize } from "../datasets/drive.js";
import type { Figure } from "../report-types.js";
import { summarize } from "../report-types.js";
import { openBenchEngine } from "../support/engine.js";
import { progress, timed } from "../support/measure.js";
import { createBenchDatabase, type StoreKind } from "./stores.js";

const GROUP = 3;
const BATCH = 10_000;

interface RunResult {
  readonly loadSeconds: number;
  readonly snapshotSeconds: number;
}

async function oneRun(kind: StoreKind, drive: Drive): Promise<RunResult> {
  const db = await createBenchDatabase(kind);
  try {
    const store = await db.open();
    const loader = await openBenchEngine(store, { threads: 0 });
    let load: number;
    try {
      await loader.engine.writeSchema(DRIVE_SCHEMA_FGA, "fga");
      load = (
        await timed(async () => {
          let batch: TupleWrite[] = [];
          for (const tuple of drive.tuples()) {
            batch.push({ op: "touch", tuple });
            if (batch.length === BATCH) {
              await loader.engine.write(batch);
              batch = [];
            }
          }
          if (batch.length > 0) await loader.engine.write(batch);
        })
      ).ms;
    } finally {
      await loader.close();
      await store.close();
    }
    const reopened = await db.open();
    try {
      const { ms, value: engine } = await timed(async () => {
        const e = await openBenchEngine(reopened, { threads: 0 });
        // Ready means answering: one check proves the snapshot is built and the schema compiled.
        await e.check(driveCheck(0, "view", drive.documentOwner(0)));
        return e;
      });
      await engine.close();
      return { loadSeconds: load / 1000, snapshotSeconds: ms / 1000 };
    } finally {
      await reopened.close();
    }
  } finally {
    await db.dispose();
  }
}

export async function runBulkLoadFigures(kind: StoreKind, size: DriveSize, runs: number): Promise<Figure[]> {
  const drive = new Drive(DRIVE_SIZES[size]);
  const results: RunResult[] = [];
  for (let run = 0; run < runs; run++) {
    progress(`figure 3: ${kind}: bulk load of drive ${size}, run ${run + 1}/${runs}`);
    results.push(await oneRun(kind, drive));
  }
  const load = summarize(results.map((r) => r.loadSeconds));
  const snapshot = summarize(results.map((r) => r.snapshotSeconds));
  const params = { store: kind, dataset: `drive-${size}`, tuples: drive.layout.tuples };
  return [
    {
      id: `store.bulkload.${kind}.${size}`,
      group: GROUP,
      title: `bulk load of ${drive.layout.tuples.toLocaleString("en-US")} tuples into ${kind} (engine.write, ${BATCH.toLocaleString("en-US")} per batch)`,
      unit: "s",
      ...load,
      params: { ...params, batch: BATCH, tuplesPerSecond: Math.round(drive.layout.tuples / load.median) },
    },
    {
      id: `store.snapshot.${kind}.${size}`,
      group: GROUP,
      title: `${kind} to a ready snapshot (engine open + first check), ${drive.layout.tuples.toLocaleString("en-US")} tuples`,
      unit: "s",
      ...snapshot,
      params,
    },
  ];
}
