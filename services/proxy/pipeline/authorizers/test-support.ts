/** Test helpers of the authorizer and mutator tests: sessions, requests, deps and a recording HTTP server. */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createMemoryCredentialCache } from "../memory-credential-cache.js";
import type { PipelineDeps } from "../deps.js";
import { createOutboundHttp } from "../outbound-http.js";
import type { AuthenticationSession, PipelineRequest, PrepareContext } from "../types.js";

export const URL_OF_REQUEST = "https://api.example.com/docs/1?page=2";

export function sessionOf(
  subject: string,
  options: { groups?: readonly string[]; extra?: Record<string, unknown>; header?: Record<string, string>; requestHeaders?: PipelineRequest["headers"] } = {},
): AuthenticationSession {
  return {
    subject,
    extra: options.extra ?? {},
    header: options.header ?? {},
    matchContext: { regexpCaptureGroups: options.groups ?? [], url: new URL(URL_OF_REQUEST), method: "GET", header: options.requestHeaders ?? {} },
  };
}

export function requestOf(headers: PipelineRequest["headers"] = {}, url = URL_OF_REQUEST): PipelineRequest {
  return { method: "GET", url: new URL(url), headers, remoteAddress: "127.0.0.1" };
}

export function contextOf(handler: string, stage = "authorizers"): PrepareContext {
  return { where: `rule "r1" ${stage}[0] (${handler})`, strategy: "regexp" };
}

export interface TestDeps extends PipelineDeps {
  readonly logs: string[];
  clock: number;
}

/** Real outbound HTTP and a memory cache; `clock` is what `now` answers. */
export function testDeps(extra: Partial<PipelineDeps> = {}): TestDeps {
  const logs: string[] = [];
  const deps: TestDeps = {
    http: extra.http ?? createOutboundHttp({ timeoutMillis: 2_000 }),
    cache: createMemoryCredentialCache(),
    log: (line) => logs.push(line),
    logs,
    clock: 1_700_000_000_000,
    now: () => deps.clock,
    ...extra,
  };
  return deps;
}

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface TestServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** A local HTTP server that records every request and answers with `respond`. */
export async function startServer(respond: (req: RecordedRequest, res: ServerResponse, index: number) => void): Promise<TestServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const recorded = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      requests.push(recorded);
      respond(recorded, res, requests.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The rejection of `promise` (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

/** The error `fn` throws (fails the test when it returns). */
export function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an exception");
}

/** The OPL model the permission tests check against: documents viewed by users and by group members. */
export const DOC_MODEL = `class User implements Namespace {}
class Group implements Namespace {
  related: { members: (User | SubjectSet<Group, "members">)[] }
}
class Doc implements Namespace {
  related: { viewers: (User | SubjectSet<Group, "members">)[]; owners: User[] }
  permits = { view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject) || this.related.owners.includes(ctx.subject) }
}`;
