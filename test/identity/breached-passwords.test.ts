/**
 * The offline breached-password list (`identity.password.breached_list`) through `gatehouse serve`: a
 * registration with a listed password (plain or SHA-1 on the list) is refused with 4000034 on the password
 * node; others register; an unreadable list stops the start naming the key. No network calls are made.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../cli/commands/serve.js";
import { loadConfig, loopbackConfig, type GatehouseConfig } from "../../cli/config/config.js";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-breached-"));
const listed = "correct horse battery staple";
const listedBySha1 = "tr0ub4dor&3 is a fine password";
const sha1 = (text: string): string => createHash("sha1").update(text, "utf8").digest("hex").toUpperCase();
const listPath = join(dir, "breached.txt");
writeFileSync(listPath, `# most common passwords\n${listed}\n${sha1(listedBySha1)}:52\n`);

function config(list: string | undefined): GatehouseConfig {
  const c = loopbackConfig();
  c.identity.argon2MemoryKib = 1024;
  c.identity.argon2Iterations = 1;
  c.identity.passwordBreachedList = list;
  return c;
}

async function register(server: RunningServer, email: string, password: string): Promise<Response> {
  const base = server.identity.publicBaseUrl;
  const flow = (await (await fetch(`${base}/self-service/registration/api`)).json()) as { id: string };
  return fetch(`${base}/self-service/registration?flow=${flow.id}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ method: "password", traits: { email }, password }),
  });
}

type FlowBody = { ui: { nodes: { attributes: { name: string }; messages: { id: number; text: string }[] }[] } };
const passwordMessages = (body: FlowBody) => body.ui.nodes.find((n) => n.attributes.name === "password")?.messages ?? [];

describe("breached-password list", () => {
  let server: RunningServer;
  const lines: string[] = [];
  beforeAll(async () => {
    server = await startServer(config(listPath), (line) => lines.push(line));
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses listed passwords with 4000034 on the password node, plain or by SHA-1", async () => {
    for (const [email, password] of [
      ["plain@example.com", listed],
      ["digest@example.com", listedBySha1],
    ] as const) {
      const response = await register(server, email, password);
      expect(response.status).toBe(400);
      const messages = passwordMessages((await response.json()) as FlowBody);
      expect(messages.map((m) => m.id)).toEqual([4000034]);
      expect(messages[0]?.text).toMatch(/appears in known data breaches/);
    }
    expect(lines.some((l) => l.includes("refusing the 2 breached passwords listed in"))).toBe(true);
  });

  it("accepts a password that is not listed", async () => {
    expect((await register(server, "fine@example.com", "not on any list 1843")).status).toBe(200);
  });

  it("stops the start naming the key when the list cannot be read", async () => {
    await expect(startServer(config(join(dir, "missing.txt")), () => {})).rejects.toThrow(/identity\.password\.breached_list: cannot read .*missing\.txt/);
  });

  it("is configured by identity.password.breached_list or GATEHOUSE_IDENTITY_PASSWORD_BREACHED_LIST", () => {
    expect(loadConfig({ env: {} }).identity.passwordBreachedList).toBeUndefined();
    expect(loadConfig({ env: { GATEHOUSE_IDENTITY_PASSWORD_BREACHED_LIST: listPath } }).identity.passwordBreachedList).toBe(listPath);
    const file = join(dir, "config.yaml");
    writeFileSync(file, `identity:\n  password:\n    breached_list: file://${listPath}\n  session:\n    cache_ttl_millis: 0\n`);
    const fromFile = loadConfig({ file, env: {} });
    expect(fromFile.identity.passwordBreachedList).toBe(listPath);
    expect(fromFile.identity.sessionCacheTtlMillis).toBe(0);
  });
});
