/**
 * Figure group 8, the OAuth2 service against a plain oidc-provider (issue goal: the compatibility layer costs
 * under 10% of throughput and p99), side by side in one run:
 *
 * - `token`: `POST <token endpoint>` with `grant_type=client_credentials&scope=read` and `client_secret_basic`;
 *   Gatehouse's `/oauth2/token` against the peer's `/token`.
 * - `introspect`: introspection of a valid client-credentials token (64 tokens per side, issued before
 *   measuring, cycled): Gatehouse's public RFC 7662 endpoint `/oauth2/introspect` (client-authenticated,
 *   like the peer's) and Hydra's admin `/admin/oauth2/introspect` (unauthenticated, as on Hydra's admin
 *   port), both against the peer's client-authenticated `/token/introspection`.
 * - `noop`: a bare `node:http` server answering a fixed JSON body to the same form POST: the ceiling of the
 *   client and HTTP alone.
 *
 * Fairness: each server runs in its own child process (`server-host.ts`, same Node and flags; see `peer.ts`
 * for how the peer is configured the same way: hashed secrets, same store kind, same token format); the load
 * generator runs in this process with one keep-alive client for all. Only one server is under load at a
 * time. Every round measures every series once, each after its own warm-up, and the order of the sides
 * within a scenario rotates from round to round, so drift (thermal, a neighbour's load, store growth) is
 * spread over both. Every answer is checked (200 and a token, or `"active":true`); one failure fails the run.
 *
 * Figures per series: `rate` (req/s), `p50`/`p99` (ms, latency of requests in the closed loop at the given
 * concurrency, so they include queueing) and `cpu` (server CPU µs per request, from /proc: the cost inside
 * the server alone, independent of the client). Gatehouse's figures carry the ratio over the peer (per-round
 * ratio spread in the params); the peer's rate carries the ratio over the no-op.
 */
import type { Figure, Goal } from "../report-types.js";
import { summarize } from "../report-types.js";
import { startSideProcess, type SideProcess } from "./host-process.js";
import { createHttpClient, formPost, runWindow, type HttpClient, type PreparedRequest, type Target, type WindowResult } from "./load.js";
import { BENCH_SCOPE, type SideInfo, type StoreKind } from "./sides.js";

const GROUP = 8;
/** Tokens issued per side before measuring, introspected in turn. */
const TOKEN_POOL = 64;

/** Options of `runOAuth2Figures` (flags of bench/main.ts: --oauth2-concurrency, --oauth2-seconds, --oauth2-store). */
export interface OAuth2FigureOptions {
  readonly quick: boolean;
  /** Rounds (default 5, quick 3). */
  readonly runs?: number;
  /** Requests in flight (default 32). */
  readonly concurrency?: number;
  /** Measured seconds per series per round (default 1, quick 0.4). */
  readonly seconds?: number;
  /** Store of both OAuth2 sides (default memory). */
  readonly store?: StoreKind;
  readonly log?: (line: string) => void;
}

type SeriesKey = "noop" | "token.peer" | "token.gatehouse" | "introspect.peer" | "introspect.gatehouse" | "introspect.gatehouse.admin";

/** One measured series: a target on one server. */
interface Series {
  readonly key: SeriesKey;
  readonly title: string;
  readonly target: Target;
  readonly server: SideProcess;
  /** The series its ratio is over (Gatehouse: the peer's; the peer's rate: the no-op). */
  readonly against?: SeriesKey;
}

/** The started servers and what the figures drive, ready to measure. */
export interface OAuth2Bench {
  readonly store: StoreKind;
  readonly noop: SideProcess;
  readonly peer: SideProcess;
  readonly gatehouse: SideProcess;
  readonly client: HttpClient;
  /** Series in measuring groups (scenarios); the order within a group rotates per round. */
  readonly scenarios: readonly (readonly Series[])[];
  close(): Promise<void>;
}

const tokenRequest = (info: SideInfo): PreparedRequest =>
  formPost(info.tokenUrl, { grant_type: "client_credentials", scope: BENCH_SCOPE }, { id: info.clientId, secret: info.clientSecret });

