/**
 * Session revocations over Redis pub/sub, against a real Redis (127.0.0.1:6379, or
 * `GATEHOUSE_TEST_REDIS_URL`) on a channel unique to this run: delivered to the other nodes and not back to
 * the sender, junk ignored, and "forget everything" after the subscriber lost its connection (messages sent
 * meanwhile are lost). Without Redis the suite is skipped with a loud warning, except under `CI=true`.
 */
import { randomUUID } from "node:crypto";
import { createServer, connect, type Server, type Socket } from "node:net";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { resolveTestRedis } from "../../test/cluster/harness.js";
import { createRedisSessionRevocations, type SessionRevocation, type SessionRevocationChannel } from "./session-revocations.js";

const url = await resolveTestRedis("services/identity/session-revocations.test.ts");
if (url === undefined) console.warn("!!! services/identity/session-revocations.test.ts: the Redis revocation tests are SKIPPED.\n");

async function eventually(check: () => boolean, withinMillis = 5_000): Promise<void> {
  const deadline = Date.now() + withinMillis;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A TCP proxy to Redis whose connections the test can cut. */
async function proxyTo(target: URL): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => sockets.delete(s));
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const proxied = new URL(target.toString());
  proxied.hostname = "127.0.0.1";
  proxied.port = String(port);
  return {
    url: proxied.toString(),
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.skipIf(url === undefined)("session revocations over Redis", () => {
  const channel = `gatehouse-test:identity:session-revoked:${randomUUID()}`;
  const opened: SessionRevocationChannel[] = [];
  const open = (options: Partial<Parameters<typeof createRedisSessionRevocations>[0]> = {}) => {
    const created = createRedisSessionRevocations({ url: url as string, channel, ...options });
    opened.push(created);
    return created;
  };
  afterAll(async () => {
    await Promise.all(opened.map((c) => c.close()));
  });

  it("delivers to the other nodes, not back to the sender, and ignores junk", async () => {
    const [a, b, c] = [open(), open(), open()];
    const got: Record<string, SessionRevocation[]> = { a: [], b: [], c: [] };
    a.subscribe((r) => got["a"]!.push(r));
    b.subscribe((r) => got["b"]!.push(r));
    const unsubscribe = c.subscribe((r) => got["c"]!.push(r));
    unsubscribe();
    // Subscriptions are set up asynchronously: publish until the first one arrives.
    await eventually(() => {
      if (got["b"]!.length === 0) void a.publish({ sessionId: "warm-up" });
      return got["b"]!.length > 0;
    });
    got["b"] = [];
    const raw = new Redis(url as string);
    try {
      await raw.publish(channel, "not json");
      await raw.publish(channel, JSON.stringify({ node: "elsewhere" }));
    } finally {
      raw.disconnect();
    }
    await a.publish({ sessionId: "s-1" });
    await b.publish({ identityId: "i-1" });
    await eventually(() => got["b"]!.some((r) => typeof r === "object" && "sessionId" in r && r.sessionId === "s-1"));
    await eventually(() => got["a"]!.some((r) => typeof r === "object" && "identityId" in r && r.identityId === "i-1"));
    expect(got["a"]!.filter((r) => typeof r === "object" && "sessionId" in r && r.sessionId === "s-1")).toEqual([]);
    expect(got["b"]).toEqual([{ sessionId: "s-1" }]);
    expect(got["c"]).toEqual([]);
  });

  it("tells its listeners to forget everything after the subscriber reconnects", async () => {
    const proxy = await proxyTo(new URL(url as string));
    const publisher = new Redis(url as string);
    try {
      const listening = open({ url: proxy.url, publisher });
      const sender = open();
      const got: SessionRevocation[] = [];
      listening.subscribe((r) => got.push(r));
      await eventually(() => {
        if (got.length === 0) void sender.publish({ sessionId: "before" });
        return got.length > 0;
      });
      got.length = 0;
      proxy.cut();
      await eventually(() => got.includes("all"));
      // And it receives again.
      await eventually(() => {
        if (!got.some((r) => typeof r === "object")) void sender.publish({ sessionId: "after" });
        return got.some((r) => typeof r === "object" && "sessionId" in r && r.sessionId === "after");
      });
    } finally {
      publisher.disconnect();
      await proxy.close();
    }
  });

  it("reports a failed publish and does not throw", async () => {
    const errors: string[] = [];
    const down = createRedisSessionRevocations({ url: "redis://127.0.0.1:1", channel, onError: (e) => errors.push(e.message) });
    try {
      await down.publish({ sessionId: "x" });
      expect(errors.some((m) => m.includes("cannot publish on Redis at 127.0.0.1:1"))).toBe(true);
    } finally {
      await down.close();
    }
  });
});
