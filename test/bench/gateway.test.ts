/**
 * Figure group 9's setup (bench/gateway/): the upstream, the bare proxy and a gateway process start, the
 * bare proxy forwards as a reverse proxy should (hop-by-hop headers dropped both ways, `Host` and
 * `X-Forwarded-*` set, bodies streamed), the gateway loads the generated rules and answers every series as
 * measured (forwarded to the upstream after the noop rule and after cookie_session + permission + header; an
 * OK ext_authz Check carrying the identity's `x-user`), every
 * series passes a short window with its CPU counted, a window with failed requests fails instead of being
 * measured, and the figures carry the ratios and goals of the issue. One gateway with 100 rules keeps it to a
 * few seconds; the 10,000-rule set is checked against the matcher in-process.
 */
import { createServer, get, request, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCheckClient, getRequest } from "../../bench/gateway/clients.js";
import { describeGateway, gatewayFigures, measureSeries, prepareGatewayBench, type GatewayBench, type GatewaySample, type Series } from "../../bench/gateway/index.js";
import { startBareProxyProcess } from "../../bench/gateway/gateway-process.js";
import { BENCH_HOST, NOOP_PATH, SESSION_COOKIE, SESSION_PATH, benchRules } from "../../bench/gateway/rules.js";
import { runWindow } from "../../bench/oauth2/load.js";
import { applyGoals } from "../../bench/support/goals.js";
import { CheckRequestSchema } from "../../proto/gen/envoy/service/auth/v3/external_auth_pb.js";
import { parseRuleDocument } from "../../services/proxy/rules/parse-rules.js";
import { createRuleMatcher } from "../../services/proxy/rules/matcher.js";

/** A GET with a Host header (fetch cannot set one). */
function getWithHost(url: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    }).on("error", reject);
  });
}

describe("bench group 9 (gateway) rule sets", () => {
  it("holds exactly N rules with unique ids, and only the measured rules match the measured requests", () => {
    expect(benchRules(1, "http://127.0.0.1:9")).toHaveLength(2);
    const rules = parseRuleDocument(JSON.stringify(benchRules(10_000, "http://127.0.0.1:9")), "rules.json");
    expect(rules).toHaveLength(10_000);
    expect(new Set(rules.map((r) => r.id)).size).toBe(10_000);
    const matcher = createRuleMatcher(rules, "regexp");
    const match = (path: string) => matcher.match({ method: "GET", url: `http://${BENCH_HOST}${path}`, headers: {} }).rule.id;
    expect(match(NOOP_PATH)).toBe("bench-noop");
    expect(match(SESSION_PATH)).toBe("bench-session");
    // The wildcard-host fillers are indexed by their host's literal end, so they are not candidates here.
    expect(matcher.candidates({ method: "GET", url: `http://${BENCH_HOST}${NOOP_PATH}`, headers: {} }).map((r) => r.id)).toEqual(["bench-noop"]);
  });
});

describe("bench group 9 (gateway) bare proxy", () => {
  it("forwards to the upstream without hop-by-hop headers, with Host and X-Forwarded-*, streaming the body", async () => {
    let seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string } | undefined;
    const echo = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString() };
        res.writeHead(201, { "content-type": "text/plain", "keep-alive": "timeout=7, max=3", "proxy-authenticate": "Basic", "x-echo": "1" });
        res.end(`echo:${seen.body}`);
      });
    });
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    const upstream = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    const proxy = await startBareProxyProcess(upstream);
    try {
      expect(proxy.info).toMatchObject({ bare: true, rules: 0, apiUrl: "", identityId: "", sessionToken: "" });
      const res = await new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
        const req = request(
          `${proxy.info.proxyUrl}/a/b?c=1`,
          { method: "POST", headers: { host: BENCH_HOST, te: "trailers", "proxy-authorization": "Basic x", "keep-alive": "timeout=7, max=3", "x-kept": "yes", "content-type": "text/plain" } },
          (r) => {
            const chunks: Buffer[] = [];
            r.on("data", (c: Buffer) => chunks.push(c));
            r.on("end", () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body: Buffer.concat(chunks).toString() }));
          },
        ).on("error", reject);
        req.write("hello ");
        req.end("world");
      });
      expect(res).toMatchObject({ status: 201, body: "echo:hello world", headers: { "x-echo": "1" } });
      expect(res.headers["proxy-authenticate"]).toBeUndefined();
      expect(res.headers["keep-alive"]).not.toContain("max=3");
      expect(seen).toMatchObject({ method: "POST", url: "/a/b?c=1", body: "hello world" });
      expect(seen?.headers).toMatchObject({
        host: new URL(upstream).host,
        "x-forwarded-host": BENCH_HOST,
        "x-forwarded-proto": "http",
        "x-forwarded-for": "127.0.0.1",
        "x-kept": "yes",
      });
      for (const name of ["te", "proxy-authorization"]) expect(seen?.headers[name], name).toBeUndefined();
      expect(seen?.headers["keep-alive"] ?? "").not.toContain("max=3");
      expect(await proxy.cpuSeconds()).toBeGreaterThan(0);
    } finally {
      await proxy.stop();
      await new Promise((resolve) => echo.close(resolve));
    }
  }, 30_000);
});

