/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`, e.g. from `bench/network/main.ts --server-cpu-prof DIR`):
 * the functions with the most self time, and self time by where the code lives (a package in node_modules,
 * a folder of this repository, Node's internals, GC), which is what tells transport cost from engine cost.
 *
 *   npx tsx bench/network/profile-summary.ts FILE.cpuprofile [--top 30] [--from S] [--callers NAME]
 *
 * `--from S` skips the first S seconds of the profile (the server's start-up and data loading), `--callers`
 * prints the call paths that lead to the functions whose name contains NAME, weighted by their self time.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function's code lives, coarse enough to add up: a package, a repository folder, or a V8 bucket. */
function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:")) {
    // Node's own code by module: http2, streams, the AbortSignal/EventTarget machinery, module loading…
    const module = /^node:(?:internal\/)?([^/:]+)/.exec(url)?.[1] ?? url;
    return `node:${module}`;
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1] as string;
  const repo = /\/work\/[^/]+\/([^/]+(?:\/[^/]+)?)\//.exec(url) ?? /file:\/\/.*?\/((?:gateways|engine|common|cli|proto)(?:\/[^/]+)?)\//.exec(url);
  return repo === null ? url : (repo[1] as string);
}

function nameOf(f: CallFrame): string {
  const file = f.url.replace(/^file:\/\//, "").replace(/^.*\/node_modules\//, "").replace(/^\/work\/[^/]+\//, "");
  return `${f.functionName || "(anonymous)"}  ${file}${file === "" ? "" : `:${f.lineNumber + 1}`}`;
}

/** What `summarizeProfile` reports; times in milliseconds, largest first. */
export interface ProfileSummary {
  totalMillis: number;
  functions: [string, number][];
  areas: [string, number][];
  /** Call paths (outermost-first, up to 6 frames) into the functions matching `callersOf`. */
  callers: [string, number][];
}

/** Self time by function, by area and (optionally) by call path, from `fromMillis` into the profile on. */
export function summarizeProfile(profile: CpuProfile, fromMillis = 0, callersOf?: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  const callers = new Map<string, number>();
  const add = (m: Map<string, number>, key: string, ms: number): void => void m.set(key, (m.get(key) ?? 0) + ms);
  let total = 0;
  let clock = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // The delta before a sample is the time attributed to it (V8's own convention).
    const millis = (profile.timeDeltas[i] ?? 0) / 1000;
    clock += millis;
    const node = byId.get(profile.samples[i] as number);
    if (node === undefined || clock < fromMillis) continue;
    total += millis;
    const name = nameOf(node.callFrame);
    add(functions, name, millis);
    add(areas, areaOf(node.callFrame), millis);
    if (callersOf !== undefined && node.callFrame.functionName.includes(callersOf)) {
      const path: string[] = [];
      for (let id = parent.get(node.id); id !== undefined && path.length < 6; id = parent.get(id)) {
        const frame = byId.get(id)?.callFrame;
        if (frame !== undefined && frame.functionName !== "(root)") path.unshift(frame.functionName || "(anonymous)");
      }
      add(callers, `${path.join(" > ")} > ${name}`, millis);
    }
  }
  const sorted = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]);
  return { totalMillis: total, functions: sorted(functions), areas: sorted(areas), callers: sorted(callers) };
}

const isMain = import.meta.url === new URL(process.argv[1] ?? "", "file://").href;
if (isMain) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: "string", default: "30" }, from: { type: "string", default: "0" }, callers: { type: "string" } },
  });
  const file = positionals[0];
  if (file === undefined) throw new Error("usage: profile-summary.ts FILE.cpuprofile [--top N] [--from S] [--callers NAME]");
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const { totalMillis, functions, areas, callers } = summarizeProfile(profile, Number(values.from) * 1000, values.callers);
  const busy = totalMillis - (areas.find(([a]) => a === "(idle)")?.[1] ?? 0);
  const pct = (ms: number): string => `${((ms / busy) * 100).toFixed(1).padStart(5)}%`;
  process.stdout.write(`${file}: ${(totalMillis / 1000).toFixed(1)} s sampled, ${(busy / 1000).toFixed(1)} s not idle (percentages of that)\n\n`);
  process.stdout.write("self time by area\n");
  for (const [area, ms] of areas.slice(0, 20)) if (area !== "(idle)") process.stdout.write(`  ${pct(ms)}  ${area}\n`);
  process.stdout.write(`\ntop ${values.top} functions by self time\n`);
  for (const [name, ms] of functions.filter(([n]) => !n.startsWith("(idle)")).slice(0, Number(values.top))) {
    process.stdout.write(`  ${pct(ms)}  ${name}\n`);
  }
  if (values.callers !== undefined) {
    process.stdout.write(`\ncall paths into *${values.callers}*\n`);
    for (const [path, ms] of callers.slice(0, Number(values.top))) process.stdout.write(`  ${pct(ms)}  ${path}\n`);
  }
}
