/**
 * Figure group 8's setup (bench/oauth2/): the three server processes start, both OAuth2 sides issue
 * client-credentials tokens in the same format and introspect them as active on every endpoint the group
 * measures, every series passes a short window, and a window with failed requests fails instead of being
 * measured.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareOAuth2Bench, type OAuth2Bench } from "../../bench/oauth2/index.js";
import { formPost, runWindow } from "../../bench/oauth2/load.js";

describe("bench group 8 (oauth2) setup", () => {
  let bench: OAuth2Bench;

  beforeAll(async () => {
    // prepareOAuth2Bench itself checks a token and its introspection (active, this client, scope) on every side.
    bench = await prepareOAuth2Bench({ store: "memory", concurrency: 4, tokenPool: 4 });
  }, 120_000);

  afterAll(async () => {
    await bench?.close();
  });

  it("issues tokens in the same opaque format on both sides and finds them active", async () => {
    for (const side of [bench.peer, bench.gatehouse]) {
      const { info } = side;
      const res = await bench.client.send(
        new URL(info.tokenUrl),
        formPost(info.tokenUrl, { grant_type: "client_credentials", scope: "read" }, { id: info.clientId, secret: info.clientSecret }),
      );
      expect(res.status, res.body).toBe(200);
      const token = (JSON.parse(res.body) as { access_token: string }).access_token;
      expect(token).toMatch(/^gh_at_[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/);
      const urls = [info.introspectUrl, ...(info.adminIntrospectUrl === undefined ? [] : [info.adminIntrospectUrl])];
      for (const url of urls) {
        const auth = url === info.adminIntrospectUrl ? undefined : { id: info.clientId, secret: info.clientSecret };
        const introspected = await bench.client.send(new URL(url), formPost(url, { token }, auth));
        expect(introspected.status, introspected.body).toBe(200);
        expect(JSON.parse(introspected.body)).toMatchObject({ active: true, client_id: info.clientId, scope: "read" });
      }
    }
    expect(bench.gatehouse.info.adminIntrospectUrl).toBeDefined();
  });

  it("measures every series without a failed request", async () => {
    const series = bench.scenarios.flat();
    expect(series.map((s) => s.key).sort()).toEqual(
      ["introspect.gatehouse", "introspect.gatehouse.admin", "introspect.peer", "noop", "token.gatehouse", "token.peer"].sort(),
    );
    for (const s of series) {
      const r = await runWindow(bench.client, s.target, { concurrency: 4, durationMs: 150, warmupMs: 20, serverCpuSeconds: () => s.server.cpuSeconds() });
      expect(r.count, s.key).toBeGreaterThan(0);
      expect(r.rate, s.key).toBeGreaterThan(0);
      expect(r.p99Ms, s.key).toBeGreaterThanOrEqual(r.p50Ms);
    }
  }, 60_000);

  it("fails a window whose requests fail (a wrong secret, an unknown token)", async () => {
    const { info } = bench.peer;
    const wrongSecret = formPost(info.tokenUrl, { grant_type: "client_credentials", scope: "read" }, { id: info.clientId, secret: "wrong" });
    await expect(
      runWindow(bench.client, { origin: new URL(info.tokenUrl), request: () => wrongSecret, accept: (s) => s === 200 }, { concurrency: 2, durationMs: 50, warmupMs: 0 }),
    ).rejects.toThrow(/failed request/);
    const admin = bench.gatehouse.info.adminIntrospectUrl as string;
    const unknown = formPost(admin, { token: `gh_at_${"a".repeat(43)}.${"b".repeat(43)}` });
    await expect(
      runWindow(
        bench.client,
        { origin: new URL(admin), request: () => unknown, accept: (s, body) => s === 200 && body.includes('"active":true') },
        { concurrency: 2, durationMs: 50, warmupMs: 0 },
      ),
    ).rejects.toThrow(/failed request/);
  });
});