describe("bench group 9 (gateway) setup", () => {
  let bench: GatewayBench;

  beforeAll(async () => {
    // prepareGatewayBench itself checks one answer of every series, the decisions API and a 401 without a session.
    bench = await prepareGatewayBench({ ruleCounts: [100], concurrency: 4 });
  }, 120_000);

  afterAll(async () => {
    await bench?.close();
  });

  it("serves the generated rules and sets X-User for the session rule", async () => {
    const [gateway] = bench.gateways;
    expect(gateway?.info.rules).toBe(100);
    const info = gateway!.info;
    const headers = { host: BENCH_HOST, cookie: `${SESSION_COOKIE}=${info.sessionToken}` };
    const res = await getWithHost(`${info.apiUrl}/decisions${SESSION_PATH}`, headers);
    expect(res.status).toBe(200);
    expect(res.headers["x-user"]).toBe(info.identityId);
    const denied = await getWithHost(`${info.apiUrl}/decisions/docs/d2`, headers);
    expect(denied.status).toBe(403);
  });

  it("measures every series without a failed request", async () => {
    expect(bench.series.map((s) => s.key)).toEqual(["upstream", "bareproxy", "noop.100", "session.100", "extauthz.100"]);
    expect(bench.bareProxy.info).toMatchObject({ bare: true, rules: 0 });
    for (const s of bench.series) {
      const r = await measureSeries(bench, s, 150, 20);
      expect(r.count, s.key).toBeGreaterThan(0);
      expect(r.rate, s.key).toBeGreaterThan(0);
      expect(r.p99Ms, s.key).toBeGreaterThanOrEqual(r.p50Ms);
      expect(r.cpuMicros, s.key).toBeGreaterThan(0);
    }
  }, 30_000);

  it("fails a window whose requests fail (no session, a Check for a document the identity may not view)", async () => {
    const info = bench.gateways[0]!.info;
    const session = bench.series.find((s) => s.kind === "session") as Series;
    const wrongCookie = getRequest(SESSION_PATH, { host: BENCH_HOST, cookie: `${SESSION_COOKIE}=ory_st_notarealtokennotarealtoken00` });
    await expect(
      runWindow(session.client, { ...session.target, request: () => wrongCookie }, { concurrency: 2, durationMs: 50, warmupMs: 0 }),
    ).rejects.toThrow(/failed request/);
    const extauthz = bench.series.find((s) => s.kind === "extauthz") as Series;
    const other = Buffer.from(
      toBinary(
        CheckRequestSchema,
        create(CheckRequestSchema, {
          attributes: { request: { http: { method: "GET", host: BENCH_HOST, path: "/docs/d2", scheme: "http", headers: { cookie: `${SESSION_COOKIE}=${info.sessionToken}` } } } },
        }),
      ),
    );
    const client = createCheckClient(new URL(info.apiUrl).host);
    try {
      const res = await client.send(new URL(info.apiUrl), { path: "", headers: {}, body: other });
      expect(res.status).toBe(200);
      expect(res.body).toMatch(/^7 deniedResponse /);
      await expect(
        runWindow(client, { ...extauthz.target, request: () => ({ path: "", headers: {}, body: other }) }, { concurrency: 2, durationMs: 50, warmupMs: 0 }),
      ).rejects.toThrow(/failed request/);
    } finally {
      client.close();
    }
  });
});