const acceptToken = (status: number, body: string): boolean => status === 200 && body.includes('"access_token":"gh_at_');
const acceptActive = (status: number, body: string): boolean => status === 200 && body.includes('"active":true');

/** Issues a token through the side's token endpoint (the setup check of every side). */
async function issueToken(client: HttpClient, info: SideInfo): Promise<string> {
  const res = await client.send(new URL(info.tokenUrl), tokenRequest(info));
  if (!acceptToken(res.status, res.body)) throw new Error(`${info.side}: client_credentials failed: ${res.status} ${res.body.slice(0, 300)}`);
  const body = JSON.parse(res.body) as { access_token: string; token_type?: string; scope?: string };
  if (body.token_type !== "Bearer" || body.scope !== BENCH_SCOPE) throw new Error(`${info.side}: unexpected token response ${res.body}`);
  return body.access_token;
}

/** Introspects through `url` and checks the answer is active, for this client and scope. */
async function checkActive(client: HttpClient, info: SideInfo, url: string, token: string, authenticated: boolean): Promise<void> {
  const res = await client.send(new URL(url), formPost(url, { token }, authenticated ? { id: info.clientId, secret: info.clientSecret } : undefined));
  const body = res.status === 200 ? (JSON.parse(res.body) as { active?: boolean; client_id?: string; scope?: string }) : {};
  if (body.active !== true || body.client_id !== info.clientId || body.scope !== BENCH_SCOPE) {
    throw new Error(`${info.side}: introspection at ${url} did not find the token active: ${res.status} ${res.body.slice(0, 300)}`);
  }
}

/** Cycles through prepared requests. */
const cycling = (origin: string, requests: readonly PreparedRequest[], accept: Target["accept"]): Target => ({
  origin: new URL(origin),
  request: (i) => requests[i % requests.length] as PreparedRequest,
  accept,
});

/**
 * Starts the three servers (one child process each), checks that both OAuth2 sides issue a token and
 * introspect it as active on every endpoint measured, and issues the tokens the introspection series cycle.
 */
export async function prepareOAuth2Bench(options: { store?: StoreKind; concurrency?: number; tokenPool?: number } = {}): Promise<OAuth2Bench> {
  const store = options.store ?? "memory";
  const started: SideProcess[] = [];
  const client = createHttpClient(options.concurrency ?? 32);
  try {
    // One after the other: their start-up (tsx, PBKDF2, key generation) should not overlap.
    const noop = await startSideProcess("noop", store);
    started.push(noop);
    const peer = await startSideProcess("peer", store);
    started.push(peer);
    const gatehouse = await startSideProcess("gatehouse", store);
    started.push(gatehouse);

    const pool = options.tokenPool ?? TOKEN_POOL;
    const tokensOf = async (info: SideInfo): Promise<string[]> => {
      const out: string[] = [];
      for (let i = 0; i < pool; i++) out.push(await issueToken(client, info));
      return out;
    };
    const peerTokens = await tokensOf(peer.info);
    const ourTokens = await tokensOf(gatehouse.info);
    const adminUrl = gatehouse.info.adminIntrospectUrl;
    if (adminUrl === undefined) throw new Error("the Gatehouse side reported no admin introspection URL");
    await checkActive(client, peer.info, peer.info.introspectUrl, peerTokens[0] as string, true);
    await checkActive(client, gatehouse.info, gatehouse.info.introspectUrl, ourTokens[0] as string, true);
    await checkActive(client, gatehouse.info, adminUrl, ourTokens[0] as string, false);

    const basic = (info: SideInfo) => ({ id: info.clientId, secret: info.clientSecret });
    const introspect = (info: SideInfo, url: string, tokens: readonly string[], auth: boolean): Target =>
      cycling(
        url,
        tokens.map((token) => formPost(url, { token }, auth ? basic(info) : undefined)),
        acceptActive,
      );
    const series = {
      noop: {
        key: "noop",
        title: "no-op node:http server, same form POST (ceiling)",
        // The same request as the token series (headers and body), answered with a fixed JSON body.
        target: cycling(noop.info.tokenUrl, [formPost(noop.info.tokenUrl, { grant_type: "client_credentials", scope: BENCH_SCOPE }, basic(peer.info))], (s) => s === 200),
        server: noop,
      },
      tokenPeer: {
        key: "token.peer",
        title: "client_credentials token, plain oidc-provider (/token)",
        target: cycling(peer.info.tokenUrl, [tokenRequest(peer.info)], acceptToken),
        server: peer,
        against: "noop",
      },
      tokenOurs: {
        key: "token.gatehouse",
        title: "client_credentials token, Gatehouse (/oauth2/token)",
        target: cycling(gatehouse.info.tokenUrl, [tokenRequest(gatehouse.info)], acceptToken),
        server: gatehouse,
        against: "token.peer",
      },
      introspectPeer: {
        key: "introspect.peer",
        title: "introspection, plain oidc-provider (/token/introspection, client auth)",
        target: introspect(peer.info, peer.info.introspectUrl, peerTokens, true),
        server: peer,
        against: "noop",
      },
      introspectOurs: {
        key: "introspect.gatehouse",
        title: "introspection, Gatehouse public (/oauth2/introspect, client auth)",
        target: introspect(gatehouse.info, gatehouse.info.introspectUrl, ourTokens, true),
        server: gatehouse,
        against: "introspect.peer",
      },
      introspectAdmin: {
        key: "introspect.gatehouse.admin",
        title: "introspection, Gatehouse admin (/admin/oauth2/introspect, Hydra's, no client auth)",
        target: introspect(gatehouse.info, adminUrl, ourTokens, false),
        server: gatehouse,
        against: "introspect.peer",
      },
    } satisfies Record<string, Series>;
    return {
      store,
      noop,
      peer,
      gatehouse,
      client,
      scenarios: [[series.noop], [series.tokenPeer, series.tokenOurs], [series.introspectPeer, series.introspectOurs, series.introspectAdmin]],
      async close() {
        client.close();
        await Promise.all(started.map((s) => s.stop()));
      },
    };
  } catch (err) {
    client.close();
    await Promise.all(started.map((s) => s.stop()));
    throw err;
  }
}

