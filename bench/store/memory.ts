/**
 * Figure 3, memory and in-memory build: resident bytes per tuple and `GraphSnapshot.build` time from a tuple
 * stream, each run in a fresh child process (`rss-child.ts`) so earlier allocations cannot hide or inflate
 * the growth.
 */
import { fileURLToPath } from "node:url";
import { DRIVE_SIZES, type DriveSize } from "../datasets/drive.js";
import { summarize, type Figure } from "../report-types.js";
import { runChild } from "../support/child.js";
import { progress } from "../support/measure.js";
import type { RssResult } from "./rss-child.js";

const GROUP = 3;

export async function runMemoryFigures(size: DriveSize, runs: number): Promise<Figure[]> {
  const script = fileURLToPath(new URL("./rss-child.ts", import.meta.url));
  const results: RssResult[] = [];
  for (let run = 0; run < runs; run++) {
    progress(`figure 3: resident memory of drive ${size}, run ${run + 1}/${runs}`);
    results.push(
      await runChild<RssResult>(script, ["--size", size], {
        timeoutMs: 3_600_000,
        nodeFlags: size === "10M" ? ["--max-old-space-size=16384"] : ["--max-old-space-size=6144"],
      }),
    );
  }
  const perTuple = summarize(results.map((r) => r.bytesPerTuple));
  const build = summarize(results.map((r) => r.buildSeconds));
  const last = results[results.length - 1] as RssResult;
  const params = { dataset: `drive-${size}`, tuples: DRIVE_SIZES[size] };
  const round = (x: number) => Math.round(x * 10) / 10;
  return [
    {
      id: `store.rss.perTuple.${size}`,
      group: GROUP,
      title: `resident memory per tuple, GraphSnapshot of drive ${size}`,
      unit: "bytes/tuple",
      ...perTuple,
      params: { ...params, heapBytesPerTuple: round(last.heapBytesPerTuple), externalBytesPerTuple: round(last.externalBytesPerTuple) },
    },
    {
      id: `store.snapshot.build.${size}`,
      group: GROUP,
      title: `GraphSnapshot.build from a tuple stream, drive ${size} (includes generating the tuples)`,
      unit: "s",
      ...build,
      params: { ...params, generateSeconds: Math.round(last.generateSeconds * 1000) / 1000 },
    },
  ];
}
