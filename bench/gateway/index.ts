/**
 * Figure group 9, the enforcement gateway (issue: requests/s and p50/p99 latency, side by side in one run;
 * goals: the noop rule at >= 80% of the upstream's throughput, and rule count changing the per-request cost
 * by no more than 10% from 1 to 10,000 rules). Series:
 *
 * - (a) `upstream`: the upstream directly, a bare `node:http` server answering a fixed small JSON body (group
 *   8's no-op side, in its own process);
 * - (a2) `bareproxy`: the no-op ceiling of (b) and (c): a bare Node reverse proxy to that upstream in its own
 *   process (`gateway-host.ts --bare`: `node:http` + undici `Pool.stream` with the gateway's pool options,
 *   hop-by-hop headers dropped, `Host`/`X-Forwarded-*` set, the body streamed; no rules, no pipeline). Any
 *   Node reverse proxy pays a second HTTP hop (parse, forward, parse the answer, write it) on the same 2 cores
 *   as the load generator and the upstream, so (b)/(a) alone mixes that hop with the gateway's own cost; (b)
 *   and (c) over (a2) is what the gateway's access pipeline and its bookkeeping cost over the hop itself;
 * - (b) `noop`: through the reverse proxy, rule `bench-noop` (authenticator noop, authorizer allow, mutator
 *   noop) to that upstream;
 * - (c) `session`: through the reverse proxy, rule `bench-session`: `cookie_session` (cached, so whoami is
 *   asked once per 10 s), the `permission` authorizer (a check against the engine in the gateway's process),
 *   the `header` mutator (`X-User`);
 * - (d) `extauthz`: Envoy's `Authorization/Check` alone (gRPC over h2c on the API port), a CheckRequest of
 *   the (c) request (its cookie; Envoy's pseudo headers and the usual others), answered OK with `x-user`;
 *
 * (b), (c) and (d) each with 1, 100 and 10,000 rules (see `rules.ts`; the 1-rule set is the two measured
 * rules alone). Each rule count is its own gateway process (`gatehouse serve` in full: engine, identity,
 * OAuth2, gateway; `gateway-host.ts`), all started before measuring (with the one bare proxy, which has no
 * rule count), so no series waits for a reload and the rule counts interleave within every round.
 *
 * Fairness: the load generator (this process: undici keep-alive pools and one grpc-js channel per gateway,
 * `concurrency` requests in flight in a closed loop, group 8's `runWindow`), the upstream, the bare proxy and
 * the gateways are separate processes; only one series is under load at a time. After a first warm-up of every series,
 * each round measures every series once, each after its own short warm-up, in an order rotated from round to
 * round, so drift lands on all series alike. Every answer is checked (the upstream's body, or an OK Check
 * with the identity's `x-user`); one failure fails the run.
 *
 * Figures per series: `rate` (req/s), `p50`/`p99` (ms, in the closed loop, so they include queueing), `cpu`
 * (CPU µs per request of the process the series costs: the gateway for (b)–(d) and the bare proxy for (a2),
 * including their own calls to the upstream; the upstream for (a)). Ratios: (a2)'s, (b)'s and (c)'s rate and
 * latencies over (a)'s (the goal on (b)'s rate stays against (a)), (d)'s over (c)'s at the same rule count,
 * and every `cpu` at 100 and 10,000 rules over the same series at 1 rule (the rule-count goal, on (b) and (d)
 * at 10,000). Against the ceiling, in the params of (b)'s and (c)'s figures: `vsBareProxy` on `rate` (their
 * median over (a2)'s) and `bareProxyCpuMicros` on `cpu` ((a2)'s median CPU µs per request). Per-round paired
 * ratios are in the params.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { CheckRequestSchema } from "../../proto/gen/envoy/service/auth/v3/external_auth_pb.js";
import { startSideProcess, type SideProcess } from "../oauth2/host-process.js";
import { runWindow, type HttpClient, type PreparedRequest, type Target, type WindowResult } from "../oauth2/load.js";
import type { Figure, Goal } from "../report-types.js";
import { summarize } from "../report-types.js";
import { CHECK_PATH, createCheckClient, createPoolClient, getRequest } from "./clients.js";
import { startBareProxyProcess, startGatewayProcess, type GatewayProcess, type HostProcess } from "./gateway-process.js";
import { BENCH_HOST, NOOP_PATH, SESSION_COOKIE, SESSION_PATH, ruleSetSize, rulesLabel } from "./rules.js";


const GROUP = 9;
/** The rule counts of the issue. */
export const RULE_COUNTS: readonly number[] = [1, 100, 10_000];

