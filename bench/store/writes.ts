/**
 * Figure 3, writes: through `engine.write` (schema validation, the store's transaction, the snapshot's
 * catch-up), one writer at a time, on an engine whose store holds only the schema.
 * - single-tuple transactions: one `touch` per write, back to back, in tuples (= transactions) per second;
 * - 1,000-tuple batches: one write of 1,000 new tuples after another, in tuples per second.
 * One writer, because the store serialises writers on its revision counter anyway.
 */
import type { PermissionEngine } from "../../engine/permission-engine.js";
import type { TupleWrite } from "../../engine/store/index.js";
import { DRIVE_SCHEMA_FGA } from "../datasets/drive.js";
import type { Figure } from "../report-types.js";
import type { BenchContext } from "../support/context.js";
import { openBenchEngine } from "../support/engine.js";
import { measureRate, progress, repeat } from "../support/measure.js";
import { createBenchDatabase, type StoreKind } from "./stores.js";

const GROUP = 3;
const BATCH = 1_000;

/** A tuple no earlier write created: `document:w<prefix>_<n>#viewer@user:u<n % 1000>`. */
function newTuple(prefix: string, n: number): TupleWrite {
  return {
    op: "touch",
    tuple: { namespace: "document", object: `w${prefix}_${n}`, relation: "viewer", subject: { kind: "set", namespace: "user", object: `u${n % 1000}`, relation: "" } },
  };
}

export async function runWriteFigures(ctx: BenchContext, kind: StoreKind): Promise<Figure[]> {
  const db = await createBenchDatabase(kind);
  try {
    const store = await db.open();
    const be = await openBenchEngine(store, { threads: 0 });
    const engine: PermissionEngine = be.engine;
    try {
      await engine.writeSchema(DRIVE_SCHEMA_FGA, "fga");
      progress(`figure 3: ${kind}: single-tuple transactions`);
      const single = await repeat(ctx.runs, (run) =>
        measureRate(
          async (i) => {
            await engine.write([newTuple(`s${run}`, i)]);
            return 1;
          },
          { concurrency: 1, durationMs: ctx.quick ? 400 : 2_000, warmupMs: 50 },
        ),
      );
      progress(`figure 3: ${kind}: 1,000-tuple batches`);
      const batched = await repeat(ctx.runs, (run) =>
        measureRate(
          async (i) => {
            await engine.write(Array.from({ length: BATCH }, (_, j) => newTuple(`b${run}_${i}`, j)));
            return BATCH;
          },
          { concurrency: 1, durationMs: ctx.quick ? 800 : 4_000, warmupMs: 0 },
        ),
      );
      const params = { store: kind, writers: 1, via: "engine.write" };
      return [
        { id: `store.write.single.${kind}`, group: GROUP, title: `single-tuple write transactions, ${kind}`, unit: "tuples/s", ...single, params },
        { id: `store.write.batch1000.${kind}`, group: GROUP, title: `1,000-tuple write batches, ${kind}`, unit: "tuples/s", ...batched, params: { ...params, batch: BATCH } },
      ];
    } finally {
      await be.close();
      await store.close();
    }
  } finally {
    await db.dispose();
  }
}
