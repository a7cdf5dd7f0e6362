/**
 * The registration web hook (Kratos's `web_hook` after registration) against a real HTTP receiver: a 200 reply
 * rewrites the identity before it is stored (parse), a 4xx reply with `messages[].instance_ptr` interrupts
 * the flow with the messages on those fields and stores nothing, an unreachable or slow hook fails the
 * registration cleanly, and a post-persist hook is told about the stored identity.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loopbackConfig } from "../../cli/config/config.js";

interface Received {
  readonly headers: IncomingMessage["headers"];
  readonly body: { identity: { traits: { email: string }; id: string }; transient_payload: unknown; flow: { id: string } };
}

describe("registration web hook", () => {
  let receiver: Server;
  let receiverUrl: string;
  const received: Received[] = [];
  /** How the receiver answers the next calls. */
  let answer: (body: Received["body"], res: ServerResponse) => void = (_b, res) => res.writeHead(204).end();
  const servers: RunningServer[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let text = "";
      req.on("data", (c: Buffer) => (text += c.toString()));
      req.on("end", () => {
        const body = JSON.parse(text) as Received["body"];
        received.push({ headers: req.headers, body });
        answer(body, res);
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  });
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  async function server(hook: { parse?: boolean; canInterrupt?: boolean; timeoutMillis?: number; url?: string }): Promise<RunningServer> {
    const config = loopbackConfig();
    config.identity.argon2MemoryKib = 1024;
    config.identity.argon2Iterations = 1;
    config.identity.registrationWebHook = {
      url: hook.url ?? receiverUrl,
      parse: hook.parse ?? false,
      canInterrupt: hook.canInterrupt ?? false,
      ignore: false,
      timeoutMillis: hook.timeoutMillis ?? 2_000,
      authHeader: "X-Hook-Key: s3cret",
    };
    const s = await startServer(config, () => {});
    servers.push(s);
    return s;
  }

  async function register(s: RunningServer, email: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const base = s.identity.publicBaseUrl;
    const flow = (await (await fetch(`${base}/self-service/registration/api`)).json()) as { id: string };
    const res = await fetch(`${base}/self-service/registration?flow=${flow.id}`, {
      method: "POST",
      headers: { "content-type": "application/json", "user-agent": "hook-test" },
      body: JSON.stringify({ method: "password", traits: { email }, password: "a long enough password", transient_payload: { invite: "abc" } }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function identityCount(s: RunningServer, email: string): Promise<number> {
    const res = await fetch(`http://127.0.0.1:${s.identity.ports.admin}/admin/identities?credentials_identifier=${encodeURIComponent(email)}`);
    return ((await res.json()) as unknown[]).length;
  }

  it("rewrites the identity from a 200 reply before storing it (parse)", async () => {
    const s = await server({ parse: true });
    answer = (body, res) =>
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({ identity: { traits: { ...body.identity.traits, name: { first: "Hooked" } }, metadata_public: { plan: "free" } } }),
      );
    const { status, body } = await register(s, "parse@example.com");
    expect(status).toBe(200);
    const identity = body["identity"] as { traits: unknown; metadata_public: unknown };
    expect(identity.traits).toEqual({ email: "parse@example.com", name: { first: "Hooked" } });
    expect(identity.metadata_public).toEqual({ plan: "free" });
    const call = received.at(-1)!;
    expect(call.headers["x-hook-key"]).toBe("s3cret");
    expect((call.body as unknown as { request_headers: Record<string, string> }).request_headers["user-agent"]).toBe("hook-test");
    expect(call.body.transient_payload).toEqual({ invite: "abc" });
    expect(call.body.identity.traits.email).toBe("parse@example.com");
  });

  it("interrupts with the receiver's messages on the named fields and stores nothing", async () => {
    const s = await server({ canInterrupt: true });
    answer = (_body, res) =>
      res.writeHead(400, { "content-type": "application/json" }).end(
        JSON.stringify({ messages: [{ instance_ptr: "#/traits/email", messages: [{ id: 123, text: "This domain may not register.", type: "error", context: { domain: "blocked.example" } }] }] }),
      );
    const { status, body } = await register(s, "someone@blocked.example");
    expect(status).toBe(400);
    const nodes = (body["ui"] as { nodes: { attributes: { name: string }; messages: { id: number; text: string }[] }[] }).nodes;
    const email = nodes.find((n) => n.attributes.name === "traits.email");
    expect(email?.messages).toEqual([expect.objectContaining({ id: 123, text: "This domain may not register." })]);
    expect(await identityCount(s, "someone@blocked.example")).toBe(0);
  });

  it("fails the registration with 504 when the hook does not answer in time, storing nothing", async () => {
    const s = await server({ canInterrupt: true, timeoutMillis: 200 });
    answer = (_body, res) => setTimeout(() => res.writeHead(204).end(), 1_000);
    const { status, body } = await register(s, "slow@example.com");
    expect(status).toBe(504);
    expect((body["error"] as { reason: string }).reason).toMatch(/did not answer within 200 ms/);
    expect(await identityCount(s, "slow@example.com")).toBe(0);
  });

  it("tells a post-persist hook about the stored identity", async () => {
    const s = await server({});
    answer = (_body, res) => res.writeHead(204).end();
    const before = received.length;
    const { status, body } = await register(s, "after@example.com");
    expect(status).toBe(200);
    expect(received.length).toBe(before + 1);
    expect(received.at(-1)!.body.identity.id).toBe((body["identity"] as { id: string }).id);
  });
});