/** Options of `runGatewayFigures` (flags of bench/main.ts: --gateway-concurrency, --gateway-seconds). */
export interface GatewayFigureOptions {
  readonly quick: boolean;
  /** Rounds (default 5, quick 3). */
  readonly runs?: number;
  /** Requests (or Check calls) in flight (default 32). */
  readonly concurrency?: number;
  /** Measured seconds per series per round (default 1.5, quick 0.3). */
  readonly seconds?: number;
  /** Rule counts (default 1, 100, 10,000). */
  readonly ruleCounts?: readonly number[];
  readonly log?: (line: string) => void;
}

export type SeriesKind = "upstream" | "bareproxy" | "noop" | "session" | "extauthz";

/** One measured series: a target, the client that drives it and the process whose CPU it costs. */
export interface Series {
  /** `upstream`, `bareproxy`, or `<kind>.<rule count>`. */
  readonly key: string;
  readonly kind: SeriesKind;
  /** Undefined for the upstream and the bare proxy. */
  readonly ruleCount?: number;
  readonly title: string;
  readonly client: HttpClient;
  readonly target: Target;
  /** CPU seconds so far of the process the series costs (the gateway; the upstream for (a), the bare proxy for (a2)). */
  cpuSeconds(): Promise<number | undefined>;
}

/** The started processes and the series, ready to measure. */
export interface GatewayBench {
  readonly upstream: SideProcess;
  /** The (a2) ceiling: a bare Node reverse proxy to the upstream. */
  readonly bareProxy: HostProcess;
  readonly gateways: readonly GatewayProcess[];
  readonly series: readonly Series[];
  readonly concurrency: number;
  close(): Promise<void>;
}

/** The upstream's fixed body (group 8's no-op answer) is what every forwarded request must get back. */
const fromUpstream = (status: number, body: string): boolean => status === 200 && body.includes('"token_type":"Bearer"');

const BROWSER_HEADERS = { host: BENCH_HOST, accept: "application/json", "user-agent": "gatehouse-bench/9" };

/** The CheckRequest Envoy sends for the (c) request (pseudo headers and the usual others included). */
function checkRequestBytes(sessionToken: string): Buffer {
  const request = create(CheckRequestSchema, {
    attributes: {
      source: { address: { address: { case: "socketAddress", value: { address: "127.0.0.1", portSpecifier: { case: "portValue", value: 40000 } } } } },
      request: {
        http: {
          id: "1234567890",
          method: "GET",
          host: BENCH_HOST,
          path: SESSION_PATH,
          scheme: "http",
          protocol: "HTTP/1.1",
          headers: {
            ":authority": BENCH_HOST,
            ":method": "GET",
            ":path": SESSION_PATH,
            ":scheme": "http",
            accept: "application/json",
            "user-agent": "gatehouse-bench/9",
            "x-request-id": "6d1f6c2e-3c1a-4b7e-9f1e-2b8f0a4c5d6e",
            "x-forwarded-proto": "http",
            cookie: `${SESSION_COOKIE}=${sessionToken}`,
          },
        },
      },
    },
  });
  return Buffer.from(toBinary(CheckRequestSchema, request));
}

/** A target sending one prepared request over and over. */
const fixed = (origin: string, request: PreparedRequest, accept: Target["accept"]): Target => ({ origin: new URL(origin), request: () => request, accept });

/** Sends one request of the target and throws unless it is accepted (the setup check of every series). */
async function checkOnce(client: HttpClient, target: Target, what: string): Promise<void> {
  const res = await client.send(target.origin, target.request(0));
  if (!target.accept(res.status, res.body)) throw new Error(`${what}: unexpected answer ${res.status} ${res.body.slice(0, 300)}`);
}

