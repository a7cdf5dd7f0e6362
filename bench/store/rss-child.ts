/**
 * Resident memory per tuple, in a fresh process (started by `memory.ts` with `--expose-gc`): the RSS after
 * collecting garbage, then `GraphSnapshot.build` from the Drive tuple stream, then the RSS after collecting
 * again; the difference over the tuple count. The tuples stream from the generator, so only what the snapshot
 * keeps stays resident. Also times one generator pass alone, so the build time can be read without it.
 *
 *   node --import tsx --expose-gc bench/store/rss-child.ts --size 1M --out FILE
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { GraphSnapshot } from "../../engine/graph/index.js";
import { Drive, DRIVE_SIZES, type DriveSize } from "../datasets/drive.js";

export interface RssResult {
  readonly tuples: number;
  readonly rssBefore: number;
  readonly rssAfter: number;
  readonly bytesPerTuple: number;
  /** Heap and external (ArrayBuffer, SharedArrayBuffer) growth, to tell where the bytes went. */
  readonly heapBytesPerTuple: number;
  readonly externalBytesPerTuple: number;
  /** Build time including generating the tuples, and one generator pass alone. */
  readonly buildSeconds: number;
  readonly generateSeconds: number;
}

const { values } = parseArgs({ options: { size: { type: "string" }, out: { type: "string" } } });
const size = values.size as DriveSize | undefined;
if (size === undefined || !(size in DRIVE_SIZES) || values.out === undefined) {
  process.stderr.write("usage: rss-child.ts --size 100k|1M|10M --out FILE\n");
  process.exit(2);
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");

function settle(): void {
  // Several passes: the first may only schedule finalization of what the second frees.
  for (let i = 0; i < 4; i++) gc?.();
}

const drive = new Drive(DRIVE_SIZES[size]);
let t0 = performance.now();
let generated = 0;
for (const _ of drive.tuples()) generated++;
const generateSeconds = (performance.now() - t0) / 1000;

settle();
const before = process.memoryUsage();
t0 = performance.now();
const snapshot = GraphSnapshot.build(drive.tuples(), 1, drive.layout.tuples);
const buildSeconds = (performance.now() - t0) / 1000;
settle();
const after = process.memoryUsage();
// Keep the snapshot reachable until after the measurement.
if (snapshot.revision !== 1 || generated !== drive.layout.tuples) throw new Error("unexpected snapshot");

const n = drive.layout.tuples;
const result: RssResult = {
  tuples: n,
  rssBefore: before.rss,
  rssAfter: after.rss,
  bytesPerTuple: (after.rss - before.rss) / n,
  heapBytesPerTuple: (after.heapUsed - before.heapUsed) / n,
  externalBytesPerTuple: (after.external - before.external) / n,
  buildSeconds,
  generateSeconds,
};
writeFileSync(values.out, JSON.stringify(result));
