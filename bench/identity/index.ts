/**
 * Figure group 7, the identity service (issue 6), side by side in one process and one run:
 * - login throughput (native flow: create + submit with a password) against the raw argon2id verification
 *   rate of the same hasher settings on the same machine (goal: login >= 90% of the hash rate);
 * - whoami throughput against a no-op HTTP route on the same server (`/health/alive` on the public plane).
 * The server is `gatehouse serve` on the in-memory store with the production argon2id cost. Client and
 * server share the process, so HTTP figures are lower than a separate load generator would show; the
 * ratios compare like with like.
 */
import { Agent, request as httpRequest } from "node:http";
import { availableParallelism } from "node:os";
import { startServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";
import { createPasswordHasher } from "../../services/identity/password/index.js";
import type { Figure } from "../report-types.js";
import type { BenchContext } from "../support/context.js";
import { measureRate, progress, repeat } from "../support/measure.js";

const GROUP = 7;
const PASSWORD = "correct horse battery staple";

export async function runIdentityFigures(ctx: BenchContext): Promise<Figure[]> {
  const config = loopbackConfig();
  config.engine.evaluatorThreads = 0;
  const server = await startServer(config, () => {});
  let agent: Agent | undefined;
  const base = server.identity.publicBaseUrl;
  try {
    // A keep-alive node:http client: the load generator shares the process (and the 2 cores) with the
    // server, so it should cost as little as possible (Node's fetch took a fifth of the CPU here). Every
    // figure uses it, so the ratios compare like with like.
    agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const keepAlive = agent;
    const json = (method: "GET" | "POST", url: string, body?: unknown, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; body: Record<string, unknown> | undefined }>((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = httpRequest(
          url,
          {
            method,
            agent: keepAlive,
            headers: {
              accept: "application/json",
              ...(payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) }),
              ...headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => {
              const text = Buffer.concat(chunks).toString("utf8");
              resolve({ status: res.statusCode ?? 0, body: text === "" ? undefined : (JSON.parse(text) as Record<string, unknown>) });
            });
            res.on("error", reject);
          },
        );
        req.on("error", reject);
        req.end(payload);
      });
    // One identity to log in as, registered through the API.
    const flow = await json("GET", `${base}/self-service/registration/api`);
    const registered = await json("POST", `${base}/self-service/registration?flow=${String(flow.body?.["id"])}`, {
      method: "password",
      traits: { email: "bench@example.com" },
      password: PASSWORD,
    });
    if (registered.status !== 200) throw new Error(`registration failed: ${registered.status}`);
    const token = String(registered.body?.["session_token"]);

    const cpus = availableParallelism();
    const hashWindow = ctx.quick ? 1_500 : 5_000;
    const httpWindow = ctx.throughputMs * 2;

    // The same hasher settings `gatehouse serve` uses by default, verifying a real stored hash.
    const hasher = createPasswordHasher({
      argon2: { memoryKiB: config.identity.argon2MemoryKib, iterations: config.identity.argon2Iterations, parallelism: config.identity.argon2Parallelism },
    });
    const phc = await hasher.hash(PASSWORD);
    progress("figure 7: argon2id verification rate");
    const hashRate = await repeat(ctx.runs, () =>
      measureRate(async () => ((await hasher.verify(PASSWORD, phc)).valid ? 1 : 0), { concurrency: cpus * 2, durationMs: hashWindow, warmupMs: 300 }),
    );
    progress("figure 7: native login rate");
    const loginRate = await repeat(ctx.runs, () =>
      measureRate(
        async () => {
          const login = await json("GET", `${base}/self-service/login/api`);
          const done = await json("POST", `${base}/self-service/login?flow=${String(login.body?.["id"])}`, {
            method: "password",
            identifier: "bench@example.com",
            password: PASSWORD,
          });
          if (done.status !== 200) throw new Error(`login failed: ${done.status}`);
          return 1;
        },
        { concurrency: cpus * 2, durationMs: hashWindow, warmupMs: 300 },
      ),
    );
    progress("figure 7: whoami and the no-op route");
    const whoamiRate = await repeat(ctx.runs, () =>
      measureRate(
        async () => {
          const res = await json("GET", `${base}/sessions/whoami`, undefined, { "x-session-token": token });
          if (res.status !== 200) throw new Error(`whoami failed: ${res.status}`);
          return 1;
        },
        { concurrency: 32, durationMs: httpWindow },
      ),
    );
    const noopRate = await repeat(ctx.runs, () =>
      measureRate(
        async () => {
          const res = await json("GET", `${base}/health/alive`);
          if (res.status !== 200) throw new Error(`no-op route failed: ${res.status}`);
          return 1;
        },
        { concurrency: 32, durationMs: httpWindow },
      ),
    );
    const argon = { memoryKiB: config.identity.argon2MemoryKib, iterations: config.identity.argon2Iterations, parallelism: config.identity.argon2Parallelism };
    return [
      { id: "identity.hash.argon2id.verify", group: GROUP, title: "argon2id verifications (same hasher, no HTTP)", unit: "verifies/s", ...hashRate, params: { ...argon, concurrency: cpus * 2 } },
      {
        id: "identity.login.native",
        group: GROUP,
        title: "native login: create flow + submit password",
        unit: "logins/s",
        ...loginRate,
        ratio: { against: "identity.hash.argon2id.verify", value: loginRate.median / hashRate.median },
        params: { ...argon, concurrency: cpus * 2 },
        goal: { text: ">= 90% of the argon2id rate", on: "ratio", op: ">=", target: 0.9 },
      },
      { id: "identity.noop", group: GROUP, title: "no-op route (/health/alive) on the public plane", unit: "req/s", ...noopRate, params: { concurrency: 32 } },
      {
        id: "identity.whoami",
        group: GROUP,
        title: "GET /sessions/whoami with a session token",
        unit: "req/s",
        ...whoamiRate,
        ratio: { against: "identity.noop", value: whoamiRate.median / noopRate.median },
        params: { concurrency: 32, store: "memory" },
      },
    ];
  } finally {
    agent?.destroy();
    await server.stop();
  }
}