/**
 * Starts the upstream, the bare proxy and one gateway per rule count (each in its own process), checks that
 * each gateway loaded its rules and that every series answers as expected (forwarded to the upstream; an OK Check with the identity's
 * `x-user`; the decisions API sets `X-User` for the session rule), and returns the series.
 */
export async function prepareGatewayBench(options: { ruleCounts?: readonly number[]; concurrency?: number } = {}): Promise<GatewayBench> {
  const ruleCounts = options.ruleCounts ?? RULE_COUNTS;
  const concurrency = options.concurrency ?? 32;
  const http = createPoolClient(concurrency);
  const grpc: HttpClient[] = [];
  let upstream: SideProcess | undefined;
  let bareProxy: HostProcess | undefined;
  const gateways: GatewayProcess[] = [];
  const close = async (): Promise<void> => {
    for (const c of grpc) c.close();
    await http.closed();
    await Promise.all([...gateways, ...(bareProxy === undefined ? [] : [bareProxy])].map((g) => g.stop()));
    await upstream?.stop();
  };
  try {
    upstream = await startSideProcess("noop", "memory");
    const upstreamOrigin = new URL(upstream.info.tokenUrl).origin;
    // Started together: nothing is measured yet, and a quick run should not wait for each in turn.
    const [bare, started] = await Promise.all([
      Promise.allSettled([startBareProxyProcess(upstreamOrigin)]),
      Promise.allSettled(ruleCounts.map((n) => startGatewayProcess(n, upstreamOrigin))),
    ]);
    for (const s of bare) if (s.status === "fulfilled") bareProxy = s.value;
    for (const s of started) if (s.status === "fulfilled") gateways.push(s.value);
    const failed = [...bare, ...started].find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) throw failed.reason;
    if (bareProxy?.info.bare !== true) throw new Error("the bare proxy did not start as one");

    const upstreamProcess = upstream;
    const bareProcess = bareProxy;
    const series: Series[] = [
      {
        key: "upstream",
        kind: "upstream",
        title: "(a) upstream directly (node:http, small JSON body)",
        client: http,
        target: fixed(upstreamOrigin, getRequest(NOOP_PATH, BROWSER_HEADERS), fromUpstream),
        cpuSeconds: () => Promise.resolve(upstreamProcess.cpuSeconds()),
      },
      {
        key: "bareproxy",
        kind: "bareproxy",
        title: "(a2) bare Node reverse proxy (node:http + undici Pool.stream, no rules)",
        client: http,
        target: fixed(bareProcess.info.proxyUrl, getRequest(NOOP_PATH, BROWSER_HEADERS), fromUpstream),
        cpuSeconds: () => bareProcess.cpuSeconds(),
      },
    ];
    for (const s of series) await checkOnce(s.client, s.target, s.key);
    for (const gateway of gateways) {
      const n = gateway.ruleCount;
      const { info } = gateway;
      if (info.bare || info.rules !== ruleSetSize(n)) throw new Error(`the gateway for ${n} rules loaded ${info.rules}`);
      const cookie = `${SESSION_COOKIE}=${info.sessionToken}`;
      const check = createCheckClient(new URL(info.apiUrl).host);
      grpc.push(check);
      const cpuSeconds = (): Promise<number | undefined> => gateway.cpuSeconds();
      const checkBody = checkRequestBytes(info.sessionToken);
      const forMe = `x-user=${info.identityId}`;
      const list: Series[] = [
        {
          key: `noop.${n}`,
          kind: "noop",
          ruleCount: n,
          title: `(b) gateway, noop rule (noop/allow/noop), ${n} rules`,
          client: http,
          target: fixed(info.proxyUrl, getRequest(NOOP_PATH, BROWSER_HEADERS), fromUpstream),
          cpuSeconds,
        },
        {
          key: `session.${n}`,
          kind: "session",
          ruleCount: n,
          title: `(c) gateway, cookie_session (cached) + permission + header, ${n} rules`,
          client: http,
          target: fixed(info.proxyUrl, getRequest(SESSION_PATH, { ...BROWSER_HEADERS, cookie }), fromUpstream),
          cpuSeconds,
        },
        {
          key: `extauthz.${n}`,
          kind: "extauthz",
          ruleCount: n,
          title: `(d) ext_authz Check (gRPC, h2c), the (c) request, ${n} rules`,
          client: check,
          target: fixed(info.apiUrl, { path: CHECK_PATH, headers: {}, body: checkBody }, (status, body) => status === 200 && body.startsWith("0 okResponse ") && body.includes(forMe)),
          cpuSeconds,
        },
      ];
      for (const s of list) await checkOnce(s.client, s.target, `${s.key}`);
      // The session rule's mutator reached the decision (the upstream's fixed body cannot show it).
      const decided = await http.send(new URL(info.apiUrl), getRequest(`/decisions${SESSION_PATH}`, { ...BROWSER_HEADERS, cookie }));
      if (decided.status !== 200) throw new Error(`decisions API for ${SESSION_PATH} with ${n} rules: ${decided.status} ${decided.body.slice(0, 300)}`);
      // Without the cookie the same rule refuses: (c) measures an authenticated request.
      const anonymous = await http.send(new URL(info.proxyUrl), getRequest(SESSION_PATH, BROWSER_HEADERS));
      if (anonymous.status !== 401) throw new Error(`${SESSION_PATH} without a session answered ${anonymous.status}, expected 401`);
      series.push(...list);
    }
    return { upstream, bareProxy, gateways, series, concurrency, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** One measured window and the CPU its series cost. */
export interface GatewaySample extends WindowResult {
  /** CPU µs per request of the process the series costs. */
  readonly cpuMicros: number;
  /** The upstream's CPU µs per request during the window. */
  readonly upstreamCpuMicros: number;
}

/** A warm-up (not counted), then a measured window with the CPU of the series' process and of the upstream. */
export async function measureSeries(bench: GatewayBench, s: Series, durationMs: number, warmupMs: number): Promise<GatewaySample> {
  const options = { concurrency: bench.concurrency, warmupMs: 0 };
  if (warmupMs > 0) await runWindow(s.client, s.target, { ...options, durationMs: warmupMs });
  const cpu0 = await s.cpuSeconds();
  const up0 = bench.upstream.cpuSeconds();
  const r = await runWindow(s.client, s.target, { ...options, durationMs });
  const cpu1 = await s.cpuSeconds();
  const up1 = bench.upstream.cpuSeconds();
  const per = (a: number | undefined, b: number | undefined): number =>
    a === undefined || b === undefined || r.count === 0 ? Number.NaN : ((b - a) * 1e6) / r.count;
  return { ...r, cpuMicros: per(cpu0, cpu1), upstreamCpuMicros: per(up0, up1) };
}

/** `list` rotated left by `n`. */
function rotate<T>(list: readonly T[], n: number): T[] {
  const k = ((n % list.length) + list.length) % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

const RATE_GOAL: Omit<Goal, "met"> = { text: ">= 0.8x the upstream directly (noop rule)", on: "ratio", op: ">=", target: 0.8 };
const RULES_GOAL: Omit<Goal, "met"> = { text: "<= 1.10x the 1-rule CPU per request (10,000 rules)", on: "ratio", op: "<=", target: 1.1 };

type Metric = "rate" | "p50" | "p99" | "cpu";
type SampleField = "rate" | "p50Ms" | "p99Ms" | "cpuMicros" | "upstreamCpuMicros";
const METRICS: ReadonlyArray<{ readonly metric: Metric; readonly field: SampleField; readonly unit: string }> = [
  { metric: "rate", field: "rate", unit: "req/s" },
  { metric: "p50", field: "p50Ms", unit: "ms" },
  { metric: "p99", field: "p99Ms", unit: "ms" },
  { metric: "cpu", field: "cpuMicros", unit: "µs/req" },
];

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** The figure id of a series' metric. */
export function gatewayFigureId(kind: SeriesKind, metric: Metric, ruleCount?: number): string {
  return ruleCount === undefined ? `gateway.${kind}.${metric}` : `gateway.${kind}.${metric}.${rulesLabel(ruleCount)}`;
}

/** Turns the per-round samples into figures (ratios, goals and paired per-round ratios in the params). */
export function gatewayFigures(
  series: readonly Series[],
  results: ReadonlyMap<string, readonly GatewaySample[]>,
  base: Readonly<Record<string, string | number | boolean>>,
): Figure[] {
  const counts = [...new Set(series.flatMap((s) => (s.ruleCount === undefined ? [] : [s.ruleCount])))].sort((a, b) => a - b);
  const fewest = counts[0];
  const most = counts[counts.length - 1];
  const values = (key: string, field: SampleField): number[] => (results.get(key) ?? []).map((r) => r[field]);
  const figures: Figure[] = [];
  for (const s of series) {
    const samples = results.get(s.key) ?? [];
    if (samples.length === 0) continue;
    for (const { metric, field, unit } of METRICS) {
      const own = values(s.key, field);
      const finite = own.filter(Number.isFinite);
      if (finite.length === 0) continue;
      const summary = summarize(finite);
      const params: Record<string, string | number | boolean> = { ...base, requests: samples.reduce((a, r) => a + r.count, 0) };
      if (s.ruleCount !== undefined) params["rules"] = ruleSetSize(s.ruleCount);
      // What this figure's ratio is over.
      let against: { key: string; kind: SeriesKind; ruleCount?: number } | undefined;
      let goal: Omit<Goal, "met"> | undefined;
      if (metric === "cpu") {
        if (s.ruleCount !== undefined && fewest !== undefined && s.ruleCount !== fewest) {
          against = { key: `${s.kind}.${fewest}`, kind: s.kind, ruleCount: fewest };
          if (fewest === 1 && s.ruleCount === 10_000 && s.ruleCount === most && (s.kind === "noop" || s.kind === "extauthz")) goal = RULES_GOAL;
        }
      } else if (s.kind === "bareproxy" || s.kind === "noop" || s.kind === "session") {
        against = { key: "upstream", kind: "upstream" };
        if (metric === "rate" && s.kind === "noop") goal = RATE_GOAL;
      } else if (s.kind === "extauthz" && s.ruleCount !== undefined) {
        against = { key: `session.${s.ruleCount}`, kind: "session", ruleCount: s.ruleCount };
      }
      let ratio: Figure["ratio"];
      if (against !== undefined) {
        const other = values(against.key, field);
        const otherFinite = other.filter(Number.isFinite);
        if (otherFinite.length > 0) {
          ratio = { against: gatewayFigureId(against.kind, metric, against.ruleCount), value: summary.median / summarize(otherFinite).median };
          // Paired per-round ratios (the rounds interleave the series): how stable the ratio is.
          const paired = own.map((v, i) => v / (other[i] ?? Number.NaN)).filter(Number.isFinite);
          if (paired.length > 0) {
            const p = summarize(paired);
            params["roundRatioMedian"] = round3(p.median);
            params["roundRatioMin"] = round3(p.min);
            params["roundRatioMax"] = round3(p.max);
          }
        }
      }
      if (metric === "rate" && s.ruleCount !== undefined && fewest !== undefined && s.ruleCount !== fewest) {
        params["vsFewestRules"] = round3(summary.median / summarize(values(`${s.kind}.${fewest}`, "rate")).median);
      }
      if (metric === "cpu" && s.kind !== "upstream") {
        const up = summarize(values(s.key, "upstreamCpuMicros").filter(Number.isFinite));
        if (Number.isFinite(up.median)) params["upstreamCpuMicros"] = Math.round(up.median);
      }
      // (b) and (c) against the no-op ceiling: the same two hops with nothing decided in between.
      if ((s.kind === "noop" || s.kind === "session") && (metric === "rate" || metric === "cpu")) {
        const bare = summarize(values("bareproxy", field).filter(Number.isFinite)).median;
        if (Number.isFinite(bare) && bare > 0) {
          if (metric === "rate") params["vsBareProxy"] = round3(summary.median / bare);
          else params["bareProxyCpuMicros"] = Math.round(bare);
        }
      }
      const cpuOf = s.kind === "upstream" ? "upstream" : s.kind === "bareproxy" ? "bare proxy" : "gateway";
      const what = metric === "rate" ? "throughput" : metric === "cpu" ? `${cpuOf} CPU per request` : `${metric} latency`;
      figures.push({
        id: gatewayFigureId(s.kind, metric, s.ruleCount),
        group: GROUP,
        title: `${s.title}: ${what}`,
        unit,
        ...summary,
        ...(ratio === undefined ? {} : { ratio }),
        params,
        ...(goal === undefined ? {} : { goal }),
      });
    }
  }
  return figures;
}

/** Runs the group and returns its figures. */
export async function runGatewayFigures(options: GatewayFigureOptions): Promise<Figure[]> {
  const log = options.log ?? (() => {});
  const runs = options.runs ?? (options.quick ? 3 : 5);
  const concurrency = options.concurrency ?? 32;
  const durationMs = (options.seconds ?? (options.quick ? 0.3 : 1.5)) * 1000;
  const warmupMs = options.quick ? 100 : 250;
  const ruleCounts = options.ruleCounts ?? RULE_COUNTS;

  log(`starting the upstream, the bare proxy and ${ruleCounts.length} gateways (${ruleCounts.join(", ")} rules)`);
  const bench = await prepareGatewayBench({ ruleCounts, concurrency });
  const results = new Map<string, GatewaySample[]>();
  try {
    log("warming up every series");
    for (const s of bench.series) await measureSeries(bench, s, options.quick ? 300 : 1_000, 0);
    // Spread the rotation over the rounds, so every series runs early in some and late in others.
    const step = Math.max(1, Math.floor(bench.series.length / runs));
    for (let round = 0; round < runs; round++) {
      for (const s of rotate(bench.series, round * step)) {
        const r = await measureSeries(bench, s, durationMs, warmupMs);
        const list = results.get(s.key) ?? [];
        list.push(r);
        results.set(s.key, list);
      }
      log(`round ${round + 1}/${runs}: ${bench.series.map((s) => `${s.key} ${Math.round(results.get(s.key)?.[round]?.rate ?? 0)}/s`).join(", ")}`);
    }
  } finally {
    await bench.close();
  }
  const figures = gatewayFigures(bench.series, results, {
    concurrency,
    windowSeconds: durationMs / 1000,
    warmupSeconds: warmupMs / 1000,
    rounds: runs,
  });
  for (const line of describeGateway(figures)) log(line);
  return figures;
}

/**
 * One line per proxied series (the bare proxy and every gateway series): throughput against the upstream
 * (and, for (b) and (c), against the bare proxy), latency, CPU and the rule-count effect.
 */
export function describeGateway(figures: readonly Figure[]): string[] {
  const byId = new Map(figures.map((f) => [f.id, f]));
  const lines: string[] = [];
  for (const f of figures) {
    const m = /^gateway\.(bareproxy|noop|session|extauthz)\.rate(?:\.(.+))?$/.exec(f.id);
    if (m === null) continue;
    const [, kind, label] = m;
    const suffix = label === undefined ? "" : `.${label}`;
    const p50 = byId.get(`gateway.${kind}.p50${suffix}`);
    const p99 = byId.get(`gateway.${kind}.p99${suffix}`);
    const cpu = byId.get(`gateway.${kind}.cpu${suffix}`);
    const vsBare = f.params?.["vsBareProxy"];
    lines.push(
      `${kind}${label === undefined ? "" : ` ${label} rules`}: ${Math.round(f.median)} req/s (${Math.round(f.min)}–${Math.round(f.max)})` +
        (f.ratio === undefined ? "" : `, ${f.ratio.value.toFixed(3)}x ${f.ratio.against.replace(/^gateway\./, "")}`) +
        (typeof vsBare === "number" ? `, ${vsBare.toFixed(3)}x bare proxy` : "") +
        `; p50 ${p50?.median.toFixed(2) ?? "?"} ms, p99 ${p99?.median.toFixed(2) ?? "?"} ms; ${kind === "bareproxy" ? "proxy" : "gateway"} CPU ${cpu?.median.toFixed(0) ?? "?"} µs/req` +
        (cpu?.ratio === undefined ? "" : ` (${cpu.ratio.value.toFixed(3)}x at ${cpu.ratio.against.replace(/^.*\./, "")} rules)`),
    );
  }
  return lines;
}
