/**
 * Figure 3: write throughput (single-tuple transactions and 1,000-tuple batches) on PGlite and PostgreSQL,
 * bulk load and snapshot build from each store, `GraphSnapshot.build` time and resident memory per tuple.
 *
 * Sizes: the bulk load and the snapshot from a store use 1M tuples (100k in quick mode); memory per tuple
 * and the in-memory build run at every Drive size of the run and always at 1M, where the goal is stated
 * (a fresh child takes a few seconds at 1M, so quick mode can afford it).
 */
import { skippedFigure, type Figure } from "../report-types.js";
import { heavyRuns, type BenchContext } from "../support/context.js";
import type { DriveSize } from "../datasets/drive.js";
import { runBulkLoadFigures } from "./bulk-load.js";
import { runMemoryFigures } from "./memory.js";
import { postgresSkipReason, type StoreKind } from "./stores.js";
import { runWriteFigures } from "./writes.js";

const GROUP = 3;

export async function runStoreFigures(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  const bulkSize: DriveSize = ctx.quick ? "100k" : "1M";
  const pgSkip = await postgresSkipReason();
  for (const kind of ["pglite", "postgres"] as const satisfies readonly StoreKind[]) {
    if (kind === "postgres" && pgSkip !== undefined) {
      figures.push(...skippedStoreFigures(kind, bulkSize, pgSkip));
      continue;
    }
    figures.push(...(await runWriteFigures(ctx, kind)));
    figures.push(...(await runBulkLoadFigures(kind, bulkSize, heavyRuns(ctx))));
  }
  const memorySizes = [...new Set<DriveSize>([...ctx.driveSizes, "1M"])];
  for (const size of memorySizes) figures.push(...(await runMemoryFigures(size, heavyRuns(ctx))));
  return figures;
}

function skippedStoreFigures(kind: StoreKind, size: DriveSize, reason: string): Figure[] {
  const base = (id: string, title: string, unit: string) => skippedFigure({ id, group: GROUP, title, unit }, reason);
  return [
    base(`store.write.single.${kind}`, `single-tuple write transactions, ${kind}`, "tuples/s"),
    base(`store.write.batch1000.${kind}`, `1,000-tuple write batches, ${kind}`, "tuples/s"),
    base(`store.bulkload.${kind}.${size}`, `bulk load of drive ${size} into ${kind}`, "s"),
    base(`store.snapshot.${kind}.${size}`, `${kind} to a ready snapshot, drive ${size}`, "s"),
  ];
}
