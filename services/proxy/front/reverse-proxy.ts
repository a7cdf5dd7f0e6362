/**
 * The reverse proxy front door (Oathkeeper's 4455): every request is decided by the access pipeline and, when
 * allowed, forwarded to the matched rule's `upstream` with the mutators' headers, over undici keep-alive pools
 * (one per upstream origin). Bodies stream both ways; WebSocket upgrades are decided the same way and then
 * spliced to the upstream at the socket level.
 */
import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse, type OutgoingHttpHeaders } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Duplex } from "node:stream";
import { Pool } from "undici";
import { GatehouseError, InternalError, httpStatusOf, oryErrorBodyOf, toGatehouseError, UnavailableError } from "../../../common/errors.js";
import type { AccessRule, RuleUpstream } from "../rules/rule.js";
import type { AccessPipeline, DenialResponse, PipelineRequest } from "../pipeline/types.js";
import { fromTrustedProxy, type TrustedProxies } from "./forwarded.js";
import { pipelineRequestOf } from "./request-from-http.js";

export interface ReverseProxyOptions {
  readonly pipeline: AccessPipeline;
  /** Peers whose `X-Forwarded-*` are believed (Oathkeeper's `serve.proxy.trust_forwarded_headers`). */
  readonly trustedProxies: TrustedProxies;
  /** Time to the upstream's response headers (default 60 s) and between body chunks (default 120 s). */
  readonly upstreamHeadersTimeoutMillis?: number;
  readonly upstreamBodyTimeoutMillis?: number;
  /** Keep-alive connections per upstream origin (default 128). */
  readonly connectionsPerUpstream?: number;
  readonly log: (line: string) => void;
}

export interface ReverseProxy {
  readonly server: Server;
  /** Closes the upstream pools (call after the server stopped accepting). */
  closePools(): Promise<void>;
  /** Cuts the spliced WebSocket connections (they would keep a shutdown waiting forever). */
  destroyUpgraded(): void;
}

/** Hop-by-hop headers (RFC 9110 7.6.1) and those undici sets itself; never forwarded either way. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
]);

function headerList(value: string | readonly string[] | undefined): string[] {
  if (value === undefined) return [];
  return typeof value === "string" ? [value] : [...value];
}

const NO_TOKENS: ReadonlySet<string> = new Set();

/** Names listed in `Connection` are hop-by-hop too. */
function connectionTokens(headers: IncomingMessage["headers"]): Set<string> {
  return new Set(
    headerList(headers.connection)
      .flatMap((v) => v.split(","))
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ""),
  );
}

/** Go's `singleJoiningSlash`. */
function joinPaths(a: string, b: string): string {
  const aSlash = a.endsWith("/");
  const bSlash = b.startsWith("/");
  if (aSlash && bSlash) return a + b.slice(1);
  if (!aSlash && !bSlash) return `${a}/${b}`;
  return a + b;
}

interface ParsedUpstream {
  readonly origin: string;
  readonly host: string;
  readonly basePath: string;
  readonly search: string;
  /** `strip_path` without its slashes ("" when none). */
  readonly strip: string;
}

// Rules are immutable and replaced as a whole on reload, so their upstream URLs are parsed once, not per request.
const parsedUpstreams = new WeakMap<RuleUpstream, ParsedUpstream>();

function parseUpstream(upstream: RuleUpstream): ParsedUpstream {
  let parsed = parsedUpstreams.get(upstream);
  if (parsed === undefined) {
    const base = new URL(upstream.url);
    parsed = {
      origin: base.origin,
      host: base.host,
      basePath: base.pathname === "" ? "/" : base.pathname,
      search: base.search,
      strip: upstream.strip_path?.replace(/^\/+|\/+$/g, "") ?? "",
    };
    parsedUpstreams.set(upstream, parsed);
  }
  return parsed;
}

/** The upstream path-and-query: `strip_path` removed once (as Oathkeeper), joined to the upstream URL's path. */
export function upstreamTarget(upstream: RuleUpstream, requestTarget: string): { origin: string; path: string; host: string } {
  const base = parseUpstream(upstream);
  const q = requestTarget.indexOf("?");
  let path = q < 0 ? requestTarget : requestTarget.slice(0, q);
  const query = q < 0 ? "" : requestTarget.slice(q);
  if (base.strip !== "") {
    const at = path.indexOf(`/${base.strip}`);
    if (at >= 0) path = path.slice(0, at) + path.slice(at + base.strip.length + 1);
  }
  const joined = joinPaths(base.basePath, path === "" ? "/" : path);
  const upstreamQuery = base.search === "" ? query : query === "" ? base.search : `${base.search}&${query.slice(1)}`;
  return { origin: base.origin, path: joined + upstreamQuery, host: base.host };
}

