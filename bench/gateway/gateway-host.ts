/**
 * Child-process entry of figure group 9, in one of two modes:
 *
 * - gateway (`--rules N`): `gatehouse serve` (`startServer(loopbackConfig())`: engine, identity, OAuth2 and
 *   the gateway in one process, as deployed) with a generated rule set of N rules forwarding to
 *   `--upstream URL`, the bench's OPL schema, one identity registered through the native registration API
 *   (its session token is the measured cookie) and one tuple granting it `Document:d1#view`;
 * - bare (`--bare`): series (a2)'s ceiling, a minimal Node reverse proxy to `--upstream URL` (`bareProxy`
 *   below: the data path of `services/proxy/front/reverse-proxy.ts` minus the access pipeline). It imports
 *   nothing of the gateway (the gateway mode's imports are dynamic, so this process never loads them).
 *
 * Spoken to over the IPC channel (`gateway-process.ts`): it sends `{type: "ready", info}` once serving,
 * answers `{type: "cpu"}` with its CPU seconds (user + system, every thread), and stops on `{type: "stop"}`
 * or when the channel closes (the bench ended or died).
 *
 *   node --import tsx bench/gateway/gateway-host.ts --rules 100 --upstream http://127.0.0.1:PORT
 *   node --import tsx bench/gateway/gateway-host.ts --bare --upstream http://127.0.0.1:PORT
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import type { RunningServer } from "../../cli/commands/serve.js";

/** What the load generator learns about a started host. */
export interface GatewayInfo {
  /** False for the full gateway; true for the bare reverse proxy, which has only `proxyUrl`. */
  readonly bare: boolean;
  /** Rules the gateway loaded (GET /rules); 0 for the bare proxy (it has none). */
  readonly rules: number;
  /** The reverse proxy (Oathkeeper's 4455). */
  readonly proxyUrl: string;
  /** The API port: decisions API, ext_authz gRPC, rules (Oathkeeper's 4456); "" for the bare proxy. */
  readonly apiUrl: string;
  /** The registered identity and its session token; "" for the bare proxy. */
  readonly identityId: string;
  readonly sessionToken: string;
}

/** Messages of the IPC protocol. */
export type HostMessage = { readonly type: "ready"; readonly info: GatewayInfo } | { readonly type: "cpu"; readonly id: number; readonly seconds: number };
export type ParentMessage = { readonly type: "cpu"; readonly id: number } | { readonly type: "stop" };

/** Hop-by-hop headers (RFC 9110 7.6.1), dropped both ways (plus every `proxy-*`). */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"]);
const hopByHop = (name: string): boolean => HOP_BY_HOP.has(name) || name.startsWith("proxy-");

/**
 * The (a2) ceiling: what the reverse proxy does per request minus the access pipeline. The client's headers
 * minus hop-by-hop, `host` and `x-forwarded-*` set, `Pool.stream` with the reverse proxy's pool options, the
 * upstream's status and headers minus hop-by-hop, the body streamed both ways.
 */
function bareProxy(upstream: string): { server: Server; pool: Pool } {
  const target = new URL(upstream);
  const pool = new Pool(target.origin, { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 });
  const server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0 }, (req, res) => {
    const headers: IncomingHttpHeaders = {};
    for (const name in req.headers) if (!hopByHop(name)) headers[name] = req.headers[name];
    const hasBody = req.headers["content-length"] !== undefined ? req.headers["content-length"] !== "0" : req.headers["transfer-encoding"] !== undefined;
    if (!hasBody) delete headers["content-length"];
    headers["x-forwarded-for"] = req.socket.remoteAddress ?? "";
    headers["x-forwarded-proto"] = "http";
    headers["x-forwarded-host"] = req.headers.host ?? "";
    headers.host = target.host;
    const abort = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    const forward = { path: req.url ?? "/", method: req.method as "GET", headers, body: hasBody ? req : null, signal: abort.signal };
    pool
      .stream(forward, ({ statusCode, headers: upstreamHeaders }) => {
        const out: OutgoingHttpHeaders = {};
        for (const name in upstreamHeaders) if (!hopByHop(name)) out[name] = upstreamHeaders[name];
        res.writeHead(statusCode, out);
        return res;
      })
      .catch(() => {
        if (abort.signal.aborted) return;
        if (res.headersSent) res.destroy();
        else res.writeHead(502).end();
      });
  });
  return { server, pool };
}

