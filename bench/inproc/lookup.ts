/**
 * Figure 2: lookupResources and lookupSubjects latency on wide graphs of the Drive dataset, on one thread
 * with the cache disabled.
 *
 * - lookupResources: the documents a user can view, where the user belongs (5 groups deep) to the group
 *   tree that views whole folder trees (thousands of documents, 6 folders deep);
 * - lookupSubjects: the users who can view one document inside such a folder tree (the whole group tree,
 *   about 1,500 users nested 5 deep, plus the document's own grants).
 *
 * Each is timed for the whole answer (`pageSize: 0`, one call) and for the first page of 100 (what an API
 * client waits for first). A run's sample is the p50 of repeated sequential calls.
 */
import type { Drive, DriveSize } from "../datasets/drive.js";
import type { Figure } from "../report-types.js";
import type { BenchContext } from "../support/context.js";
import { engineParams, type BenchEngine } from "../support/engine.js";
import { measureLatency, progress, repeat } from "../support/measure.js";
import { driveOfSize, openDriveEngine } from "./drive-engine.js";

const GROUP = 2;

export async function runLookupFigures(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const size of ctx.driveSizes) {
    const drive = driveOfSize(size);
    progress(`figure 2: drive ${size}: opening the engine`);
    const engine = await openDriveEngine(drive, { threads: 0, cacheBytes: 0 });
    try {
      figures.push(...(await measureSize(ctx, engine, drive, size)));
    } finally {
      await engine.close();
    }
  }
  return figures;
}

/** A document in a folder tree viewed by group tree 0 (where the wide user is), deepest folder preferred. */
function wideDocument(drive: Drive): number {
  let fallback = -1;
  for (let d = 0; d < drive.layout.documents - 1; d++) {
    const folder = drive.documentFolder(d);
    if (drive.rootViewerTree(drive.folderTree(folder)) !== 0) continue;
    if (drive.folderDepth(folder) === 5) return d;
    if (fallback < 0) fallback = d;
  }
  if (fallback < 0) throw new Error("no document in a folder tree viewed by group tree 0");
  return fallback;
}

async function measureSize(ctx: BenchContext, be: BenchEngine, drive: Drive, size: DriveSize): Promise<Figure[]> {
  const engine = be.engine;
  const user = { kind: "set", namespace: "user", object: `u${drive.wideUser()}`, relation: "" } as const;
  const doc = `d${wideDocument(drive)}`;
  const resourcesRequest = { namespace: "document", relation: "view", subject: user };
  const subjectsRequest = { namespace: "document", object: doc, relation: "view", subjectNamespace: "user" };
  const all = await engine.lookupResources(resourcesRequest, { pageSize: 0 });
  const subjects = await engine.lookupSubjects(subjectsRequest, { pageSize: 0 });
  const base = { dataset: `drive-${size}`, tuples: drive.layout.tuples, ...engineParams(be) };

  const variants: Array<{ id: string; title: string; results: number; call: () => Promise<unknown> }> = [
    {
      id: `lookup.resources.all.${size}`,
      title: `lookupResources, all ${all.objects.length} documents a user can view, drive ${size}`,
      results: all.objects.length,
      call: () => engine.lookupResources(resourcesRequest, { pageSize: 0 }),
    },
    {
      id: `lookup.resources.page100.${size}`,
      title: `lookupResources, first page of 100, drive ${size}`,
      results: Math.min(100, all.objects.length),
      call: () => engine.lookupResources(resourcesRequest, { pageSize: 100 }),
    },
    {
      id: `lookup.subjects.all.${size}`,
      title: `lookupSubjects, all ${subjects.subjects.length} users who can view a document, drive ${size}`,
      results: subjects.subjects.length,
      call: () => engine.lookupSubjects(subjectsRequest, { pageSize: 0 }),
    },
    {
      id: `lookup.subjects.page100.${size}`,
      title: `lookupSubjects, first page of 100, drive ${size}`,
      results: Math.min(100, subjects.subjects.length),
      call: () => engine.lookupSubjects(subjectsRequest, { pageSize: 100 }),
    },
  ];
  const figures: Figure[] = [];
  for (const v of variants) {
    progress(`figure 2: ${v.id}`);
    const summary = await repeat(ctx.runs, async () => {
      const result = await measureLatency(
        async () => {
          await v.call();
          return true;
        },
        { durationMs: ctx.latencyMs, maxCount: 200, warmupCount: 2 },
      );
      return result.p50 / 1000;
    });
    figures.push({ id: v.id, group: GROUP, title: v.title, unit: "ms", ...summary, params: { ...base, results: v.results } });
  }
  return figures;
}
