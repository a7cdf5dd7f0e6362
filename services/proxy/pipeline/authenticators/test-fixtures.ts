/**
 * Test support for the authenticator tests: real HTTP servers on 127.0.0.1 standing in for session stores,
 * introspection, token and JWKS endpoints (recording what they were sent), pipeline deps with a real
 * outbound client and a memory cache on a movable clock, and hand-built requests and sessions.
 */
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "vitest";
import type { PipelineDeps } from "../deps.js";
import { createMemoryCredentialCache } from "../memory-credential-cache.js";
import { createOutboundHttp, type OutboundHttp } from "../outbound-http.js";
import type { AuthenticationSession, HeaderMap, PipelineRequest, PreparedAuthenticator, PrepareContext } from "../types.js";
import { createAuthenticatorFactories } from "./index.js";

export interface Recorded {
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface Reply {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  /** An object is sent as JSON; a string as is. */
  readonly body?: unknown;
  /** Milliseconds to wait before answering. */
  readonly delayMillis?: number;
}

export interface TestServer {
  readonly url: string;
  readonly calls: Recorded[];
  /** Replaces the reply function. */
  reply: (req: Recorded) => Reply | Promise<Reply>;
  close(): Promise<void>;
}

export async function startServer(reply: (req: Recorded) => Reply | Promise<Reply>): Promise<TestServer> {
  const calls: Recorded[] = [];
  const state = { reply };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const recorded: Recorded = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      calls.push(recorded);
      void (async () => {
        const answer = await state.reply(recorded);
        if (answer.delayMillis !== undefined) await new Promise((r) => setTimeout(r, answer.delayMillis));
        const body = answer.body === undefined ? "" : typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
        res.writeHead(answer.status ?? 200, { "content-type": "application/json", ...answer.headers });
        res.end(body);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const handle: TestServer = {
    url: `http://127.0.0.1:${port}`,
    calls,
    get reply() {
      return state.reply;
    },
    set reply(fn) {
      state.reply = fn;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return handle;
}

export interface TestDeps {
  readonly deps: PipelineDeps;
  readonly http: OutboundHttp;
  readonly logs: string[];
  /** The movable clock (ms since the epoch) used by deps and the cache. */
  readonly clock: { now: number };
  close(): Promise<void>;
}

export function makeDeps(options: { timeoutMillis?: number } = {}): TestDeps {
  const clock = { now: Date.now() };
  const now = () => clock.now;
  const http = createOutboundHttp({ timeoutMillis: options.timeoutMillis ?? 2_000 });
  const logs: string[] = [];
  const deps: PipelineDeps = { http, cache: createMemoryCredentialCache({ now }), now, log: (line) => logs.push(line) };
  return { deps, http, logs, clock, close: () => http.close() };
}

export const CONTEXT: PrepareContext = { where: 'rule "test" authenticators[0]', strategy: "regexp" };

export function prepare(deps: PipelineDeps, handler: string, config: Record<string, unknown>): PreparedAuthenticator {
  const factory = createAuthenticatorFactories(deps).find((f) => f.name === handler);
  if (factory === undefined) throw new Error(`no authenticator ${handler}`);
  return factory.prepare(config, { ...CONTEXT, where: `${CONTEXT.where} (${handler})` });
}

export function request(url: string, headers: Record<string, string | string[]> = {}, method = "GET"): PipelineRequest {
  const lower: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  return { method, url: new URL(url), headers: lower as HeaderMap, remoteAddress: "127.0.0.1" };
}

export function sessionFor(req: PipelineRequest): AuthenticationSession {
  return {
    subject: "",
    extra: {},
    header: {},
    matchContext: { regexpCaptureGroups: [], url: req.url, method: req.method, header: req.headers },
  };
}

/** Runs the authenticator; returns the session. */
export async function run(authenticator: PreparedAuthenticator, req: PipelineRequest): Promise<AuthenticationSession> {
  const session = sessionFor(req);
  await authenticator.authenticate(req, session);
  return session;
}

/** Asserts that the authenticator fails with `type` and returns the error. */
export async function failsWith<E extends Error>(authenticator: PreparedAuthenticator, req: PipelineRequest, type: new (...args: never[]) => E): Promise<E> {
  const error = await run(authenticator, req).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error, `expected ${type.name}`).toBeInstanceOf(type);
  return error as E;
}

/** The message of the configuration error `prepare` throws. */
export function configError(deps: PipelineDeps, handler: string, config: Record<string, unknown>): string {
  try {
    prepare(deps, handler, config);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("prepare did not fail");
}
