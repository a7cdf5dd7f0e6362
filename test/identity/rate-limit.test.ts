/**
 * Login and registration rate limiting through `gatehouse serve`: per identifier and per client IP, 429
 * with `Retry-After` before any password work, other accounts unaffected; and with Redis configured, two
 * servers share one budget.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig, type GatehouseConfig } from "../../cli/config/config.js";
import { resolveTestRedis } from "../cluster/harness.js";

function config(identifierAttempts: number, ipAttempts: number): GatehouseConfig {
  const c = loopbackConfig();
  c.identity.argon2MemoryKib = 1024;
  c.identity.argon2Iterations = 1;
  c.identity.rateLimitIdentifierAttempts = identifierAttempts;
  c.identity.rateLimitIpAttempts = ipAttempts;
  return c;
}

async function login(server: RunningServer, identifier: string, password = "wrong password here"): Promise<Response> {
  const base = server.identity.publicBaseUrl;
  const flow = (await (await fetch(`${base}/self-service/login/api`)).json()) as { id: string };
  return fetch(`${base}/self-service/login?flow=${flow.id}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ method: "password", identifier, password }),
  });
}

const servers: RunningServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

describe("identity rate limits", () => {
  it("refuses a fourth attempt on one identifier with 429 and Retry-After, and leaves other identifiers alone", async () => {
    const server = await startServer(config(3, 1000), () => {});
    servers.push(server);
    for (let i = 0; i < 3; i++) expect((await login(server, "victim@example.com")).status).toBe(400);
    const refused = await login(server, "Victim@Example.com ");
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(300);
    expect(await refused.json()).toMatchObject({ error: { code: 429, id: "rate_limit_exceeded" } });
    expect((await login(server, "someone-else@example.com")).status).toBe(400);
  });

  it("limits one client address across identifiers", async () => {
    const server = await startServer(config(1000, 4), () => {});
    servers.push(server);
    for (let i = 0; i < 4; i++) expect((await login(server, `user${i}@example.com`)).status).toBe(400);
    const refused = await login(server, "user9@example.com");
    expect(refused.status).toBe(429);
    expect((await refused.json()) as unknown).toMatchObject({ error: { reason: expect.stringContaining("from this address") } });
  });

  it("shares one budget between servers through Redis", async () => {
    const url = await resolveTestRedis("identity rate limits over Redis");
    if (url === undefined) return;
    const prefix = `gatehouse-test-rl-${randomBytes(4).toString("hex")}:`;
    const shared = () => {
      const c = config(2, 1000);
      c.redis.url = url;
      c.redis.keyPrefix = prefix;
      return c;
    };
    const a = await startServer(shared(), () => {});
    servers.push(a);
    const b = await startServer(shared(), () => {});
    servers.push(b);
    expect((await login(a, "shared@example.com")).status).toBe(400);
    expect((await login(b, "shared@example.com")).status).toBe(400);
    expect((await login(a, "shared@example.com")).status).toBe(429);
    const redis = new Redis(url);
    const keys = await redis.keys(`${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys);
    redis.disconnect();
  });
});