/** `list` rotated left by `n`. */
function rotate<T>(list: readonly T[], n: number): T[] {
  const k = n % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

const RATE_GOAL: Omit<Goal, "met"> = { text: ">= 0.9x the plain oidc-provider (layer costs < 10%)", on: "ratio", op: ">=", target: 0.9 };
const P99_GOAL: Omit<Goal, "met"> = { text: "<= 1.1x the plain oidc-provider's p99", on: "ratio", op: "<=", target: 1.1 };

/** Runs the group and returns its figures. */
export async function runOAuth2Figures(options: OAuth2FigureOptions): Promise<Figure[]> {
  const log = options.log ?? (() => {});
  const runs = options.runs ?? (options.quick ? 3 : 5);
  const concurrency = options.concurrency ?? 32;
  const durationMs = (options.seconds ?? (options.quick ? 0.4 : 1)) * 1000;
  const warmupMs = options.quick ? 150 : 250;
  const store = options.store ?? "memory";

  log(`starting the no-op, peer and Gatehouse servers (store: ${store})`);
  const bench = await prepareOAuth2Bench({ store, concurrency });
  const results = new Map<SeriesKey, WindowResult[]>();
  const all = bench.scenarios.flat();
  try {
    const window = (s: Series, ms: number, warm: number) =>
      runWindow(bench.client, s.target, { concurrency, durationMs: ms, warmupMs: warm, serverCpuSeconds: () => s.server.cpuSeconds() });
    // Everyone's JIT and connections warm before the first round counts (oidc-provider needs about a second).
    log("warming up every series");
    for (const s of all) await window(s, options.quick ? 300 : 750, warmupMs);
    for (let round = 0; round < runs; round++) {
      for (const scenario of bench.scenarios) {
        for (const s of rotate(scenario, round)) {
          const r = await window(s, durationMs, warmupMs);
          const list = results.get(s.key) ?? [];
          list.push(r);
          results.set(s.key, list);
        }
      }
      log(
        `round ${round + 1}/${runs}: ` +
          all.map((s) => `${s.key} ${Math.round(results.get(s.key)?.[round]?.rate ?? 0)}/s`).join(", "),
      );
    }
  } finally {
    await bench.close();
  }

  const figures: Figure[] = [];
  const base = { concurrency, store, windowSeconds: durationMs / 1000, warmupSeconds: warmupMs / 1000, rounds: runs };
  const pick = (key: SeriesKey, metric: keyof WindowResult): number[] =>
    (results.get(key) ?? []).map((r) => r[metric]).filter((v): v is number => typeof v === "number");
  const idFor = (key: SeriesKey, metric: string): string => (key === "noop" ? `oauth2.noop.${metric}` : `oauth2.${key}.${metric}.${store}`);
  for (const s of all) {
    const ours = s.server === bench.gatehouse;
    const requests = pick(s.key, "count").reduce((a, b) => a + b, 0);
    const metricFigure = (metric: "rate" | "p50Ms" | "p99Ms" | "serverCpuMicros", name: string, unit: string, goal?: Omit<Goal, "met">): Figure | undefined => {
      const samples = pick(s.key, metric);
      if (samples.length === 0) return undefined;
      const summary = summarize(samples);
      const params: Record<string, string | number | boolean> = { ...base, requests };
      let ratio: Figure["ratio"];
      // Ratios of Gatehouse over the peer for every metric; the peer's rate over the no-op.
      const against = s.against !== undefined && (ours || metric === "rate") ? s.against : undefined;
      if (against !== undefined) {
        const other = pick(against, metric);
        const value = summary.median / summarize(other).median;
        ratio = { against: idFor(against, name), value };
        // Paired per-round ratios (the rounds interleave the sides): their spread shows how stable the ratio is.
        const paired = samples.map((v, i) => v / (other[i] ?? Number.NaN)).filter(Number.isFinite);
        if (paired.length > 0) {
          const p = summarize(paired);
          params["roundRatioMedian"] = round3(p.median);
          params["roundRatioMin"] = round3(p.min);
          params["roundRatioMax"] = round3(p.max);
        }
        if (metric === "rate" && ours) params["vsNoop"] = round3(summary.median / summarize(pick("noop", "rate")).median);
      }
      return {
        id: idFor(s.key, name),
        group: GROUP,
        title: `${s.title}: ${name === "rate" ? "throughput" : name === "cpu" ? "server CPU per request" : `${name} latency at ${concurrency} in flight`}`,
        unit,
        ...summary,
        ...(ratio === undefined ? {} : { ratio }),
        params,
        ...(goal === undefined || !ours ? {} : { goal }),
      };
    };
    for (const f of [
      metricFigure("rate", "rate", "req/s", RATE_GOAL),
      metricFigure("p50Ms", "p50", "ms"),
      metricFigure("p99Ms", "p99", "ms", P99_GOAL),
      metricFigure("serverCpuMicros", "cpu", "µs/req"),
    ]) {
      if (f !== undefined) figures.push(f);
    }
  }
  for (const line of describeOAuth2(figures)) log(line);
  return figures;
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** One line per Gatehouse series: throughput, p99 and CPU against the peer and the no-op. */
export function describeOAuth2(figures: readonly Figure[]): string[] {
  const byId = new Map(figures.map((f) => [f.id, f]));
  const lines: string[] = [];
  for (const f of figures) {
    if (!/^oauth2\.(token|introspect)\.gatehouse.*\.rate\./.test(f.id)) continue;
    const p99 = byId.get(f.id.replace(".rate.", ".p99."));
    const cpu = byId.get(f.id.replace(".rate.", ".cpu."));
    lines.push(
      `${f.id.replace(".rate", "")}: ${Math.round(f.median)} req/s (${Math.round(f.min)}–${Math.round(f.max)}), ` +
        `${f.ratio?.value.toFixed(3) ?? "?"}x peer (per round: median ${String(f.params?.["roundRatioMedian"])}, ${String(f.params?.["roundRatioMin"])}–${String(f.params?.["roundRatioMax"])}), ` +
        `${String(f.params?.["vsNoop"])}x no-op; p99 ${p99?.median.toFixed(2) ?? "?"} ms (${p99?.ratio?.value.toFixed(3) ?? "?"}x peer); ` +
        `server CPU ${cpu?.median.toFixed(0) ?? "?"} µs/req (${cpu?.ratio?.value.toFixed(3) ?? "?"}x peer)`,
    );
  }
  return lines;
}
