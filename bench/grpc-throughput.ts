/**
 * gRPC unary throughput of Gatehouse's Check, side by side in one run: the read plane with h2c on grpc-js
 * (the default), the same plane with h2c on connect-node, and a bare grpc-js server returning a constant (the
 * no-op ceiling). Each server runs in its own process; this process drives it with grpc-js clients.
 * Reports calls/s as median (min–max) over repeated runs and the ratio to the ceiling.
 *
 *   npx tsx bench/grpc-throughput.ts [--seconds 3] [--runs 3] [--concurrency 64] [--channels 4] [--client h2load|grpc-js]
 *
 * The client matters: a grpc-js client in Node saturates long before the server does, so by default the load
 * comes from h2load (Debian's nghttp2-client) sending gRPC frames when it is installed, and from grpc-js
 * clients otherwise. h2load counts HTTP responses, so every variant answers the same request the same way.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Client, credentials } from "@grpc/grpc-js";
import { PermissionService } from "../proto/gen/gatehouse/authz/v1/permission_service_pb.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "3" },
    runs: { type: "string", default: "3" },
    concurrency: { type: "string", default: "64" },
    channels: { type: "string", default: "4" },
    client: { type: "string" },
  },
});
function hasH2load(): boolean {
  try {
    execFileSync("h2load", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const client = values.client ?? (hasH2load() ? "h2load" : "grpc-js");
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
const channels = Number(values.channels);

const method = PermissionService.method.check;
const path = `/${PermissionService.typeName}/${method.name}`;
const request = Buffer.from(
  toBinary(
    method.input,
    create(method.input, {
      relationship: { namespace: "doc", object: "d1", relation: "viewer", subject: { ref: { case: "set", value: { namespace: "user", object: "anne" } } } },
    }),
  ),
);

function startWorker(variant: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ["--import", "tsx", new URL("./grpc-server-worker.ts", import.meta.url).pathname, variant], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /port (\d+)/.exec(out);
      if (match !== null) resolve({ child, port: Number(match[1]) });
    });
    child.on("exit", (code) => reject(new Error(`${variant} exited with ${code}`)));
  });
}

// A gRPC message on the wire: a 5-byte prefix (uncompressed flag + length), then the protobuf bytes.
const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), request]);
framed.writeUInt32BE(request.length, 1);
const bodyFile = join(mkdtempSync(join(tmpdir(), "gatehouse-bench-")), "check.bin");
writeFileSync(bodyFile, framed);

/** Drives the server with h2load for `seconds`; returns requests per second. */
function driveH2load(port: number): number {
  const out = execFileSync(
    "h2load",
    [
      "-D", String(seconds), "-c", String(channels), "-m", String(Math.max(1, Math.floor(concurrency / channels))),
      "-d", bodyFile, "-H", "content-type: application/grpc", "-H", "te: trailers",
      `http://127.0.0.1:${port}${path}`,
    ],
    { encoding: "utf8" },
  );
  const match = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
  const failed = /(\d+) failed/.exec(out);
  if (match === null) throw new Error(`could not read h2load's output:\n${out}`);
  if (failed !== null && Number(failed[1]) > 0) throw new Error(`h2load saw failed requests:\n${out}`);
  return Number(match[1]);
}

/** Runs `concurrency` call loops spread over `channels` clients for `seconds`; returns calls per second. */
async function drive(port: number): Promise<number> {
  if (client === "h2load") return driveH2load(port);
  const clients = Array.from({ length: channels }, () => new Client(`127.0.0.1:${port}`, credentials.createInsecure()));
  const call = (client: Client): Promise<void> =>
    new Promise((resolve, reject) =>
      client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => fromBinary(method.output, b), request, (err, res) => {
        if (err !== null) reject(err);
        else if (res?.allowed !== true) reject(new Error("unexpected answer"));
        else resolve();
      }),
    );
  // Warm up connections and JIT before measuring.
  await Promise.all(clients.map((c) => call(c)));
  let done = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      const client = clients[i % channels] as Client;
      while (performance.now() < until) {
        await call(client);
        done++;
      }
    }),
  );
  for (const c of clients) c.close();
  return done / seconds;
}

function summary(xs: number[]): { median: number; min: number; max: number } {
  const sorted = [...xs].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] ?? 0, min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0 };
}

const variants = ["ceiling", "plane-grpc-js", "plane-connect"];
const results = new Map<string, number[]>(variants.map((v) => [v, []]));
const workers = new Map<string, { child: ChildProcess; port: number }>();
for (const v of variants) workers.set(v, await startWorker(v));
try {
  // Interleave the variants run by run so drift on the machine affects all of them alike.
  for (let r = 0; r < runs; r++) {
    for (const v of variants) results.get(v)?.push(await drive(workers.get(v)?.port ?? 0));
  }
} finally {
  for (const w of workers.values()) w.child.kill();
}
const ceiling = summary(results.get("ceiling") ?? []).median;
console.log(`gRPC unary Check, ${concurrency} in flight over ${channels} connections, ${seconds}s x ${runs} runs, client ${client}`);
console.log("variant          calls/s median (min-max)      vs ceiling");
for (const v of variants) {
  const s = summary(results.get(v) ?? []);
  console.log(
    `${v.padEnd(16)} ${Math.round(s.median).toString().padStart(8)} (${Math.round(s.min)}-${Math.round(s.max)})`.padEnd(46) +
      ` ${(s.median / ceiling).toFixed(2)}`,
  );
}