async function json<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Starts the full gateway (`gatehouse serve`) with `count` rules in `dir`; its info once it serves. */
async function startGateway(count: number, upstream: string, dir: string, started: (server: RunningServer) => void): Promise<GatewayInfo> {
  const [{ startServer }, { loopbackConfig }, { BENCH_OPL, SESSION_DOCUMENT, benchRules }] = await Promise.all([
    import("../../cli/commands/serve.js"),
    import("../../cli/config/config.js"),
    import("./rules.js"),
  ]);
  const rulesDir = join(dir, "rules");
  mkdirSync(rulesDir);
  writeFileSync(join(rulesDir, "rules.json"), JSON.stringify(benchRules(count, upstream)));
  writeFileSync(join(dir, "schema.ts"), BENCH_OPL);
  const config = loopbackConfig();
  config.namespaces.location = join(dir, "schema.ts");
  // Only the one registration below hashes a password; the measured requests never do.
  config.identity.argon2MemoryKib = 1024;
  config.identity.argon2Iterations = 1;
  config.proxy.ruleSources = [rulesDir];
  const verbose = process.env["GATEHOUSE_BENCH_VERBOSE"] === "1";
  const server = await startServer(config, (line) => {
    if (verbose) process.stderr.write(`gateway(${count}): ${line}\n`);
  });
  started(server);

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
  return {
    bare: false,
    rules: rules.length,
    proxyUrl: `http://127.0.0.1:${server.proxy.ports.proxy}`,
    apiUrl,
    identityId: registered.identity.id,
    sessionToken: registered.session_token,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rules: { type: "string" }, upstream: { type: "string" }, bare: { type: "boolean", default: false } } });
  const bare = values.bare === true;
  const count = Number(values.rules);
  if ((bare ? values.rules !== undefined : !(Number.isInteger(count) && count >= 1)) || values.upstream === undefined || process.send === undefined) {
    process.stderr.write("usage: gateway-host.ts (--rules N | --bare) --upstream URL (with an IPC channel)\n");
    process.exit(2);
  }
  const upstream = values.upstream;
  const label = bare ? "bare proxy" : `gateway(${count})`;
  const send = (message: HostMessage): void => void process.send?.(message);
  const dir = bare ? undefined : mkdtempSync(join(tmpdir(), "gatehouse-bench-gateway-"));
  let server: RunningServer | undefined;
  let proxy: ReturnType<typeof bareProxy> | undefined;
  const cleanUp = async (): Promise<void> => {
    try {
      await server?.stop();
      if (proxy !== undefined) {
        proxy.server.closeAllConnections();
        await Promise.all([new Promise((resolve) => proxy?.server.close(resolve)), proxy.pool.close()]);
      }
    } finally {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }
  };
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    try {
      await cleanUp();
    } finally {
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
    let info: GatewayInfo;
    if (dir === undefined) {
      proxy = bareProxy(upstream);
      const { server: http } = proxy;
      await new Promise<void>((resolve, reject) => http.once("error", reject).listen(0, "127.0.0.1", resolve));
      const address = http.address();
      if (address === null || typeof address === "string") throw new Error("the bare proxy has no port");
      info = { bare: true, rules: 0, proxyUrl: `http://127.0.0.1:${address.port}`, apiUrl: "", identityId: "", sessionToken: "" };
    } else {
      info = await startGateway(count, upstream, dir, (s) => (server = s));
    }
    send({ type: "ready", info });
  } catch (error) {
    process.stderr.write(`${label}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanUp().catch(() => {});
    process.exit(1);
  }
}

await main();
