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

async function login(server: RunningServer, identifier: string, password = "wrong password here", forwardedFor?: string): Promise<Response> {
  const base = server.identity.publicBaseUrl;
  const flow = (await (await fetch(`${base}/self-service/login/api`)).json()) as { id: string };
  return fetch(`${base}/self-service/login?flow=${flow.id}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor }) },
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

  it("ignores X-Forwarded-For by default, and behind one trusted proxy counts the address it appended", async () => {
    const direct = await startServer(config(1000, 2), () => {});
    servers.push(direct);
    // Without trusted proxies a client cannot dodge the limit by inventing addresses.
    expect((await login(direct, "a@example.com", undefined, "10.0.0.1")).status).toBe(400);
    expect((await login(direct, "b@example.com", undefined, "10.0.0.2")).status).toBe(400);
    expect((await login(direct, "c@example.com", undefined, "10.0.0.3")).status).toBe(429);

    const c = config(1000, 2);
    c.identity.trustedProxyHops = 1;
    const proxied = await startServer(c, () => {});
    servers.push(proxied);
    // The proxy appended 192.0.2.7 (the right-most entry); the left one is the client's own claim.
    for (let i = 0; i < 2; i++) expect((await login(proxied, `x${i}@example.com`, undefined, `203.0.113.${i}, 192.0.2.7`)).status).toBe(400);
    expect((await login(proxied, "x9@example.com", undefined, "198.51.100.1, 192.0.2.7")).status).toBe(429);
    // Another client behind the same proxy has its own budget.
    expect((await login(proxied, "y@example.com", undefined, "192.0.2.8")).status).toBe(400);
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
