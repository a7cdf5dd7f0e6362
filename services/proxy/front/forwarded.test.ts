import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { addressedUrl, clientAddress, trustedProxies } from "./forwarded.js";

function req(peer: string, headers: Record<string, string> = {}): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers } as unknown as IncomingMessage;
}

describe("trusted proxies", () => {
  it("matches IPv4, IPv6, single hosts and IPv4-mapped peers", () => {
    const trusted = trustedProxies(["10.0.0.0/8", "::1/128", "192.0.2.5"]);
    expect(trusted.has("10.1.2.3")).toBe(true);
    expect(trusted.has("::ffff:10.1.2.3")).toBe(true);
    expect(trusted.has("::1")).toBe(true);
    expect(trusted.has("192.0.2.5")).toBe(true);
    expect(trusted.has("192.0.2.6")).toBe(false);
    expect(trusted.has("not an ip")).toBe(false);
  });

  it("refuses malformed ranges naming the setting and the entry", () => {
    expect(() => trustedProxies(["10.0.0.0/33"], "proxy.trusted_proxies")).toThrow('proxy.trusted_proxies[0]: "10.0.0.0/33" has an invalid prefix length');
    expect(() => trustedProxies(["10.0.0.0/8", "example.com"], "x")).toThrow('x[1]: "example.com" is not an IP address');
  });
});

describe("client address", () => {
  const trusted = trustedProxies(["10.0.0.0/8"]);
  it("is the peer unless the peer is trusted", () => {
    expect(clientAddress(req("198.51.100.1", { "x-forwarded-for": "203.0.113.1" }), trusted)).toBe("198.51.100.1");
  });
  it("is the right-most untrusted X-Forwarded-For hop behind trusted proxies (left hops may be forged)", () => {
    expect(clientAddress(req("10.0.0.2", { "x-forwarded-for": "6.6.6.6, 203.0.113.1, 10.0.0.9" }), trusted)).toBe("203.0.113.1");
    expect(clientAddress(req("10.0.0.2"), trusted)).toBe("10.0.0.2");
  });
});

describe("addressedUrl", () => {
  it("keeps a path that starts with // a path, never an authority", () => {
    expect(addressedUrl("http", "api.test", "//evil.test/x").host).toBe("api.test");
  });
  it("refuses hosts that would change the URL's authority", () => {
    expect(() => addressedUrl("http", "api.test@evil.test", "/")).toThrow(/not a valid URL/);
    expect(() => addressedUrl("http", "api.test/x", "/")).toThrow(/not a valid URL/);
  });
});