/** Request headers for the upstream: the client's minus hop-by-hop, the mutators' over them, X-Forwarded-*. */
function forwardedHeaders(
  req: IncomingMessage,
  request: PipelineRequest,
  mutated: Readonly<Record<string, string>>,
  rule: AccessRule,
  upstreamHost: string,
  trusted: TrustedProxies,
  keepUpgrade: boolean,
): Record<string, string | string[]> {
  const drop = req.headers.connection === undefined ? NO_TOKENS : connectionTokens(req.headers);
  const out: Record<string, string | string[]> = {};
  for (const name in req.headers) {
    const value = req.headers[name];
    if (value === undefined) continue;
    // An upgrade keeps `Upgrade` (which `Connection: upgrade` lists) so the upstream can switch protocols.
    if ((HOP_BY_HOP.has(name) || drop.has(name)) && !(keepUpgrade && name === "upgrade")) continue;
    if (name === "host" || name.startsWith("x-forwarded-")) continue;
    out[name] = value;
  }
  // The mutators' headers replace the client's of the same name (lower-case keys, so one entry each).
  for (const name in mutated) out[name.toLowerCase()] = mutated[name] as string;
  const trust = fromTrustedProxy(req, trusted);
  const peer = req.socket.remoteAddress ?? "";
  const priorFor = trust ? headerList(req.headers["x-forwarded-for"]).join(", ") : "";
  out["x-forwarded-for"] = priorFor === "" ? peer : `${priorFor}, ${peer}`;
  out["x-forwarded-proto"] = request.url.protocol.slice(0, -1);
  out["x-forwarded-host"] = request.url.host;
  out["host"] = rule.upstream?.preserve_host === true ? request.url.host : upstreamHost;
  if (keepUpgrade) out["connection"] = "upgrade";
  return out;
}

function writeDenial(res: ServerResponse, denial: DenialResponse): void {
  res.writeHead(denial.status, { ...denial.headers, "content-length": Buffer.byteLength(denial.body) });
  res.end(denial.body);
}

