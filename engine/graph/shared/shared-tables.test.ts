import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { SharedGraphReader, SharedGraphTables } from "./shared-tables.js";

/** Every node (1..n) holds subjects n+1.. as direct members, added at revision `rev`. */
function fill(tables: SharedGraphTables, from: number, to: number, revision: number): void {
  for (let i = from; i < to; i++) {
    const node = tables.internNode(1, i, 1);
    const subject = tables.internNode(2, i, 0);
    tables.insertEdge(node, subject, revision);
  }
}

describe("shared graph tables", () => {
  it("keeps older generations readable at their revisions while the tables grow", () => {
    const tables = new SharedGraphTables({ nodes: 16, edges: 16 });
    fill(tables, 0, 10, 1);
    const before = tables.layout;
    fill(tables, 10, 5000, 2);
    expect(tables.layout.generation).toBeGreaterThan(before.generation);
    const old = new SharedGraphReader(before);
    const now = tables.reader;
    const n5 = old.findNode(1, 5, 1);
    expect(old.hasEdge(n5, old.findNode(2, 5, 0), 1)).toBe(true);
    // The old generation never saw the later nodes; the new one has them all.
    expect(old.findNode(1, 4000, 1)).toBe(-1);
    const n4000 = now.findNode(1, 4000, 1);
    expect(now.hasEdge(n4000, now.findNode(2, 4000, 0), 2)).toBe(true);
    expect(now.hasEdge(n4000, now.findNode(2, 4000, 0), 1)).toBe(false);
  });

  it("keeps an older generation's lists whole when only the edge table grows", () => {
    const tables = new SharedGraphTables({ nodes: 64, edges: 16 });
    const node = tables.internNode(1, 1, 1);
    const subjects = Array.from({ length: 40 }, (_, i) => tables.internNode(2, 100 + i, 0));
    for (let i = 0; i < 10; i++) tables.insertEdge(node, subjects[i] as number, 1);
    const old = new SharedGraphReader(tables.layout);
    for (let i = 10; i < 40; i++) tables.insertEdge(node, subjects[i] as number, 2);
    expect(tables.layout.generation).toBeGreaterThan(old.generation);
    const listed = (r: SharedGraphReader, revision: number): number[] => {
      const out: number[] = [];
      for (let e = r.firstDirectEdge(node); e >= 0; e = r.nextDirectEdge(e)) if (r.edgeVisible(e, revision)) out.push(r.edgeSubject(e));
      return out.sort((a, b) => a - b);
    };
    expect(listed(old, 1)).toEqual(subjects.slice(0, 10));
    let reverse = 0;
    for (let e = old.firstInEdge(subjects[3] as number); e >= 0; e = old.nextInEdge(e)) reverse++;
    expect(reverse).toBe(1);
    expect(listed(tables.reader, 2)).toEqual(subjects);
  });

  it("chains versions of a re-added tuple and answers each revision", () => {
    const tables = new SharedGraphTables();
    const node = tables.internNode(1, 1, 1);
    const subject = tables.internNode(2, 1, 3);
    expect(tables.insertEdge(node, subject, 2)).toBe(true);
    expect(tables.insertEdge(node, subject, 3)).toBe(false);
    expect(tables.removeEdge(node, subject, 5)).toBe(true);
    expect(tables.removeEdge(node, subject, 6)).toBe(false);
    expect(tables.insertEdge(node, subject, 8)).toBe(true);
    const r = tables.reader;
    expect([1, 2, 4, 5, 7, 8, 100].map((rev) => r.hasEdge(node, subject, rev))).toEqual([false, true, true, false, false, true, true]);
    // A subject set goes to the set list, not the direct list.
    expect(r.firstDirectEdge(node)).toBe(-1);
    const visible = [] as number[];
    for (let e = r.firstSetEdge(node); e >= 0; e = r.nextSetEdge(e)) if (r.edgeVisible(e, 3)) visible.push(r.edgeSubject(e));
    expect(visible).toEqual([subject]);
  });

  it("compaction drops versions removed by the horizon and keeps the rest readable", () => {
    const tables = new SharedGraphTables();
    const node = tables.internNode(1, 1, 1);
    const a = tables.internNode(2, 1, 0);
    const b = tables.internNode(2, 2, 0);
    tables.insertEdge(node, a, 1);
    tables.insertEdge(node, b, 1);
    tables.removeEdge(node, a, 2);
    tables.insertEdge(node, a, 4);
    tables.removeEdge(node, b, 6);
    expect(tables.countRemovedBy(3)).toBe(1);
    tables.compact(3);
    expect(tables.edgeTotal).toBe(2);
    const r = tables.reader;
    expect(r.hasEdge(node, a, 3)).toBe(false);
    expect(r.hasEdge(node, a, 4)).toBe(true);
    expect(r.hasEdge(node, b, 5)).toBe(true);
    expect(r.hasEdge(node, b, 6)).toBe(false);
    expect(r.firstInEdge(a)).toBeGreaterThanOrEqual(0);
  });

  it("a worker thread reads the tables the main thread writes, without a copy", async () => {
    const tables = new SharedGraphTables();
    fill(tables, 0, 1000, 1);
    const layout = tables.layout;
    const reader = new URL("./shared-tables.ts", import.meta.url).href;
    const code = `
      const { parentPort, workerData } = require("node:worker_threads");
      import(workerData.tsx).then((tsx) => tsx.register()).then(() => import(workerData.reader)).then(({ SharedGraphReader }) => {
        const r = new SharedGraphReader(workerData.layout);
        let found = 0;
        for (let i = 0; i < 1000; i++) if (r.hasEdge(r.findNode(1, i, 1), r.findNode(2, i, 0), 1)) found++;
        parentPort.postMessage(found);
      });`;
    // Workers do not inherit tsx's loader: register it inside the worker before importing TypeScript.
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
    const worker = new Worker(code, { eval: true, workerData: { layout, reader, tsx } });
    const found = await new Promise((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    await worker.terminate();
    expect(found).toBe(1000);
  });
});
