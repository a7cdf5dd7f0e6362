/**
 * Starts a gateway of figure group 9 (`gateway-host.ts`), or the bare reverse proxy of series (a2) (its
 * `--bare` mode), in its own Node process, so the load generator, the gateway and the upstream never share an
 * event loop. Unlike group 8's servers (`oauth2/host-process.ts`,
 * which report on stdout and are read from /proc), it is spoken to over an IPC channel: the gateway host
 * reports its CPU time itself (`process.cpuUsage()`, every thread of the process), and it stops when the
 * channel closes, so it never outlives the bench.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { GatewayInfo, HostMessage, ParentMessage } from "./gateway-host.js";

const HOST = fileURLToPath(new URL("./gateway-host.ts", import.meta.url));

/** A running host process (a gateway, or the bare proxy). */
export interface HostProcess {
  readonly info: GatewayInfo;
  readonly pid: number;
  /** CPU seconds (user + system) the process has used so far. */
  cpuSeconds(): Promise<number>;
  /** Asks it to stop and waits for it to exit; SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/** A running gateway process. */
export interface GatewayProcess extends HostProcess {
  /** The rule count it was started with (the set's label; `info.rules` is what it loaded). */
  readonly ruleCount: number;
}

/** Options of both starters. */
export interface HostOptions {
  readonly startTimeoutMs?: number;
  readonly nodeFlags?: readonly string[];
}

/**
 * Starts a gateway with `ruleCount` rules forwarding to `upstream`, resolving once it serves. `nodeFlags`
 * (default: `GATEHOUSE_BENCH_GATEWAY_FLAGS`, split on spaces) go to its Node, e.g. `--cpu-prof` to profile it.
 */
export async function startGatewayProcess(ruleCount: number, upstream: string, options: HostOptions = {}): Promise<GatewayProcess> {
  const host = await startHost(["--rules", String(ruleCount), "--upstream", upstream], `the gateway with ${ruleCount} rules`, options);
  return { ...host, ruleCount };
}

/** Starts the bare reverse proxy of series (a2) forwarding to `upstream` (`gateway-host.ts --bare`). */
export function startBareProxyProcess(upstream: string, options: HostOptions = {}): Promise<HostProcess> {
  return startHost(["--bare", "--upstream", upstream], "the bare proxy", options);
}

async function startHost(args: readonly string[], what: string, options: HostOptions): Promise<HostProcess> {
  const flags = options.nodeFlags ?? (process.env["GATEHOUSE_BENCH_GATEWAY_FLAGS"] ?? "").split(" ").filter((f) => f !== "");
  const child = spawn(process.execPath, ["--import", "tsx", ...flags, HOST, ...args], {
    // stdout to our stderr: our stdout carries the table.
    stdio: ["ignore", process.stderr, "inherit", "ipc"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  void exited.then(() => process.off("exit", killOnExit));

  let nextId = 0;
  const pending = new Map<number, (seconds: number) => void>();
  const timeoutMs = options.startTimeoutMs ?? 120_000;
  const info = await new Promise<GatewayInfo>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${what} did not start within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.on("message", (message: HostMessage) => {
      if (message.type === "ready") {
        clearTimeout(timer);
        resolve(message.info);
      } else if (message.type === "cpu") {
        pending.get(message.id)?.(message.seconds);
        pending.delete(message.id);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code} before it was ready`));
    });
  });
  void exited.then(() => {
    for (const resolve of pending.values()) resolve(Number.NaN);
    pending.clear();
  });

  const ask = (message: ParentMessage): void => {
    if (child.connected) child.send(message);
  };
  return {
    info,
    pid: child.pid as number,
    cpuSeconds() {
      if (!child.connected) return Promise.resolve(Number.NaN);
      const id = nextId++;
      return new Promise<number>((resolve) => {
        pending.set(id, resolve);
        ask({ type: "cpu", id });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      ask({ type: "stop" });
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
