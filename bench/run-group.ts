/**
 * Child-process entry of the suite: runs one figure group and writes its figures as JSON to `--out`.
 * `bench/main.ts` starts one per group so each group's datasets and heap live and die with its own process.
 *
 *   node --import tsx --expose-gc bench/run-group.ts --group 1 [--quick] [--large] [--runs N] --out FILE
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Figure } from "./report-types.js";
import { makeContext, type BenchContext } from "./support/context.js";

/** The groups a child can run (4, the network figure, runs in the main process: it starts its own processes). */
const GROUPS: Readonly<Record<number, (ctx: BenchContext) => Promise<Figure[]>>> = {
  1: async (ctx) => (await import("./inproc/check.js")).runCheckFigures(ctx),
  2: async (ctx) => (await import("./inproc/lookup.js")).runLookupFigures(ctx),
  3: async (ctx) => (await import("./store/index.js")).runStoreFigures(ctx),
  5: async (ctx) => (await import("./peers/casbin.js")).runCasbinFigures(ctx),
  6: async (ctx) => (await import("./peers/spicedb.js")).runSpicedbFigures(ctx),
  7: async (ctx) => (await import("./identity/index.js")).runIdentityFigures(ctx),
};

const { values } = parseArgs({
  options: {
    group: { type: "string" },
    quick: { type: "boolean", default: false },
    large: { type: "boolean", default: false },
    runs: { type: "string" },
    out: { type: "string" },
  },
});
const run = GROUPS[Number(values.group)];
if (run === undefined || values.out === undefined) {
  process.stderr.write("usage: run-group.ts --group 1|2|3|5|6|7 [--quick] [--large] [--runs N] --out FILE\n");
  process.exit(2);
}
const ctx = makeContext({
  quick: values.quick,
  large: values.large,
  ...(values.runs === undefined ? {} : { runs: Number(values.runs) }),
});
const figures = await run(ctx);
writeFileSync(values.out, JSON.stringify(figures));
// Pools, database clients or native libraries may keep handles open; the result is written, so leave.
process.exit(0);
