/**
 * Starts a server of figure group 8 in its own Node process (`server-host.ts`): every side gets the same
 * treatment (same Node, same flags, its own heap and event loop) and, on a 2-core machine, a core of its own
 * while the load generator runs on the other.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SideInfo, SideName, StoreKind } from "./sides.js";

const HOST = fileURLToPath(new URL("./server-host.ts", import.meta.url));

/** A running server process. */
export interface SideProcess {
  readonly info: SideInfo;
  readonly pid: number;
  /** CPU seconds (user + system) the process has used so far; undefined where /proc is missing. */
  cpuSeconds(): number | undefined;
  /** Closes its stdin (it shuts down) and waits for it to exit; SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/** Linux's per-process CPU counters (fields 14 and 15 of /proc/<pid>/stat, in USER_HZ = 100 ticks/s). */
function procCpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Starts one side and resolves once it reported its URLs and client. */
export async function startSideProcess(side: SideName, store: StoreKind, options: { startTimeoutMs?: number } = {}): Promise<SideProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", HOST, "--side", side, "--store", store], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  // Never leave a server running behind the bench.
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  void exited.then(() => process.off("exit", killOnExit));

  const info = await new Promise<SideInfo>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the ${side} server did not start within ${(options.startTimeoutMs ?? 60_000) / 1000} s`));
    }, options.startTimeoutMs ?? 60_000);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const line = /^READY (.*)$/m.exec(out);
      if (line === null) return;
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      // Anything the server prints later goes to our stderr (our stdout carries the table).
      child.stdout?.on("data", (more: Buffer) => process.stderr.write(more));
      resolve(JSON.parse(line[1] as string) as SideInfo);
    };
    child.stdout?.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the ${side} server exited with ${code} before it was ready: ${out}`));
    });
  });

  const pid = child.pid as number;
  return {
    info,
    pid,
    cpuSeconds: () => procCpuSeconds(pid),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin?.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
