import { describe, expect, it } from "vitest";
import { createMemoryCredentialCache, credentialCacheKey } from "./memory-credential-cache.js";

describe("credentialCacheKey", () => {
  it("is a SHA-256 hex over length-prefixed pieces", () => {
    expect(credentialCacheKey("ns", ["a", "bc"])).toMatch(/^[0-9a-f]{64}$/);
    expect(credentialCacheKey("ns", ["a", "bc"])).not.toBe(credentialCacheKey("ns", ["ab", "c"]));
    expect(credentialCacheKey("ns", ["a"])).not.toBe(credentialCacheKey("nsa", []));
    expect(credentialCacheKey("ns", ["é"])).not.toBe(credentialCacheKey("ns", ["e"]));
    expect(credentialCacheKey("ns", ["a", "bc"])).toBe(credentialCacheKey("ns", ["a", "bc"]));
  });
});

describe("memory credential cache", () => {
  it("stores JSON values per namespace and parts for their TTL", async () => {
    const clock = { now: 1_000_000 };
    const cache = createMemoryCredentialCache({ now: () => clock.now });
    await cache.set("authn.x", ["tok"], { subject: "s" }, 1_000);
    expect(await cache.get("authn.x", ["tok"])).toEqual({ subject: "s" });
    expect(await cache.get("authn.y", ["tok"])).toBeUndefined();
    expect(await cache.get("authn.x", ["tok", ""])).toBeUndefined();
    clock.now += 999;
    expect(await cache.get("authn.x", ["tok"])).toEqual({ subject: "s" });
    clock.now += 2;
    expect(await cache.get("authn.x", ["tok"])).toBeUndefined();
  });

  it("does not store with a TTL <= 0 and returns copies", async () => {
    const cache = createMemoryCredentialCache();
    await cache.set("n", ["a"], { v: 1 }, 0);
    await cache.set("n", ["b"], { v: 1 }, -5);
    expect(await cache.get("n", ["a"])).toBeUndefined();
    expect(await cache.get("n", ["b"])).toBeUndefined();
    await cache.set("n", ["c"], { v: 1 }, 60_000);
    (await cache.get("n", ["c"]) as { v: number }).v = 2;
    expect(await cache.get("n", ["c"])).toEqual({ v: 1 });
  });

  it("evicts the least recently used beyond maxEntries", async () => {
    const cache = createMemoryCredentialCache({ maxEntries: 2 });
    await cache.set("n", ["1"], 1, 60_000);
    await cache.set("n", ["2"], 2, 60_000);
    await cache.get("n", ["1"]);
    await cache.set("n", ["3"], 3, 60_000);
    expect(await cache.get("n", ["1"])).toBe(1);
    expect(await cache.get("n", ["2"])).toBeUndefined();
    expect(await cache.get("n", ["3"])).toBe(3);
    expect(() => createMemoryCredentialCache({ maxEntries: 0 })).toThrow(RangeError);
  });
});
