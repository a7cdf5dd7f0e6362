/**
 * The pipeline's HTTP client for the services it consults (session checks, introspection, token endpoints,
 * remote authorizers, hydrators, JWKS): undici with keep-alive connection pools, a timeout per call, and a
 * bounded response body. Failures become `UpstreamServiceError`s naming the URL.
 */
import { Agent, request } from "undici";
import { UpstreamServiceError } from "./errors.js";

export interface OutboundRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Default: the client's `timeoutMillis`. */
  readonly timeoutMillis?: number;
}

export interface OutboundResponse {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", " (set-cookie kept as a list). */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer;
}

export interface OutboundHttp {
  /** Sends the request; throws `UpstreamServiceError` when it cannot be sent or answered in time. */
  send(req: OutboundRequest): Promise<OutboundResponse>;
  close(): Promise<void>;
}

export interface OutboundHttpOptions {
  /** Per call (connect + headers + body). Default 5 000. */
  readonly timeoutMillis?: number;
  /** Largest response body read. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Keep-alive connections per origin. Default 64. */
  readonly connectionsPerOrigin?: number;
}

/** Creates the client; one per gateway, shared by every handler. */
export function createOutboundHttp(options: OutboundHttpOptions = {}): OutboundHttp {
  const timeoutMillis = options.timeoutMillis ?? 5_000;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const agent = new Agent({ connections: options.connectionsPerOrigin ?? 64, keepAliveTimeout: 30_000, pipelining: 1 });
  return {
    async send(req) {
      const timeout = req.timeoutMillis ?? timeoutMillis;
      const signal = AbortSignal.timeout(timeout);
      let res;
      try {
        res = await request(req.url, {
          method: req.method as "GET",
          ...(req.headers === undefined ? {} : { headers: req.headers }),
          ...(req.body === undefined ? {} : { body: req.body }),
          dispatcher: agent,
          signal,
          headersTimeout: timeout,
          bodyTimeout: timeout,
        });
      } catch (err) {
        const why = signal.aborted ? `no answer within ${timeout} ms` : (err as Error).message;
        throw new UpstreamServiceError(`could not reach ${describeUrl(req.url)}: ${why}`, { reason: "upstream_unreachable", cause: err });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of res.body) {
          const buf = chunk as Buffer;
          size += buf.length;
          if (size > maxBodyBytes) {
            res.body.destroy();
            throw new UpstreamServiceError(`${describeUrl(req.url)} answered with a body larger than ${maxBodyBytes} bytes`, {
              reason: "upstream_body_too_large",
            });
          }
          chunks.push(buf);
        }
      } catch (err) {
        if (err instanceof UpstreamServiceError) throw err;
        throw new UpstreamServiceError(`reading the answer of ${describeUrl(req.url)} failed: ${(err as Error).message}`, {
          reason: "upstream_unreachable",
          cause: err,
        });
      }
      const headers: Record<string, string | readonly string[]> = {};
      for (const [name, value] of Object.entries(res.headers)) {
        if (value === undefined) continue;
        headers[name] = name === "set-cookie" ? (Array.isArray(value) ? value : [value]) : Array.isArray(value) ? value.join(", ") : value;
      }
      return { status: res.statusCode, headers, body: Buffer.concat(chunks) };
    },
    async close() {
      await agent.close();
    },
  };
}

/** The URL without its query and credentials (a query may carry a token). */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "an invalid URL";
  }
}
