import { describe, expect, it } from "vitest";
import { createRateLimiter, createSubmitRateLimiter, DEFAULT_SUBMIT_RATE_LIMITS, type RateLimitRule } from "./index.js";

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function memoryLimiter(rules: RateLimitRule | RateLimitRule[], extra: { maxKeys?: number } = {}) {
  const clock = manualClock();
  return { clock, limiter: createRateLimiter({ store: "memory", rules, now: clock.now, ...extra }) };
}

describe("memory rate limiter", () => {
  it("allows up to the limit, then denies with the time until the oldest request leaves the window", async () => {
    const { clock, limiter } = memoryLimiter({ limit: 3, windowSeconds: 60 });
    expect(await limiter.consume("k")).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 2 });
    clock.advance(10_000);
    expect(await limiter.consume("k")).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 1 });
    clock.advance(10_000);
    expect(await limiter.consume("k")).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 });
    // t=20s: the first request (t=0) leaves the window at t=60s.
    expect(await limiter.consume("k")).toEqual({ allowed: false, retryAfterSeconds: 40, remaining: 0 });
    clock.advance(39_500);
    expect(await limiter.consume("k")).toEqual({ allowed: false, retryAfterSeconds: 1, remaining: 0 });
    clock.advance(500); // t=60s exactly: the first request no longer counts
    expect(await limiter.consume("k")).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 0 });
    // The second one (t=10s) is next to leave.
    expect(await limiter.consume("k")).toEqual({ allowed: false, retryAfterSeconds: 10, remaining: 0 });
    expect(limiter.stats()).toMatchObject({ store: "memory", allowed: 4, denied: 3, keys: 1, evictions: 0, failOpen: 0, degraded: false });
  });

  it("is a sliding window: never more than the limit in any window, whatever the boundaries", async () => {
    const { clock, limiter } = memoryLimiter({ limit: 10, windowSeconds: 10 });
    const allowedAt: number[] = [];
    // One request every 250 ms for a minute.
    for (let i = 0; i < 240; i++) {
      if ((await limiter.consume("k")).allowed) allowedAt.push(clock.now());
      clock.advance(250);
    }
    for (const start of allowedAt) expect(allowedAt.filter((t) => t >= start && t < start + 10_000).length).toBeLessThanOrEqual(10);
    // ... and the full budget is used: 10 per 10 s over 60 s.
    expect(allowedAt.length).toBe(60);
  });

  it("does not count denied requests: hammering does not extend the wait", async () => {
    const { clock, limiter } = memoryLimiter({ limit: 2, windowSeconds: 30 });
    await limiter.consume("k");
    await limiter.consume("k");
    for (let i = 0; i < 50; i++) {
      expect((await limiter.consume("k")).allowed).toBe(false);
      clock.advance(500);
    }
    clock.advance(5_000); // t=30s
    expect((await limiter.consume("k")).allowed).toBe(true);
  });

  it("applies every rule (burst and sustained) and reports the longest wait and the tightest remainder", async () => {
    const { clock, limiter } = memoryLimiter([
      { limit: 2, windowSeconds: 1 },
      { limit: 5, windowSeconds: 60 },
    ]);
    expect(await limiter.consume("k")).toMatchObject({ allowed: true, remaining: 1 });
    expect(await limiter.consume("k")).toMatchObject({ allowed: true, remaining: 0 });
    expect(await limiter.consume("k")).toEqual({ allowed: false, retryAfterSeconds: 1, remaining: 0 });
    clock.advance(1_000);
    expect(await limiter.consume("k")).toMatchObject({ allowed: true, remaining: 1 });
    expect(await limiter.consume("k")).toMatchObject({ allowed: true, remaining: 0 });
    clock.advance(1_000);
    expect(await limiter.consume("k")).toMatchObject({ allowed: true, remaining: 0 }); // 5th in the minute
    clock.advance(1_000);
    // The per-second rule has room, the per-minute one does not until t=60s.
    expect(await limiter.consume("k")).toEqual({ allowed: false, retryAfterSeconds: 57, remaining: 0 });
  });

  it("keeps keys apart, and reset forgets one", async () => {
    const { limiter } = memoryLimiter({ limit: 1, windowSeconds: 60 });
    expect((await limiter.consume("alice")).allowed).toBe(true);
    expect((await limiter.consume("alice")).allowed).toBe(false);
    expect((await limiter.consume("bob")).allowed).toBe(true);
    expect((await limiter.consume("Alice")).allowed).toBe(true); // keys are exact; callers normalise
    await limiter.reset("alice");
    expect((await limiter.consume("alice")).allowed).toBe(true);
    expect((await limiter.consume("bob")).allowed).toBe(false);
  });

  it("drops idle keys and caps the number of keys, evicting the least recently used", async () => {
    const { clock, limiter } = memoryLimiter({ limit: 1, windowSeconds: 60 }, { maxKeys: 100 });
    for (let i = 0; i < 50; i++) await limiter.consume(`idle-${i}`);
    expect(limiter.stats().keys).toBe(50);
    clock.advance(60_000);
    await limiter.consume("fresh");
    // Every idle key left; they were not "evicted" (their state no longer mattered).
    expect(limiter.stats()).toMatchObject({ keys: 1, evictions: 0 });

    for (let i = 0; i < 150; i++) await limiter.consume(`spray-${i}`);
    expect(limiter.stats().keys).toBe(100);
    expect(limiter.stats().evictions).toBe(51);
    // The most recent keys are still limited; the evicted ones start afresh.
    expect((await limiter.consume("spray-149")).allowed).toBe(false);
    expect((await limiter.consume("spray-0")).allowed).toBe(true);
  });

  it("a denied key is used recently and survives eviction before keys left untouched", async () => {
    const { limiter } = memoryLimiter({ limit: 1, windowSeconds: 60 }, { maxKeys: 3 });
    await limiter.consume("a");
    await limiter.consume("b");
    await limiter.consume("c");
    expect((await limiter.consume("a")).allowed).toBe(false); // touches a
    await limiter.consume("d"); // evicts b, the least recently used
    expect((await limiter.consume("a")).allowed).toBe(false);
    expect((await limiter.consume("b")).allowed).toBe(true);
  });

  it("hashes very long keys instead of holding them", async () => {
    const { limiter } = memoryLimiter({ limit: 1, windowSeconds: 60 });
    const long = "x".repeat(100_000);
    expect((await limiter.consume(long)).allowed).toBe(true);
    expect((await limiter.consume(long)).allowed).toBe(false);
    expect((await limiter.consume(`${long}y`)).allowed).toBe(true);
  });

  it("refuses bad rules and options", () => {
    expect(() => createRateLimiter({ store: "memory", rules: [] })).toThrow(/at least one rule/);
    expect(() => createRateLimiter({ store: "memory", rules: { limit: 0, windowSeconds: 1 } })).toThrow(/rules\[0\]\.limit/);
    expect(() => createRateLimiter({ store: "memory", rules: { limit: 1.5, windowSeconds: 1 } })).toThrow(/rules\[0\]\.limit/);
    expect(() => createRateLimiter({ store: "memory", rules: [{ limit: 1, windowSeconds: 1 }, { limit: 1, windowSeconds: 0 }] })).toThrow(/rules\[1\]\.windowSeconds/);
    expect(() => createRateLimiter({ store: "memory", rules: { limit: 1, windowSeconds: Number.NaN } })).toThrow(/windowSeconds/);
    expect(() => createRateLimiter({ store: "memory", rules: { limit: 1, windowSeconds: 1 }, maxKeys: 0 })).toThrow(/maxKeys/);
  });
});