describe("bench group 9 (gateway) figures", () => {
  it("reports (b)/(a) with the 0.8 goal, (b) and (c) against the bare proxy, and the 10,000-rule CPU over the 1-rule CPU with the 1.10 goal", () => {
    const series = (key: string, kind: Series["kind"], ruleCount?: number): Series =>
      ({ key, kind, ...(ruleCount === undefined ? {} : { ruleCount }), title: key }) as unknown as Series;
    const all = [series("upstream", "upstream"), series("bareproxy", "bareproxy"), ...[1, 10_000].flatMap((n) => (["noop", "session", "extauthz"] as const).map((k) => series(`${k}.${n}`, k, n)))];
    const sample = (rate: number, cpuMicros: number): GatewaySample => ({ rate, p50Ms: 1000 / rate, p99Ms: 3000 / rate, count: rate, cpuMicros, upstreamCpuMicros: 10 });
    const results = new Map<string, GatewaySample[]>([
      ["upstream", [sample(1000, 10), sample(1000, 10)]],
      ["bareproxy", [sample(900, 50), sample(900, 50)]],
      ["noop.1", [sample(850, 100), sample(850, 100)]],
      ["noop.10000", [sample(700, 120), sample(700, 120)]],
      ["session.1", [sample(500, 200), sample(500, 200)]],
      ["session.10000", [sample(500, 200), sample(500, 200)]],
      ["extauthz.1", [sample(600, 150), sample(600, 150)]],
      ["extauthz.10000", [sample(600, 160), sample(600, 160)]],
    ]);
    const figures = applyGoals(gatewayFigures(all, results, { concurrency: 32 }));
    const byId = new Map(figures.map((f) => [f.id, f]));
    expect(figures).toHaveLength(all.length * 4);
    expect(byId.get("gateway.noop.rate.1")).toMatchObject({ median: 850, ratio: { against: "gateway.upstream.rate", value: 0.85 }, goal: { met: true } });
    expect(byId.get("gateway.noop.rate.10k")?.goal?.met).toBe(false);
    expect(byId.get("gateway.noop.cpu.10k")).toMatchObject({ ratio: { against: "gateway.noop.cpu.1", value: 1.2 }, goal: { target: 1.1, met: false } });
    expect(byId.get("gateway.extauthz.cpu.10k")?.goal?.met).toBe(true);
    expect(byId.get("gateway.session.cpu.10k")?.goal).toBeUndefined();
    expect(byId.get("gateway.extauthz.rate.1")?.ratio).toMatchObject({ against: "gateway.session.rate.1", value: 1.2 });
    expect(byId.get("gateway.upstream.rate")?.ratio).toBeUndefined();
    // The no-op ceiling: its own rate over the upstream's, and (b)/(c) over it in the params (goals unmoved).
    expect(byId.get("gateway.bareproxy.rate")).toMatchObject({ ratio: { against: "gateway.upstream.rate", value: 0.9 } });
    expect(byId.get("gateway.bareproxy.rate")?.goal).toBeUndefined();
    expect(byId.get("gateway.bareproxy.cpu")?.ratio).toBeUndefined();
    expect(byId.get("gateway.noop.rate.1")?.params).toMatchObject({ vsBareProxy: 0.944 });
    expect(byId.get("gateway.session.rate.10k")?.params).toMatchObject({ vsBareProxy: 0.556 });
    expect(byId.get("gateway.noop.cpu.1")?.params).toMatchObject({ bareProxyCpuMicros: 50 });
    expect(byId.get("gateway.session.cpu.10k")?.params).toMatchObject({ bareProxyCpuMicros: 50 });
    expect(byId.get("gateway.extauthz.rate.1")?.params?.["vsBareProxy"]).toBeUndefined();
    const lines = describeGateway(figures);
    expect(lines[0]).toMatch(/^bareproxy: 900 req\/s .*0\.900x upstream\.rate; .*proxy CPU 50 µs\/req/);
    expect(lines.find((l) => l.startsWith("noop 1 rules"))).toContain("0.850x upstream.rate, 0.944x bare proxy");
  });
});
