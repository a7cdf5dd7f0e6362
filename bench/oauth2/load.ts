/**
 * The load generator of figure group 8: a keep-alive `node:http` client (as in group 7: cheap, so the client
 * costs every target the same little) driving a closed loop of `concurrency` requests in flight. Every
 * request's latency goes into an HDR histogram; every answer is checked (status 200 and the expected body),
 * and a window with any failure throws, so a comparison can never silently measure error responses.
 */
import { Agent, request as httpRequest, type OutgoingHttpHeaders } from "node:http";
import * as hdr from "hdr-histogram-js";

/** One prepared request. */
export interface PreparedRequest {
  readonly path: string;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
}

/** What a series sends and how its answers are checked. */
export interface Target {
  /** host:port and the like (the path comes from the requests). */
  readonly origin: URL;
  /** The request for the i-th call (cycled through prepared ones). */
  request(sequence: number): PreparedRequest;
  /** True when the answer is the success the series measures (e.g. a token, `"active":true`). */
  accept(status: number, body: string): boolean;
}

/** A form POST with HTTP Basic client authentication (`client_secret_basic`, RFC 6749 §2.3.1). */
export function formPost(url: string, form: Record<string, string>, basic?: { id: string; secret: string }): PreparedRequest {
  const body = Buffer.from(new URLSearchParams(form).toString());
  const u = new URL(url);
  const headers: OutgoingHttpHeaders = {
    "content-type": "application/x-www-form-urlencoded",
    "content-length": body.length,
    accept: "application/json",
  };
  if (basic !== undefined) {
    headers["authorization"] = `Basic ${Buffer.from(`${encodeURIComponent(basic.id)}:${encodeURIComponent(basic.secret)}`).toString("base64")}`;
  }
  return { path: `${u.pathname}${u.search}`, headers, body };
}

/** A keep-alive client. */
export interface HttpClient {
  send(origin: URL, req: PreparedRequest): Promise<{ status: number; body: string }>;
  close(): void;
}

export function createHttpClient(maxSockets: number): HttpClient {
  const agent = new Agent({ keepAlive: true, maxSockets });
  return {
    send(origin, req) {
      return new Promise((resolve, reject) => {
        const r = httpRequest(
          { host: origin.hostname, port: origin.port, method: "POST", path: req.path, headers: req.headers, agent },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (c: string) => (text += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
            res.on("error", reject);
          },
        );
        r.on("error", reject);
        r.end(req.body);
      });
    },
    close: () => agent.destroy(),
  };
}

/** One measured window. */
export interface WindowResult {
  /** Successful requests per second over the window. */
  readonly rate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly count: number;
  /** Server CPU (user + system) per request in µs, when the server's counters are readable. */
  readonly serverCpuMicros?: number;
}

/** Options of `runWindow`. */
export interface WindowOptions {
  readonly concurrency: number;
  readonly durationMs: number;
  /** Unmeasured load first (JIT, connection set-up, caches). */
  readonly warmupMs: number;
  /** The server's CPU seconds so far (for CPU per request). */
  readonly serverCpuSeconds?: () => number | undefined;
}

/** Runs a warm-up and a measured closed-loop window against `target`; throws on any failed request. */
export async function runWindow(client: HttpClient, target: Target, options: WindowOptions): Promise<WindowResult> {
  let sequence = 0;
  let failures = 0;
  let firstFailure: string | undefined;
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60e9, numberOfSignificantValueDigits: 3 });
  const loop = async (until: number, record: boolean, counter: { n: number }): Promise<void> => {
    while (performance.now() < until) {
      const req = target.request(sequence++);
      const t0 = performance.now();
      let ok: boolean;
      let detail = "";
      try {
        const res = await client.send(target.origin, req);
        ok = target.accept(res.status, res.body);
        if (!ok) detail = `${res.status} ${res.body.slice(0, 300)}`;
      } catch (err) {
        ok = false;
        detail = err instanceof Error ? err.message : String(err);
      }
      const t1 = performance.now();
      if (!ok) {
        failures++;
        firstFailure ??= `${target.origin.host}${req.path}: ${detail}`;
        continue;
      }
      if (record) {
        histogram.recordValue(Math.max(1, Math.round((t1 - t0) * 1e6)));
        counter.n++;
      }
    }
  };
  try {
    const warm = { n: 0 };
    const warmUntil = performance.now() + options.warmupMs;
    await Promise.all(Array.from({ length: options.concurrency }, () => loop(warmUntil, false, warm)));
    const cpu0 = options.serverCpuSeconds?.();
    const counted = { n: 0 };
    const start = performance.now();
    await Promise.all(Array.from({ length: options.concurrency }, () => loop(start + options.durationMs, true, counted)));
    const elapsed = performance.now() - start;
    const cpu1 = options.serverCpuSeconds?.();
    if (failures > 0) throw new Error(`${failures} failed request(s); the first: ${firstFailure ?? "?"}`);
    return {
      rate: (counted.n / elapsed) * 1000,
      p50Ms: histogram.getValueAtPercentile(50) / 1e6,
      p99Ms: histogram.getValueAtPercentile(99) / 1e6,
      count: counted.n,
      ...(cpu0 === undefined || cpu1 === undefined || counted.n === 0 ? {} : { serverCpuMicros: ((cpu1 - cpu0) * 1e6) / counted.n }),
    };
  } finally {
    histogram.destroy();
  }
}