describe("submit rate limiter (login/registration)", () => {
  it("defaults to 10 per identifier and 100 per IP, per 5 minutes", () => {
    expect(DEFAULT_SUBMIT_RATE_LIMITS).toEqual({ perIdentifier: [{ limit: 10, windowSeconds: 300 }], perIp: [{ limit: 100, windowSeconds: 300 }] });
  });

  it("limits attempts per normalised identifier across IPs", async () => {
    const clock = manualClock();
    const limiter = createSubmitRateLimiter({ store: "memory", now: clock.now });
    for (let i = 0; i < 10; i++) {
      const decision = await limiter.consume({ ip: `10.0.0.${i}`, identifier: i % 2 === 0 ? "Ada@Example.com " : "ada@example.com" });
      expect(decision.allowed).toBe(true);
    }
    const denied = await limiter.consume({ ip: "10.0.1.1", identifier: "ADA@example.com" });
    expect(denied).toEqual({ allowed: false, retryAfterSeconds: 300, remaining: 0, scope: "identifier" });
    expect((await limiter.consume({ ip: "10.0.1.1", identifier: "grace@example.com" })).allowed).toBe(true);
    clock.advance(300_000);
    expect((await limiter.consume({ ip: "10.0.1.1", identifier: "ada@example.com" })).allowed).toBe(true);
    await limiter.close();
  });

  it("limits attempts per IP across identifiers, without using up the identifiers' budgets", async () => {
    const clock = manualClock();
    const limiter = createSubmitRateLimiter({
      store: "memory",
      now: clock.now,
      rules: { perIp: [{ limit: 5, windowSeconds: 60 }], perIdentifier: [{ limit: 3, windowSeconds: 60 }] },
    });
    for (let i = 0; i < 5; i++) expect((await limiter.consume({ ip: "192.0.2.1", identifier: `user${i}@example.com` })).allowed).toBe(true);
    // The IP is throttled; trying "victim" from it does not count against "victim".
    for (let i = 0; i < 5; i++) {
      expect(await limiter.consume({ ip: "192.0.2.1", identifier: "victim@example.com" })).toMatchObject({ allowed: false, scope: "ip", retryAfterSeconds: 60 });
    }
    const fromElsewhere = await limiter.consume({ ip: "198.51.100.7", identifier: "victim@example.com" });
    expect(fromElsewhere).toEqual({ allowed: true, retryAfterSeconds: 0, remaining: 2 });
    expect(limiter.stats().perIp).toMatchObject({ allowed: 6, denied: 5 });
    expect(limiter.stats().perIdentifier).toMatchObject({ allowed: 6, denied: 0 });
    // Missing parts are not limited.
    expect((await limiter.consume({})).allowed).toBe(true);
    expect((await limiter.consume({ identifier: "  " })).allowed).toBe(true);
  });
});
