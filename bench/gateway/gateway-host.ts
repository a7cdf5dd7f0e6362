/**
 * Child-process entry of figure group 9: `gatehouse serve` (`startServer(loopbackConfig())`: engine, identity,
 * OAuth2 and the gateway in one process, as deployed) with a generated rule set of `--rules N` rules
 * forwarding to `--upstream URL`, the bench's OPL schema, one identity registered through the native
 * registration API (its session token is the measured cookie) and one tuple granting it `Document:d1#view`.
 *
 * Spoken to over the IPC channel (`gateway-process.ts`): it sends `{type: "ready", info}` once serving,
 * answers `{type: "cpu"}` with its CPU seconds (user + system, every thread), and stops on `{type: "stop"}`
 * or when the channel closes (the bench ended or died).
 *
 *   node --import tsx bench/gateway/gateway-host.ts --rules 100 --upstream http://127.0.0.1:PORT
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";
import { BENCH_OPL, SESSION_DOCUMENT, benchRules } from "./rules.js";

/** What the load generator learns about a started gateway. */
export interface GatewayInfo {
  /** Rules the gateway loaded (GET /rules). */
  readonly rules: number;
  /** The reverse proxy (Oathkeeper's 4455). */
  readonly proxyUrl: string;
  /** The API port: decisions API, ext_authz gRPC, rules (Oathkeeper's 4456). */
  readonly apiUrl: string;
  readonly identityId: string;
  readonly sessionToken: string;
}

/** Messages of the IPC protocol. */
export type HostMessage = { readonly type: "ready"; readonly info: GatewayInfo } | { readonly type: "cpu"; readonly id: number; readonly seconds: number };
export type ParentMessage = { readonly type: "cpu"; readonly id: number } | { readonly type: "stop" };

async function json<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rules: { type: "string" }, upstream: { type: "string" } } });
  const count = Number(values.rules);
  if (!(Number.isInteger(count) && count >= 1) || values.upstream === undefined || process.send === undefined) {
    process.stderr.write("usage: gateway-host.ts --rules N --upstream URL (with an IPC channel)\n");
    process.exit(2);
  }
  const send = (message: HostMessage): void => void process.send?.(message);
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-gateway-"));
  let server: RunningServer | undefined;
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    try {
      await server?.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    }
  };
  process.on("message", (message: ParentMessage) => {
    if (message.type === "cpu") {
      const usage = process.cpuUsage();
      send({ type: "cpu", id: message.id, seconds: (usage.user + usage.system) / 1e6 });
    } else if (message.type === "stop") {
      void stop();
    }
  });
  process.once("disconnect", () => void stop());
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());

  try {
    const rulesDir = join(dir, "rules");
    mkdirSync(rulesDir);
    writeFileSync(join(rulesDir, "rules.json"), JSON.stringify(benchRules(count, values.upstream)));
    writeFileSync(join(dir, "schema.ts"), BENCH_OPL);
    const config = loopbackConfig();
    config.namespaces.location = join(dir, "schema.ts");
    // Only the one registration below hashes a password; the measured requests never do.
    config.identity.argon2MemoryKib = 1024;
    config.identity.argon2Iterations = 1;
    config.proxy.ruleSources = [rulesDir];
    const verbose = process.env["GATEHOUSE_BENCH_VERBOSE"] === "1";
    server = await startServer(config, (line) => {
      if (verbose) process.stderr.write(`gateway(${count}): ${line}\n`);
    });

    const base = server.identity.publicBaseUrl;
    const flow = await json<{ id: string }>(`${base}/self-service/registration/api`);
    const registered = await json<{ identity: { id: string }; session_token: string }>(`${base}/self-service/registration?flow=${flow.id}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ method: "password", password: "correct horse battery staple 42", traits: { email: "bench@example.test" } }),
    });
    await json(`http://127.0.0.1:${server.planes.ports.write}/admin/relation-tuples`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ namespace: "Document", object: SESSION_DOCUMENT, relation: "viewers", subject_id: registered.identity.id }),
    });
    const apiUrl = `http://127.0.0.1:${server.proxy.ports.api}`;
    const rules = await json<unknown[]>(`${apiUrl}/rules`);
    send({
      type: "ready",
      info: {
        rules: rules.length,
        proxyUrl: `http://127.0.0.1:${server.proxy.ports.proxy}`,
        apiUrl,
        identityId: registered.identity.id,
        sessionToken: registered.session_token,
      },
    });
  } catch (error) {
    process.stderr.write(`gateway(${count}): ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await server?.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  }
}

await main();