/** The Ory JSON error body, with `status` overriding the error's own (502/504 for upstream failures). */
function errorDenial(error: GatehouseError, status = httpStatusOf(error)): DenialResponse {
  const body = oryErrorBodyOf(error);
  body.error.code = status;
  body.error.status = STATUS_CODES[status] ?? body.error.status;
  return { status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" }, body: JSON.stringify(body) };
}

export function createReverseProxy(options: ReverseProxyOptions): ReverseProxy {
  const pools = new Map<string, Pool>();
  const upgraded = new Set<Duplex>();
  const headersTimeout = options.upstreamHeadersTimeoutMillis ?? 60_000;
  const bodyTimeout = options.upstreamBodyTimeoutMillis ?? 120_000;

  function poolFor(origin: string): Pool {
    let pool = pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connections: options.connectionsPerUpstream ?? 128,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        headersTimeout,
        bodyTimeout,
      });
      pools.set(origin, pool);
    }
    return pool;
  }

  async function decide(req: IncomingMessage): Promise<{ request: PipelineRequest; rule: AccessRule; headers: Readonly<Record<string, string>> } | DenialResponse> {
    let request: PipelineRequest;
    try {
      request = pipelineRequestOf(req, options.trustedProxies);
    } catch (error) {
      return errorDenial(toGatehouseError(error));
    }
    const decision = await options.pipeline.decide(request);
    if (decision.kind === "deny") return decision.response;
    if (decision.rule.upstream === undefined) {
      return errorDenial(
        new InternalError(`rule "${decision.rule.id}" has no upstream: the reverse proxy cannot forward what it matches (use the decisions API, or give the rule upstream.url)`),
      );
    }
    return { request, rule: decision.rule, headers: decision.headers };
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const outcome = await decide(req);
    if ("status" in outcome) {
      req.resume();
      writeDenial(res, outcome);
      return;
    }
    const { request, rule, headers } = outcome;
    const upstream = rule.upstream as RuleUpstream;
    const target = upstreamTarget(upstream, req.url ?? "/");
    const hasBody = req.headers["content-length"] !== undefined ? req.headers["content-length"] !== "0" : req.headers["transfer-encoding"] !== undefined;
    const outHeaders = forwardedHeaders(req, request, headers, rule, target.host, options.trustedProxies, false);
    if (!hasBody) delete outHeaders["content-length"];
    const abort = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    try {
      await poolFor(target.origin).stream(
        {
          path: target.path,
          method: req.method as "GET",
          headers: outHeaders,
          body: hasBody ? req : null,
          signal: abort.signal,
        },
        ({ statusCode, headers: upstreamHeaders }) => {
          const out: OutgoingHttpHeaders = {};
          const drop = upstreamHeaders["connection"] === undefined ? NO_TOKENS : connectionTokens(upstreamHeaders as IncomingMessage["headers"]);
          for (const name in upstreamHeaders) {
            const value = upstreamHeaders[name];
            if (value === undefined || HOP_BY_HOP.has(name) || drop.has(name)) continue;
            out[name] = value;
          }
          res.writeHead(statusCode, out);
          return res;
        },
      );
    } catch (error) {
      if (abort.signal.aborted) return; // the client went away
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const code = (error as { code?: string }).code;
      if (code === "UND_ERR_INVALID_ARG") {
        // Refused before anything was sent, e.g. a header value a mutator rendered with characters HTTP cannot carry.
        options.log(`proxy: rule "${rule.id}": the forwarded request is invalid: ${(error as Error).message}`);
        req.resume();
        writeDenial(res, errorDenial(new InternalError(`rule "${rule.id}" produced a request the upstream cannot be sent (${(error as Error).message})`)));
        return;
      }
      const timedOut = code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT";
      options.log(`proxy: rule "${rule.id}": upstream ${target.origin} failed: ${(error as Error).message}`);
      const problem = new UnavailableError(
        timedOut ? `the upstream of rule "${rule.id}" did not answer in time` : `the upstream of rule "${rule.id}" is not reachable`,
        { reason: timedOut ? "upstream_timeout" : "upstream_unreachable" },
      );
      req.resume();
      writeDenial(res, errorDenial(problem, timedOut ? 504 : 502));
    }
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => socket.destroy());
    upgraded.add(socket);
    socket.once("close", () => upgraded.delete(socket));
    void decide(req).then(
      (outcome) => {
        if ("status" in outcome) {
          rawResponse(socket, outcome);
          return;
        }
        const { request, rule, headers } = outcome;
        const target = upstreamTarget(rule.upstream as RuleUpstream, req.url ?? "/");
        const url = new URL(target.origin);
        const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
        const upstreamSocket: Socket =
          url.protocol === "https:" ? tlsConnect({ host: url.hostname, port, servername: url.hostname }) : netConnect({ host: url.hostname, port });
        const outHeaders = forwardedHeaders(req, request, headers, rule, target.host, options.trustedProxies, true);
        upstreamSocket.once(url.protocol === "https:" ? "secureConnect" : "connect", () => {
          const lines = [`${req.method ?? "GET"} ${target.path} HTTP/1.1`];
          for (const [name, value] of Object.entries(outHeaders)) for (const v of headerList(value)) lines.push(`${name}: ${v}`);
          upstreamSocket.write(`${lines.join("\r\n")}\r\n\r\n`);
          if (head.length > 0) upstreamSocket.write(head);
          upstreamSocket.pipe(socket);
          socket.pipe(upstreamSocket);
        });
        upstreamSocket.on("error", (error) => {
          options.log(`proxy: rule "${rule.id}": WebSocket upstream ${target.origin} failed: ${error.message}`);
          if (upstreamSocket.bytesRead === 0) rawResponse(socket, errorDenial(new UnavailableError(`the upstream of rule "${rule.id}" is not reachable`), 502));
          else socket.destroy();
        });
        socket.on("close", () => upstreamSocket.destroy());
        upstreamSocket.on("close", () => socket.destroy());
      },
      (error: unknown) => rawResponse(socket, errorDenial(toGatehouseError(error))),
    );
  }

  const server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0 }, (req, res) => {
    onRequest(req, res).catch((error: unknown) => {
      options.log(`proxy: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) writeDenial(res, errorDenial(new InternalError("internal error")));
      else res.destroy();
    });
  });
  server.on("upgrade", onUpgrade);

  return {
    server,
    async closePools() {
      await Promise.all([...pools.values()].map((p) => p.close()));
      pools.clear();
    },
    destroyUpgraded() {
      for (const socket of upgraded) socket.destroy();
    },
  };
}

/** Writes an HTTP/1.1 response on a raw (upgrade) socket and closes it. */
function rawResponse(socket: Duplex, denial: DenialResponse): void {
  const lines = [`HTTP/1.1 ${denial.status} ${statusText(denial.status)}`];
  for (const [name, value] of Object.entries(denial.headers)) lines.push(`${name}: ${value}`);
  lines.push(`content-length: ${Buffer.byteLength(denial.body)}`, "connection: close");
  socket.end(`${lines.join("\r\n")}\r\n\r\n${denial.body}`);
}

function statusText(status: number): string {
  return STATUS_CODES[status] ?? "Error";
}
